// The bf16 conv tiles (conv_tiled_bf16.h, RNC_CPU_PRECISION 2) against
// float64 loops: forward, data and weight gradient; exits 77 (SKIPPED) where
// the compiler target or the CPU lacks AVX512-BF16.
//
// Tolerances, per output element i with A_i = sum over its terms of |a*b|
// (a, b the two fp32 operands of a multiply-add):
//  1. Against float64 on the operands rounded to bf16 (round to nearest
//     even): the kernel's only error is then its fp32 summation, modelled as
//     a random walk of K roundings of at most 2^-24 relative:
//     |err_i| <= 4 * sqrt(K) * 2^-24 * A_i + 1e-30. Operands rounded any other
//     way (truncated, or not rounded) miss this by ~2^-9 / sqrt(K) * A_i.
//  2. Against float64 on the fp32 operands: bf16 keeps 8 significant bits,
//     so rounding changes each operand by at most 2^-8 relative and each
//     product by at most 2^-7 + 2^-16: |err_i| <= (2^-7 + 2^-15) * A_i
//     (rigorous, the 2^-15 covering the summation); and, the rounding errors
//     being independent, norm-wise ||err|| / ||exact|| <= 2^-7 (expected
//     about 2^-8.3).
//  3. The same bits on 1, 2 and 3 OpenMP threads.
// Each on the AMX tiles where the CPU has AMX-BF16 and on the AVX512-BF16
// ones (RNC_CPU_FEATURES_FOR_TEST=no-amx).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#if defined(__AVX512BF16__) && defined(__AVX512F__)
#define RNC_CPU_PRECISION 2
#define RNC_BF16_TEST_BUILT 1
#endif

#include <gtest/gtest.h>
#include <omp.h>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/cpu_features.h"
#include "test_util.h"

#if RNC_BF16_TEST_BUILT
namespace {

using rnc::Conv2DShape;
using rnc::cpu::round_bf16;

// Per output element: sum of the rounded products, of the exact products,
// and of their absolute values; K = number of terms.
// f rounded to bf16, nearest even, written out here apart from the kernels'
// round_bf16 (finite f only).
float rnd(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

struct Ref {
  std::vector<double> rounded, exact, abs;
  std::vector<int> terms;
  explicit Ref(size_t n) : rounded(n), exact(n), abs(n), terms(n) {}
  void add(size_t i, float a, float b) {
    rounded[i] += double(rnd(a)) * rnd(b);
    exact[i] += double(a) * b;
    abs[i] += std::fabs(double(a) * b);
    ++terms[i];
  }
};

template <Conv2DShape S> struct Refs {
  Ref y, dx, dw;
};

template <Conv2DShape S>
Refs<S> reference(const std::vector<float> &x, const std::vector<float> &w,
                  const std::vector<float> &dy, int N) {
  constexpr int C = S.in_channels, O = S.out_channels, H = S.in_h, W = S.in_w,
                OH = S.out_h(), OW = S.out_w(), K = S.kernel_h, KW = S.kernel_w,
                Cg = S.in_per_group(), Mg = S.out_per_group();
  Refs<S> r{Ref(size_t(N) * O * OH * OW), Ref(size_t(N) * C * H * W),
            Ref(size_t(S.weight_size()))};
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow)
          for (int cg = 0; cg < Cg; ++cg)
            for (int kh = 0; kh < K; ++kh)
              for (int kw = 0; kw < KW; ++kw) {
                int ih = oh * S.stride_h - S.pad_h + kh * S.dilation_h;
                int iw = ow * S.stride_w - S.pad_w + kw * S.dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                  continue;
                int c = o / Mg * Cg + cg; // input channel in o's group
                size_t yi = ((size_t(n) * O + o) * OH + oh) * OW + ow;
                size_t xi = ((size_t(n) * C + c) * H + ih) * W + iw;
                size_t wi = ((size_t(o) * Cg + cg) * K + kh) * KW + kw;
                r.y.add(yi, x[xi], w[wi]);
                r.dx.add(xi, dy[yi], w[wi]);
                r.dw.add(wi, dy[yi], x[xi]);
              }
  return r;
}

// Checks 1 and 2 of the header on one output; returns the norm-wise error
// against the exact products.
void expect_bf16_close(const char *what, const std::vector<float> &got,
                       const Ref &r) {
  ASSERT_EQ(got.size(), r.exact.size());
  double num = 0, den = 0, worst1 = 0, worst2 = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << "[" << i << "]";
    double e1 = std::fabs(got[i] - r.rounded[i]);
    double e2 = std::fabs(got[i] - r.exact[i]);
    double tol1 = 4 * std::sqrt(double(r.terms[i])) * 0x1p-24 * r.abs[i] + 1e-30;
    double tol2 = (0x1p-7 + 0x1p-15) * r.abs[i] + 1e-30;
    worst1 = std::max(worst1, e1 / tol1);
    worst2 = std::max(worst2, e2 / tol2);
    if (e1 > tol1 || e2 > tol2) {
      ADD_FAILURE() << what << "[" << i << "]: got " << got[i]
                    << ", bf16-operand sum " << r.rounded[i] << " (tolerance "
                    << tol1 << "), exact " << r.exact[i] << " (tolerance "
                    << tol2 << ")";
      return;
    }
    num += e2 * e2;
    den += r.exact[i] * r.exact[i];
  }
  double norm = std::sqrt(num / std::max(den, 1e-300));
  EXPECT_LE(norm, 0x1p-7) << what << ": norm-wise error against float64";
  std::printf("  %-3s worst |err| / tolerance: bf16 operands %.3f, exact "
              "%.3f; norm-wise error 2^%.2f\n",
              what, worst1, worst2, std::log2(norm));
}

