// conv2d against direct float64 loops and finite differences.
#include <gtest/gtest.h>
#include <omp.h>

#include "bench_shapes.h"
#include "kernels/cpu/conv.h"
#include "test_util.h"

namespace {

using rnc::Conv2DShape;

// Direct convolution in float64: y[n, o, oh, ow] = b[o] + sum x * w.
template <Conv2DShape S, class T>
std::vector<double> conv_ref(const std::vector<T> &x, const std::vector<T> &w,
                             const T *b, int N) {
  constexpr int OH = S.out_h(), OW = S.out_w(), Cg = S.in_per_group(),
                Mg = S.out_per_group();
  std::vector<double> y(size_t(N) * S.out_channels * OH * OW);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < S.out_channels; ++o) {
      int g = o / Mg;
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          double s = b ? double(b[o]) : 0.0;
          for (int c = 0; c < Cg; ++c)
            for (int kh = 0; kh < S.kernel_h; ++kh)
              for (int kw = 0; kw < S.kernel_w; ++kw) {
                int ih = oh * S.stride_h - S.pad_h + kh * S.dilation_h;
                int iw = ow * S.stride_w - S.pad_w + kw * S.dilation_w;
                if (ih < 0 || ih >= S.in_h || iw < 0 || iw >= S.in_w)
                  continue;
                double xv =
                    x[((size_t(n) * S.in_channels + g * Cg + c) * S.in_h + ih) *
                          S.in_w +
                      iw];
                double wv =
                    w[((size_t(o) * Cg + c) * S.kernel_h + kh) * S.kernel_w +
                      kw];
                s += xv * wv;
              }
          y[((size_t(n) * S.out_channels + o) * OH + oh) * OW + ow] = s;
        }
    }
  return y;
}

template <Conv2DShape S> size_t x_size(int N) {
  return size_t(N) * S.in_channels * S.in_plane();
}
template <Conv2DShape S> size_t y_size(int N) {
  return size_t(N) * S.out_channels * S.out_plane();
}

// Forward without and with bias, with a residual+ReLU epilogue, and the
// statistics variant.
template <Conv2DShape S> void check_forward(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message()
               << "C=" << S.in_channels << " O=" << S.out_channels << " "
               << S.in_h << "x" << S.in_w << " k=" << S.kernel_h << "x"
               << S.kernel_w << " s=" << S.stride_h << " p=" << S.pad_h
               << " d=" << S.dilation_h << " g=" << S.groups << " N=" << N);
  auto x = kt::random_vec<float>(x_size<S>(N), seed);
  auto w = kt::random_vec<float>(S.weight_size(), seed + 1);
  auto b = kt::random_vec<float>(S.out_channels, seed + 2);

  auto y = kt::poisoned<float>(y_size<S>(N));
  rnc::cpu::conv2d<S>(y.data(), x.data(), w.data(), nullptr, N);
  EXPECT_LT(kt::rel_err(y, conv_ref<S>(x, w, (const float *)nullptr, N)), 1e-5)
      << "no bias";

  auto ref = conv_ref<S>(x, w, b.data(), N);
  y = kt::poisoned<float>(y_size<S>(N));
  rnc::cpu::conv2d<S>(y.data(), x.data(), w.data(), b.data(), N);
  EXPECT_LT(kt::rel_err(y, ref), 1e-5) << "bias";

  // Epilogue: relu(conv + bias + residual), checking the (n, c, idx) it is
  // handed.
  auto res = kt::random_vec<float>(y_size<S>(N), seed + 3);
  using Epi = rnc::cpu::Compose<rnc::cpu::ResidualAddEpilogue<float>,
                                rnc::cpu::ReluEpilogue>;
  Epi epi{{res.data(), S.out_channels, S.out_plane()}, {}};
  y = kt::poisoned<float>(y_size<S>(N));
  rnc::cpu::conv2d<S>(y.data(), x.data(), w.data(), b.data(), N, epi);
  std::vector<double> ref_epi(ref.size());
  for (size_t i = 0; i < ref.size(); ++i)
    ref_epi[i] = std::max(0.0, ref[i] + res[i]);
  EXPECT_LT(kt::rel_err(y, ref_epi), 1e-5) << "epilogue";

  // Statistics of the stored output (here: after the epilogue).
  std::vector<float> sum(S.out_channels, NAN), sumsq(S.out_channels, NAN);
  y = kt::poisoned<float>(y_size<S>(N));
  rnc::cpu::conv2d_bn_train_stats<S>(y.data(), sum.data(), sumsq.data(),
                                     x.data(), w.data(), b.data(), N, epi);
  EXPECT_LT(kt::rel_err(y, ref_epi), 1e-5) << "stats: output";
  std::vector<double> rs(S.out_channels, 0.0), rss(S.out_channels, 0.0);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < S.out_channels; ++c)
      for (long p = 0; p < S.out_plane(); ++p) {
        double v =
            ref_epi[(size_t(n) * S.out_channels + c) * S.out_plane() + p];
        rs[c] += v;
        rss[c] += v * v;
      }
  EXPECT_LT(kt::rel_err(sum, rs), 1e-5) << "stats: sum";
  EXPECT_LT(kt::rel_err(sumsq, rss), 1e-5) << "stats: sum of squares";
}

