// RUN: rnc-opt %s -split-input-file -rnc-fuse-conv-bn-eval | FileCheck %s
// RUN: rnc-opt %s -split-input-file -rnc-fuse-conv-bn-eval=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// conv -> BN -> add -> ReLU in @eval: one conv with the folded BN, the
// residual add and the ReLU in its epilogue, reading the live BN params.
// CHECK-LABEL: func.func @eval
// CHECK: %[[W:.*]] = rn.param "conv.weight"
// CHECK: %[[S:.*]] = rn.param "bn.weight"
// CHECK: %[[T:.*]] = rn.param "bn.bias"
// CHECK: %[[M:.*]] = rn.param "bn.running_mean"
// CHECK: %[[V:.*]] = rn.param "bn.running_var"
// CHECK: %[[Y:.*]] = rn.conv2d_bn_eval %arg0, %[[W]] scale %[[S]] shift %[[T]] running_mean %[[M]] running_var %[[V]] residual %arg0 {padding = array<i64: 1, 1>, relu}
// CHECK-NEXT: return %[[Y]]
// EXPLAIN: remark: fused: conv2d + batch_norm (running statistics folded into the conv epilogue, then add + relu)
func.func @eval(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "eval"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x3x3xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %t = rn.param "bn.bias" {init = "zeros"} : tensor<4xf32>
  %m = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
  %v = rn.param "bn.running_var" {buffer, init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w {padding = array<i64: 1, 1>} : tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>
  %y = rn.batch_norm %c, %s, %t, %m, %v : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %a = rn.add %x, %y : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %r = rn.relu %a : tensor<?x4x6x6xf32>
  return %r : tensor<?x4x6x6xf32>
}

// -----

// Must not fuse: the conv output feeds a second block.
// CHECK-LABEL: func.func @eval
// CHECK-NOT: rn.conv2d_bn_eval
// EXPLAIN: remark: not fused: the conv output has another user (a conv feeding two blocks)
// EXPLAIN: remark: not fused: its input comes from rn.batch_norm, not from a fused conv + BN chain
func.func @eval(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "eval"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x1x1xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>
  %y = rn.batch_norm %c, %s, %s, %s, %s : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %r = rn.relu %y : tensor<?x4x6x6xf32>
  %out = rn.add %r, %c : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %out : tensor<?x4x6x6xf32>
}

// -----

// Must not fuse the ReLU: the BN output has a second user; the BN itself
// still folds into the conv. A training-mode BN is never folded.
// CHECK-LABEL: func.func @eval
// CHECK: %[[Y:.*]] = rn.conv2d_bn_eval
// CHECK-NOT: relu}
// CHECK: rn.relu %[[Y]]
// CHECK: rn.batch_norm {{.*}} {training}
// EXPLAIN: remark: fused: conv2d + batch_norm (running statistics folded into the conv epilogue)
// EXPLAIN: remark: not fused: it uses batch statistics (training mode)
func.func @eval(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "eval"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x1x1xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>
  %y = rn.batch_norm %c, %s, %s, %s, %s : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %r = rn.relu %y : tensor<?x4x6x6xf32>
  %a = rn.add %y, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %c2 = rn.conv2d %a, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>
  %b = rn.batch_norm %c2, %s, %s, %s, %s {training} : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %b : tensor<?x4x6x6xf32>
}

// -----

// Must not transform: only @eval is fused.
// CHECK-LABEL: func.func @forward
// CHECK: rn.conv2d
// CHECK: rn.batch_norm
func.func @forward(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "forward"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x1x1xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>
  %y = rn.batch_norm %c, %s, %s, %s, %s : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %y : tensor<?x4x6x6xf32>
}
