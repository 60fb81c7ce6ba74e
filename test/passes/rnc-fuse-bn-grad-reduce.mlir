// RUN: rnc-opt %s -split-input-file -rnc-fuse-bn-grad-reduce | FileCheck %s
// RUN: rnc-opt %s -split-input-file -rnc-fuse-bn-grad-reduce=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// Inside a block: conv2's input gradient is the incoming gradient of BN1
// (through the ReLU, already fused into the BN gradient). The mask and both
// sums go into the convolution; dx comes from the sums.
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: rn.conv2d_grad_input %
// CHECK-NOT: rn.batch_norm_relu_grad
// CHECK: %[[G:.*]], %[[S:.*]], %[[D:.*]] = rn.conv2d_grad_input_bn_reduce %arg0, %arg1 relu_result %arg2 bn_input %arg3 bn_mean %arg4 {padding = array<i64: 1, 1>} : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: %[[DX:.*]], %[[DG:.*]], %[[DB:.*]] = rn.batch_norm_grad_from_sums %[[G]], %arg3, %arg4, %arg5, %arg6, %[[S]], %[[D]] : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
// CHECK: return %[[DX]], %[[DG]], %[[DB]]
// EXPLAIN: remark: fused: conv2d_grad_input + batch_norm_relu_grad (the BN's per-channel sums and its ReLU mask in the transposed convolution's epilogue; dx, dgamma, dbeta from the sums in one pass)
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %r: tensor<?x4x6x6xf32>,
                      %x: tensor<?x4x6x6xf32>, %mean: tensor<4xf32>, %istd: tensor<4xf32>,
                      %gamma: tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>) attributes {rn.role = "train_step"} {
  %g = rn.conv2d_grad_input %dy, %w {padding = array<i64: 1, 1>} : tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32> -> tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %g, %r, %x, %mean, %istd, %gamma : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx, %dg, %db : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// A block output: the fan-in kernel (next block's conv1 gradient + the
// shortcut's, masked by the output ReLU) feeds BN3's gradient and the
// shortcut. The masked gradient is still written (the shortcut reads it)
// and is reduced for BN3 on the way.
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: rn.conv2d_grad_input_fanin
// CHECK: %[[G:.*]], %[[S:.*]], %[[D:.*]] = rn.conv2d_grad_input_bn_reduce %arg0, %arg1 addend %arg2 relu_result %arg3 bn_input %arg4 bn_mean %arg5 : (tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: %[[DX:.*]], %{{.*}}, %{{.*}} = rn.batch_norm_grad_from_sums %[[G]], %arg4, %arg5, %arg6, %arg6, %[[S]], %[[D]]
// CHECK: rn.add %[[DX]], %[[G]]
// EXPLAIN: remark: fused: conv2d_grad_input_fanin + batch_norm_grad (the BN's per-channel sums in the transposed convolution's epilogue; dx, dgamma, dbeta from the sums in one pass)
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %short: tensor<?x4x6x6xf32>,
                      %r: tensor<?x4x6x6xf32>, %x: tensor<?x4x6x6xf32>, %mean: tensor<4xf32>,
                      %v: tensor<4xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %m = rn.conv2d_grad_input_fanin %dy, %w addend %short relu_result %r : (tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_grad %m, %x, %mean, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %sum = rn.add %dx, %m : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %sum : tensor<?x4x6x6xf32>
}

// -----

// Grouped and strided (a ResNeXt block's grouped conv): fuses as a dense one.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[G:.*]], %[[S:.*]], %[[D:.*]] = rn.conv2d_grad_input_bn_reduce %arg0, %arg1 bn_input %arg2 bn_mean %arg3 {groups = 2 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<?x4x3x3xf32>, tensor<4x2x3x3xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: rn.batch_norm_grad_from_sums %[[G]], %arg2, %arg3, %arg4, %arg4, %[[S]], %[[D]]
// EXPLAIN: remark: fused: conv2d_grad_input + batch_norm_grad (the BN's per-channel sums in the transposed convolution's epilogue; dx, dgamma, dbeta from the sums in one pass)
func.func @train_step(%dy: tensor<?x4x3x3xf32>, %w: tensor<4x2x3x3xf32>, %x: tensor<?x4x6x6xf32>,
                      %mean: tensor<4xf32>, %v: tensor<4xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %g = rn.conv2d_grad_input %dy, %w {groups = 2 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<4x2x3x3xf32> -> tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_grad %g, %x, %mean, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx : tensor<?x4x6x6xf32>
}

// -----

// A fan-in kernel without a mask whose sum feeds only a ReLU + BN gradient:
// the add and the mask both end up in the convolution's epilogue.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[G:.*]], %[[S:.*]], %[[D:.*]] = rn.conv2d_grad_input_bn_reduce %arg0, %arg1 addend %arg2 relu_result %arg3 bn_input %arg4 bn_mean %arg5
// CHECK: rn.batch_norm_grad_from_sums %[[G]], %arg4, %arg5, %arg5, %arg5, %[[S]], %[[D]]
// EXPLAIN: remark: fused: conv2d_grad_input_fanin + batch_norm_relu_grad (the BN's per-channel sums and its ReLU mask in the transposed convolution's epilogue; dx, dgamma, dbeta from the sums in one pass)
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %short: tensor<?x4x6x6xf32>,
                      %r: tensor<?x4x6x6xf32>, %x: tensor<?x4x6x6xf32>, %v: tensor<4xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %s = rn.conv2d_grad_input_fanin %dy, %w addend %short : (tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>, tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %s, %r, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx : tensor<?x4x6x6xf32>
}

// -----

// A projection block's output gradient feeds BN3 and the shortcut's BN: the
// convolution carries the reductions of the first; the second keeps its own.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[G:.*]], %[[S:.*]], %[[D:.*]] = rn.conv2d_grad_input_bn_reduce %arg0, %arg1 addend %arg2 relu_result %arg3 bn_input %arg4 bn_mean %arg5
// CHECK: rn.batch_norm_grad_from_sums %[[G]], %arg4, %arg5, %arg7, %arg7, %[[S]], %[[D]]
// CHECK: rn.batch_norm_grad %[[G]], %arg6, %arg7, %arg7, %arg7
// EXPLAIN: remark: fused: conv2d_grad_input_fanin + batch_norm_grad
// EXPLAIN: remark: not fused: the conv input gradient it reads already carries the reductions of another BN gradient (the output gradient of a projection block feeds the branch and the shortcut BN)
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %short: tensor<?x4x6x6xf32>,
                      %r: tensor<?x4x6x6xf32>, %x3: tensor<?x4x6x6xf32>, %mean: tensor<4xf32>,
                      %xd: tensor<?x4x6x6xf32>, %v: tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) attributes {rn.role = "train_step"} {
  %m = rn.conv2d_grad_input_fanin %dy, %w addend %short relu_result %r : (tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32>
  %dx3, %dg3, %db3 = rn.batch_norm_grad %m, %x3, %mean, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %dxd, %dgd, %dbd = rn.batch_norm_grad %m, %xd, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx3, %dxd : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
}

// -----

// Must not fuse: the conv input gradient has a second user that reads it
// unmasked, so the BN's ReLU mask cannot be applied to the stored gradient.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[G:.*]] = rn.conv2d_grad_input %arg0, %arg1
// CHECK: rn.batch_norm_relu_grad %[[G]]
// CHECK-NOT: rn.conv2d_grad_input_bn_reduce
// EXPLAIN: remark: not fused: the conv input gradient has other users that read it unmasked (the BN's ReLU mask cannot move into the convolution)
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %r: tensor<?x4x6x6xf32>,
                      %x: tensor<?x4x6x6xf32>, %v: tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) attributes {rn.role = "train_step"} {
  %g = rn.conv2d_grad_input %dy, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32> -> tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %g, %r, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx, %g : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
}

// -----

// Must not fuse: the BN's input (or its mean) is computed only after the
// conv input gradient, where the fused convolution could not read it.
// CHECK-LABEL: func.func @train_step
// CHECK: rn.conv2d_grad_input %
// CHECK: rn.batch_norm_grad
// CHECK: rn.conv2d_grad_input %
// CHECK: rn.batch_norm_grad
// CHECK-NOT: rn.conv2d_grad_input_bn_reduce
// EXPLAIN: remark: not fused: its input is not computed before the conv input gradient
// EXPLAIN: remark: not fused: its mean is not computed before the conv input gradient
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %a: tensor<?x4x6x6xf32>,
                      %v: tensor<4xf32>) -> (tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) attributes {rn.role = "train_step"} {
  %g = rn.conv2d_grad_input %dy, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32> -> tensor<?x4x6x6xf32>
  %x = rn.relu %a : tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_grad %g, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %g2 = rn.conv2d_grad_input %dy, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32> -> tensor<?x4x6x6xf32>
  %mean = rn.bias_grad %a : tensor<?x4x6x6xf32>
  %dx2, %dg2, %db2 = rn.batch_norm_grad %g2, %a, %mean, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx, %dx2 : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
}

