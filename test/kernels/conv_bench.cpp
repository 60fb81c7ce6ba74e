// Benchmark (not a test): the conv kernels per ResNet shape against this
// machine's FMA peak, measured in the same run by a register-only FMA loop
// (kernel-conv-bench-bf16: the bf16 kernels against the vdpbf16ps peak).
//
// GFLOP/s count 2 x the multiply-adds whose input lies inside the image
// (taps in the padding are not work), so that no kernel can pass 100%.
// Usage: kernel-conv-bench [--reps R] [--filter TEXT] [--batch N]
// [--cpu-time] [--tsv] (--batch: every shape at batch N instead of its
// model's; --tsv: tab-separated rows with each shape's fields and times in
// seconds, for bench/conv_peer.py, which times PyTorch on the same shapes).
#if defined(RNC_BENCH_BF16) && defined(__AVX512BF16__)
#define RNC_CPU_PRECISION 2
#include <immintrin.h>
#endif
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "bench_shapes.h"
#include "bench_tensor.h"
#include "kernels/cpu/rnc_cpu.h"

namespace {

using rnc::Conv2DShape;

bool g_cpu_time = false;

// Wall time, or with --cpu-time the process's CPU time per thread: on a
// machine other programs keep busy, time the process was not running does
// not count (exact with one thread; with several it includes spin-waiting).
double now_s() {
  if (g_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (ts.tv_sec + 1e-9 * ts.tv_nsec) / rnc::cpu::max_threads();
  }
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

int g_reps = 5;
int g_batch = 0; // --batch: every shape at this batch (0: each its own)
std::string g_filter;
bool g_tsv = false;

// Best time of f() over g_reps runs after one warm-up run: the machine is
// shared, and the best run is the one least disturbed.
template <class F> double best_of(const F &f) {
  f();
  double best = 1e30;
  for (int r = 0; r < g_reps; ++r) {
    double t0 = now_s();
    f();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

// GFLOP/s of independent FMA chains held in registers, on every thread.
double fma_peak() {
  using V = rnc::cpu::Vec<float>::type;
  constexpr int L = rnc::cpu::Vec<float>::lanes, CHAINS = 16;
  constexpr long ITERS = 20'000'000;
  int threads = rnc::cpu::max_threads();
  volatile float sink = 0;
  double t = best_of([&] {
#pragma omp parallel
    {
      V a[CHAINS], b = V{} + 0.999f, c = V{} + 1e-4f;
      for (int i = 0; i < CHAINS; ++i)
        a[i] = V{} + float(i);
      for (long k = 0; k < ITERS; ++k) {
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; ++i)
          a[i] = a[i] * b + c;
      }
      float s = 0;
      for (int i = 0; i < CHAINS; ++i)
        s += a[i][0];
      sink = sink + s;
    }
  });
  return 2.0 * L * CHAINS * ITERS * threads / t * 1e-9;
}

#if RNC_CPU_PRECISION == 2
// GFLOP/s of independent vdpbf16ps chains held in registers (32
// multiply-adds each), on every thread.
double dpbf16_peak() {
  constexpr int CHAINS = 16;
  constexpr long ITERS = 20'000'000;
  int threads = rnc::cpu::max_threads();
  volatile float sink = 0;
  double t = best_of([&] {
#pragma omp parallel
    {
      __m512 a[CHAINS];
      __m512bh b = (__m512bh)_mm512_set1_epi32(0x3f7f3f7f); // 0.996 pairs
      __m512bh c = (__m512bh)_mm512_set1_epi32(0x38d138d1); // 1e-4 pairs
      for (int i = 0; i < CHAINS; ++i)
        a[i] = _mm512_set1_ps(float(i));
      for (long k = 0; k < ITERS; ++k) {
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; ++i)
          a[i] = _mm512_dpbf16_ps(a[i], b, c);
        // Keeps the compiler from folding iterations together.
        __asm__ volatile("" : "+v"(a[0]));
      }
      float s = 0;
      for (int i = 0; i < CHAINS; ++i)
        s += _mm512_cvtss_f32(a[i]);
      sink = sink + s;
    }
  });
  return 2.0 * 32 * CHAINS * ITERS * threads / t * 1e-9;
}

#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
// GFLOP/s of tdpbf16ps into four tiles held in tile registers (16 x 16 x 32
// multiply-adds each), on every thread; 0 where AMX is not ready.
double amx_peak() {
  if (!rnc::cpu::amx_bf16_ready())
    return 0;
  constexpr long ITERS = 2'000'000;
  int threads = rnc::cpu::max_threads();
  double t = best_of([&] {
#pragma omp parallel
    {
      alignas(64) uint16_t ones[16 * 32];
      std::fill(ones, ones + 16 * 32, uint16_t(0x3f80));
      rnc::cpu::detail::amx_load_config_16x64();
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      _tile_loadd(4, ones, 64);
      _tile_loadd(5, ones, 64);
      _tile_loadd(6, ones, 64);
      _tile_loadd(7, ones, 64);
      for (long k = 0; k < ITERS; ++k) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      alignas(64) float out[256];
      _tile_stored(0, out, 64);
      _tile_release();
      if (out[0] == 1.0f) // never (2^21 * 32): keeps the loop
        std::printf(" ");
    }
  });
  return 2.0 * 4 * 16 * 16 * 32 * ITERS * threads / t * 1e-9;
}
#else
double amx_peak() { return 0; }
#endif
#endif

// Multiply-adds of one image whose input lies inside the image.
template <Conv2DShape S> double useful_macs() {
  long taps = 0;
  for (int oh = 0; oh < S.out_h(); ++oh)
    for (int ow = 0; ow < S.out_w(); ++ow)
      for (int kh = 0; kh < S.kernel_h; ++kh)
        for (int kw = 0; kw < S.kernel_w; ++kw) {
          int ih = oh * S.stride_h - S.pad_h + kh * S.dilation_h;
          int iw = ow * S.stride_w - S.pad_w + kw * S.dilation_w;
          taps += ih >= 0 && ih < S.in_h && iw >= 0 && iw < S.in_w;
        }
  return double(taps) * S.in_per_group() * S.out_channels;
}

template <Conv2DShape S> void bench(const char *what, int N, double peak) {
  if (g_batch > 0)
    N = g_batch;
  if (!g_filter.empty() && !std::strstr(what, g_filter.c_str()))
    return;
  BenchTensor x(size_t(N) * S.in_channels * S.in_plane(), 0.5f),
      w(S.weight_size(), 0.01f);
  BenchTensor y(size_t(N) * S.out_channels * S.out_plane(), 0.25f),
      dx(x.size()), dw(w.size());
  double flops = 2.0 * N * useful_macs<S>();
  double tf = best_of(
      [&] { rnc::cpu::conv2d<S>(y.data(), x.data(), w.data(), nullptr, N); });
  double td = best_of([&] {
    rnc::cpu::conv2d_grad_input<S>(dx.data(), y.data(), w.data(), N);
  });
  double tw = best_of([&] {
    rnc::cpu::conv2d_grad_weight<S>(dw.data(), y.data(), x.data(), N);
  });
  if (g_tsv) {
    std::printf(
        "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.6g\t%."
        "6g\t%.6g\n",
        what, N, S.in_channels, S.out_channels, S.in_h, S.in_w, S.kernel_h,
        S.kernel_w, S.stride_h, S.stride_w, S.pad_h, S.pad_w, S.groups, flops,
        tf, td, tw);
    std::fflush(stdout);
    return;
  }
  auto col = [&](double t) {
    double gf = flops / t * 1e-9;
    std::printf(" | %7.2f ms %6.1f %3.0f%%", t * 1e3, gf, 100 * gf / peak);
  };
  std::printf("| %-34s | %3d", what, N);
  col(tf);
  col(td);
  col(tw);
  std::printf(" |\n");
  std::fflush(stdout);
}

// The table's title lines: the peak it is measured against, the path, the
// clock.
void print_header(double peak, [[maybe_unused]] double fp32_peak) {
#if RNC_CPU_PRECISION == 2
  std::printf("threads %d, bf16 peak %.1f GFLOP/s (register-only vdpbf16ps "
              "loop; %%peak below is of it), AMX tdpbf16ps peak %.1f (0: no "
              "AMX; used where the CPU has it), fp32 FMA peak %.1f, ",
              rnc::cpu::max_threads(), peak, amx_peak(), fp32_peak);
#else
  std::printf("threads %d, FMA peak %.1f GFLOP/s (register-only loop), ",
              rnc::cpu::max_threads(), peak);
#endif
  std::printf("conv path: %s, %s time\n\n",
#ifdef RNC_CONV_NO_TILED
              "packed GEMM"
#else
              rnc::cpu::kBf16Convs ? "tiled, bf16 operands" : "tiled"
#endif
              ,
              g_cpu_time ? "CPU" : "wall");
  std::printf("| shape | N | forward ms GFLOP/s %%peak | data grad | weight "
              "grad |\n|---|---|---|---|---|\n");
}

} // namespace

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc)
      g_reps = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--cpu-time"))
      g_cpu_time = true;
    else if (!std::strcmp(argv[i], "--tsv"))
      g_tsv = true;
    else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc)
      g_filter = argv[++i];
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc &&
             std::atoi(argv[i + 1]) > 0)
      g_batch = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "%s: unknown argument '%s' (or --reps/--filter/--batch "
                   "without a value, or a batch under 1); usage: %s [--reps R] "
                   "[--filter TEXT] [--batch N] [--cpu-time] [--tsv]: conv "
                   "kernels per shape vs the FMA peak\n",
                   argv[0], argv[i], argv[0]);
      return 2;
    }
  }