TEST(Conv2D, ForwardMatchesReference) {
  // Generic 3x3, padding, batch 3.
  check_forward<Conv2DShape{.in_channels = 8,
                            .out_channels = 16,
                            .in_h = 9,
                            .in_w = 9,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1}>(3, 1);
  // Stride 2, non-square input, batch 1.
  check_forward<Conv2DShape{.in_channels = 5,
                            .out_channels = 7,
                            .in_h = 11,
                            .in_w = 8,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .stride_h = 2,
                            .stride_w = 2,
                            .pad_h = 1,
                            .pad_w = 1}>(1, 2);
  // Dilation 2.
  check_forward<Conv2DShape{.in_channels = 6,
                            .out_channels = 6,
                            .in_h = 10,
                            .in_w = 12,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 2,
                            .pad_w = 2,
                            .dilation_h = 2,
                            .dilation_w = 2}>(2, 3);
  // Groups 2.
  check_forward<Conv2DShape{.in_channels = 8,
                            .out_channels = 12,
                            .in_h = 7,
                            .in_w = 7,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1,
                            .groups = 2}>(3, 4);
  // Depthwise, stride 2.
  check_forward<Conv2DShape{.in_channels = 8,
                            .out_channels = 8,
                            .in_h = 9,
                            .in_w = 10,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .stride_h = 2,
                            .stride_w = 2,
                            .pad_h = 1,
                            .pad_w = 1,
                            .groups = 8}>(2, 5);
  // 1x1 stride 1 (no im2col).
  check_forward<Conv2DShape{.in_channels = 16,
                            .out_channels = 32,
                            .in_h = 7,
                            .in_w = 5,
                            .kernel_h = 1,
                            .kernel_w = 1}>(3, 6);
  // 1x1 with a plane of >= 512 outputs: one image per GEMM, read in place.
  check_forward<Conv2DShape{.in_channels = 16,
                            .out_channels = 8,
                            .in_h = 24,
                            .in_w = 24,
                            .kernel_h = 1,
                            .kernel_w = 1}>(2, 12);
  // 1x1 stride 2 (ResNet downsample).
  check_forward<Conv2DShape{.in_channels = 8,
                            .out_channels = 16,
                            .in_h = 9,
                            .in_w = 9,
                            .kernel_h = 1,
                            .kernel_w = 1,
                            .stride_h = 2,
                            .stride_w = 2}>(2, 7);
  // 7x7 stride 2 pad 3 stem, non-square.
  check_forward<Conv2DShape{.in_channels = 3,
                            .out_channels = 8,
                            .in_h = 23,
                            .in_w = 19,
                            .kernel_h = 7,
                            .kernel_w = 7,
                            .stride_h = 2,
                            .stride_w = 2,
                            .pad_h = 3,
                            .pad_w = 3}>(2, 8);
  // Non-square kernel, unequal strides and padding, grouped 1x3.
  check_forward<Conv2DShape{.in_channels = 4,
                            .out_channels = 6,
                            .in_h = 8,
                            .in_w = 9,
                            .kernel_h = 1,
                            .kernel_w = 3,
                            .stride_h = 1,
                            .stride_w = 2,
                            .pad_h = 0,
                            .pad_w = 1,
                            .groups = 2}>(3, 9);
  // Grouped, stride 2 and dilation 2 together (direct kernel: phase-split
  // columns).
  check_forward<Conv2DShape{.in_channels = 4,
                            .out_channels = 6,
                            .in_h = 13,
                            .in_w = 12,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .stride_h = 2,
                            .stride_w = 2,
                            .pad_h = 2,
                            .pad_w = 2,
                            .dilation_h = 2,
                            .dilation_w = 2,
                            .groups = 2}>(2, 13);
  // Depthwise with rows wider than one register block (several chunks per
  // output row).
  check_forward<Conv2DShape{.in_channels = 3,
                            .out_channels = 6,
                            .in_h = 5,
                            .in_w = 150,
                            .kernel_h = 3,
                            .kernel_w = 5,
                            .pad_h = 1,
                            .pad_w = 2,
                            .groups = 3}>(1, 14);
  // Grouped with more than 16 outputs per group (GEMM path).
  check_forward<Conv2DShape{.in_channels = 6,
                            .out_channels = 40,
                            .in_h = 9,
                            .in_w = 8,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1,
                            .groups = 2}>(2, 15);
  // Large enough to cross every GEMM block edge (K > KC, M > MC, plane > NC).
  check_forward<Conv2DShape{.in_channels = 40,
                            .out_channels = 100,
                            .in_h = 60,
                            .in_w = 60,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1}>(1, 10);
  // ResNeXt-like grouped 3x3 at a 7x7 plane.
  check_forward<Conv2DShape{.in_channels = 64,
                            .out_channels = 64,
                            .in_h = 7,
                            .in_w = 7,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1,
                            .groups = 16}>(3, 11);
  // Winograd F(2x2, 3x3) (conv_winograd.h: 3x3/1/1, >= 128 channels, 14-16
  // planes, batch <= 8); an odd plane drops the last tiles' extra row and
  // column.
  check_forward<Conv2DShape{.in_channels = 128,
                            .out_channels = 144,
                            .in_h = 15,
                            .in_w = 14,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1}>(3, 12);
}

