// RUN: rnc-opt %s -split-input-file -rnc-autodiff -verify-diagnostics | FileCheck %s

// Rules of conv2d (weight and bias; no input gradient: the image needs
// none), global_avg_pool, flatten, linear and softmax_cross_entropy. Every
// parameter's gradient becomes a result tagged rn.grad_of, in param order.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: -> (tensor<f32>, tensor<i32>, tensor<3x2x3x3xf32> {rn.grad_of = "c.weight"}, tensor<3xf32> {rn.grad_of = "c.bias"}, tensor<10x3xf32> {rn.grad_of = "fc.weight"}, tensor<10xf32> {rn.grad_of = "fc.bias"})
func.func @train_step(%x: tensor<?x2x4x4xf32>, %l: tensor<?xi32>) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
  // CHECK: %[[W:.*]] = rn.param "c.weight"
  %w = rn.param "c.weight" {init = "kaiming_uniform"} : tensor<3x2x3x3xf32>
  %b = rn.param "c.bias" {init = "conv_bias"} : tensor<3xf32>
  %y = rn.conv2d %x, %w, %b {padding = array<i64: 1, 1>} : tensor<?x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>
  %g = rn.global_avg_pool %y : tensor<?x3x4x4xf32>
  // CHECK: %[[F:.*]] = rn.flatten
  %f = rn.flatten %g : tensor<?x3x1x1xf32>
  // CHECK: %[[FW:.*]] = rn.param "fc.weight"
  %fw = rn.param "fc.weight" {init = "linear_weight"} : tensor<10x3xf32>
  %fb = rn.param "fc.bias" {init = "linear_bias"} : tensor<10xf32>
  // CHECK: %[[O:.*]] = rn.linear
  %o = rn.linear %f, %fw, %fb : tensor<?x3xf32>, tensor<10x3xf32>, tensor<10xf32>
  // CHECK: %[[LOSS:.*]] = rn.softmax_cross_entropy %[[O]]
  %loss = rn.softmax_cross_entropy %o, %l : tensor<?x10xf32>, tensor<?xi32>
  // CHECK: %[[C:.*]] = rn.count_correct
  %c = rn.count_correct %o, %l : tensor<?x10xf32>, tensor<?xi32>
  // CHECK: %[[DO:.*]] = rn.softmax_cross_entropy_grad %[[O]], %arg1
  // CHECK: %[[DF:.*]] = rn.linear_grad_input %[[DO]], %[[FW]] : tensor<?x10xf32>, tensor<10x3xf32>
  // CHECK: %[[DFW:.*]] = rn.linear_grad_weight %[[DO]], %[[F]] : tensor<?x10xf32>, tensor<?x3xf32>
  // CHECK: %[[DFB:.*]] = rn.bias_grad %[[DO]] : tensor<?x10xf32>
  // CHECK: %[[DG:.*]] = rn.unflatten %[[DF]] : tensor<?x3xf32> -> tensor<?x3x1x1xf32>
  // CHECK: %[[DY:.*]] = rn.global_avg_pool_grad %[[DG]] : tensor<?x3x1x1xf32> -> tensor<?x3x4x4xf32>
  // CHECK-NOT: rn.conv2d_grad_input
  // CHECK: %[[DW:.*]] = rn.conv2d_grad_weight %[[DY]], %arg0 {padding = array<i64: 1, 1>} : tensor<?x3x4x4xf32>, tensor<?x2x4x4xf32> -> tensor<3x2x3x3xf32>
  // CHECK: %[[DB:.*]] = rn.bias_grad %[[DY]] : tensor<?x3x4x4xf32>
  // CHECK: return %[[LOSS]], %[[C]], %[[DW]], %[[DB]], %[[DFW]], %[[DFB]]
  return %loss, %c : tensor<f32>, tensor<i32>
}

// -----

