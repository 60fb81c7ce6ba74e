// RUN: rnc-opt %s -split-input-file -rnc-fuse-pool-bn-grad | FileCheck %s
// RUN: rnc-opt %s -split-input-file -rnc-fuse-pool-bn-grad=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// A stem's backward: the pool's input gradient feeds only the BN + ReLU
// gradient, over the pool's own input (the ReLU result).
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: rn.max_pool2d_grad
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = rn.max_pool2d_bn_relu_grad %arg1, %arg2, %arg0, %arg3, %arg4, %arg3 {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
// CHECK-NOT: rn.batch_norm_relu_grad
// EXPLAIN: remark: fused: max_pool2d_grad + batch_norm_relu_grad (the pool's gradient routed inside the BN backward)
func.func @train_step(%x: tensor<?x4x6x6xf32>, %g: tensor<?x4x3x3xf32>, %r: tensor<?x4x6x6xf32>,
                      %v: tensor<4xf32>, %i: tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<4xf32>) attributes {rn.role = "train_step"} {
  %d = rn.max_pool2d_grad %g, %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %d, %r, %x, %v, %i, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx, %dg : tensor<?x4x6x6xf32>, tensor<4xf32>
}

// -----

// Must not fuse: the ResNet stem's overlapping, padded 3x3 stride 2 pad 1
// windows; 2x2 windows at stride 1 (overlapping).
// CHECK-LABEL: func.func @train_step
// CHECK: rn.max_pool2d_grad
// CHECK: rn.batch_norm_relu_grad
// CHECK-NOT: rn.max_pool2d_bn_relu_grad
// EXPLAIN: remark: not fused: the windows overlap or pad (the fused kernel would route the gradient once per BN pass; measured slower)
// EXPLAIN: remark: not fused: the windows overlap or pad
func.func @train_step(%x: tensor<?x4x6x6xf32>, %g: tensor<?x4x3x3xf32>, %r: tensor<?x4x6x6xf32>,
                      %v: tensor<4xf32>, %g5: tensor<?x4x5x5xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %d = rn.max_pool2d_grad %g, %r {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %d, %r, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %d2 = rn.max_pool2d_grad %g5, %r {kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>} : tensor<?x4x5x5xf32>, tensor<?x4x6x6xf32>
  %dx2, %dg2, %db2 = rn.batch_norm_relu_grad %d2, %r, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx : tensor<?x4x6x6xf32>
}

// -----

// Must not fuse: the pool's input gradient has a second user.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[D:.*]] = rn.max_pool2d_grad
// CHECK: rn.batch_norm_relu_grad %[[D]]
// CHECK: rn.add %{{.*}}, %[[D]]
// EXPLAIN: remark: not fused: the pool's input gradient is not read by a batch_norm_relu_grad alone (2 users)
func.func @train_step(%x: tensor<?x4x6x6xf32>, %g: tensor<?x4x3x3xf32>, %r: tensor<?x4x6x6xf32>,
                      %v: tensor<4xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %d = rn.max_pool2d_grad %g, %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %d, %r, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %sum = rn.add %dx, %d : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %sum : tensor<?x4x6x6xf32>
}

// -----

// Must not fuse: the pool ran over another tensor than the BN's ReLU
// result; a pool gradient that feeds a plain BN gradient; another function
// than @train_step.
// CHECK-LABEL: func.func @train_step
// CHECK: rn.max_pool2d_grad
// CHECK: rn.batch_norm_relu_grad
// CHECK: rn.max_pool2d_grad
// CHECK: rn.batch_norm_grad
// CHECK-LABEL: func.func @other
// CHECK: rn.max_pool2d_grad
// CHECK: rn.batch_norm_relu_grad
// EXPLAIN: remark: not fused: the pool's input is not the ReLU result of the BN gradient
// EXPLAIN: remark: not fused: the pool's input gradient is not read by a batch_norm_relu_grad alone (1 user)
func.func @train_step(%x: tensor<?x4x6x6xf32>, %g: tensor<?x4x3x3xf32>, %r: tensor<?x4x6x6xf32>,
                      %v: tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) attributes {rn.role = "train_step"} {
  %d = rn.max_pool2d_grad %g, %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %d, %r, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %d2 = rn.max_pool2d_grad %g, %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x6x6xf32>
  %dx2, %dg2, %db2 = rn.batch_norm_grad %d2, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx, %dx2 : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
}
func.func @other(%x: tensor<?x4x6x6xf32>, %g: tensor<?x4x3x3xf32>, %r: tensor<?x4x6x6xf32>,
                 %v: tensor<4xf32>) -> tensor<?x4x6x6xf32> {
  %d = rn.max_pool2d_grad %g, %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %d, %r, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx : tensor<?x4x6x6xf32>
}
