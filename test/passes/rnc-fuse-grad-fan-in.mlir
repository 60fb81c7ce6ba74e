// RUN: rnc-opt %s -split-input-file -rnc-fuse-grad-fan-in | FileCheck %s
// RUN: rnc-opt %s -split-input-file -rnc-fuse-grad-fan-in=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// A block output fanning out to the next block's branch (conv1) and its
// shortcut: the sum of both gradients and the output ReLU's mask go into the
// epilogue of conv1's input gradient. The masked sum has two users (the
// block's BN2 gradient and its shortcut), which is fine.
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: rn.conv2d_grad_input %
// CHECK-NOT: rn.add
// CHECK-NOT: rn.relu_grad
// CHECK: %[[G:.*]] = rn.conv2d_grad_input_fanin %arg0, %arg1 addend %arg2 relu_result %arg3 {padding = array<i64: 1, 1>} : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32>
// CHECK: return %[[G]], %[[G]]
// EXPLAIN: remark: fused: conv2d_grad_input + add + relu_grad (the gradient fan-in and the ReLU mask in the transposed convolution's epilogue)
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %short: tensor<?x4x6x6xf32>,
                      %r: tensor<?x4x6x6xf32>) -> (tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) attributes {rn.role = "train_step"} {
  %dx = rn.conv2d_grad_input %dy, %w {padding = array<i64: 1, 1>} : tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32> -> tensor<?x4x6x6xf32>
  %sum = rn.add %short, %dx : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %m = rn.relu_grad %sum, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %m, %m : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
}

// -----

// Grouped and strided (a ResNeXt downsampling block): fuses the same way.
// With no ReLU after the sum (a max pool gradient follows), only the add.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[G:.*]] = rn.conv2d_grad_input_fanin %arg0, %arg1 addend %arg2 {groups = 2 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<?x4x3x3xf32>, tensor<4x2x3x3xf32>, tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32>
// CHECK-NEXT: rn.max_pool2d_grad %[[G]]
// EXPLAIN: remark: fused: conv2d_grad_input + add (the gradient fan-in in the transposed convolution's epilogue); ReLU mask not fused: the sum is not masked by a ReLU
func.func @train_step(%dy: tensor<?x4x3x3xf32>, %w: tensor<4x2x3x3xf32>, %short: tensor<?x4x6x6xf32>,
                      %x: tensor<?x4x12x12xf32>) -> tensor<?x4x12x12xf32> attributes {rn.role = "train_step"} {
  %dx = rn.conv2d_grad_input %dy, %w {groups = 2 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<4x2x3x3xf32> -> tensor<?x4x6x6xf32>
  %sum = rn.add %dx, %short : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %p = rn.max_pool2d_grad %sum, %x {kernel = array<i64: 2, 2>} : tensor<?x4x6x6xf32>, tensor<?x4x12x12xf32>
  return %p : tensor<?x4x12x12xf32>
}

// -----

// Must not fuse the mask: the sum has a second user (it is needed unmasked).
// CHECK-LABEL: func.func @train_step
// CHECK: %[[G:.*]] = rn.conv2d_grad_input_fanin %arg0, %arg1 addend %arg2 :
// CHECK: rn.relu_grad %[[G]], %arg3
// EXPLAIN: remark: fused: conv2d_grad_input + add (the gradient fan-in in the transposed convolution's epilogue); ReLU mask not fused: the sum has other users
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %short: tensor<?x4x6x6xf32>,
                      %r: tensor<?x4x6x6xf32>) -> (tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) attributes {rn.role = "train_step"} {
  %dx = rn.conv2d_grad_input %dy, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32> -> tensor<?x4x6x6xf32>
  %sum = rn.add %dx, %short : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %m = rn.relu_grad %sum, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %m, %sum : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
}

// -----

// Must not fuse the mask: it feeds only a BN gradient, which
// rnc-fuse-relu-bn-grad fuses instead.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[G:.*]] = rn.conv2d_grad_input_fanin %arg0, %arg1 addend %arg2 :
// CHECK: %[[M:.*]] = rn.relu_grad %[[G]], %arg3
// CHECK: rn.batch_norm_grad %[[M]]
// EXPLAIN: remark: fused: conv2d_grad_input + add (the gradient fan-in in the transposed convolution's epilogue); ReLU mask not fused: the ReLU mask goes into the batch-norm gradient instead
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %short: tensor<?x4x6x6xf32>,
                      %r: tensor<?x4x6x6xf32>, %v: tensor<4xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %dx = rn.conv2d_grad_input %dy, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32> -> tensor<?x4x6x6xf32>
  %sum = rn.add %dx, %short : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %m = rn.relu_grad %sum, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %d, %dg, %db = rn.batch_norm_grad %m, %r, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %d : tensor<?x4x6x6xf32>
}

// -----

// Must not fuse: the conv input gradient has a second user (the unsummed
// gradient is needed), or the add sums two non-conv gradients; and nothing
// outside @train_step.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[DX:.*]] = rn.conv2d_grad_input %arg0
// CHECK: rn.add %[[DX]], %arg2
// CHECK: rn.add %arg2, %arg3
// CHECK-NOT: conv2d_grad_input_fanin
// CHECK-LABEL: func.func @other
// CHECK: rn.conv2d_grad_input %
// EXPLAIN-COUNT-2: remark: not fused: no operand of the gradient sum is a conv input gradient with no other user
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %short: tensor<?x4x6x6xf32>,
                      %r: tensor<?x4x6x6xf32>) -> (tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) attributes {rn.role = "train_step"} {
  %dx = rn.conv2d_grad_input %dy, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32> -> tensor<?x4x6x6xf32>
  %sum = rn.add %dx, %short : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %sum2 = rn.add %short, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %sum, %dx, %sum2 : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
}
func.func @other(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %short: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> {
  %dx = rn.conv2d_grad_input %dy, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32> -> tensor<?x4x6x6xf32>
  %sum = rn.add %dx, %short : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %sum : tensor<?x4x6x6xf32>
}