// Gradients of L = sum(r * conv(x, w) + b) by central differences in float64.
template <Conv2DShape S> void check_backward(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message()
               << "C=" << S.in_channels << " O=" << S.out_channels << " "
               << S.in_h << "x" << S.in_w << " k=" << S.kernel_h << "x"
               << S.kernel_w << " s=" << S.stride_h << " p=" << S.pad_h
               << " d=" << S.dilation_h << " g=" << S.groups << " N=" << N);
  auto x = kt::random_vec<double>(x_size<S>(N), seed);
  auto w = kt::random_vec<double>(S.weight_size(), seed + 1);
  auto b = kt::random_vec<double>(S.out_channels, seed + 2);
  auto r = kt::random_vec<double>(y_size<S>(N), seed + 3); // dL/dy
  std::vector<double> y(y_size<S>(N));
  auto loss = [&] {
    rnc::cpu::conv2d<S, double>(y.data(), x.data(), w.data(), b.data(), N);
    return kt::dot(r, y);
  };

  auto dx = kt::poisoned<double>(x.size()), dw = kt::poisoned<double>(w.size()),
       db = kt::poisoned<double>(b.size());
  rnc::cpu::conv2d_grad_input<S, double>(dx.data(), r.data(), w.data(), N);
  rnc::cpu::conv2d_grad_weight<S, double>(dw.data(), r.data(), x.data(), N);
  rnc::cpu::conv2d_bias_grad<S, double>(db.data(), r.data(), N);
  EXPECT_LT(kt::rel_err(dx, kt::numeric_grad(x, loss)), 1e-6) << "dx";
  EXPECT_LT(kt::rel_err(dw, kt::numeric_grad(w, loss)), 1e-6) << "dw";
  EXPECT_LT(kt::rel_err(db, kt::numeric_grad(b, loss)), 1e-6) << "db";
}

TEST(Conv2D, BackwardMatchesFiniteDifferences) {
  check_backward<Conv2DShape{.in_channels = 3,
                             .out_channels = 4,
                             .in_h = 6,
                             .in_w = 6,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .pad_h = 1,
                             .pad_w = 1}>(2, 21);
  check_backward<Conv2DShape{.in_channels = 3,
                             .out_channels = 5,
                             .in_h = 7,
                             .in_w = 6,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .stride_h = 2,
                             .stride_w = 2,
                             .pad_h = 1,
                             .pad_w = 1}>(3, 22);
  check_backward<Conv2DShape{.in_channels = 2,
                             .out_channels = 3,
                             .in_h = 8,
                             .in_w = 7,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .pad_h = 2,
                             .pad_w = 2,
                             .dilation_h = 2,
                             .dilation_w = 2}>(2, 23);
  check_backward<Conv2DShape{.in_channels = 4,
                             .out_channels = 6,
                             .in_h = 5,
                             .in_w = 5,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .pad_h = 1,
                             .pad_w = 1,
                             .groups = 2}>(2, 24);
  check_backward<Conv2DShape{.in_channels = 4,
                             .out_channels = 4,
                             .in_h = 6,
                             .in_w = 5,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .stride_h = 2,
                             .stride_w = 2,
                             .pad_h = 1,
                             .pad_w = 1,
                             .groups = 4}>(2, 25);
  check_backward<Conv2DShape{.in_channels = 6,
                             .out_channels = 4,
                             .in_h = 5,
                             .in_w = 4,
                             .kernel_h = 1,
                             .kernel_w = 1}>(3, 26);
  check_backward<Conv2DShape{.in_channels = 4,
                             .out_channels = 6,
                             .in_h = 7,
                             .in_w = 7,
                             .kernel_h = 1,
                             .kernel_w = 1,
                             .stride_h = 2,
                             .stride_w = 2}>(1, 27);
  check_backward<Conv2DShape{.in_channels = 2,
                             .out_channels = 3,
                             .in_h = 9,
                             .in_w = 8,
                             .kernel_h = 5,
                             .kernel_w = 3,
                             .stride_h = 2,
                             .stride_w = 1,
                             .pad_h = 2,
                             .pad_w = 0}>(2, 28);
  check_backward<Conv2DShape{.in_channels = 4,
                             .out_channels = 2,
                             .in_h = 9,
                             .in_w = 8,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .stride_h = 2,
                             .stride_w = 2,
                             .pad_h = 2,
                             .pad_w = 2,
                             .dilation_h = 2,
                             .dilation_w = 2,
                             .groups = 2}>(2, 31);
  check_backward<Conv2DShape{.in_channels = 2,
                             .out_channels = 36,
                             .in_h = 5,
                             .in_w = 5,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .pad_h = 1,
                             .pad_w = 1,
                             .groups = 2}>(1, 32);
  // Planes of >= 512 outputs (one image per GEMM): strided (col2im) and 1x1
  // (transposed forward).
  check_backward<Conv2DShape{.in_channels = 1,
                             .out_channels = 2,
                             .in_h = 50,
                             .in_w = 50,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .stride_h = 2,
                             .stride_w = 2,
                             .pad_h = 1,
                             .pad_w = 1}>(1, 29);
  check_backward<Conv2DShape{.in_channels = 2,
                             .out_channels = 3,
                             .in_h = 24,
                             .in_w = 24,
                             .kernel_h = 1,
                             .kernel_w = 1}>(1, 30);
}

