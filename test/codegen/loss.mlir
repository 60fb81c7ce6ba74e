// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CPU
// RUN: rnc-translate --rn-to-cuda --max-batch 4 %s | FileCheck %s --check-prefixes=CHECK,CUDA

// The loss family (kernels/cpu/loss.h, kernels/cuda/loss.cuh), with the class
// count as template argument: the mean loss, the count of correct rows (an
// int32 in a float slot) and the logits' gradient; then the two results go to
// the glue (cpu: stored through the pointers; cuda: copied on the device,
// in the return's OpTimer scope). The loss gradient divides by NG, the
// global batch of a data-parallel step (N with one process).

// CHECK-LABEL: void train_step(
// CHECK: softmax_cross_entropy<5>([[L:\(W \+ [0-9]+\)]], nullptr, [[Z:\(W \+ [0-9]+\)]], labels, N);
// CHECK: count_correct<5>(reinterpret_cast<int *>([[C:\(W \+ [0-9]+\)]]), [[Z]], labels, N);
// CHECK: softmax_cross_entropy_grad<5>({{\(W \+ [0-9]+\)}}, [[Z]], labels, N, 1.0f, NG);
// CHECK: // func.return
// CPU-NEXT: *loss_out = *[[L]]; *correct_out = *reinterpret_cast<const int32_t *>([[C]]);
// CUDA-NEXT: { OpTimer timer_({{[0-9]+}});
// CUDA-NEXT: copy_floats(loss_out, [[L]], 1);
// CUDA-NEXT: copy_floats(reinterpret_cast<float *>(correct_out), [[C]], 1);
// CUDA-NEXT: }
module {
  func.func @train_step(%x: tensor<?x5x1x1xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %g = rn.global_avg_pool %x : tensor<?x5x1x1xf32>
    %f = rn.flatten %g : tensor<?x5x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x5xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x5xf32>, tensor<?xi32>
    %df = rn.softmax_cross_entropy_grad %f, %labels : tensor<?x5xf32>, tensor<?xi32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x5x1x1xf32>) -> tensor<?x5xf32> attributes {rn.role = "eval"} {
    %f = rn.flatten %x : tensor<?x5x1x1xf32>
    return %f : tensor<?x5xf32>
  }
}