// Which directions take the bf16 tiles (the others: the fp32 kernels on
// rounded operands, bf16.h); kFolded: the test asserts its own path.
enum Paths { kAllTiled, kNoneTiled, kMixed, kFolded };

template <Conv2DShape S, Paths Want = kAllTiled>
void check_shape(int N, uint64_t seed) {
  using namespace rnc::cpu::detail;
  constexpr bool fwd = use_tiled_forward<S>(),
                 data = use_tiled_backward_data<S>(),
                 wgt = use_tiled_backward_weight<S, float>();
  static_assert(Want == kFolded      ? true
                : Want == kAllTiled  ? fwd && data && wgt
                : Want == kNoneTiled ? !fwd && !data && !wgt
                                     : fwd != data || data != wgt,
                "the shape must take the kernels the test names");
  auto x = kt::random_vec<float>(size_t(N) * S.in_channels * S.in_plane(), seed);
  auto w = kt::random_vec<float>(S.weight_size(), seed + 1);
  auto dy =
      kt::random_vec<float>(size_t(N) * S.out_channels * S.out_plane(), seed + 2);
  Refs<S> ref = reference<S>(x, w, dy, N);
  int saved = omp_get_max_threads();
  // The AMX kernels where the CPU has them, and the AVX512-BF16 tiles.
  for (const char *mask : {"", "no-amx"}) {
  if (!*mask && !rnc::cpu::amx_bf16_ready())
    continue;
  setenv("RNC_CPU_FEATURES_FOR_TEST", mask, 1);
  std::printf(" N %d, %s\n", N, *mask ? "AVX512-BF16" : "AMX where it applies");
  std::vector<float> y1, dx1, dw1;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    auto y = kt::poisoned(ref.y.exact.size());
    auto dx = kt::poisoned(ref.dx.exact.size());
    auto dw = kt::poisoned(ref.dw.exact.size());
    rnc::cpu::conv2d<S>(y.data(), x.data(), w.data(), nullptr, N);
    rnc::cpu::conv2d_grad_input<S>(dx.data(), dy.data(), w.data(), N);
    rnc::cpu::conv2d_grad_weight<S>(dw.data(), dy.data(), x.data(), N);
    if (threads == 1) {
      expect_bf16_close("y", y, ref.y);
      expect_bf16_close("dx", dx, ref.dx);
      expect_bf16_close("dw", dw, ref.dw);
      y1 = y, dx1 = dx, dw1 = dw;
    } else {
      EXPECT_EQ(0, std::memcmp(y.data(), y1.data(), y.size() * 4)) << threads;
      EXPECT_EQ(0, std::memcmp(dx.data(), dx1.data(), dx.size() * 4)) << threads;
      EXPECT_EQ(0, std::memcmp(dw.data(), dw1.data(), dw.size() * 4)) << threads;
    }
  }
  }
  unsetenv("RNC_CPU_FEATURES_FOR_TEST");
  omp_set_num_threads(saved);
}

TEST(ConvBf16, RoundToNearestEven) {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even (1) wins; 1 + 3*2^-8
  // is halfway between 1 + 2^-7 and 1 + 2^-6: even (1 + 2^-6) wins.
  EXPECT_EQ(round_bf16(1.0f + 0x1p-8f), 1.0f);
  EXPECT_EQ(round_bf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);
  EXPECT_EQ(round_bf16(-(1.0f + 0x1.8p-8f)), -(1.0f + 0x1p-7f));
  EXPECT_TRUE(std::isnan(round_bf16(NAN)));
  EXPECT_EQ(round_bf16(INFINITY), INFINITY);
}