// Same results with one thread as with several (tasks and image chunks split
// differently).
template <Conv2DShape S> void check_thread_invariance(int N) {
  auto x = kt::random_vec<float>(x_size<S>(N), 31),
       w = kt::random_vec<float>(S.weight_size(), 32);
  auto dy = kt::random_vec<float>(y_size<S>(N), 33);
  auto run = [&](int threads) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> y(y_size<S>(N)), s(S.out_channels), ss(S.out_channels),
        dx(x.size()), dw(w.size());
    rnc::cpu::conv2d_bn_train_stats<S>(y.data(), s.data(), ss.data(), x.data(),
                                       w.data(), nullptr, N);
    rnc::cpu::conv2d_grad_input<S>(dx.data(), dy.data(), w.data(), N);
    rnc::cpu::conv2d_grad_weight<S>(dw.data(), dy.data(), x.data(), N);
    omp_set_num_threads(saved);
    y.insert(y.end(), s.begin(), s.end());
    y.insert(y.end(), ss.begin(), ss.end());
    y.insert(y.end(), dx.begin(), dx.end());
    y.insert(y.end(), dw.begin(), dw.end());
    return y;
  };
  auto one = run(1);
  EXPECT_EQ(one, run(2));
  EXPECT_EQ(one, run(3));
  EXPECT_EQ(one, run(2));
}

TEST(Conv2D, BitIdenticalForAnyThreadCount) {
  // Winograd (forward, the flipped data gradient, the weight gradient).
  check_thread_invariance<Conv2DShape{.in_channels = 128,
                                      .out_channels = 128,
                                      .in_h = 14,
                                      .in_w = 14,
                                      .kernel_h = 3,
                                      .kernel_w = 3,
                                      .pad_h = 1,
                                      .pad_w = 1}>(3);
  check_thread_invariance<Conv2DShape{.in_channels = 16,
                                      .out_channels = 32,
                                      .in_h = 20,
                                      .in_w = 20,
                                      .kernel_h = 3,
                                      .kernel_w = 3,
                                      .pad_h = 1,
                                      .pad_w = 1}>(3);
  // 14x14 planes: 4 chunks of 3 images on 1 or 2 threads, 3 chunks of 4 on 3.
  check_thread_invariance<Conv2DShape{.in_channels = 16,
                                      .out_channels = 24,
                                      .in_h = 14,
                                      .in_w = 14,
                                      .kernel_h = 3,
                                      .kernel_w = 3,
                                      .pad_h = 1,
                                      .pad_w = 1}>(12);
  check_thread_invariance<Conv2DShape{.in_channels = 8,
                                      .out_channels = 16,
                                      .in_h = 28,
                                      .in_w = 28,
                                      .kernel_h = 3,
                                      .kernel_w = 3,
                                      .stride_h = 2,
                                      .stride_w = 2,
                                      .pad_h = 1,
                                      .pad_w = 1}>(12);
}

// One image per GEMM (planes of 512 positions or more), no bias, no
// epilogue: the BN sums are taken in the GEMM's stores (conv_store.h), and
// large outputs stored non-temporally. The same bits as the plain
// convolution followed by reduce_sum_sumsq over each stored row, summed
// over images in order; on 1, 2 and 3 threads (one image: the GEMM itself
// split, by rows). With a bias and an epilogue (the pass after the GEMM),
// the same bits as the plain convolution, the bias, the epilogue and the
// sums done one after the other.
template <Conv2DShape S> void check_stats_in_stores(int N, bool epilogue) {
  SCOPED_TRACE(testing::Message()
               << "C=" << S.in_channels << " O=" << S.out_channels << " "
               << S.in_h << "x" << S.in_w << " k=" << S.kernel_h
               << " s=" << S.stride_h << " N=" << N << " epilogue "
               << epilogue);
  constexpr int O = S.out_channels;
  constexpr long P = S.out_plane();
  auto x = kt::random_vec<float>(x_size<S>(N), 61),
       w = kt::random_vec<float>(S.weight_size(), 62),
       b = kt::random_vec<float>(O, 63),
       res = kt::random_vec<float>(y_size<S>(N), 64);
  using Epi = rnc::cpu::Compose<rnc::cpu::ResidualAddEpilogue<float>,
                                rnc::cpu::ReluEpilogue>;
  const Epi epi{{res.data(), O, P}, {}};
  std::vector<float> want(y_size<S>(N)), want_s(O, 0.0f), want_ss(O, 0.0f);
  rnc::cpu::conv2d<S>(want.data(), x.data(), w.data(), nullptr, N);
  if (epilogue)
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < O; ++c)
        for (long i = 0; i < P; ++i) {
          float &v = want[(size_t(n) * O + c) * P + i];
          v = std::max(0.0f, (v + b[c]) + res[(size_t(n) * O + c) * P + i]);
        }
  for (int c = 0; c < O; ++c)
    for (int n = 0; n < N; ++n) {
      float s, ss;
      rnc::cpu::reduce_sum_sumsq(want.data() + (size_t(n) * O + c) * P, P, &s,
                                 &ss);
      want_s[c] += s;
      want_ss[c] += ss;
    }
  int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    kt::AlignedPoisoned y(want.size()); // the streamed stores need it
    auto s = kt::poisoned<float>(O), ss = kt::poisoned<float>(O);
    if (epilogue)
      rnc::cpu::conv2d_bn_train_stats<S>(y.data(), s.data(), ss.data(),
                                         x.data(), w.data(), b.data(), N, epi);
    else
      rnc::cpu::conv2d_bn_train_stats<S>(y.data(), s.data(), ss.data(),
                                         x.data(), w.data(), nullptr, N);
    EXPECT_EQ(y.vec(), want) << threads << " threads";
    EXPECT_EQ(s, want_s) << threads << " threads";
    EXPECT_EQ(ss, want_ss) << threads << " threads";
  }
  omp_set_num_threads(saved);
}

template <Conv2DShape S> void check_stats_in_stores(int N) {
  check_stats_in_stores<S>(N, false);
  check_stats_in_stores<S>(N, true);
}