// Rules of batch_norm_train, relu, add, max_pool2d, avg_pool2d and the
// input gradient of conv2d; %r feeds both the conv and the residual add, so
// its two gradients are summed with rn.add before the ReLU rule.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: -> (tensor<f32>, tensor<2x2x3x3xf32> {rn.grad_of = "a.weight"}, tensor<2xf32> {rn.grad_of = "bn.weight"}, tensor<2xf32> {rn.grad_of = "bn.bias"}, tensor<2x2x3x3xf32> {rn.grad_of = "b.weight"}, tensor<10x8xf32> {rn.grad_of = "fc.weight"})
func.func @train_step(%x: tensor<?x2x8x8xf32>, %l: tensor<?xi32>) -> tensor<f32> attributes {rn.role = "train_step"} {
  %w1 = rn.param "a.weight" {init = "kaiming_normal"} : tensor<2x2x3x3xf32>
  // CHECK: %[[S:.*]] = rn.param "bn.weight"
  %s = rn.param "bn.weight" {init = "ones"} : tensor<2xf32>
  %t = rn.param "bn.bias" {init = "zeros"} : tensor<2xf32>
  // CHECK: %[[C1:.*]] = rn.conv2d %arg0
  %c1 = rn.conv2d %x, %w1 {padding = array<i64: 1, 1>} : tensor<?x2x8x8xf32>, tensor<2x2x3x3xf32>
  // CHECK: %[[Y:.*]], %[[MEAN:.*]], %[[ISTD:.*]] = rn.batch_norm_train %[[C1]]
  %y, %mean, %inv_std = rn.batch_norm_train %c1, %s, %t : tensor<?x2x8x8xf32>, tensor<2xf32>, tensor<2xf32>
  // CHECK: %[[R:.*]] = rn.relu %[[Y]]
  %r = rn.relu %y : tensor<?x2x8x8xf32>
  // CHECK: %[[W2:.*]] = rn.param "b.weight"
  %w2 = rn.param "b.weight" {init = "kaiming_normal"} : tensor<2x2x3x3xf32>
  %c2 = rn.conv2d %r, %w2 {padding = array<i64: 1, 1>} : tensor<?x2x8x8xf32>, tensor<2x2x3x3xf32>
  // CHECK: %[[SUM:.*]] = rn.add
  %sum = rn.add %c2, %r : tensor<?x2x8x8xf32>, tensor<?x2x8x8xf32>
  %m = rn.max_pool2d %sum {kernel = array<i64: 2, 2>} : tensor<?x2x8x8xf32>
  %a = rn.avg_pool2d %m {kernel = array<i64: 2, 2>} : tensor<?x2x4x4xf32>
  %f = rn.flatten %a : tensor<?x2x2x2xf32>
  %fw = rn.param "fc.weight" {init = "linear_weight"} : tensor<10x8xf32>
  %o = rn.linear %f, %fw : tensor<?x8xf32>, tensor<10x8xf32>
  %loss = rn.softmax_cross_entropy %o, %l : tensor<?x10xf32>, tensor<?xi32>
  // CHECK: %[[DA:.*]] = rn.unflatten
  // CHECK: %[[DM:.*]] = rn.avg_pool2d_grad %[[DA]] {kernel = array<i64: 2, 2>} : tensor<?x2x2x2xf32> -> tensor<?x2x4x4xf32>
  // CHECK: %[[DSUM:.*]] = rn.max_pool2d_grad %[[DM]], %[[SUM]] {kernel = array<i64: 2, 2>}
  // CHECK: %[[DR1:.*]] = rn.conv2d_grad_input %[[DSUM]], %[[W2]] {padding = array<i64: 1, 1>} : tensor<?x2x8x8xf32>, tensor<2x2x3x3xf32> -> tensor<?x2x8x8xf32>
  // CHECK: %[[DW2:.*]] = rn.conv2d_grad_weight %[[DSUM]], %[[R]]
  // CHECK: %[[DR:.*]] = rn.add %[[DSUM]], %[[DR1]]
  // CHECK: %[[DY:.*]] = rn.relu_grad %[[DR]], %[[R]]
  // CHECK: %[[DC1:.*]], %[[DS:.*]], %[[DT:.*]] = rn.batch_norm_grad %[[DY]], %[[C1]], %[[MEAN]], %[[ISTD]], %[[S]]
  // CHECK: %[[DW1:.*]] = rn.conv2d_grad_weight %[[DC1]], %arg0
  // CHECK: return %{{.*}}, %[[DW1]], %[[DS]], %[[DT]], %[[DW2]], %{{.*}} :
  return %loss : tensor<f32>
}

