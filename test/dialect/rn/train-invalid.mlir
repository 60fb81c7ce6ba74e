// RUN: rnc-opt %s -split-input-file -verify-diagnostics

func.func @conv_grad_input_shape(%dy: tensor<?x4x8x8xf32>, %w: tensor<4x4x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input' op expected the result gradient 'tensor<?x4x8x8xf32>' to have the shape [?, 4, 6, 6] that the forward op gives for the input type}}
  %0 = rn.conv2d_grad_input %dy, %w : tensor<?x4x8x8xf32>, tensor<4x4x3x3xf32> -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @conv_grad_input_fanin_addend(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %a: tensor<?x4x6x6xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_fanin' op expected addend of the input gradient's shape, got 'tensor<?x4x6x6xf32>'}}
  %0 = rn.conv2d_grad_input_fanin %dy, %w addend %a {padding = array<i64: 0, 0>} : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x6x6xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @conv_grad_input_fanin_shape(%dy: tensor<?x4x8x8xf32>, %w: tensor<4x4x3x3xf32>, %a: tensor<?x4x8x8xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_fanin' op expected the result gradient 'tensor<?x4x8x8xf32>' to have the shape [?, 4, 6, 6] that the forward op gives for the input type}}
  %0 = rn.conv2d_grad_input_fanin %dy, %w addend %a relu_result %a : (tensor<?x4x8x8xf32>, tensor<4x4x3x3xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @conv_grad_input_bn_reduce_input(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %x: tensor<?x4x6x6xf32>, %m: tensor<4xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_bn_reduce' op expected bn_input of the input gradient's shape, got 'tensor<?x4x6x6xf32>'}}
  %0:3 = rn.conv2d_grad_input_bn_reduce %dy, %w bn_input %x bn_mean %m : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @conv_grad_input_bn_reduce_relu(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %x: tensor<?x4x8x8xf32>, %r: tensor<?x4x6x6xf32>, %m: tensor<4xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_bn_reduce' op expected relu_result of the input gradient's shape, got 'tensor<?x4x6x6xf32>'}}
  %0:3 = rn.conv2d_grad_input_bn_reduce %dy, %w relu_result %r bn_input %x bn_mean %m : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x6x6xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @conv_grad_input_bn_reduce_addend(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %x: tensor<?x4x8x8xf32>, %a: tensor<?x8x8x8xf32>, %m: tensor<4xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_bn_reduce' op expected addend of the input gradient's shape, got 'tensor<?x8x8x8xf32>'}}
  %0:3 = rn.conv2d_grad_input_bn_reduce %dy, %w addend %a bn_input %x bn_mean %m : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x8x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @conv_grad_input_bn_reduce_shape(%dy: tensor<?x4x8x8xf32>, %w: tensor<4x4x3x3xf32>, %x: tensor<?x4x8x8xf32>, %m: tensor<4xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_bn_reduce' op expected the result gradient 'tensor<?x4x8x8xf32>' to have the shape [?, 4, 6, 6] that the forward op gives for the input type}}
  %0:3 = rn.conv2d_grad_input_bn_reduce %dy, %w bn_input %x bn_mean %m : (tensor<?x4x8x8xf32>, tensor<4x4x3x3xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @conv_grad_input_bn_reduce_groups(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %x: tensor<?x4x8x8xf32>, %m: tensor<4xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_bn_reduce' op expected input channels 4 to be weight dim 1 x groups (8)}}
  %0:3 = rn.conv2d_grad_input_bn_reduce %dy, %w bn_input %x bn_mean %m {groups = 2 : i64} : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @conv_grad_input_bn_reduce_mean(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %x: tensor<?x4x8x8xf32>, %m: tensor<3xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_bn_reduce' op expected bn_mean of shape [4] (input channels), got 'tensor<3xf32>'}}
  %0:3 = rn.conv2d_grad_input_bn_reduce %dy, %w bn_input %x bn_mean %m : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x8x8xf32>, tensor<3xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @conv_grad_input_bn_reduce_sum(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %x: tensor<?x4x8x8xf32>, %m: tensor<4xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_bn_reduce' op expected grad_sum of shape [4] (input channels), got 'tensor<8xf32>'}}
  %0:3 = rn.conv2d_grad_input_bn_reduce %dy, %w bn_input %x bn_mean %m : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<8xf32>, tensor<4xf32>)
  return
}

// -----

func.func @conv_grad_input_bn_reduce_dev_sum(%dy: tensor<?x4x6x6xf32>, %w: tensor<4x4x3x3xf32>, %x: tensor<?x4x8x8xf32>, %m: tensor<4xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_input_bn_reduce' op expected grad_dev_sum of shape [4] (input channels), got 'tensor<2xf32>'}}
  %0:3 = rn.conv2d_grad_input_bn_reduce %dy, %w bn_input %x bn_mean %m : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<2xf32>)
  return
}

// -----

func.func @bn_grad_from_sums_match(%g: tensor<?x4x6x6xf32>, %x: tensor<?x4x8x8xf32>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'rn.batch_norm_grad_from_sums' op expected result_grad 'tensor<?x4x6x6xf32>' to match the input 'tensor<?x4x8x8xf32>'}}
  %0:3 = rn.batch_norm_grad_from_sums %g, %x, %v, %v, %v, %v, %v : tensor<?x4x6x6xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @bn_grad_from_sums_vectors(%x: tensor<?x4x8x8xf32>, %v: tensor<4xf32>, %s: tensor<3xf32>) {
  // expected-error@+1 {{'rn.batch_norm_grad_from_sums' op expected grad_dev_sum of shape [4] (input channels), got 'tensor<3xf32>'}}
  %0:3 = rn.batch_norm_grad_from_sums %x, %x, %v, %v, %v, %v, %s : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<3xf32>
  return
}

// -----

func.func @bn_grad_from_sums_rank(%x: tensor<?x4xf32>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'rn.batch_norm_grad_from_sums' op operand #0 must be 4D tensor of 32-bit float values, but got 'tensor<?x4xf32>'}}
  %0:3 = rn.batch_norm_grad_from_sums %x, %x, %v, %v, %v, %v, %v : tensor<?x4xf32>, tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @conv_grad_weight_groups(%dy: tensor<?x4x8x8xf32>, %x: tensor<?x4x8x8xf32>) {
  // expected-error@+1 {{'rn.conv2d_grad_weight' op expected input channels 4 to be weight dim 1 x groups (8)}}
  %0 = rn.conv2d_grad_weight %dy, %x {padding = array<i64: 1, 1>, groups = 2 : i64} : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32> -> tensor<4x4x3x3xf32>
  return
}

// -----

func.func @unflatten_size(%x: tensor<?x8xf32>) {
  // expected-error@+1 {{'rn.unflatten' op expected the result gradient 'tensor<?x8xf32>' to have the shape [?, 4] that the forward op gives for the result type}}
  %0 = rn.unflatten %x : tensor<?x8xf32> -> tensor<?x4x1x1xf32>
  return
}

// -----

func.func @relu_grad_mismatch(%dy: tensor<?x4xf32>, %y: tensor<?x5xf32>) {
  // expected-error@+1 {{'rn.relu_grad' op expected result_grad 'tensor<?x4xf32>' to match the result 'tensor<?x5xf32>'}}
  %0 = rn.relu_grad %dy, %y : tensor<?x4xf32>, tensor<?x5xf32>
  return
}

// -----

func.func @sgd_not_a_param(%p: tensor<4xf32>, %lr: f32) {
  // expected-error@+1 {{'rn.sgd_update' op expected param to be an rn.param (state the update writes)}}
  rn.sgd_update %p, %p, %p, %lr, %lr, %lr : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @sgd_buffer_kind(%g: tensor<4xf32>, %lr: f32) {
  %p = rn.param "w" {init = "zeros"} : tensor<4xf32>
  %b = rn.param "w.momentum_buffer" {init = "zeros"} : tensor<4xf32>
  // expected-error@+1 {{'rn.sgd_update' op expected momentum_buffer "w.momentum_buffer" to be optimizer param}}
  rn.sgd_update %p, %b, %g, %lr, %lr, %lr : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @running_update_not_buffer(%x: tensor<?x4xf32>) {
  %p = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  // expected-error@+1 {{'rn.batch_norm_running_update' op expected running_mean "bn.weight" to be buffer param}}
  rn.batch_norm_running_update %p, %p, %p, %p, %x : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<?x4xf32>
  return
}

// -----

func.func @bn_train_scale(%x: tensor<?x4xf32>, %s: tensor<3xf32>) {
  // expected-error@+1 {{'rn.batch_norm_train' op expected scale of shape [4] (input channels), got 'tensor<3xf32>'}}
  %y, %m, %i = rn.batch_norm_train %x, %s, %s : tensor<?x4xf32>, tensor<3xf32>, tensor<3xf32>
  return
}

// -----

func.func @max_pool_grad_shape(%dy: tensor<?x4x3x3xf32>, %x: tensor<?x4x8x8xf32>) {
  // expected-error@+1 {{'rn.max_pool2d_grad' op expected the result gradient 'tensor<?x4x3x3xf32>' to have the shape [?, 4, 4, 4] that the forward op gives for the input type}}
  %0 = rn.max_pool2d_grad %dy, %x {kernel = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x8x8xf32>
  return
}

// -----

func.func @max_pool_bn_grad_shape(%g: tensor<?x4x3x3xf32>, %r: tensor<?x4x8x8xf32>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'rn.max_pool2d_bn_relu_grad' op expected the result gradient 'tensor<?x4x3x3xf32>' to have the shape [?, 4, 4, 4] that the forward op gives for the relu_result type (the pool's input)}}
  %0:3 = rn.max_pool2d_bn_relu_grad %g, %r, %r, %v, %v, %v {kernel = array<i64: 2, 2>} : tensor<?x4x3x3xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @max_pool_bn_grad_input(%g: tensor<?x4x4x4xf32>, %r: tensor<?x4x8x8xf32>, %x: tensor<?x4x6x6xf32>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'rn.max_pool2d_bn_relu_grad' op expected relu_result 'tensor<?x4x8x8xf32>' to match the input 'tensor<?x4x6x6xf32>'}}
  %0:3 = rn.max_pool2d_bn_relu_grad %g, %r, %x, %v, %v, %v {kernel = array<i64: 2, 2>} : tensor<?x4x4x4xf32>, tensor<?x4x8x8xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @max_pool_bn_grad_vector(%g: tensor<?x4x4x4xf32>, %r: tensor<?x4x8x8xf32>, %v: tensor<4xf32>, %w: tensor<3xf32>) {
  // expected-error@+1 {{'rn.max_pool2d_bn_relu_grad' op}}
  %0:3 = rn.max_pool2d_bn_relu_grad %g, %r, %r, %v, %w, %v {kernel = array<i64: 2, 2>} : tensor<?x4x4x4xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<3xf32>, tensor<4xf32>
  return
}