TEST(Conv2D, StatsInTheStores) {
  // 1x1: 529 positions (a tail of 17 after the vector steps, a last panel
  // 1 column wide, rows not 64-byte aligned: stored normally), 20 output
  // rows (a last micro-tile of 4), K = 300 in two blocks (the stores of the
  // second add to the first's).
  check_stats_in_stores<Conv2DShape{
      .in_channels = 300, .out_channels = 20, .in_h = 23, .in_w = 23}>(3);
  check_stats_in_stores<Conv2DShape{
      .in_channels = 300, .out_channels = 20, .in_h = 23, .in_w = 23}>(1);
  // 1x1 to 544 channels at 24x24: 1.2 MB an image, streamed, K = 300 in
  // two blocks (the last one reads the first's stores back).
  check_stats_in_stores<Conv2DShape{
      .in_channels = 300, .out_channels = 544, .in_h = 24, .in_w = 24}>(2);
  // 1x1 stride 2 (the im2col packer), 24x24 out: no tail.
  check_stats_in_stores<Conv2DShape{.in_channels = 16,
                                    .out_channels = 24,
                                    .in_h = 48,
                                    .in_w = 48,
                                    .kernel_h = 1,
                                    .kernel_w = 1,
                                    .stride_h = 2,
                                    .stride_w = 2}>(2);
  // 3x3 at 6x6, batch 64: the image tiles (with the epilogue: the tiles
  // store without it, a pass per row applies it and takes the sums).
  check_stats_in_stores<conv3x3(16, 6)>(64);
  // A 7x7 stride 2 stem on 3 channels, 32x32 out.
  check_stats_in_stores<Conv2DShape{3, 16, 64, 64, 7, 7, 2, 2, 3, 3}>(2);
}

// 1x1 layers on planes under 512 positions take several images a GEMM,
// whose stores go straight into each image's planes (conv_store.h:
// ConvStoreImages; a vector crossing two images stored in two parts, the
// edge tiles copied), and whose B rows are packed a channel plane at a
// time; their data gradient is the same GEMM on transposed weights. Forward
// (conv2d, conv2d_bn_train_stats) and data gradient against float64 loops
// (relative error 1e-5), the sums bit for bit as in StatsInTheStores, and
// every output bit-identical on 1, 2 and 3 threads.
template <Conv2DShape S> void check_pointwise_images(int N) {
  static_assert(S.pointwise() && S.out_plane() < 512);
  SCOPED_TRACE(testing::Message()
               << "C=" << S.in_channels << " O=" << S.out_channels << " "
               << S.in_h << "x" << S.in_w << " N=" << N);
  check_forward<S>(N, 50);
  check_stats_in_stores<S>(N, false);
  check_thread_invariance<S>(N);
  constexpr int C = S.in_channels, O = S.out_channels;
  constexpr long P = S.in_plane();
  auto w = kt::random_vec<float>(S.weight_size(), 51);
  auto dy = kt::random_vec<float>(y_size<S>(N), 52);
  std::vector<double> want(x_size<S>(N), 0.0);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o)
      for (int c = 0; c < C; ++c)
        for (long p = 0; p < P; ++p)
          want[(size_t(n) * C + c) * P + p] +=
              double(w[size_t(o) * C + c]) * dy[(size_t(n) * O + o) * P + p];
  auto dx = kt::poisoned<float>(x_size<S>(N));
  rnc::cpu::conv2d_grad_input<S>(dx.data(), dy.data(), w.data(), N);
  EXPECT_LT(kt::rel_err(dx, want), 1e-5) << "data gradient";
}

TEST(Conv2D, PointwiseImagesStoredInTheirPlanes) {
  // 7x7: 49 positions, a vector in three crossing into the next image;
  // 100 and 300 rows (last micro-tiles of 4), K = 300 in two blocks (the
  // second adds to the first's partial sums in the buffer), 245 columns (a
  // last panel 5 wide).
  check_pointwise_images<conv1x1(300, 100, 7)>(5);
  // 14x14: 196 positions, chunks of 3 and 4 images (resnet50's @14 layers).
  check_pointwise_images<conv1x1(64, 48, 14)>(7);
  // 4x4: a vector an image, 40 images a GEMM.
  check_pointwise_images<conv1x1(32, 40, 4)>(40);
}

// 1x1 stride-2 projections on the GEMM: Im2colB packs each output row's run
// (the even columns of an input row) for every channel (the forward against
// float64 loops, with bias, epilogue and BN sums: check_forward), and the
// same bits on 1, 2 and 3 threads.
TEST(Conv2D, ProjectionRowsPacked) {
  // 14x14 -> 7x7: runs of 7, panels of 48 ending mid-row and mid-image (5
  // images, 245 columns, a last panel 5 wide), K = 300 in two blocks.
  check_forward<conv1x1(300, 40, 14, 2)>(5, 91);
  // 24x24 -> 12x12 (d2l_resnet18 at 96x96): runs of 12, 4 a panel.
  check_forward<conv1x1(16, 24, 24, 2)>(3, 92);
  // 56x56 -> 28x28 (resnet50): one image a GEMM, runs of 28 (a vector and
  // a masked one).
  check_forward<conv1x1(8, 16, 56, 2)>(2, 93);
  // Odd, non-square: 9x11 -> 5x6, the last input column read.
  check_forward<Conv2DShape{12, 20, 9, 11, 1, 1, 2, 2}>(4, 94);
  check_thread_invariance<conv1x1(300, 40, 14, 2)>(5);
}

