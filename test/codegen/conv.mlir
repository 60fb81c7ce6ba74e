// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CPU
// RUN: rnc-translate --rn-to-cuda --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CUDA

// The convolution family: each op becomes a call of the kernel of the same
// name (kernels/cpu/conv.h, kernels/cuda/conv.cuh) with its shape as a
// constexpr template argument; rn.bias_grad of a conv calls conv2d_bias_grad.
// On both targets each op's calls sit in an OpTimer scope (RNC_PROFILE; cuda:
// RNC_CUDA_SYNC too).

// CHECK: constexpr rnc::Conv2DShape kConv0{.in_channels = 2, .out_channels = 4, .in_h = 4, .in_w = 4, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .dilation_h = 1, .dilation_w = 1, .groups = 1};
// CHECK: constexpr rnc::Conv2DShape kConv1{.in_channels = 4, .out_channels = 10, .in_h = 2, .in_w = 2, .kernel_h = 2, .kernel_w = 2,
// CHECK-LABEL: void train_step(
// CHECK: // rn.conv2d
// CHECK-NEXT: { OpTimer timer_(1);
// CHECK-NEXT: conv2d<kConv0>([[H:\(W \+ [0-9]+\)]], x, [[W1:\(S \+ 0\)]], nullptr, N);
// CHECK: conv2d<kConv1>([[Y:\(W \+ [0-9]+\)]], [[H]], [[W2:\(S \+ [0-9]+\)]], [[B2:\(S \+ [0-9]+\)]], N);
// CHECK: conv2d_grad_input<kConv1>([[DH:\(W \+ [0-9]+\)]], [[DY:\(W \+ [0-9]+\)]], [[W2]], N);
// CHECK: conv2d_grad_weight<kConv1>([[DW2:\(S \+ [0-9]+\)]], [[DY]], [[H]], N);
// CHECK: conv2d_bias_grad<kConv2>([[DB2:\(S \+ [0-9]+\)]], [[DY]], N);
// CHECK: conv2d_grad_weight<kConv0>([[DW1:\(S \+ [0-9]+\)]], [[DH]], x, N);
// The gradients land in their state slots, which the updates read.
// CPU: sgd_update([[W1]], {{.*}}, [[DW1]], 72, lr, momentum, weight_decay);
// CUDA: sgd_update_all<3>(S, kSgdTable, hyper);
// CHECK-LABEL: void eval(
// CHECK: conv2d<kConv0>(
// CHECK: conv2d<kConv1>(
module {
  func.func @train_step(%x: tensor<?x2x4x4xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %w1 = rn.param "c1.weight" {init = "kaiming_normal"} : tensor<4x2x3x3xf32>
    %m1 = rn.param "c1.weight.momentum_buffer" {init = "zeros", optimizer} : tensor<4x2x3x3xf32>
    %w2 = rn.param "c2.weight" {init = "kaiming_normal"} : tensor<10x4x2x2xf32>
    %m2 = rn.param "c2.weight.momentum_buffer" {init = "zeros", optimizer} : tensor<10x4x2x2xf32>
    %b2 = rn.param "c2.bias" {init = "conv_bias"} : tensor<10xf32>
    %mb = rn.param "c2.bias.momentum_buffer" {init = "zeros", optimizer} : tensor<10xf32>
    %h = rn.conv2d %x, %w1 {padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32>, tensor<4x2x3x3xf32>
    %y = rn.conv2d %h, %w2, %b2 : tensor<?x4x2x2xf32>, tensor<10x4x2x2xf32>, tensor<10xf32>
    %f = rn.flatten %y : tensor<?x10x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x10xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x10xf32>, tensor<?xi32>
    %df = rn.softmax_cross_entropy_grad %f, %labels : tensor<?x10xf32>, tensor<?xi32>
    %dy = rn.unflatten %df : tensor<?x10xf32> -> tensor<?x10x1x1xf32>
    %dh = rn.conv2d_grad_input %dy, %w2 : tensor<?x10x1x1xf32>, tensor<10x4x2x2xf32> -> tensor<?x4x2x2xf32>
    %dw2 = rn.conv2d_grad_weight %dy, %h : tensor<?x10x1x1xf32>, tensor<?x4x2x2xf32> -> tensor<10x4x2x2xf32>
    %db2 = rn.bias_grad %dy : tensor<?x10x1x1xf32>
    %dw1 = rn.conv2d_grad_weight %dh, %x {padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x4x2x2xf32>, tensor<?x2x4x4xf32> -> tensor<4x2x3x3xf32>
    rn.sgd_update %w1, %m1, %dw1, %lr, %mom, %wd : tensor<4x2x3x3xf32>, tensor<4x2x3x3xf32>, tensor<4x2x3x3xf32>
    rn.sgd_update %w2, %m2, %dw2, %lr, %mom, %wd : tensor<10x4x2x2xf32>, tensor<10x4x2x2xf32>, tensor<10x4x2x2xf32>
    rn.sgd_update %b2, %mb, %db2, %lr, %mom, %wd : tensor<10xf32>, tensor<10xf32>, tensor<10xf32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x2x4x4xf32>) -> tensor<?x10xf32> attributes {rn.role = "eval"} {
    %w1 = rn.param "c1.weight" {init = "kaiming_normal"} : tensor<4x2x3x3xf32>
    %w2 = rn.param "c2.weight" {init = "kaiming_normal"} : tensor<10x4x2x2xf32>
    %b2 = rn.param "c2.bias" {init = "conv_bias"} : tensor<10xf32>
    %h = rn.conv2d %x, %w1 {padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32>, tensor<4x2x3x3xf32>
    %y = rn.conv2d %h, %w2, %b2 : tensor<?x4x2x2xf32>, tensor<10x4x2x2xf32>, tensor<10xf32>
    %f = rn.flatten %y : tensor<?x10x1x1xf32>
    return %f : tensor<?x10xf32>
  }
}