#if defined(RNC_BENCH_BF16) && RNC_CPU_PRECISION != 2
  std::fprintf(stderr,
               "%s: the compiler's -march=native has no "
               "AVX512-BF16: no bf16 kernels to measure\n",
               argv[0]);
  return 1;
#endif
  double fp32_peak = fma_peak(), peak = fp32_peak;
#if RNC_CPU_PRECISION == 2
  peak = dpbf16_peak();
#endif
  if (g_tsv)
    std::printf("peak\t%.1f\tthreads\t%d\n", peak, rnc::cpu::max_threads());
  else
    print_header(peak, fp32_peak);

  // fashion_resnet (28x28, the main job)
  bench<Conv2DShape{1, 32, 28, 28, 3, 3, 1, 1, 1, 1}>("fr stem 1->32 3x3 @28",
                                                      128, peak);
  bench<Conv2DShape{32, 32, 14, 14, 3, 3, 1, 1, 1, 1}>("fr 32->32 3x3 @14", 128,
                                                       peak);
  bench<Conv2DShape{32, 64, 14, 14, 3, 3, 2, 2, 1, 1}>("fr 32->64 3x3 s2 @14",
                                                       128, peak);
  bench<Conv2DShape{64, 64, 7, 7, 3, 3, 1, 1, 1, 1}>("fr 64->64 3x3 @7", 128,
                                                     peak);
  bench<Conv2DShape{32, 64, 14, 14, 1, 1, 2, 2}>("fr 32->64 1x1 s2 @14", 128,
                                                 peak);
  bench<Conv2DShape{64, 128, 7, 7, 3, 3, 2, 2, 1, 1}>("fr 64->128 3x3 s2 @7",
                                                      128, peak);
  bench<Conv2DShape{128, 128, 4, 4, 3, 3, 1, 1, 1, 1}>("fr 128->128 3x3 @4",
                                                       128, peak);
  // d2l_resnet18 at 28x28
  bench<Conv2DShape{1, 64, 28, 28, 7, 7, 2, 2, 3, 3}>(
      "d2l stem 1->64 7x7 s2 @28", 128, peak);
  bench<Conv2DShape{64, 64, 7, 7, 3, 3, 1, 1, 1, 1}>("d2l 64->64 3x3 @7", 128,
                                                     peak);
  bench<Conv2DShape{128, 128, 4, 4, 3, 3, 1, 1, 1, 1}>("d2l 128->128 3x3 @4",
                                                       128, peak);
  bench<Conv2DShape{256, 256, 2, 2, 3, 3, 1, 1, 1, 1}>("d2l 256->256 3x3 @2",
                                                       128, peak);
  bench<Conv2DShape{512, 512, 1, 1, 3, 3, 1, 1, 1, 1}>("d2l 512->512 3x3 @1",
                                                       128, peak);
  bench<Conv2DShape{256, 512, 2, 2, 3, 3, 2, 2, 1, 1}>("d2l 256->512 3x3 s2 @2",
                                                       128, peak);
  // d2l_resnet18 at 96x96
  bench<Conv2DShape{1, 64, 96, 96, 7, 7, 2, 2, 3, 3}>(
      "d2l96 stem 1->64 7x7 s2 @96", 128, peak);
  bench<Conv2DShape{64, 64, 24, 24, 3, 3, 1, 1, 1, 1}>("d2l96 64->64 3x3 @24",
                                                       128, peak);
  bench<Conv2DShape{128, 128, 12, 12, 3, 3, 1, 1, 1, 1}>(
      "d2l96 128->128 3x3 @12", 128, peak);
  bench<Conv2DShape{256, 256, 6, 6, 3, 3, 1, 1, 1, 1}>("d2l96 256->256 3x3 @6",
                                                       128, peak);
  bench<Conv2DShape{512, 512, 3, 3, 3, 3, 1, 1, 1, 1}>("d2l96 512->512 3x3 @3",
                                                       128, peak);
  bench<Conv2DShape{64, 128, 24, 24, 1, 1, 2, 2}>("d2l96 64->128 1x1 s2 @24",
                                                  128, peak);
  bench<Conv2DShape{128, 256, 12, 12, 1, 1, 2, 2}>("d2l96 128->256 1x1 s2 @12",
                                                   128, peak);
  bench<Conv2DShape{256, 512, 6, 6, 1, 1, 2, 2}>("d2l96 256->512 1x1 s2 @6",
                                                 128, peak);
  // resnet50 at 224x224, batch 8
  bench<Conv2DShape{64, 64, 56, 56, 3, 3, 1, 1, 1, 1}>("r50 64->64 3x3 @56", 8,
                                                       peak);
  bench<Conv2DShape{256, 64, 56, 56, 1, 1}>("r50 256->64 1x1 @56", 8, peak);
  bench<Conv2DShape{64, 256, 56, 56, 1, 1}>("r50 64->256 1x1 @56", 8, peak);
  bench<Conv2DShape{128, 128, 28, 28, 3, 3, 1, 1, 1, 1}>("r50 128->128 3x3 @28",
                                                         8, peak);
  bench<Conv2DShape{256, 256, 14, 14, 3, 3, 1, 1, 1, 1}>("r50 256->256 3x3 @14",
                                                         8, peak);
  bench<Conv2DShape{1024, 256, 14, 14, 1, 1}>("r50 1024->256 1x1 @14", 8, peak);
  bench<Conv2DShape{512, 512, 7, 7, 3, 3, 1, 1, 1, 1}>("r50 512->512 3x3 @7", 8,
                                                       peak);
  bench<Conv2DShape{256, 1024, 14, 14, 1, 1}>("r50 256->1024 1x1 @14", 8, peak);
  bench<Conv2DShape{128, 512, 28, 28, 1, 1}>("r50 128->512 1x1 @28", 8, peak);
  bench<Conv2DShape{512, 128, 28, 28, 1, 1}>("r50 512->128 1x1 @28", 8, peak);
  bench<Conv2DShape{512, 2048, 7, 7, 1, 1}>("r50 512->2048 1x1 @7", 8, peak);
  bench<Conv2DShape{2048, 512, 7, 7, 1, 1}>("r50 2048->512 1x1 @7", 8, peak);
  bench<Conv2DShape{256, 512, 56, 56, 1, 1, 2, 2}>("r50 256->512 1x1 s2 @56", 8,
                                                   peak);
  bench<Conv2DShape{512, 1024, 28, 28, 1, 1, 2, 2}>("r50 512->1024 1x1 s2 @28",
                                                    8, peak);
  bench<Conv2DShape{1024, 2048, 14, 14, 1, 1, 2, 2}>(
      "r50 1024->2048 1x1 s2 @14", 8, peak);
  bench<Conv2DShape{3, 64, 224, 224, 7, 7, 2, 2, 3, 3}>(
      "r50 stem 3->64 7x7 s2 @224", 8, peak);
  // resnet50 v1.5's stride-2 3x3 layers (the first block of layers 2-4)
  bench<conv3x3(128, 56, 2)>("r50 128->128 3x3 s2 @56", 8, peak);
  bench<conv3x3(256, 28, 2)>("r50 256->256 3x3 s2 @28", 8, peak);
  bench<conv3x3(512, 14, 2)>("r50 512->512 3x3 s2 @14", 8, peak);
  // resnext50_32x4d's grouped 3x3 layers (32 groups), batch 8
  bench<conv3x3(128, 56, 1, 32)>("rx50 128 g32 3x3 @56", 8, peak);
  bench<conv3x3(256, 56, 2, 32)>("rx50 256 g32 3x3 s2 @56", 8, peak);
  bench<conv3x3(256, 28, 1, 32)>("rx50 256 g32 3x3 @28", 8, peak);
  bench<conv3x3(512, 28, 2, 32)>("rx50 512 g32 3x3 s2 @28", 8, peak);
  bench<conv3x3(512, 14, 1, 32)>("rx50 512 g32 3x3 @14", 8, peak);
  bench<conv3x3(1024, 14, 2, 32)>("rx50 1024 g32 3x3 s2 @14", 8, peak);
  bench<conv3x3(1024, 7, 1, 32)>("rx50 1024 g32 3x3 @7", 8, peak);
  return 0;
}