// conv2d_grad_input with a fan-in epilogue (residual gradient added, ReLU
// mask) equals the plain kernel followed by the add and the mask, bit for bit:
// the epilogue sees the same final sums (rn.conv2d_grad_input_fanin).
template <Conv2DShape S> void check_backward_data_epilogue(int N) {
  SCOPED_TRACE(testing::Message() << "C=" << S.in_channels
                                  << " O=" << S.out_channels << " s="
                                  << S.stride_h << " g=" << S.groups);
  auto w = kt::random_vec<float>(S.weight_size(), 41);
  auto dy = kt::random_vec<float>(y_size<S>(N), 42);
  auto addend = kt::random_vec<float>(x_size<S>(N), 43);
  auto relu = kt::random_vec<float>(x_size<S>(N), 44); // about half <= 0
  std::vector<float> want(x_size<S>(N));
  rnc::cpu::conv2d_grad_input<S>(want.data(), dy.data(), w.data(), N);
  for (size_t i = 0; i < want.size(); ++i)
    want[i] = relu[i] > 0 ? want[i] + addend[i] : 0.0f;
  constexpr long plane = S.in_plane();
  auto got = kt::poisoned<float>(want.size());
  rnc::cpu::conv2d_grad_input<S>(
      got.data(), dy.data(), w.data(), N,
      rnc::cpu::Compose<rnc::cpu::ResidualAddEpilogue<float>,
                        rnc::cpu::ReluMaskEpilogue<float>>{
                        rnc::cpu::ResidualAddEpilogue<float>{
                            addend.data(), S.in_channels, plane},
                        rnc::cpu::ReluMaskEpilogue<float>{
                            relu.data(), S.in_channels, plane}});
  EXPECT_EQ(got, want);
}

TEST(Conv2D, BackwardDataFanInEpilogue) {
  // Stride 1: the transposed forward GEMM path, K = 64*9 over several blocks.
  check_backward_data_epilogue<Conv2DShape{.in_channels = 16,
                                           .out_channels = 64,
                                           .in_h = 10,
                                           .in_w = 10,
                                           .kernel_h = 3,
                                           .kernel_w = 3,
                                           .pad_h = 1,
                                           .pad_w = 1}>(3);
  // Strided and grouped: the col2im path.
  check_backward_data_epilogue<Conv2DShape{.in_channels = 8,
                                           .out_channels = 12,
                                           .in_h = 9,
                                           .in_w = 9,
                                           .kernel_h = 3,
                                           .kernel_w = 3,
                                           .stride_h = 2,
                                           .stride_w = 2,
                                           .pad_h = 1,
                                           .pad_w = 1,
                                           .groups = 4}>(5);
  // 1x1 stride 2 (a downsampling shortcut), small planes chunked.
  check_backward_data_epilogue<Conv2DShape{.in_channels = 16,
                                           .out_channels = 32,
                                           .in_h = 8,
                                           .in_w = 8,
                                           .kernel_h = 1,
                                           .kernel_w = 1,
                                           .stride_h = 2,
                                           .stride_w = 2}>(6);
}

// Which layers the Winograd kernel takes (conv_winograd.h), and its data
// gradient (the forward on flipped weights) against the float64 kernels
// (themselves checked against finite differences above).
TEST(Conv2D, WinogradDispatch) {
  using rnc::cpu::detail::use_winograd;
  using rnc::cpu::detail::winograd_batch_ok;
  constexpr Conv2DShape k3{.in_channels = 128, .out_channels = 256,
                           .in_h = 14, .in_w = 16, .kernel_h = 3,
                           .kernel_w = 3, .pad_h = 1, .pad_w = 1};
  EXPECT_TRUE((use_winograd<k3, float>()));
  EXPECT_FALSE((use_winograd<k3, double>()));
  constexpr Conv2DShape narrow{.in_channels = 64, .out_channels = 128,
                               .in_h = 14, .in_w = 14, .kernel_h = 3,
                               .kernel_w = 3, .pad_h = 1, .pad_w = 1};
  EXPECT_FALSE((use_winograd<narrow, float>()));
  constexpr Conv2DShape small{.in_channels = 512, .out_channels = 512,
                              .in_h = 7, .in_w = 7, .kernel_h = 3,
                              .kernel_w = 3, .pad_h = 1, .pad_w = 1};
  EXPECT_FALSE((use_winograd<small, float>()));
  constexpr Conv2DShape large{.in_channels = 128, .out_channels = 128,
                              .in_h = 28, .in_w = 28, .kernel_h = 3,
                              .kernel_w = 3, .pad_h = 1, .pad_w = 1};
  EXPECT_FALSE((use_winograd<large, float>()));
  constexpr Conv2DShape strided{.in_channels = 128, .out_channels = 128,
                                .in_h = 14, .in_w = 14, .kernel_h = 3,
                                .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                                .pad_h = 1, .pad_w = 1};
  EXPECT_FALSE((use_winograd<strided, float>()));
  EXPECT_TRUE(winograd_batch_ok(1));
  EXPECT_TRUE(winograd_batch_ok(8));
  EXPECT_FALSE(winograd_batch_ok(9));
}