// -----

// Must not fuse: the result gradient does not come from a conv input
// gradient (a max-pool gradient, a function argument), or it is already
// masked by the fan-in kernel and the BN brings a second mask.
// CHECK-LABEL: func.func @train_step
// CHECK: rn.max_pool2d_grad
// CHECK: rn.batch_norm_relu_grad
// CHECK: rn.batch_norm_grad %arg0
// CHECK: rn.conv2d_grad_input_fanin
// CHECK: rn.batch_norm_relu_grad
// CHECK-NOT: rn.conv2d_grad_input_bn_reduce
// EXPLAIN: remark: not fused: its result gradient comes from max_pool2d_grad, not a conv input gradient
// EXPLAIN: remark: not fused: its result gradient is a function argument
// EXPLAIN: remark: not fused: its result gradient is already masked by another ReLU
func.func @train_step(%dy: tensor<?x4x6x6xf32>, %x: tensor<?x4x12x12xf32>, %w: tensor<4x4x1x1xf32>,
                      %v: tensor<4xf32>) -> (tensor<?x4x12x12xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) attributes {rn.role = "train_step"} {
  %p = rn.max_pool2d_grad %dy, %x {kernel = array<i64: 2, 2>} : tensor<?x4x6x6xf32>, tensor<?x4x12x12xf32>
  %dx, %dg, %db = rn.batch_norm_relu_grad %p, %x, %x, %v, %v, %v : tensor<?x4x12x12xf32>, tensor<?x4x12x12xf32>, tensor<?x4x12x12xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %dx2, %dg2, %db2 = rn.batch_norm_grad %dy, %dy, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %m = rn.conv2d_grad_input_fanin %dy, %w addend %dy relu_result %dy : (tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32>
  %dx3, %dg3, %db3 = rn.batch_norm_relu_grad %m, %dy, %dy, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx, %dx2, %dx3 : tensor<?x4x12x12xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
}

// -----

// Must not fuse outside @train_step.
// CHECK-LABEL: func.func @other
// CHECK: rn.conv2d_grad_input %
// CHECK: rn.batch_norm_grad
// CHECK-NOT: rn.conv2d_grad_input_bn_reduce
// EXPLAIN-NOT: remark
func.func @other(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x1x1xf32>, %x: tensor<?x4x6x6xf32>,
                 %v: tensor<4xf32>) -> tensor<?x4x6x6xf32> {
  %g = rn.conv2d_grad_input %dy, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32> -> tensor<?x4x6x6xf32>
  %dx, %dg, %db = rn.batch_norm_grad %g, %x, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dx : tensor<?x4x6x6xf32>
}
