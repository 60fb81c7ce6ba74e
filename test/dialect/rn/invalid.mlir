// Every verifier and type-inference error of the rn ops, one case each.
// RUN: rnc-opt %s -split-input-file -verify-diagnostics

//===----------------------------------------------------------------------===//
// rn.param
//===----------------------------------------------------------------------===//

func.func @param_empty_name() {
  // expected-error@+1 {{'rn.param' op expected a non-empty name}}
  %0 = rn.param "" {init = "zeros"} : tensor<4xf32>
  return
}

// -----

func.func @param_bad_init() {
  // expected-error@+1 {{'rn.param' op expected init to be one of kaiming_normal, kaiming_uniform, zeros, ones, linear_weight, linear_bias, conv_bias; got "xavier"}}
  %0 = rn.param "fc.weight" {init = "xavier"} : tensor<10x4xf32>
  return
}

// -----

func.func @param_dynamic_shape() {
  // expected-error@+1 {{'rn.param' op expected a static result shape, got 'tensor<?x4xf32>'}}
  %0 = rn.param "fc.weight" {init = "linear_weight"} : tensor<?x4xf32>
  return
}

// -----

func.func @param_missing_init() {
  // expected-error@+1 {{'rn.param' op requires attribute 'init'}}
  %0 = rn.param "fc.weight" : tensor<10x4xf32>
  return
}

//===----------------------------------------------------------------------===//
// Activation and weight checks (shared by all ops)
//===----------------------------------------------------------------------===//

// -----

// The custom syntax only takes ranked tensors: the unranked-operand errors
// are provoked from C++ in test/builders/rn-builders.cpp.

// -----

func.func @unranked_generic(%x: tensor<*xf32>) {
  // expected-error@+1 {{'rn.relu' op operand #0 must be ranked tensor of 32-bit float values, but got 'tensor<*xf32>'}}
  %0 = "rn.relu"(%x) : (tensor<*xf32>) -> tensor<*xf32>
  return
}

// -----

func.func @dynamic_channels(%x: tensor<?x?x8x8xf32>) {
  // expected-error@+1 {{'rn.relu' op expected input to have static dims after the batch dim (only the batch may be dynamic), got 'tensor<?x?x8x8xf32>'}}
  %0 = rn.relu %x : tensor<?x?x8x8xf32>
  return
}

// -----

func.func @conv_input_rank(%x: tensor<3x224x224xf32>, %w: tensor<64x3x7x7xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected input of rank 4 [N, C, H, W], got 'tensor<3x224x224xf32>'}}
  %0 = rn.conv2d %x, %w : tensor<3x224x224xf32>, tensor<64x3x7x7xf32>
  return
}

// -----

func.func @conv_dynamic_spatial(%x: tensor<?x3x?x224xf32>, %w: tensor<64x3x7x7xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected input to have static dims after the batch dim (only the batch may be dynamic), got 'tensor<?x3x?x224xf32>'}}
  %0 = rn.conv2d %x, %w : tensor<?x3x?x224xf32>, tensor<64x3x7x7xf32>
  return
}

// -----

func.func @conv_weight_rank(%x: tensor<?x3x32x32xf32>, %w: tensor<64x3x7xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected weight of rank 4 [O, C/groups, KH, KW], got 'tensor<64x3x7xf32>'}}
  %0 = rn.conv2d %x, %w : tensor<?x3x32x32xf32>, tensor<64x3x7xf32>
  return
}

// -----

func.func @conv_weight_dynamic(%x: tensor<?x3x32x32xf32>, %w: tensor<?x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected weight to have a static shape with no zero-size dim, got 'tensor<?x3x3x3xf32>'}}
  %0 = rn.conv2d %x, %w : tensor<?x3x32x32xf32>, tensor<?x3x3x3xf32>
  return
}

// -----

func.func @conv_weight_empty(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x0x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected weight to have a static shape with no zero-size dim, got 'tensor<16x3x0x3xf32>'}}
  %0 = rn.conv2d %x, %w : tensor<?x3x32x32xf32>, tensor<16x3x0x3xf32>
  return
}

// -----

