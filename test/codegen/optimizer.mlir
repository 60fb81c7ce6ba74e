// RUN: rnc-translate --rn-to-cpu --max-batch 4 %s | FileCheck %s --check-prefix=CPU
// RUN: rnc-translate --rn-to-cuda --max-batch 4 %s | FileCheck %s --check-prefix=CUDA

// rn.sgd_update: the cpu calls sgd_update once per parameter
// (kernels/cpu/optimizer.h); the cuda target lists every parameter in
// kSgdTable ({param, momentum buffer, gradient, numel}, state offsets) and
// updates them all in one sgd_update_all launch where the step returns
// (kernels/cuda/optimizer.cuh). A gradient that is computed into its state
// slot needs no copy; one that is not (here: the same gradient feeds two
// updates) is copied into the slot first. On the cuda target the gradient
// region is summed over the ranks of a data-parallel job inside the step's
// graph, in buckets that start as soon as the backward pass has written
// them (here one: both gradients come from rn.bias_grad), and the first
// update waits for them (kernels/cuda/collectives.cuh: nothing with one
// process; test/codegen/gradient-buckets.test).

// CUDA: constexpr SgdTable<2> kSgdTable = {{[{][{]}}
// CUDA-NEXT: {0, 32, 64, 4},
// CUDA-NEXT: {16, 48, 80, 4},
// CUDA-LABEL: void train_step(
// CUDA: conv2d_bias_grad<kConv0>((S + 64), (W + 32), N);
// CUDA-NEXT: }
// CUDA-NEXT: copy_floats((S + 80), (S + 64), 4);
// CUDA-NEXT: comm.sum_async(S + 64, 32);
// CUDA-NEXT: // rn.sgd_update
// CUDA-NEXT: { OpTimer timer_({{[0-9]+}});
// CUDA-NEXT: comm.join();
// CUDA-NOT: comm.sum
// CUDA: // func.return
// CUDA-NEXT: { OpTimer timer_({{[0-9]+}});
// CUDA-NEXT: sgd_update_all<2>(S, kSgdTable, hyper);

// On the cpu, every gradient is in its slot before the first update, and the
// whole gradient region (a.grad, b.grad: floats 64 to 96) is summed over the
// ranks of a data-parallel job (kernels/cpu/collectives.h: nothing with one
// process), then the updates run.

// CPU-LABEL: void train_step(
// CPU: const int NG = comm.global_batch(N);
// CPU: // rn.sgd_update
// CPU: std::memcpy((S + 80), (S + 64), sizeof(float) * 4);
// CPU-NEXT: comm.sum(S + 64, 32);
// CPU-NEXT: sgd_update((S + 0), (S + 32), (S + 64), 4, lr, momentum, weight_decay);
// CPU: // rn.sgd_update
// CPU-NOT: memcpy
// CPU-NOT: comm.sum
// CPU: sgd_update((S + 16), (S + 48), (S + 80), 4, lr, momentum, weight_decay);
module {
  func.func @train_step(%x: tensor<?x4x1x1xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %a = rn.param "a" {init = "ones"} : tensor<4xf32>
    %am = rn.param "a.momentum_buffer" {init = "zeros", optimizer} : tensor<4xf32>
    %b = rn.param "b" {init = "ones"} : tensor<4xf32>
    %bm = rn.param "b.momentum_buffer" {init = "zeros", optimizer} : tensor<4xf32>
    %f = rn.flatten %x : tensor<?x4x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %df = rn.softmax_cross_entropy_grad %f, %labels : tensor<?x4xf32>, tensor<?xi32>
    %d = rn.unflatten %df : tensor<?x4xf32> -> tensor<?x4x1x1xf32>
    %g = rn.bias_grad %d : tensor<?x4x1x1xf32>
    rn.sgd_update %a, %am, %g, %lr, %mom, %wd : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    rn.sgd_update %b, %bm, %g, %lr, %mom, %wd : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x4x1x1xf32>) -> tensor<?x4xf32> attributes {rn.role = "eval"} {
    %f = rn.flatten %x : tensor<?x4x1x1xf32>
    return %f : tensor<?x4xf32>
  }
}