// fashion_resnet's tiled shapes (28x28 input), at batch 32 and at a ragged
// odd batch (the last image pair of the weight gradient half empty).
TEST(ConvBf16, FashionResnetShapes) {
  constexpr Conv2DShape s14{.in_channels = 32, .out_channels = 32, .in_h = 14,
                            .in_w = 14, .kernel_h = 3, .kernel_w = 3,
                            .pad_h = 1, .pad_w = 1};
  constexpr Conv2DShape s7{.in_channels = 64, .out_channels = 64, .in_h = 7,
                           .in_w = 7, .kernel_h = 3, .kernel_w = 3, .pad_h = 1,
                           .pad_w = 1};
  constexpr Conv2DShape down{.in_channels = 64, .out_channels = 128,
                             .in_h = 7, .in_w = 7, .kernel_h = 3,
                             .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                             .pad_h = 1, .pad_w = 1};
  check_shape<s14>(32, 1);
  check_shape<s14>(45, 11);
  check_shape<s7>(13, 2);
  check_shape<down>(32, 3);
}

// Odd channel counts (a reduction pair half empty in every direction),
// output channels not a multiple of 16, a batch smaller than one tile,
// 1x1 planes where one tap of nine is inside.
TEST(ConvBf16, OddChannelsSmallBatchTinyPlanes) {
  constexpr Conv2DShape odd{.in_channels = 9, .out_channels = 23, .in_h = 6,
                            .in_w = 5, .kernel_h = 3, .kernel_w = 3,
                            .pad_h = 1, .pad_w = 1};
  constexpr Conv2DShape one{.in_channels = 96, .out_channels = 40, .in_h = 1,
                            .in_w = 1, .kernel_h = 3, .kernel_w = 3,
                            .pad_h = 1, .pad_w = 1};
  check_shape<odd>(7, 4);
  check_shape<odd>(2, 5);
  check_shape<one>(19, 6);
}

// Batches under 32 on the AMX tiles (where the CPU has them): one A tile of
// N rows (8, 5) or of 16 with the last shifted back (20); the weight
// gradient's AMX tiles under 16 images on a 7x7 plane, and the fp32 kernels
// on rounded operands for it on a plane over 14x14 (16x16).
TEST(ConvBf16, AmxSmallBatches) {
  // Conv2DShape{in, out, in_h, in_w, kernel_h, kernel_w, stride_h, stride_w,
  // pad_h, pad_w}.
  constexpr Conv2DShape s7{64, 64, 7, 7, 3, 3, 1, 1, 1, 1};
  constexpr Conv2DShape pw{128, 64, 7, 7, 1, 1, 1, 1, 0, 0};
  constexpr Conv2DShape s16{32, 32, 16, 16, 3, 3, 1, 1, 1, 1};
  check_shape<s7>(8, 12);
  check_shape<s7>(20, 13);
  check_shape<pw>(5, 14);
  check_shape<s16>(8, 15);
}

// The weight gradient on AMX reducing over positions
// (conv_wgrad_amx_rows.h), where the CPU has AMX: 3x3 planes whose rows are
// padded (14x14 -> 16 wide, 7x7 -> 10, the last k block partly past the
// plane), output channels not a multiple of 32 (48: a vector block alone),
// a 1x1 layer as one row of an odd plane (7x7), a 1x1 layer too wide for
// the image-pair tiles (Co x plane over their limit), and a 40x40 plane of
// several chunks at batch 3.
template <Conv2DShape S, Paths Want = kAllTiled>
void check_rows_wgrad(int N, uint64_t seed) {
  using namespace rnc::cpu::detail;
  static_assert(amx_rows_wgrad_shape<S>());
  if (rnc::cpu::amx_bf16_ready()) {
    constexpr bool tiled = use_tiled_backward_weight<S, float>();
    EXPECT_TRUE(
        amx_rows_wgrad_wins<S>(N, tiled && tiled_weight_batch_ok<S, float>(N)))
        << "the shape must take the rows kernel at N " << N;
  }
  check_shape<S, Want>(N, seed);
}