// The pointwise weight gradient's two GEMM forms (conv.h,
// conv2d_pointwise_backward_weight: dw directly, or transposed and copied
// when Co > Ci < 128) against a float64 sum; also strided 1x1 layers.
template <Conv2DShape S> void check_pointwise_weight_grad(int N) {
  SCOPED_TRACE(testing::Message() << S.in_channels << "->" << S.out_channels);
  auto x = kt::random_vec<float>(x_size<S>(N), 61);
  auto dy = kt::random_vec<float>(y_size<S>(N), 62);
  auto dw = kt::poisoned<float>(S.weight_size());
  rnc::cpu::conv2d_grad_weight<S>(dw.data(), dy.data(), x.data(), N);
  constexpr long P = S.out_plane(), Pin = S.in_plane();
  std::vector<double> ref(S.weight_size(), 0.0);
  for (int n = 0; n < N; ++n)
    for (int co = 0; co < S.out_channels; ++co)
      for (int ci = 0; ci < S.in_channels; ++ci)
        for (long p = 0; p < P; ++p) {
          // Output (oh, ow) reads input (oh * stride, ow * stride).
          const long q =
              p / S.out_w() * S.stride_h * S.in_w + p % S.out_w() * S.stride_w;
          ref[size_t(co) * S.in_channels + ci] +=
              double(dy[(size_t(n) * S.out_channels + co) * P + p]) *
              x[(size_t(n) * S.in_channels + ci) * Pin + q];
        }
  EXPECT_LT(kt::rel_err(dw, ref), 1e-5);
}

TEST(Conv2D, PointwiseWeightGradient) {
  check_pointwise_weight_grad<Conv2DShape{.in_channels = 128,
                                          .out_channels = 200,
                                          .in_h = 5,
                                          .in_w = 4}>(3);
  check_pointwise_weight_grad<Conv2DShape{.in_channels = 64,
                                          .out_channels = 144,
                                          .in_h = 3,
                                          .in_w = 7}>(2);
  check_pointwise_weight_grad<Conv2DShape{.in_channels = 160,
                                          .out_channels = 96,
                                          .in_h = 6,
                                          .in_w = 6}>(2);
  // Enough positions for the tiles (N * plane >= 1024), which stride-1 1x1
  // layers leave to the GEMM.
  check_pointwise_weight_grad<Conv2DShape{.in_channels = 136,
                                          .out_channels = 272,
                                          .in_h = 13,
                                          .in_w = 13}>(7);
}

// The in-place form (conv_1x1_wgrad.h: the wider operand broadcast
// from its planes, the narrower one in 64-channel panels): dw directly (the
// inputs the narrower side) and transposed (the outputs), a last strip of
// fewer than 6 rows, planes in one and in two blocks, stride 2 (x's
// positions gathered); against the float64 sum, and the same bits with one
// thread as with two.
template <Conv2DShape S> void check_pointwise_weight_grad_in_place(int N) {
  static_assert(rnc::cpu::detail::use_1x1_wgrad_in_place<S, float>());
  check_pointwise_weight_grad<S>(N);
  auto x = kt::random_vec<float>(x_size<S>(N), 63);
  auto dy = kt::random_vec<float>(y_size<S>(N), 64);
  auto run = [&](int threads) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto dw = kt::poisoned<float>(S.weight_size());
    rnc::cpu::conv2d_grad_weight<S>(dw.data(), dy.data(), x.data(), N);
    omp_set_num_threads(saved);
    return dw;
  };
  EXPECT_EQ(run(1), run(2));
}

TEST(Conv2D, PointwiseWeightGradientInPlace) {
  // 64 inputs (panels) < 104 outputs (in place, 104 = 17 x 6 + 2), 14x14.
  check_pointwise_weight_grad_in_place<conv1x1(64, 104, 14)>(3);
  // 200 inputs in place > 64 outputs in panels (dw transposed), 16x16.
  check_pointwise_weight_grad_in_place<conv1x1(200, 64, 16)>(2);
  // 128 each, a 30x30 plane in two blocks of 450 positions.
  check_pointwise_weight_grad_in_place<conv1x1(128, 128, 30)>(2);
  // Stride 2: 28x28 -> 14x14, and 29x29 -> 15x15 (the last input row and
  // column unread) with 200 outputs in place.
  check_pointwise_weight_grad_in_place<conv1x1(64, 128, 28, 2)>(2);
  check_pointwise_weight_grad_in_place<conv1x1(128, 200, 29, 2)>(2);
  // Not taken: planes under 196 positions, a narrower side that is not a
  // whole number of 64-channel panels, strided layers with fewer outputs
  // than inputs, padding, doubles.
  using rnc::cpu::detail::use_1x1_wgrad_in_place;
  static_assert(!use_1x1_wgrad_in_place<conv1x1(512, 2048, 7), float>());
  static_assert(!use_1x1_wgrad_in_place<conv1x1(96, 256, 28), float>());
  static_assert(!use_1x1_wgrad_in_place<conv1x1(256, 128, 56, 2), float>());
  static_assert(!use_1x1_wgrad_in_place<Conv2DShape{.in_channels = 64,
                                                    .out_channels = 128,
                                                    .in_h = 14,
                                                    .in_w = 14,
                                                    .pad_h = 1,
                                                    .pad_w = 1},
                                        float>());
  static_assert(!use_1x1_wgrad_in_place<conv1x1(64, 256, 56), double>());
}

