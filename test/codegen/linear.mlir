// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CPU
// RUN: rnc-translate --rn-to-cuda --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CUDA

// The dense layer (kernels/cpu/linear.h, kernels/cuda/linear.cuh) with a
// LinearShape, its gradients (rn.bias_grad of a [N, F] gradient calls
// linear_bias_grad), and rn.flatten/rn.unflatten as views: no kernel, the
// same buffer under another name.

// CHECK: constexpr rnc::LinearShape kLinear0{.in_features = 8, .out_features = 3};
// CHECK-LABEL: void train_step(
// CHECK: // rn.flatten
// CHECK-NEXT: // (a view of the same buffer)
// CHECK: linear<kLinear0>([[Y:\(W \+ [0-9]+\)]], [[G:\(W \+ [0-9]+\)]], [[WT:\(S \+ 0\)]], [[B:\(S \+ [0-9]+\)]], N);
// CHECK: linear_grad_input<kLinear0>([[DF:\(W \+ [0-9]+\)]], [[DY:\(W \+ [0-9]+\)]], [[WT]], N);
// CHECK: linear_grad_weight<kLinear0>({{\(W \+ [0-9]+\)}}, [[DY]], [[G]], N);
// CHECK: linear_bias_grad<kLinear1>({{\(W \+ [0-9]+\)}}, [[DY]], N);
// CHECK: // rn.unflatten
// CHECK-NEXT: // (a view of the same buffer)
// CHECK: global_avg_pool_grad<8, 1>({{.*}}, [[DF]], N);
// The logits go back to the glue.
// CHECK-LABEL: void eval(
// CPU: std::memcpy(logits_out, {{.*}}, sizeof(float) * long(N) * 3);
// CUDA: copy_floats(logits_out, {{.*}}, long(N) * 3);
module {
  func.func @train_step(%x: tensor<?x8x1x1xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %w = rn.param "fc.weight" {init = "linear_weight"} : tensor<3x8xf32>
    %b = rn.param "fc.bias" {init = "linear_bias"} : tensor<3xf32>
    %g = rn.global_avg_pool %x : tensor<?x8x1x1xf32>
    %f = rn.flatten %g : tensor<?x8x1x1xf32>
    %y = rn.linear %f, %w, %b : tensor<?x8xf32>, tensor<3x8xf32>, tensor<3xf32>
    %loss = rn.softmax_cross_entropy %y, %labels : tensor<?x3xf32>, tensor<?xi32>
    %ok = rn.count_correct %y, %labels : tensor<?x3xf32>, tensor<?xi32>
    %dy = rn.softmax_cross_entropy_grad %y, %labels : tensor<?x3xf32>, tensor<?xi32>
    %df = rn.linear_grad_input %dy, %w : tensor<?x3xf32>, tensor<3x8xf32>
    %dw = rn.linear_grad_weight %dy, %f : tensor<?x3xf32>, tensor<?x8xf32>
    %db = rn.bias_grad %dy : tensor<?x3xf32>
    %dg = rn.unflatten %df : tensor<?x8xf32> -> tensor<?x8x1x1xf32>
    %dx = rn.global_avg_pool_grad %dg : tensor<?x8x1x1xf32> -> tensor<?x8x1x1xf32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x8x1x1xf32>) -> tensor<?x3xf32> attributes {rn.role = "eval"} {
    %w = rn.param "fc.weight" {init = "linear_weight"} : tensor<3x8xf32>
    %b = rn.param "fc.bias" {init = "linear_bias"} : tensor<3xf32>
    %f = rn.flatten %x : tensor<?x8x1x1xf32>
    %y = rn.linear %f, %w, %b : tensor<?x8xf32>, tensor<3x8xf32>, tensor<3xf32>
    return %y : tensor<?x3xf32>
  }
}
