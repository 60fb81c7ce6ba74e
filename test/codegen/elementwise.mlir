// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s
// RUN: rnc-translate --rn-to-cuda --max-batch 4 %s | FileCheck %s

// The element-wise family (kernels/cpu/elementwise.h,
// kernels/cuda/elementwise.cuh): rn.relu, rn.add, rn.relu_grad with the
// element count (N times the per-sample size) as their last argument.

// CHECK-LABEL: void train_step(
// CHECK: relu([[R:\(W \+ [0-9]+\)]], x, long(N) * 12);
// CHECK: add([[A:\(W \+ [0-9]+\)]], [[R]], x, long(N) * 12);
// CHECK: relu_grad({{\(W \+ [0-9]+\)}}, {{\(W \+ [0-9]+\)}}, [[R]], long(N) * 12);
module {
  func.func @train_step(%x: tensor<?x3x2x2xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %r = rn.relu %x : tensor<?x3x2x2xf32>
    %a = rn.add %r, %x : tensor<?x3x2x2xf32>, tensor<?x3x2x2xf32>
    %g = rn.global_avg_pool %a : tensor<?x3x2x2xf32>
    %f = rn.flatten %g : tensor<?x3x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x3xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x3xf32>, tensor<?xi32>
    %df = rn.softmax_cross_entropy_grad %f, %labels : tensor<?x3xf32>, tensor<?xi32>
    %dg = rn.unflatten %df : tensor<?x3xf32> -> tensor<?x3x1x1xf32>
    %da = rn.global_avg_pool_grad %dg : tensor<?x3x1x1xf32> -> tensor<?x3x2x2xf32>
    %dr = rn.relu_grad %da, %r : tensor<?x3x2x2xf32>, tensor<?x3x2x2xf32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x3x2x2xf32>) -> tensor<?x3xf32> attributes {rn.role = "eval"} {
    %g = rn.global_avg_pool %x : tensor<?x3x2x2xf32>
    %f = rn.flatten %g : tensor<?x3x1x1xf32>
    return %f : tensor<?x3xf32>
  }
}
