// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s
// RUN: rnc-translate --rn-to-cuda --max-batch 4 %s | FileCheck %s

// The pooling family (kernels/cpu/pool.h, kernels/cuda/pool.cuh): max and
// average pooling with a Pool2DShape (max pooling never counts padding),
// global average pooling with <channels, H*W>, and their gradients.

// CHECK: constexpr rnc::Pool2DShape kPool0{.channels = 2, .in_h = 8, .in_w = 8, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .count_include_pad = true};
// CHECK: constexpr rnc::Pool2DShape kPool1{.channels = 2, .in_h = 4, .in_w = 4, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 0, .pad_w = 0, .count_include_pad = false};
// CHECK-LABEL: void train_step(
// CHECK: max_pool2d<kPool0>([[M:\(W \+ [0-9]+\)]], x, N);
// CHECK: avg_pool2d<kPool1>([[A:\(W \+ [0-9]+\)]], [[M]], N);
// CHECK: global_avg_pool<2, 4>([[G:\(W \+ [0-9]+\)]], [[A]], N);
// CHECK: global_avg_pool_grad<2, 4>([[DA:\(W \+ [0-9]+\)]], {{.*}}, N);
// CHECK: avg_pool2d_grad<kPool1>([[DM:\(W \+ [0-9]+\)]], [[DA]], N);
// CHECK: max_pool2d_grad<kPool0>({{.*}}, [[DM]], x, N);
module {
  func.func @train_step(%x: tensor<?x2x8x8xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %m = rn.max_pool2d %x {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x2x8x8xf32>
    %a = rn.avg_pool2d %m {kernel = array<i64: 2, 2>, count_include_pad = false} : tensor<?x2x4x4xf32>
    %g = rn.global_avg_pool %a : tensor<?x2x2x2xf32>
    %f = rn.flatten %g : tensor<?x2x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x2xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x2xf32>, tensor<?xi32>
    %df = rn.softmax_cross_entropy_grad %f, %labels : tensor<?x2xf32>, tensor<?xi32>
    %dg = rn.unflatten %df : tensor<?x2xf32> -> tensor<?x2x1x1xf32>
    %da = rn.global_avg_pool_grad %dg : tensor<?x2x1x1xf32> -> tensor<?x2x2x2xf32>
    %dm = rn.avg_pool2d_grad %da {kernel = array<i64: 2, 2>, count_include_pad = false} : tensor<?x2x2x2xf32> -> tensor<?x2x4x4xf32>
    %dx = rn.max_pool2d_grad %dm, %x {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32>, tensor<?x2x8x8xf32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x2x8x8xf32>) -> tensor<?x2xf32> attributes {rn.role = "eval"} {
    %g = rn.global_avg_pool %x : tensor<?x2x8x8xf32>
    %f = rn.flatten %g : tensor<?x2x1x1xf32>
    return %f : tensor<?x2xf32>
  }
}