TEST(ConvBf16, AmxRowsWeightGradient) {
  if (!rnc::cpu::amx_bf16_ready())
    std::printf("SKIPPED (the AMX part): this CPU lacks AMX-BF16; the "
                "shapes still run on the AVX512-BF16 tiles\n");
  constexpr Conv2DShape s14{64, 48, 14, 14, 3, 3, 1, 1, 1, 1};
  constexpr Conv2DShape s7{32, 64, 7, 7, 3, 3, 1, 1, 1, 1};
  constexpr Conv2DShape p7{64, 80, 7, 7, 1, 1, 1, 1, 0, 0};
  check_rows_wgrad<s14>(8, 21);
  check_rows_wgrad<s7>(5, 22);
  check_rows_wgrad<p7>(8, 23);
}

// Planes over 16x16 on AMX with positions along the tiles, forward and data
// gradient (conv_fwd_amx_rows.h), and the weight gradient as above: a 1x1
// layer as one row, a 3x3 one in rows 42 wide; input channels not a multiple
// of 32 (17: an odd channel, pairs padded to 16) and output channels not a
// multiple of 32 (40: the last block one tile) forward and backward.
TEST(ConvBf16, AmxRowsLargePlanes) {
  using rnc::cpu::detail::amx_rows_forward_shape;
  using rnc::cpu::detail::flipped_conv;
  constexpr Conv2DShape wide{32, 176, 40, 40, 1, 1, 1, 1, 0, 0};
  constexpr Conv2DShape s40{32, 32, 40, 40, 3, 3, 1, 1, 1, 1};
  constexpr Conv2DShape odd{17, 40, 18, 18, 3, 3, 1, 1, 1, 1};
  static_assert(!rnc::cpu::detail::use_tiled_backward_weight<wide, float>());
  static_assert(amx_rows_forward_shape<wide>() &&
                amx_rows_forward_shape<flipped_conv<wide>()>() &&
                amx_rows_forward_shape<s40>() &&
                amx_rows_forward_shape<flipped_conv<s40>()>() &&
                amx_rows_forward_shape<odd>() &&
                amx_rows_forward_shape<flipped_conv<odd>()>());
  check_rows_wgrad<wide, kNoneTiled>(2, 24);
  check_rows_wgrad<s40, kMixed>(3, 25);
  // Three images: the forward an image at a time on 1 and 3 threads, the
  // batch packed whole on 2 (check_shape: the same bits on all three).
  using rnc::cpu::detail::amx_rows_per_image;
  EXPECT_TRUE(amx_rows_per_image<odd>(3, 1) && amx_rows_per_image<odd>(3, 3) &&
              !amx_rows_per_image<odd>(3, 2));
  check_shape<odd, kMixed>(3, 26);
  // The forward in chunks of images (six, then one), the output channel
  // blocks outer within a chunk (weights over 1 MB).
  constexpr Conv2DShape chunked{512, 128, 7, 7, 3, 3, 1, 1, 1, 1};
  static_assert(rnc::cpu::detail::amx_rows_chunk_images<chunked>() == 6 &&
                rnc::cpu::detail::amx_rows_chunk_images<odd>() == 1);
  check_shape<chunked, kAllTiled>(7, 30);
  // The bias, added as the sums are stored: the sums without it plus it.
  constexpr int N = 2;
  auto x =
      kt::random_vec<float>(size_t(N) * odd.in_channels * odd.in_plane(), 27);
  auto w = kt::random_vec<float>(odd.weight_size(), 28);
  auto b = kt::random_vec<float>(odd.out_channels, 29);
  std::vector<float> y0(size_t(N) * odd.out_channels * odd.out_plane()), y1(y0);
  rnc::cpu::conv2d<odd>(y0.data(), x.data(), w.data(), nullptr, N);
  rnc::cpu::conv2d<odd>(y1.data(), x.data(), w.data(), b.data(), N);
  for (size_t i = 0; i < y0.size(); ++i)
    ASSERT_EQ(y1[i], y0[i] + b[i / odd.out_plane() % odd.out_channels]) << i;
}

// Stride 2 on the rows kernels, the input in four phase planes (3x3) or one
// (1x1): weight gradients at 14x14, 15x15 (odd: the last phase rows and
// columns shorter) and 40x40; forward on 40x40 inputs (20x20 outputs, over
// the image tiles' 16x16).
TEST(ConvBf16, AmxRowsStride2) {
  using rnc::cpu::detail::amx_rows_forward_shape;
  constexpr Conv2DShape p14{64, 96, 14, 14, 1, 1, 2, 2, 0, 0};
  constexpr Conv2DShape s15{32, 48, 15, 15, 3, 3, 2, 2, 1, 1};
  constexpr Conv2DShape s40{32, 40, 40, 40, 3, 3, 2, 2, 1, 1};
  constexpr Conv2DShape p40{32, 64, 40, 40, 1, 1, 2, 2, 0, 0};
  static_assert(amx_rows_forward_shape<s40>() && amx_rows_forward_shape<p40>());
  check_rows_wgrad<p14, kMixed>(8, 31);
  check_rows_wgrad<s15, kAllTiled>(5, 32);
  check_rows_wgrad<s40, kMixed>(2, 33);
  check_rows_wgrad<p40, kMixed>(2, 34);
}

