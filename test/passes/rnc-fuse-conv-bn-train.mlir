// RUN: rnc-opt %s -split-input-file -rnc-fuse-conv-bn-train | FileCheck %s
// RUN: rnc-opt %s -split-input-file -rnc-fuse-conv-bn-train=explain=true -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN

// EXPLAIN: remark: fused: conv2d + batch_norm_train (statistics in the conv epilogue, one apply pass with add + relu as its epilogue)
// EXPLAIN: remark: fused: conv2d + batch_norm_train (statistics in the conv epilogue, one apply pass with add as its epilogue)
// EXPLAIN: remark: not fused: the fused output it reads is kept: its output has 2 users
// EXPLAIN: remark: fused: conv2d + batch_norm_train (statistics in the conv epilogue, one apply pass)
// EXPLAIN: remark: not fused: the fused output it reads is kept: its output has 2 users
// EXPLAIN: remark: not fused: the conv output also feeds rn.add (a second block)
// EXPLAIN: remark: not fused: its input comes from an argument, not a conv

// A basic block's end: conv -> BN -> add(shortcut) -> ReLU is one fused op.
// The running update moves after it and reads the fused statistics; the
// backward ops read the conv output (result 0) and the ReLU output (1).
// CHECK-LABEL: func.func @train_step
// CHECK: %[[C:[a-z_0-9]+]], %[[Y:[a-z_0-9]+]], %[[M:[a-z_0-9]+]], %[[I:[a-z_0-9]+]] = rn.conv2d_bn_train %arg0, %{{.*}} scale %{{.*}} shift %{{.*}} residual %arg0 {epsilon = 1.000000e-03 : f64, padding = array<i64: 1, 1>, relu}
// CHECK-NEXT: rn.batch_norm_running_update %{{.*}}, %{{.*}}, %[[M]], %[[I]], %[[C]] :
// CHECK-NOT: rn.conv2d %
// CHECK-NOT: rn.batch_norm_train
// CHECK-NOT: rn.add
// CHECK-NOT: rn.relu %
// CHECK: rn.relu_grad %{{.*}}, %[[Y]] :
// CHECK: rn.batch_norm_grad %{{.*}}, %[[C]], %[[M]], %[[I]],
func.func @train_step(%x: tensor<?x4x6x6xf32>, %dy: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x3x3xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %t = rn.param "bn.bias" {init = "zeros"} : tensor<4xf32>
  %rm = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
  %rv = rn.param "bn.running_var" {buffer, init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w {padding = array<i64: 1, 1>} : tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>
  %y, %mean, %istd = rn.batch_norm_train %c, %s, %t {epsilon = 1.0e-3 : f64} : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>
  rn.batch_norm_running_update %rm, %rv, %mean, %istd, %c : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<?x4x6x6xf32>
  %a = rn.add %y, %x : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %r = rn.relu %a : tensor<?x4x6x6xf32>
  %dr = rn.relu_grad %dy, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %dc, %ds, %dt = rn.batch_norm_grad %dr, %c, %mean, %istd, %s : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %dc : tensor<?x4x6x6xf32>
}

// -----

// A sum the model needs twice (a pre-activation block's output) is the
// fused result; the ReLU after it stays separate.
// CHECK-LABEL: func.func @train_step
// CHECK: %{{[a-z_0-9]+}}, %[[F:[a-z_0-9]+]], %{{.*}} = rn.conv2d_bn_train
// CHECK-NOT: relu}
// CHECK: rn.relu %[[F]]
// CHECK: rn.add %[[F]], %{{.*}}
func.func @train_step(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x1x1xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>
  %y, %mean, %istd = rn.batch_norm_train %c, %s, %s : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>
  %a = rn.add %x, %y : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  %r = rn.relu %a : tensor<?x4x6x6xf32>
  %out = rn.add %a, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %out : tensor<?x4x6x6xf32>
}

// -----

// Must not fuse the ReLU: the BN output has a second user.
// CHECK-LABEL: func.func @train_step
// CHECK: %{{[a-z_0-9]+}}, %[[F:[a-z_0-9]+]], %{{.*}} = rn.conv2d_bn_train
// CHECK-NOT: relu}
// CHECK: rn.relu %[[F]]
// CHECK: rn.add %[[F]],
func.func @train_step(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x1x1xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>
  %y, %mean, %istd = rn.batch_norm_train %c, %s, %s : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>
  %r = rn.relu %y : tensor<?x4x6x6xf32>
  %out = rn.add %y, %r : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %out : tensor<?x4x6x6xf32>
}

// -----

// Must not fuse at all: the conv output feeds a second block.
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: rn.conv2d_bn_train
// CHECK: rn.conv2d
// CHECK: rn.batch_norm_train
func.func @train_step(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x1x1xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>
  %y, %mean, %istd = rn.batch_norm_train %c, %s, %s : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>
  %out = rn.add %y, %c : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>
  return %out : tensor<?x4x6x6xf32>
}

// -----

// Must not transform: a BN whose input is not a conv, and any function
// other than @train_step.
// CHECK-LABEL: func.func @train_step
// CHECK: rn.batch_norm_train %arg0
// CHECK-LABEL: func.func @eval
// CHECK: rn.conv2d
// CHECK: rn.batch_norm_train
func.func @train_step(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "train_step"} {
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %y, %mean, %istd = rn.batch_norm_train %x, %s, %s : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>
  return %y : tensor<?x4x6x6xf32>
}
func.func @eval(%x: tensor<?x4x6x6xf32>) -> tensor<?x4x6x6xf32> attributes {rn.role = "eval"} {
  %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<4x4x1x1xf32>
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %c = rn.conv2d %x, %w : tensor<?x4x6x6xf32>, tensor<4x4x1x1xf32>
  %y, %mean, %istd = rn.batch_norm_train %c, %s, %s : tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>
  return %y : tensor<?x4x6x6xf32>
}
