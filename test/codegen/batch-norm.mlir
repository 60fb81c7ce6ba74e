// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CPU
// RUN: rnc-translate --rn-to-cuda --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CUDA

// The unfused batch-norm family (kernels/cpu/batchnorm.h,
// kernels/cuda/batchnorm.cuh): rn.batch_norm_train, rn.batch_norm_running_update,
// rn.batch_norm_grad, rn.batch_norm_relu_grad; rn.batch_norm (inference) in @eval.
// The training kernels take SyncBN last (cpu: comm.bn(); cuda: comm.bn(NG,
// g_sum), the scratch of its backward; nothing unless a data-parallel job
// asks for it) and count over NB, the SyncBN batch.

// CHECK: constexpr rnc::BatchNormShape kBn0{.channels = 4, .plane = 4};
// CHECK-LABEL: void train_step(
// CPU: batch_norm_train<kBn0>([[Y:\(W \+ [0-9]+\)]], [[MEAN:\(W \+ [0-9]+\)]], [[ISTD:\(W \+ [0-9]+\)]], nullptr, nullptr, x, [[G:\(S \+ [0-9]+\)]], [[B:\(S \+ [0-9]+\)]], N, 1e-05f, 0.1f, NoEpilogue{}, comm.bn());
// CUDA: batch_norm_train<kBn0>([[Y:\(W \+ [0-9]+\)]], [[MEAN:\(W \+ [0-9]+\)]], [[ISTD:\(W \+ [0-9]+\)]], nullptr, nullptr, x, [[G:\(S \+ [0-9]+\)]], [[B:\(S \+ [0-9]+\)]], N, 1e-05f, 0.1f, NoEpilogue{}, comm.bn(NG, g_sum));
// CHECK: batch_norm_running_update([[RM:\(S \+ [0-9]+\)]], [[RV:\(S \+ [0-9]+\)]], [[MEAN]], [[ISTD]], 4, long(NB) * 16 / 4, 1.0000000000000001e-05, 0.1f);
// CPU: batch_norm_relu_grad<kBn0>({{.*}}, [[DY:\(W \+ [0-9]+\)]], [[R:\(W \+ [0-9]+\)]], x, [[MEAN]], [[ISTD]], [[G]], N, comm.bn());
// CPU: batch_norm_grad<kBn0>({{.*}}, [[DY]], x, [[MEAN]], [[ISTD]], [[G]], N, comm.bn());
// CUDA: batch_norm_relu_grad<kBn0>({{.*}}, [[DY:\(W \+ [0-9]+\)]], [[R:\(W \+ [0-9]+\)]], x, [[MEAN]], [[ISTD]], [[G]], N, comm.bn(NG, g_sum));
// CUDA: batch_norm_grad<kBn0>({{.*}}, [[DY]], x, [[MEAN]], [[ISTD]], [[G]], N, comm.bn(NG, g_sum));
// CHECK-LABEL: void eval(
// CHECK: batch_norm<kBn0>({{.*}}, x, [[G]], [[B]], [[RM]], [[RV]], N, 1e-05f);
module {
  func.func @train_step(%x: tensor<?x4x2x2xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %g = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
    %b = rn.param "bn.bias" {init = "zeros"} : tensor<4xf32>
    %rm = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
    %rv = rn.param "bn.running_var" {buffer, init = "ones"} : tensor<4xf32>
    %y, %mean, %istd = rn.batch_norm_train %x, %g, %b : tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>
    rn.batch_norm_running_update %rm, %rv, %mean, %istd, %x : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<?x4x2x2xf32>
    %r = rn.relu %y : tensor<?x4x2x2xf32>
    %p = rn.global_avg_pool %r : tensor<?x4x2x2xf32>
    %f = rn.flatten %p : tensor<?x4x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %df = rn.softmax_cross_entropy_grad %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %dp = rn.unflatten %df : tensor<?x4xf32> -> tensor<?x4x1x1xf32>
    %dy = rn.global_avg_pool_grad %dp : tensor<?x4x1x1xf32> -> tensor<?x4x2x2xf32>
    %dx, %dg, %db = rn.batch_norm_relu_grad %dy, %r, %x, %mean, %istd, %g : tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    %dx2, %dg2, %db2 = rn.batch_norm_grad %dy, %x, %mean, %istd, %g : tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x4x2x2xf32>) -> tensor<?x4xf32> attributes {rn.role = "eval"} {
    %g = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
    %b = rn.param "bn.bias" {init = "zeros"} : tensor<4xf32>
    %rm = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
    %rv = rn.param "bn.running_var" {buffer, init = "ones"} : tensor<4xf32>
    %y = rn.batch_norm %x, %g, %b, %rm, %rv : tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    %p = rn.global_avg_pool %y : tensor<?x4x2x2xf32>
    %f = rn.flatten %p : tensor<?x4x1x1xf32>
    return %f : tensor<?x4xf32>
  }
}