// -----

// Only buffers (not trained): a step that would update nothing is refused,
// not built silently.
// expected-error@+1 {{rnc-autodiff: @train_step has no trained rn.param, so the step would update nothing}}
func.func @train_step(%x: tensor<?x10xf32>, %l: tensor<?xi32>) -> tensor<f32> attributes {rn.role = "train_step"} {
  %p = rn.param "table" {buffer, init = "zeros"} : tensor<10x10xf32>
  %0 = rn.linear %x, %p : tensor<?x10xf32>, tensor<10x10xf32>
  %loss = rn.softmax_cross_entropy %0, %l : tensor<?x10xf32>, tensor<?xi32>
  return %loss : tensor<f32>
}

// -----

// An eval-mode batch_norm between a parameter and the loss has no rule.
func.func @train_step(%x: tensor<?x4xf32>, %l: tensor<?xi32>) -> tensor<f32> attributes {rn.role = "train_step"} {
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %m = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
  // expected-error@+1 {{'rn.batch_norm' op has no gradient rule, but the loss depends on a parameter through it}}
  %0 = rn.batch_norm %x, %s, %s, %m, %m : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %loss = rn.softmax_cross_entropy %0, %l : tensor<?x4xf32>, tensor<?xi32>
  return %loss : tensor<f32>
}

// -----

// The first result must be the scalar loss.
// expected-error@+1 {{rnc-autodiff: expected the first result of @train_step to be the loss, a tensor<f32>, got 'tensor<?x4xf32>'}}
func.func @train_step(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "train_step"} {
  return %x : tensor<?x4xf32>
}

// -----

// expected-error@+1 {{rnc-autodiff: expected a func with rn.role = "train_step" and a body (run rnc-build-training-step first)}}
module {
  func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "forward"} {
    return %x : tensor<?x4xf32>
  }
}

// -----

// Parameters used through a call would get no gradient: refused, naming
// the callee.
func.func @block(%x: tensor<?x4xf32>) -> tensor<?x10xf32> {
  %w = rn.param "fc.weight" {init = "kaiming_normal"} : tensor<10x4xf32>
  %y = rn.linear %x, %w : tensor<?x4xf32>, tensor<10x4xf32>
  return %y : tensor<?x10xf32>
}
func.func @train_step(%x: tensor<?x4xf32>, %l: tensor<?xi32>) -> tensor<f32> attributes {rn.role = "train_step"} {
  // expected-error@+1 {{'func.call' op rnc-autodiff: @train_step calls @block; rnc differentiates one function body, so inline the call first}}
  %0 = func.call @block(%x) : (tensor<?x4xf32>) -> tensor<?x10xf32>
  %loss = rn.softmax_cross_entropy %0, %l : tensor<?x10xf32>, tensor<?xi32>
  return %loss : tensor<f32>
}

// -----

// A trained parameter the loss does not depend on would never change.
func.func @train_step(%x: tensor<?x4xf32>, %l: tensor<?xi32>) -> tensor<f32> attributes {rn.role = "train_step"} {
  %w = rn.param "fc.weight" {init = "kaiming_normal"} : tensor<10x4xf32>
  // expected-error@+1 {{'rn.param' op rnc-autodiff: trained parameter 'unused.weight' gets no gradient: the loss does not depend on it}}
  %u = rn.param "unused.weight" {init = "kaiming_normal"} : tensor<10x4xf32>
  %0 = rn.linear %x, %w : tensor<?x4xf32>, tensor<10x4xf32>
  %loss = rn.softmax_cross_entropy %0, %l : tensor<?x10xf32>, tensor<?xi32>
  return %loss : tensor<f32>
}