// Outputs of 1 MB or more an image are streamed past the cache when they
// are 64-byte aligned (a plain 1x1 forward: the GEMM's full tiles; a
// strided data gradient: each channel's plane built in a buffer, then
// copied out) and stored normally otherwise: the same values either way,
// bit for bit, and the same as the float64 reference.
template <Conv2DShape S> void check_streamed(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "C=" << S.in_channels
                                  << " O=" << S.out_channels << " s="
                                  << S.stride_h << " N=" << N);
  auto x = kt::random_vec<float>(x_size<S>(N), seed);
  auto w = kt::random_vec<float>(S.weight_size(), seed + 1);
  auto dy = kt::random_vec<float>(y_size<S>(N), seed + 2);
  // Unaligned: one float past a 64-byte boundary.
  kt::AlignedPoisoned ya(y_size<S>(N)), yu(y_size<S>(N) + 1);
  rnc::cpu::conv2d<S>(ya.data(), x.data(), w.data(), nullptr, N);
  rnc::cpu::conv2d<S>(yu.data() + 1, x.data(), w.data(), nullptr, N);
  std::vector<float> got_y = ya.vec(), want_y = yu.vec();
  want_y.erase(want_y.begin());
  EXPECT_EQ(got_y, want_y) << "forward";
  EXPECT_LT(kt::rel_err(got_y, conv_ref<S>(x, w, (const float *)nullptr, N)),
            1e-5)
      << "forward vs the float64 reference";

  kt::AlignedPoisoned da(x_size<S>(N)), du(x_size<S>(N) + 1);
  rnc::cpu::conv2d_grad_input<S>(da.data(), dy.data(), w.data(), N);
  rnc::cpu::conv2d_grad_input<S>(du.data() + 1, dy.data(), w.data(), N);
  std::vector<float> got_dx = da.vec(), want_dx = du.vec();
  want_dx.erase(want_dx.begin());
  EXPECT_EQ(got_dx, want_dx) << "data gradient";
  for (size_t i = 0; i < got_dx.size(); ++i)
    ASSERT_FALSE(std::isnan(got_dx[i])) << "dx[" << i << "] not written";
}

TEST(Conv2D, StreamedOutputs) {
  // 1x1 stride 1 to 288 channels of 30x32: 1.1 MB an image.
  check_streamed<Conv2DShape{
      .in_channels = 24, .out_channels = 288, .in_h = 30, .in_w = 32}>(2, 81);
  // 1x1 stride 2 from 128 channels of 48x48: dx 1.2 MB an image, every
  // other row and column zero.
  check_streamed<conv1x1(128, 16, 48, 2)>(2, 82);
}

// fp32 1x1 convolutions stay on the GEMM at every batch (conv_tiled.h).
TEST(Conv2D, PointwiseOnGemm) {
  using rnc::cpu::detail::pointwise_on_gemm;
  constexpr Conv2DShape s2{.in_channels = 64, .out_channels = 128,
                           .in_h = 14, .in_w = 14, .stride_h = 2,
                           .stride_w = 2};
  constexpr Conv2DShape k3{.in_channels = 64, .out_channels = 64,
                           .in_h = 7, .in_w = 7, .kernel_h = 3,
                           .kernel_w = 3, .pad_h = 1, .pad_w = 1};
  EXPECT_TRUE((pointwise_on_gemm<s2, float>()));
  EXPECT_FALSE((pointwise_on_gemm<k3, float>()));
}

TEST(Conv2D, WinogradDataGradient) {
  constexpr Conv2DShape S{.in_channels = 136, .out_channels = 128,
                          .in_h = 15, .in_w = 16, .kernel_h = 3,
                          .kernel_w = 3, .pad_h = 1, .pad_w = 1};
  constexpr int N = 2;
  auto w = kt::random_vec<float>(S.weight_size(), 41);
  auto dy = kt::random_vec<float>(y_size<S>(N), 42);
  auto dx = kt::poisoned<float>(x_size<S>(N));
  rnc::cpu::conv2d_grad_input<S>(dx.data(), dy.data(), w.data(), N);
  auto wd = kt::cast<float, double>(w), dyd = kt::cast<float, double>(dy);
  std::vector<double> ref(x_size<S>(N));
  rnc::cpu::conv2d_grad_input<S, double>(ref.data(), dyd.data(), wd.data(), N);
  EXPECT_LT(kt::rel_err(dx, ref), 1e-5);
}

// The Winograd weight gradient (conv_winograd.h: dy and x transformed, 16
// GEMMs over the tiles, G^T dU G) against the float64 GEMM path, on a 15x15
// plane (the last row and column of tiles half outside the plane) and with
// unequal channel counts.
TEST(Conv2D, WinogradWeightGradient) {
  constexpr Conv2DShape S{.in_channels = 144, .out_channels = 128,
                          .in_h = 15, .in_w = 15, .kernel_h = 3,
                          .kernel_w = 3, .pad_h = 1, .pad_w = 1};
  static_assert(rnc::cpu::detail::use_winograd<S, float>());
  constexpr int N = 3;
  auto x = kt::random_vec<float>(x_size<S>(N), 51);
  auto dy = kt::random_vec<float>(y_size<S>(N), 52);
  auto dw = kt::poisoned<float>(S.weight_size());
  rnc::cpu::conv2d_grad_weight<S>(dw.data(), dy.data(), x.data(), N);
  auto xd = kt::cast<float, double>(x), dyd = kt::cast<float, double>(dy);
  std::vector<double> ref(S.weight_size());
  rnc::cpu::conv2d_grad_weight<S, double>(ref.data(), dyd.data(), xd.data(),
                                          N);
  EXPECT_LT(kt::rel_err(dw, ref), 1e-5);
}

} // namespace