func.func @conv_element_type(%x: tensor<?x3x32x32xi32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op operand #0 must be 4D tensor of 32-bit float values, but got 'tensor<?x3x32x32xi32>'}}
  %0 = rn.conv2d %x, %w : tensor<?x3x32x32xi32>, tensor<16x3x3x3xf32>
  return
}

//===----------------------------------------------------------------------===//
// rn.conv2d
//===----------------------------------------------------------------------===//

// -----

func.func @conv_stride_size(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected stride to have 2 values [sh, sw], got [1, 1, 1]}}
  %0 = rn.conv2d %x, %w {stride = array<i64: 1, 1, 1>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
  return
}

// -----

func.func @conv_stride_zero(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected stride values to be >= 1, got [0, 1]}}
  %0 = rn.conv2d %x, %w {stride = array<i64: 0, 1>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
  return
}

// -----

func.func @conv_padding_size(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected padding to have 2 values [ph, pw], got [1]}}
  %0 = rn.conv2d %x, %w {padding = array<i64: 1>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
  return
}

// -----

func.func @conv_padding_negative(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected padding values to be >= 0, got [1, -1]}}
  %0 = rn.conv2d %x, %w {padding = array<i64: 1, -1>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
  return
}

// -----

func.func @conv_dilation_size(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected dilation to have 2 values [dh, dw], got []}}
  %0 = rn.conv2d %x, %w {dilation = array<i64>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
  return
}

// -----

func.func @conv_dilation_zero(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected dilation values to be >= 1, got [1, 0]}}
  %0 = rn.conv2d %x, %w {dilation = array<i64: 1, 0>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
  return
}

// -----

func.func @conv_empty_height(%x: tensor<?x3x5x32xf32>, %w: tensor<16x3x7x7xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected the padded input height (5 + 2 * 0 = 5) to be at least the dilated kernel height 7 (the output would be empty)}}
  %0 = rn.conv2d %x, %w : tensor<?x3x5x32xf32>, tensor<16x3x7x7xf32>
  return
}

// -----

func.func @conv_empty_width(%x: tensor<?x3x32x8xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected the padded input width (8 + 2 * 0 = 8) to be at least the dilated kernel width 9 (the output would be empty)}}
  %0 = rn.conv2d %x, %w {dilation = array<i64: 1, 4>} : tensor<?x3x32x8xf32>, tensor<16x3x3x3xf32>
  return
}

// -----

func.func @conv_window_overflow(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected the height window arithmetic to fit in 64 bits (size 32, padding 0, kernel 3, dilation 4611686018427387904)}}
  %0 = rn.conv2d %x, %w {dilation = array<i64: 4611686018427387904, 1>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
  return
}

// -----

func.func @conv_groups(%x: tensor<?x4x32x32xf32>, %w: tensor<16x4x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected groups to be >= 1, got 0}}
  %0 = rn.conv2d %x, %w {groups = 0 : i64} : tensor<?x4x32x32xf32>, tensor<16x4x3x3xf32>
  return
}

// -----

func.func @conv_input_channels_groups(%x: tensor<?x63x32x32xf32>, %w: tensor<64x31x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected input channels 63 to be divisible by groups 2}}
  %0 = rn.conv2d %x, %w {groups = 2 : i64} : tensor<?x63x32x32xf32>, tensor<64x31x3x3xf32>
  return
}

// -----

func.func @conv_output_channels_groups(%x: tensor<?x64x32x32xf32>, %w: tensor<63x32x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected output channels (weight dim 0) 63 to be divisible by groups 2}}
  %0 = rn.conv2d %x, %w {groups = 2 : i64} : tensor<?x64x32x32xf32>, tensor<63x32x3x3xf32>
  return
}

// -----

func.func @conv_weight_channels(%x: tensor<?x64x32x32xf32>, %w: tensor<128x64x3x3xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected weight dim 1 (input channels per group) to be 32 (input channels 64 / groups 2), got 64}}
  %0 = rn.conv2d %x, %w {groups = 2 : i64} : tensor<?x64x32x32xf32>, tensor<128x64x3x3xf32>
  return
}

// -----

