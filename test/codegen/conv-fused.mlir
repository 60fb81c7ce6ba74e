// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CPU
// RUN: rnc-translate --rn-to-cuda --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CUDA

// The fused convolutions: rn.conv2d_bn_train is three calls (the conv with
// the BN sums in its epilogue, the finalize, the apply with add + ReLU as an
// epilogue chain), rn.conv2d_bn_eval a fold and a conv with the affine map,
// add and ReLU as epilogue; the data-gradient forms carry their add, mask
// and BN sums as epilogues. Every chain is spelled Compose<A, B>{A{..}, B{..}}.

// The BN sums' scratch: a static array on the cpu, device pointers on cuda.
// CPU: float g_sum[4], g_sumsq[4];
// CUDA: constexpr int kStatChannels = 4;
// CUDA-NEXT: float *g_sum = nullptr, *g_sumsq = nullptr;
// CHECK-LABEL: void train_step(
// CHECK: // rn.conv2d_bn_train
// CHECK: conv2d_bn_train_stats<kConv0>([[C:\(W \+ [0-9]+\)]], g_sum, g_sumsq, x, (S + 0), nullptr, N);
// SyncBN: the sums over the ranks (nothing unless asked for; cuda: on the
// device, in stream order), the statistics over NB.
// CHECK-NEXT: comm.bn_sum(g_sum, 4);
// CHECK-NEXT: comm.bn_sum(g_sumsq, 4);
// CHECK-NEXT: batch_norm_stats_from_sums([[MEAN:\(W \+ [0-9]+\)]], [[ISTD:\(W \+ [0-9]+\)]], static_cast<float *>(nullptr), g_sum, g_sumsq, 4, long(NB) * 16 / 4, 1e-05f);
// CHECK-NEXT: batch_norm_apply<kBn1>([[Y:\(W \+ [0-9]+\)]], [[C]], [[MEAN]], [[ISTD]], {{.*}}, N, Compose<ResidualAddEpilogue<float>, ReluEpilogue>{ResidualAddEpilogue<float>{x, 4, 4}, ReluEpilogue{}});
// CHECK: batch_norm_running_update({{.*}}, [[MEAN]], [[ISTD]], 4, long(NB) * 16 / 4, 1.0000000000000001e-05, 0.1f);
// CHECK: // rn.conv2d_grad_input_fanin
// CHECK: conv2d_grad_input<kConv0>([[DR:\(W \+ [0-9]+\)]], [[DY:\(W \+ [0-9]+\)]], (S + 0), N, Compose<ResidualAddEpilogue<float>, ReluMaskEpilogue<float>>{ResidualAddEpilogue<float>{[[DY]], 4, 4}, ReluMaskEpilogue<float>{[[Y]], 4, 4}});
// CHECK: conv2d_grad_input_bn_reduce<kConv0>([[DG:\(W \+ [0-9]+\)]], [[SUM:\(W \+ [0-9]+\)]], [[DEV:\(W \+ [0-9]+\)]], [[DR]], (S + 0), [[C]], [[MEAN]], N, Compose<ResidualAddEpilogue<float>, ReluMaskEpilogue<float>>{
// CPU: batch_norm_grad_from_sums<kBn1>({{.*}}, [[DG]], [[C]], [[MEAN]], [[ISTD]], {{.*}}, [[SUM]], [[DEV]], N, comm.bn());
// CUDA: batch_norm_grad_from_sums<kBn1>({{.*}}, [[DG]], [[C]], [[MEAN]], [[ISTD]], {{.*}}, [[SUM]], [[DEV]], N, comm.bn(NG, g_sum));
// CHECK-LABEL: void eval(
// CHECK: conv2d_bn_eval_fold(g_sum, g_sumsq, {{.*}}, static_cast<const float *>(nullptr), 4, 1.0000000000000001e-05);
// CHECK-NEXT: conv2d<kConv0>({{.*}}, x, (S + 0), nullptr, N, Compose<Compose<ChannelAffineEpilogue<float>, ResidualAddEpilogue<float>>, ReluEpilogue>{Compose<ChannelAffineEpilogue<float>, ResidualAddEpilogue<float>>{ChannelAffineEpilogue<float>{g_sum, g_sumsq}, ResidualAddEpilogue<float>{x, 4, 4}}, ReluEpilogue{}});
module {
  func.func @train_step(%x: tensor<?x4x2x2xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %w = rn.param "c.weight" {init = "kaiming_normal"} : tensor<4x4x3x3xf32>
    %g = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
    %b = rn.param "bn.bias" {init = "zeros"} : tensor<4xf32>
    %rm = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
    %rv = rn.param "bn.running_var" {buffer, init = "ones"} : tensor<4xf32>
    %c, %y, %mean, %istd = rn.conv2d_bn_train %x, %w scale %g shift %b residual %x {padding = array<i64: 1, 1>, relu} : (tensor<?x4x2x2xf32>, tensor<4x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<?x4x2x2xf32>) -> (tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>)
    rn.batch_norm_running_update %rm, %rv, %mean, %istd, %c : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<?x4x2x2xf32>
    %p = rn.global_avg_pool %y : tensor<?x4x2x2xf32>
    %f = rn.flatten %p : tensor<?x4x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %df = rn.softmax_cross_entropy_grad %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %dp = rn.unflatten %df : tensor<?x4xf32> -> tensor<?x4x1x1xf32>
    %dy = rn.global_avg_pool_grad %dp : tensor<?x4x1x1xf32> -> tensor<?x4x2x2xf32>
    %dr = rn.conv2d_grad_input_fanin %dy, %w addend %dy relu_result %y {padding = array<i64: 1, 1>} : (tensor<?x4x2x2xf32>, tensor<4x4x3x3xf32>, tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>) -> tensor<?x4x2x2xf32>
    %dg, %sum, %dev = rn.conv2d_grad_input_bn_reduce %dr, %w addend %dy relu_result %y bn_input %c bn_mean %mean {padding = array<i64: 1, 1>} : (tensor<?x4x2x2xf32>, tensor<4x4x3x3xf32>, tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>, tensor<4xf32>) -> (tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>)
    %dx, %dgamma, %dbeta = rn.batch_norm_grad_from_sums %dg, %c, %mean, %istd, %g, %sum, %dev : tensor<?x4x2x2xf32>, tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x4x2x2xf32>) -> tensor<?x4xf32> attributes {rn.role = "eval"} {
    %w = rn.param "c.weight" {init = "kaiming_normal"} : tensor<4x4x3x3xf32>
    %g = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
    %b = rn.param "bn.bias" {init = "zeros"} : tensor<4xf32>
    %rm = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
    %rv = rn.param "bn.running_var" {buffer, init = "ones"} : tensor<4xf32>
    %y = rn.conv2d_bn_eval %x, %w scale %g shift %b running_mean %rm running_var %rv residual %x {padding = array<i64: 1, 1>, relu} : (tensor<?x4x2x2xf32>, tensor<4x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<?x4x2x2xf32>) -> tensor<?x4x2x2xf32>
    %p = rn.global_avg_pool %y : tensor<?x4x2x2xf32>
    %f = rn.flatten %p : tensor<?x4x1x1xf32>
    return %f : tensor<?x4xf32>
  }
}
