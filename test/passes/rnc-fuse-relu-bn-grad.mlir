// RUN: rnc-opt %s -split-input-file -rnc-fuse-relu-bn-grad | FileCheck %s
// RUN: rnc-opt %s -split-input-file -rnc-fuse-relu-bn-grad=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// The ReLU inside a block: its gradient feeds only the BN gradient.
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: rn.relu_grad
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = rn.batch_norm_relu_grad %arg1, %arg2, %arg0, %arg3, %arg4, %arg3 : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
// CHECK-NOT: rn.batch_norm_grad
// EXPLAIN: remark: fused: relu_grad + batch_norm_grad (the ReLU mask applied inside the BN reductions)
func.func @train_step(%x: tensor<?x4x6x6xf32>, %dy: tensor<?x4x6x6xf32>, %r: tensor<?x4x6x6xf32>,
                      %v: tensor<4xf32>, %i: tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<4xf32>) attributes {rn.role = "train_step"} {
  %d = rn.relu_grad %dy, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_grad %d, %x, %v, %i, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx, %dg : tensor<?x4x6x6xf32>, tensor<4xf32>
}

// -----

// Must not fuse: a block output's ReLU gradient fans out to the branch's BN
// gradient and to the shortcut.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[D:.*]] = rn.relu_grad
// CHECK: rn.batch_norm_grad %[[D]]
// CHECK: rn.add %{{.*}}, %[[D]]
// EXPLAIN: remark: not fused: the ReLU's gradient has 2 users (a block output fans out to the branch and the shortcut)
func.func @train_step(%x: tensor<?x4x6x6xf32>, %dy: tensor<?x4x6x6xf32>, %r: tensor<?x4x6x6xf32>,
                      %v: tensor<4xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %d = rn.relu_grad %dy, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_grad %d, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %sum = rn.add %dx, %d : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %sum : tensor<?x4x6x6xf32>
}

// -----

// Must not fuse: the ReLU gradient feeds something other than a BN gradient,
// or a function other than @train_step.
// CHECK-LABEL: func.func @train_step
// CHECK: rn.relu_grad
// CHECK: rn.global_avg_pool_grad
// CHECK-LABEL: func.func @other
// CHECK: rn.relu_grad
// CHECK: rn.batch_norm_grad
func.func @train_step(%dy: tensor<?x4x1x1xf32>, %r: tensor<?x4x1x1xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %d = rn.relu_grad %dy, %r : tensor<?x4x1x1xf32>, tensor<?x4x1x1xf32>
  %g = rn.global_avg_pool_grad %d : tensor<?x4x1x1xf32> -> tensor<?x4x6x6xf32>
  return %g : tensor<?x4x6x6xf32>
}
func.func @other(%x: tensor<?x4xf32>, %dy: tensor<?x4xf32>, %v: tensor<4xf32>) -> tensor<?x4xf32> {
  %d = rn.relu_grad %dy, %x : tensor<?x4xf32>, tensor<?x4xf32>
  %dx, %dg, %db = rn.batch_norm_grad %d, %x, %v, %v, %v : tensor<?x4xf32>, tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx : tensor<?x4xf32>
}
