// Benchmark (not a test): GFLOP/s of the GEMM and of ResNet conv layers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_shapes.h"
#include "bench_tensor.h"
#include "kernels/cpu/rnc_cpu.h"

namespace {

using rnc::Conv2DShape;

double now_s() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Best time of f() over `reps` runs after one warm-up run.
template <class F> double best_of(int reps, const F &f) {
  f();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    double t0 = now_s();
    f();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

void bench_gemm(const char *what, bool ta, bool tb, int M, int N, int K) {
  BenchTensor A(size_t(M) * K), B(size_t(K) * N), C(size_t(M) * N);
  for (size_t i = 0; i < A.size(); ++i)
    A[i] = float((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < B.size(); ++i)
    B[i] = float((i * 104729) % 1000) / 1000.0f - 0.5f;
  long lda = ta ? M : K, ldb = tb ? K : N;
  double flops = 2.0 * M * double(N) * K;
  double t = best_of(flops > 1e9 ? 3 : 10, [&] {
    rnc::cpu::gemm<float>(ta, tb, M, N, K, 1.0f, A.data(), lda, B.data(), ldb,
                          0.0f, C.data(), N);
  });
  std::printf("%-34s %5d %5d %5d %8.1f\n", what, M, N, K, flops / t * 1e-9);
}

template <Conv2DShape S> void bench_conv(const char *what, int N) {
  BenchTensor x(size_t(N) * S.in_channels * S.in_plane(), 0.5f),
      w(S.weight_size(), 0.01f);
  BenchTensor y(size_t(N) * S.out_channels * S.out_plane(), 0.25f),
      dx(x.size()), dw(w.size());
  double flops =
      2.0 * N * S.out_channels * double(S.out_plane()) * S.col_rows();
  double tf = best_of(3, [&] {
    rnc::cpu::conv2d<S>(y.data(), x.data(), w.data(), nullptr, N);
  });
  double td = best_of(3, [&] {
    rnc::cpu::conv2d_grad_input<S>(dx.data(), y.data(), w.data(), N);
  });
  double tw = best_of(3, [&] {
    rnc::cpu::conv2d_grad_weight<S>(dw.data(), y.data(), x.data(), N);
  });
  std::printf("%-30s %3d %7.1f ms %6.1f  %7.1f ms %6.1f  %7.1f ms %6.1f\n",
              what, N, tf * 1e3, flops / tf * 1e-9, td * 1e3, flops / td * 1e-9,
              tw * 1e3, flops / tw * 1e-9);
}

} // namespace

int main() {
  std::printf("threads: %d\n\n", rnc::cpu::max_threads());
  std::printf("%-34s %5s %5s %5s %8s\n", "GEMM", "M", "N", "K", "GFLOP/s");
  bench_gemm("square 512", false, false, 512, 512, 512);
  bench_gemm("square 1024", false, false, 1024, 1024, 1024);
  bench_gemm("square 2048", false, false, 2048, 2048, 2048);
  bench_gemm("conv 64->64 3x3 @56x56 (fwd)", false, false, 64, 3136, 576);
  bench_gemm("conv 256->256 3x3 @14x14 (fwd)", false, false, 256, 196, 2304);
  bench_gemm("conv 256->64 1x1 @56x56 (fwd)", false, false, 64, 3136, 256);
  bench_gemm("conv 64->64 3x3 @56x56 (dW, B^T)", false, true, 64, 576, 3136);
  bench_gemm("conv 64->64 3x3 @56x56 (dcol, A^T)", true, false, 576, 3136, 64);
  bench_gemm("linear 32x2048->1000 (fwd, B^T)", false, true, 32, 1000, 2048);

  std::printf("\n%-30s %3s %17s %17s %17s\n", "conv2d (GFLOP/s)", "N",
              "forward", "backward data", "backward weight");
  bench_conv<conv3x3(64, 56)>("64->64 3x3 @56x56", 32);
  bench_conv<conv3x3(128, 28)>("128->128 3x3 @28x28", 32);
  bench_conv<conv3x3(256, 14)>("256->256 3x3 @14x14", 32);
  bench_conv<conv3x3(512, 7)>("512->512 3x3 @7x7", 32);
  bench_conv<Conv2DShape{
      .in_channels = 256, .out_channels = 64, .in_h = 56, .in_w = 56}>(
      "256->64 1x1 @56x56", 32);
  bench_conv<Conv2DShape{.in_channels = 3,
                         .out_channels = 64,
                         .in_h = 224,
                         .in_w = 224,
                         .kernel_h = 7,
                         .kernel_w = 7,
                         .stride_h = 2,
                         .stride_w = 2,
                         .pad_h = 3,
                         .pad_w = 3}>("stem 3->64 7x7/2 @224", 32);
  bench_conv<conv3x3(128, 56, 1, 32)>("128 g32 3x3 @56x56 (ResNeXt)", 32);
  bench_conv<conv3x3(128, 56, 2, 32)>("128 g32 3x3/2 @56x56 (ResNeXt)", 32);
  return 0;
}