// Stride-2 data gradients in four phases (conv_dgrad_amx_s2.h): the shapes
// above (1x1: two phases without taps, dx zero there; 3x3 pad 1; odd 15x15),
// a 3x3 without padding (dy padded above and left), a 5x5 pad 2 with 80
// output channels (the reduction's last pair block part empty).
TEST(ConvBf16, AmxStride2DataGradient) {
  using rnc::cpu::detail::amx_dgrad_s2_shape;
  constexpr Conv2DShape q15{32, 32, 15, 15, 3, 3, 2, 2, 0, 0};
  constexpr Conv2DShape f13{24, 80, 13, 13, 5, 5, 2, 2, 2, 2};
  static_assert(amx_dgrad_s2_shape<q15>() && amx_dgrad_s2_shape<f13>());
  check_shape<q15, kAllTiled>(3, 35);
  check_shape<f13, kAllTiled>(4, 36);
}

// Stems folded into a 1-row kernel over (channel, kernel row, column
// parity) channels (conv_stem_amx.h), forward and weight gradient on the
// rows kernels: resnet50's 3-channel 7x7 on an odd-width plane, a 1-channel
// one (14 folded channels, 40 outputs), a 4-channel 5x5 without padding.
TEST(ConvBf16, AmxStems) {
  using rnc::cpu::detail::amx_stem_fold_shape;
  constexpr Conv2DShape r50{3, 64, 30, 27, 7, 7, 2, 2, 3, 3};
  constexpr Conv2DShape one{1, 40, 24, 24, 7, 7, 2, 2, 3, 3};
  constexpr Conv2DShape p0{4, 32, 21, 21, 5, 5, 2, 2, 0, 0};
  static_assert(amx_stem_fold_shape<r50>() && amx_stem_fold_shape<one>() &&
                amx_stem_fold_shape<p0>());
  check_shape<r50, kFolded>(3, 37);
  check_shape<one, kFolded>(2, 38);
  check_shape<p0, kFolded>(2, 39);
}

// The shapes the tiles do not take: a stem (1 input channel: GEMM forward,
// direct weight gradient), a grouped conv (direct kernel), a strided 1x1
// with few input channels (GEMM, col2im data gradient), a large plane (GEMM
// forward and data gradient, tiled weight gradient).
TEST(ConvBf16, RoundedOperandsOffTheTiles) {
  constexpr Conv2DShape stem{.in_channels = 1, .out_channels = 16, .in_h = 12,
                             .in_w = 12, .kernel_h = 3, .kernel_w = 3,
                             .pad_h = 1, .pad_w = 1};
  constexpr Conv2DShape grouped{.in_channels = 16, .out_channels = 16,
                                .in_h = 6, .in_w = 6, .kernel_h = 3,
                                .kernel_w = 3, .pad_h = 1, .pad_w = 1,
                                .groups = 4};
  constexpr Conv2DShape narrow{.in_channels = 4, .out_channels = 24,
                               .in_h = 9, .in_w = 9, .kernel_h = 1,
                               .kernel_w = 1, .stride_h = 2, .stride_w = 2};
  constexpr Conv2DShape large{.in_channels = 8, .out_channels = 16,
                              .in_h = 20, .in_w = 20, .kernel_h = 3,
                              .kernel_w = 3, .pad_h = 1, .pad_w = 1};
  check_shape<stem, kNoneTiled>(5, 7);
  check_shape<grouped, kNoneTiled>(3, 8);
  check_shape<narrow, kNoneTiled>(4, 9);
  check_shape<large, kMixed>(3, 10);
}

} // namespace

int main(int argc, char **argv) {
  if (!rnc::cpu::cpu_has_avx512_bf16()) {
    std::printf("SKIPPED: this CPU lacks AVX512-BF16 (kernel-tests-bf16 "
                "needs it)\n");
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

#else

int main() {
  std::printf("SKIPPED: the compiler's -march=native has no AVX512-BF16 "
              "(kernel-tests-bf16 needs it)\n");
  return 77;
}

#endif
