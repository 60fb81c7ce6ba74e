// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s
// RUN: not rnc-translate --rn-to-cuda --max-batch 4 %s 2>&1 | FileCheck %s --check-prefix=CUDA

// rn.max_pool2d_bn_relu_grad (kernels/cpu/pool_bn_grad.h): the pool's window
// shape, then the BN's; the BN gradient's arguments with the pooled gradient
// and the pool's input (the ReLU result); SyncBN last. The cuda target has
// no such kernel and says so.

// CHECK-DAG: constexpr rnc::Pool2DShape [[POOL:kPool[0-9]+]]{.channels = 4, .in_h = 4, .in_w = 4, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2, .pad_h = 0, .pad_w = 0, .count_include_pad = true};
// CHECK-DAG: constexpr rnc::BatchNormShape [[BN:kBn[0-9]+]]{.channels = 4, .plane = 16};
// CHECK-LABEL: void train_step(
// CHECK: max_pool2d<[[POOL]]>([[P:\(W \+ [0-9]+\)]], [[R:\(W \+ [0-9]+\)]], N);
// CHECK: max_pool2d_bn_relu_grad<[[POOL]], [[BN]]>({{.*}}, [[DP:\(W \+ [0-9]+\)]], [[R]], x, [[MEAN:\(W \+ [0-9]+\)]], [[ISTD:\(W \+ [0-9]+\)]], [[G:\(S \+ [0-9]+\)]], N, comm.bn());
// CUDA: error: 'rn.max_pool2d_bn_relu_grad' op has a cpu kernel only (kernels/cpu/pool_bn_grad.h); `rnc compile --target cuda` does not run rnc-fuse-pool-bn-grad
module {
  func.func @train_step(%x: tensor<?x4x4x4xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %g = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
    %b = rn.param "bn.bias" {init = "zeros"} : tensor<4xf32>
    %y, %mean, %istd = rn.batch_norm_train %x, %g, %b : tensor<?x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>
    %r = rn.relu %y : tensor<?x4x4x4xf32>
    %m = rn.max_pool2d %r {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x4x4xf32>
    %p = rn.global_avg_pool %m : tensor<?x4x2x2xf32>
    %f = rn.flatten %p : tensor<?x4x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %df = rn.softmax_cross_entropy_grad %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %dp = rn.unflatten %df : tensor<?x4xf32> -> tensor<?x4x1x1xf32>
    %dm = rn.global_avg_pool_grad %dp : tensor<?x4x1x1xf32> -> tensor<?x4x2x2xf32>
    %dx, %dg, %db = rn.max_pool2d_bn_relu_grad %dm, %r, %x, %mean, %istd, %g {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x2x2xf32>, tensor<?x4x4x4xf32>, tensor<?x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x4x4x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "eval"} {
    %p = rn.global_avg_pool %x : tensor<?x4x4x4xf32>
    %f = rn.flatten %p : tensor<?x4x1x1xf32>
    return %f : tensor<?x4xf32>
  }
}