func.func @conv_bias(%x: tensor<?x3x32x32xf32>, %w: tensor<64x3x3x3xf32>, %b: tensor<32xf32>) {
  // expected-error@+1 {{'rn.conv2d' op expected bias of shape [64] (output channels), got 'tensor<32xf32>'}}
  %0 = rn.conv2d %x, %w, %b : tensor<?x3x32x32xf32>, tensor<64x3x3x3xf32>, tensor<32xf32>
  return
}

// -----

// The generic form spells the result type; it must be the inferred one.
func.func @conv_result_type(%x: tensor<?x3x32x32xf32>, %w: tensor<16x3x3x3xf32>) {
  // expected-error@+2 {{'rn.conv2d' op inferred type(s) 'tensor<?x16x30x30xf32>' are incompatible with return type(s) of operation 'tensor<?x16x32x32xf32>'}}
  // expected-error@+1 {{'rn.conv2d' op failed to infer returned types}}
  %0 = "rn.conv2d"(%x, %w) : (tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>) -> tensor<?x16x32x32xf32>
  return
}

//===----------------------------------------------------------------------===//
// rn.batch_norm
//===----------------------------------------------------------------------===//

// -----

func.func @bn_rank(%x: tensor<?x64x8xf32>, %c: tensor<64xf32>) {
  // expected-error@+1 {{'rn.batch_norm' op expected input of rank 2 [N, C] or 4 [N, C, H, W], got 'tensor<?x64x8xf32>'}}
  %0 = rn.batch_norm %x, %c, %c, %c, %c : tensor<?x64x8xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @bn_epsilon(%x: tensor<?x64x8x8xf32>, %c: tensor<64xf32>) {
  // expected-error@+1 {{'rn.batch_norm' op expected epsilon to be > 0, got 0}}
  %0 = rn.batch_norm %x, %c, %c, %c, %c {epsilon = 0.0 : f64} : tensor<?x64x8x8xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @bn_momentum(%x: tensor<?x64x8x8xf32>, %c: tensor<64xf32>) {
  // expected-error@+1 {{'rn.batch_norm' op expected momentum to be in [0, 1], got 1.5}}
  %0 = rn.batch_norm %x, %c, %c, %c, %c {momentum = 1.5 : f64} : tensor<?x64x8x8xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @bn_scale(%x: tensor<?x64x8x8xf32>, %c: tensor<64xf32>, %d: tensor<32xf32>) {
  // expected-error@+1 {{'rn.batch_norm' op expected scale of shape [64] (input channels), got 'tensor<32xf32>'}}
  %0 = rn.batch_norm %x, %d, %c, %c, %c : tensor<?x64x8x8xf32>, tensor<32xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @bn_shift(%x: tensor<?x64x8x8xf32>, %c: tensor<64xf32>, %d: tensor<?xf32>) {
  // expected-error@+1 {{'rn.batch_norm' op expected shift of shape [64] (input channels), got 'tensor<?xf32>'}}
  %0 = rn.batch_norm %x, %c, %d, %c, %c : tensor<?x64x8x8xf32>, tensor<64xf32>, tensor<?xf32>, tensor<64xf32>, tensor<64xf32>
  return
}

// -----

func.func @bn_running_mean(%x: tensor<4x64xf32>, %c: tensor<64xf32>, %d: tensor<65xf32>) {
  // expected-error@+1 {{'rn.batch_norm' op expected running_mean of shape [64] (input channels), got 'tensor<65xf32>'}}
  %0 = rn.batch_norm %x, %c, %c, %d, %c : tensor<4x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<65xf32>, tensor<64xf32>
  return
}

// -----

func.func @bn_running_var(%x: tensor<?x64x8x8xf32>, %c: tensor<64xf32>, %d: tensor<1xf32>) {
  // expected-error@+1 {{'rn.batch_norm' op expected running_var of shape [64] (input channels), got 'tensor<1xf32>'}}
  %0 = rn.batch_norm %x, %c, %c, %c, %d {training} : tensor<?x64x8x8xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<1xf32>
  return
}

//===----------------------------------------------------------------------===//
// rn.add
//===----------------------------------------------------------------------===//

// -----

func.func @add_shapes(%a: tensor<?x64x56x56xf32>, %b: tensor<?x128x28x28xf32>) {
  // expected-error@+1 {{'rn.add' op expected operands of the same shape, got 'tensor<?x64x56x56xf32>' and 'tensor<?x128x28x28xf32>'}}
  %0 = rn.add %a, %b : tensor<?x64x56x56xf32>, tensor<?x128x28x28xf32>
  return
}

// -----

func.func @add_batches(%a: tensor<4x64xf32>, %b: tensor<8x64xf32>) {
  // expected-error@+1 {{'rn.add' op expected operands of the same shape, got 'tensor<4x64xf32>' and 'tensor<8x64xf32>'}}
  %0 = rn.add %a, %b : tensor<4x64xf32>, tensor<8x64xf32>
  return
}

// -----

func.func @add_ranks(%a: tensor<?x64xf32>, %b: tensor<?x64x1x1xf32>) {
  // expected-error@+1 {{'rn.add' op expected operands of the same shape, got 'tensor<?x64xf32>' and 'tensor<?x64x1x1xf32>'}}
  %0 = rn.add %a, %b : tensor<?x64xf32>, tensor<?x64x1x1xf32>
  return
}

// -----

func.func @add_rhs_dynamic(%a: tensor<?x64xf32>, %b: tensor<?x?xf32>) {
  // expected-error@+1 {{'rn.add' op expected rhs to have static dims after the batch dim (only the batch may be dynamic), got 'tensor<?x?xf32>'}}
  %0 = rn.add %a, %b : tensor<?x64xf32>, tensor<?x?xf32>
  return
}

//===----------------------------------------------------------------------===//
// rn.max_pool2d, rn.avg_pool2d
//===----------------------------------------------------------------------===//

// -----

func.func @pool_no_kernel(%x: tensor<?x64x8x8xf32>) {
  // expected-error@+1 {{'rn.max_pool2d' op expected a kernel attribute [kh, kw]}}
  %0 = rn.max_pool2d %x : tensor<?x64x8x8xf32>
  return
}

// -----

func.func @pool_kernel_size(%x: tensor<?x64x8x8xf32>) {
  // expected-error@+1 {{'rn.max_pool2d' op expected kernel to have 2 values [kh, kw], got [3]}}
  %0 = rn.max_pool2d %x {kernel = array<i64: 3>} : tensor<?x64x8x8xf32>
  return
}

// -----

func.func @pool_kernel_zero(%x: tensor<?x64x8x8xf32>) {
  // expected-error@+1 {{'rn.avg_pool2d' op expected kernel values to be >= 1, got [0, 2]}}
  %0 = rn.avg_pool2d %x {kernel = array<i64: 0, 2>} : tensor<?x64x8x8xf32>
  return
}

// -----

func.func @pool_stride_zero(%x: tensor<?x64x8x8xf32>) {
  // expected-error@+1 {{'rn.max_pool2d' op expected stride values to be >= 1, got [0, 0]}}
  %0 = rn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 0, 0>} : tensor<?x64x8x8xf32>
  return
}

// -----

func.func @pool_padding_negative(%x: tensor<?x64x8x8xf32>) {
  // expected-error@+1 {{'rn.avg_pool2d' op expected padding values to be >= 0, got [-1, 0]}}
  %0 = rn.avg_pool2d %x {kernel = array<i64: 2, 2>, padding = array<i64: -1, 0>} : tensor<?x64x8x8xf32>
  return
}

// -----

func.func @pool_padding_half_kernel(%x: tensor<?x64x8x8xf32>) {
  // expected-error@+1 {{'rn.max_pool2d' op expected padding [1, 2] to be at most half the kernel [3, 3] (pad <= kernel / 2, as in PyTorch)}}
  %0 = rn.max_pool2d %x {kernel = array<i64: 3, 3>, padding = array<i64: 1, 2>} : tensor<?x64x8x8xf32>
  return
}

// -----

func.func @pool_empty_width(%x: tensor<?x64x8x2xf32>) {
  // expected-error@+1 {{'rn.avg_pool2d' op expected the padded input width (2 + 2 * 0 = 2) to be at least the kernel width 3 (the output would be empty)}}
  %0 = rn.avg_pool2d %x {kernel = array<i64: 3, 3>, count_include_pad = false} : tensor<?x64x8x2xf32>
  return
}

// -----

func.func @pool_input_rank(%x: tensor<?x64xf32>) {
  // expected-error@+1 {{'rn.avg_pool2d' op expected input of rank 4 [N, C, H, W], got 'tensor<?x64xf32>'}}
  %0 = rn.avg_pool2d %x {kernel = array<i64: 2, 2>} : tensor<?x64xf32>
  return
}

//===----------------------------------------------------------------------===//
// rn.global_avg_pool, rn.flatten
//===----------------------------------------------------------------------===//

// -----

func.func @global_pool_rank(%x: tensor<?x512xf32>) {
  // expected-error@+1 {{'rn.global_avg_pool' op expected input of rank 4 [N, C, H, W], got 'tensor<?x512xf32>'}}
  %0 = rn.global_avg_pool %x : tensor<?x512xf32>
  return
}

// -----

func.func @flatten_rank(%x: tensor<?xf32>) {
  // expected-error@+1 {{'rn.flatten' op expected input of rank >= 2 [N, d1, ..., dk], got 'tensor<?xf32>'}}
  %0 = rn.flatten %x : tensor<?xf32>
  return
}

// -----

func.func @flatten_overflow(%x: tensor<?x4611686018427387904x4xf32>) {
  // expected-error@+1 {{'rn.flatten' op expected the flattened size of 'tensor<?x4611686018427387904x4xf32>' to fit in 64 bits}}
  %0 = rn.flatten %x : tensor<?x4611686018427387904x4xf32>
  return
}

//===----------------------------------------------------------------------===//
// rn.linear
//===----------------------------------------------------------------------===//

// -----

func.func @linear_input_rank(%x: tensor<?x512x1x1xf32>, %w: tensor<10x512xf32>) {
  // expected-error@+1 {{'rn.linear' op expected input of rank 2 [N, K], got 'tensor<?x512x1x1xf32>'}}
  %0 = rn.linear %x, %w : tensor<?x512x1x1xf32>, tensor<10x512xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<?x512xf32>, %w: tensor<5120xf32>) {
  // expected-error@+1 {{'rn.linear' op expected weight of rank 2 [M, K], got 'tensor<5120xf32>'}}
  %0 = rn.linear %x, %w : tensor<?x512xf32>, tensor<5120xf32>
  return
}

// -----

func.func @linear_weight_features(%x: tensor<?x512xf32>, %w: tensor<10x256xf32>) {
  // expected-error@+1 {{'rn.linear' op expected weight dim 1 (input features) to be 512 (input dim 1), got 256}}
  %0 = rn.linear %x, %w : tensor<?x512xf32>, tensor<10x256xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<?x512xf32>, %w: tensor<10x512xf32>, %b: tensor<5xf32>) {
  // expected-error@+1 {{'rn.linear' op expected bias of shape [10] (output features), got 'tensor<5xf32>'}}
  %0 = rn.linear %x, %w, %b : tensor<?x512xf32>, tensor<10x512xf32>, tensor<5xf32>
  return
}

//===----------------------------------------------------------------------===//
// rn.softmax_cross_entropy
//===----------------------------------------------------------------------===//

// -----

func.func @loss_logits_rank(%x: tensor<?x10x1xf32>, %l: tensor<?xi32>) {
  // expected-error@+1 {{'rn.softmax_cross_entropy' op expected logits of rank 2 [N, K], got 'tensor<?x10x1xf32>'}}
  %0 = rn.softmax_cross_entropy %x, %l : tensor<?x10x1xf32>, tensor<?xi32>
  return
}

// -----

func.func @loss_labels_batch(%x: tensor<8x10xf32>, %l: tensor<4xi32>) {
  // expected-error@+1 {{'rn.softmax_cross_entropy' op expected labels of shape [N] with N the logits batch 8, got 'tensor<4xi32>'}}
  %0 = rn.softmax_cross_entropy %x, %l : tensor<8x10xf32>, tensor<4xi32>
  return
}

// -----

func.func @loss_labels_type(%x: tensor<8x10xf32>, %l: tensor<8xi64>) {
  // expected-error@+1 {{'rn.softmax_cross_entropy' op operand #1 must be 1D tensor of 32-bit signless integer values, but got 'tensor<8xi64>'}}
  %0 = rn.softmax_cross_entropy %x, %l : tensor<8x10xf32>, tensor<8xi64>
  return
}
