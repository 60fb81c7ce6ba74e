// The tiled conv kernels (conv_tiled.h) against float64 loops: forward with
// bias, epilogue and BN sums, data and weight gradients, at batches that
// take the tiled path (whole tiles of images and a remainder), on 1, 2 and 3
// threads with the same bits.
#include <gtest/gtest.h>
#include <omp.h>

#include "kernels/cpu/conv.h"
#include "test_util.h"

namespace {

using rnc::Conv2DShape;

template <Conv2DShape S> size_t x_size(int N) {
  return size_t(N) * S.in_channels * S.in_plane();
}
template <Conv2DShape S> size_t y_size(int N) {
  return size_t(N) * S.out_channels * S.out_plane();
}

// Calls f(n, o, c, oh, ow, ih, iw, kh, kw) for every multiply-add of the
// convolution whose input lies inside the image (c: an input channel of
// output o's group).
template <Conv2DShape S, class F> void for_each_mac(int N, const F &f) {
  constexpr int Cg = S.in_per_group(), Mg = S.out_per_group();
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < S.out_channels; ++o)
      for (int oh = 0; oh < S.out_h(); ++oh)
        for (int ow = 0; ow < S.out_w(); ++ow)
          for (int c = o / Mg * Cg; c < (o / Mg + 1) * Cg; ++c)
            for (int kh = 0; kh < S.kernel_h; ++kh)
              for (int kw = 0; kw < S.kernel_w; ++kw) {
                int ih = oh * S.stride_h - S.pad_h + kh * S.dilation_h;
                int iw = ow * S.stride_w - S.pad_w + kw * S.dilation_w;
                if (ih >= 0 && ih < S.in_h && iw >= 0 && iw < S.in_w)
                  f(n, o, c, oh, ow, ih, iw, kh, kw);
              }
}

template <Conv2DShape S> struct Refs { std::vector<double> y, dx, dw; };

template <Conv2DShape S, class T>
Refs<S> reference(const std::vector<T> &x, const std::vector<T> &w,
                  const std::vector<T> &b, const std::vector<T> &dy, int N) {
  constexpr int C = S.in_channels, O = S.out_channels, H = S.in_h, W = S.in_w,
                OH = S.out_h(), OW = S.out_w(), K = S.kernel_h, KW = S.kernel_w;
  Refs<S> r{std::vector<double>(y_size<S>(N)),
            std::vector<double>(x_size<S>(N)),
            std::vector<double>(S.weight_size())};
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o)
      for (long q = 0; q < S.out_plane(); ++q)
        r.y[(size_t(n) * O + o) * S.out_plane() + q] = b[o];
  for_each_mac<S>(N, [&](int n, int o, int c, int oh, int ow, int ih, int iw,
                         int kh, int kw) {
    size_t yi = ((size_t(n) * O + o) * OH + oh) * OW + ow;
    size_t xi = ((size_t(n) * C + c) * H + ih) * W + iw;
    size_t wi =
        ((size_t(o) * S.in_per_group() + c % S.in_per_group()) * K + kh) * KW +
        kw;
    r.y[yi] += double(x[xi]) * w[wi];
    r.dx[xi] += double(dy[yi]) * w[wi];
    r.dw[wi] += double(dy[yi]) * x[xi];
  });
  return r;
}

// Every path of a shape against the reference; `allTiled`: the shape must
// take the tiled kernels for all three (else whichever the dispatch picks).
template <Conv2DShape S, class T, bool allTiled = true>
void check(int N, uint64_t seed) {
  if constexpr (allTiled) {
    static_assert(rnc::cpu::detail::use_tiled_forward<S>() &&
                  rnc::cpu::detail::use_tiled_backward_data<S>() &&
                  rnc::cpu::detail::use_tiled_backward_weight<S, T>());
    ASSERT_TRUE((rnc::cpu::detail::tiled_batch_ok<S.out_channels, T>(N) &&
                 rnc::cpu::detail::tiled_batch_ok<S.in_channels, T>(N)));
  }
  SCOPED_TRACE(testing::Message()
               << "C=" << S.in_channels << " O=" << S.out_channels << " "
               << S.in_h << "x" << S.in_w << " k=" << S.kernel_h << "x"
               << S.kernel_w << " s=" << S.stride_h << " p=" << S.pad_h
               << " d=" << S.dilation_h << " N=" << N << " "
               << (sizeof(T) == 4 ? "float" : "double"));
  const double tol = sizeof(T) == 4 ? 2e-6 : 1e-13;
  auto x = kt::random_vec<T>(x_size<S>(N), seed);
  auto w = kt::random_vec<T>(S.weight_size(), seed + 1);
  auto b = kt::random_vec<T>(S.out_channels, seed + 2);
  auto dy = kt::random_vec<T>(y_size<S>(N), seed + 3);
  auto res = kt::random_vec<T>(y_size<S>(N), seed + 4);
  Refs<S> ref = reference<S>(x, w, b, dy, N);
  constexpr int O = S.out_channels;
  constexpr long P = S.out_plane();

  struct Run {
    std::vector<T> y, sum, sumsq, y_epi, dx, dx_epi, dw;
    bool operator==(const Run &) const = default;
  };
  auto run = [&] {
    Run o{kt::poisoned<T>(dy.size()), kt::poisoned<T>(O),
          kt::poisoned<T>(O),         kt::poisoned<T>(dy.size()),
          kt::poisoned<T>(x.size()),  kt::poisoned<T>(x.size()),
          kt::poisoned<T>(w.size())};
    rnc::cpu::conv2d_bn_train_stats<S>(o.y.data(), o.sum.data(), o.sumsq.data(),
                                       x.data(), w.data(), b.data(), N);
    // relu(conv + bias + residual): the (n, c, idx) the epilogue is handed.
    using Epi = rnc::cpu::Compose<rnc::cpu::ResidualAddEpilogue<T>,
                                  rnc::cpu::ReluEpilogue>;
    rnc::cpu::conv2d<S>(o.y_epi.data(), x.data(), w.data(), b.data(), N,
                        Epi{{res.data(), O, P}, {}});
    rnc::cpu::conv2d_grad_input<S>(o.dx.data(), dy.data(), w.data(), N);
    rnc::cpu::conv2d_grad_input<S>(o.dx_epi.data(), dy.data(), w.data(), N,
                                   rnc::cpu::ResidualAddEpilogue<T>{
                                       x.data(), S.in_channels, S.in_plane()});
    rnc::cpu::conv2d_grad_weight<S>(o.dw.data(), dy.data(), x.data(), N);
    return o;
  };
  Run got = run();
  EXPECT_LT(kt::rel_err(got.y, ref.y), tol) << "forward";
  std::vector<double> epi(ref.y.size()), sum(O), sumsq(O);
  for (size_t i = 0; i < epi.size(); ++i)
    epi[i] = std::max(0.0, ref.y[i] + res[i]);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o)
      for (long q = 0; q < P; ++q) {
        double v = got.y[(size_t(n) * O + o) * P + q];
        sum[o] += v;
        sumsq[o] += v * v;
      }
  EXPECT_LT(kt::rel_err(got.y_epi, epi), tol) << "forward + epilogue";
  EXPECT_LT(kt::rel_err(got.sum, sum), 10 * tol) << "BN sums";
  EXPECT_LT(kt::rel_err(got.sumsq, sumsq), 10 * tol) << "BN sums of squares";
  EXPECT_LT(kt::rel_err(got.dx, ref.dx), tol) << "data gradient";
  std::vector<double> dx_epi(ref.dx.size());
  for (size_t i = 0; i < dx_epi.size(); ++i)
    dx_epi[i] = ref.dx[i] + x[i];
  EXPECT_LT(kt::rel_err(got.dx_epi, dx_epi), tol) << "data gradient + add";
  EXPECT_LT(kt::rel_err(got.dw, ref.dw), tol) << "weight gradient";

  int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    EXPECT_TRUE(run() == got)
        << "not the same bits on " << threads << " threads";
  }
  omp_set_num_threads(saved);
}

TEST(ConvTiled, MatchesReference) {
  // fashion_resnet's block at 14x14 (32 channels: 2 vectors, 12 images per
  // tile): 30 images = two tiles and a remainder of 6.
  check<Conv2DShape{32, 32, 14, 14, 3, 3, 1, 1, 1, 1}, float>(30, 1);
  // Downsampling 3x3 stride 2 (data gradient through the stride phases),
  // 24 -> 40 channels: vectors past the channel count are padding.
  check<Conv2DShape{24, 40, 9, 9, 3, 3, 2, 2, 1, 1}, float>(25, 2);
  // 3x3 on 1x1 and 2x2 planes: most taps lie in the padding.
  check<Conv2DShape{64, 64, 1, 1, 3, 3, 1, 1, 1, 1}, float>(13, 3);
  check<Conv2DShape{48, 96, 2, 2, 3, 3, 1, 1, 1, 1}, float>(19, 4);
  // 1x1 stride 2 projection on a non-square plane; dilation 2.
  check<Conv2DShape{64, 256, 7, 5, 1, 1, 2, 2}, float>(25, 5);
  check<Conv2DShape{16, 24, 8, 8, 3, 3, 1, 1, 2, 2, 2, 2}, float>(33, 6);
  // 20 input channels, 32 outputs: the weight gradient's vector copy into
  // dw with a last block of 4 channels (36 rows of 16 outputs).
  check<Conv2DShape{20, 32, 3, 3, 3, 3, 1, 1, 1, 1}, float>(25, 8);
  // double (8 lanes), the type of the finite-difference checks.
  check<Conv2DShape{16, 16, 5, 5, 3, 3, 1, 1, 1, 1}, double>(35, 7);
}

// The GEMM paths of the weight gradient that resnet50 takes at batch 8:
// pointwise convolutions on large planes (one GEMM over the plain channel
// planes, transposed operands packed through 16 x 16 register transposes;
// with more output than input channels the GEMM computes dw transposed, on
// a 6 x 64 tile for 128 channels), and a 3x3 on a 7x7 plane with too few
// positions for the tiles (conv_tiled.h, tiled_weight_batch_ok).
TEST(ConvGemm, WeightGradientPathsOfSmallBatches) {
  using rnc::cpu::detail::use_tiled_backward_weight;
  constexpr Conv2DShape wide{24, 128, 48, 48, 1, 1},
      narrow{136, 70, 62, 62, 1, 1}, small{40, 48, 7, 7, 3, 3, 1, 1, 1, 1};
  static_assert(!use_tiled_backward_weight<wide, float>() &&
                !use_tiled_backward_weight<narrow, float>());
  static_assert(rnc::cpu::gemm_nv_for<float>(128) == 4);
  ASSERT_FALSE((rnc::cpu::detail::tiled_weight_batch_ok<small, float>(4)));
  check<wide, float, false>(2, 41);
  check<narrow, float, false>(2, 42);
  check<small, float, false>(4, 43);
}

// Every convolution of fashion_resnet (the main job's model) at batch 32,
// whichever kernel each takes.
TEST(ConvTiled, FashionResnetShapesAtBatch32) {
  check<Conv2DShape{1, 32, 28, 28, 3, 3, 1, 1, 1, 1}, float, false>(32, 21);
  check<Conv2DShape{32, 32, 14, 14, 3, 3, 1, 1, 1, 1}, float, false>(32, 22);
  check<Conv2DShape{32, 64, 14, 14, 3, 3, 2, 2, 1, 1}, float, false>(32, 23);
  check<Conv2DShape{64, 64, 7, 7, 3, 3, 1, 1, 1, 1}, float, false>(32, 24);
  check<Conv2DShape{32, 64, 14, 14, 1, 1, 2, 2}, float, false>(32, 25);
  check<Conv2DShape{64, 128, 7, 7, 3, 3, 2, 2, 1, 1}, float, false>(32, 26);
  check<Conv2DShape{128, 128, 4, 4, 3, 3, 1, 1, 1, 1}, float, false>(32, 27);
  check<Conv2DShape{64, 128, 7, 7, 1, 1, 2, 2}, float, false>(32, 28);
}

// Image tiles of 8 images x 3 vectors (eight_image_tiles): batches of 8 on
// planes of 8x8 or less (the GEMM's before), and batches that leave fewer
// image slots empty with 8 than with 6, against the reference; the same bits
// as the 6-image tiles. 64 channels: blocks of 3 and 1 vectors; 128: 3, 3, 2.
TEST(ConvTiled, EightImageTiles) {
  using rnc::cpu::detail::eight_image_tiles;
  constexpr Conv2DShape s7{64, 64, 7, 7, 3, 3, 1, 1, 1, 1},
      s2{128, 128, 14, 14, 3, 3, 2, 2, 1, 1},
      s4{128, 128, 4, 4, 3, 3, 1, 1, 1, 1};
  ASSERT_TRUE((eight_image_tiles<s7, false, float>(8) &&
               eight_image_tiles<s7, true, float>(8)));
  // Stride 2 to 7x7: the data gradient's 14x14 plane too.
  ASSERT_TRUE((eight_image_tiles<s2, false, float>(8) &&
               eight_image_tiles<s2, true, float>(8)));
  // 13 images: a last tile shifted back over the one before.
  ASSERT_TRUE((eight_image_tiles<s4, false, float>(13) &&
               eight_image_tiles<s4, true, float>(16)));
  check<s7, float, false>(8, 51);
  check<s2, float, false>(8, 52);
  check<s4, float, false>(13, 53);
  check<s4, float, false>(16, 54);

  // Where they are not taken: 14x14 planes at batch 8 (the GEMM is as
  // fast), a last block of one vector where 6-image tiles are possible,
  // batches as well served by 6 (24) or too small (7), weight panels over 1
  // MB (1024 reduction channels).
  constexpr Conv2DShape s14{128, 128, 14, 14, 3, 3, 1, 1, 1, 1},
      big{1024, 1024, 7, 7, 3, 3, 1, 1, 1, 1};
  EXPECT_FALSE((eight_image_tiles<s14, false, float>(8)));
  EXPECT_TRUE((eight_image_tiles<s14, false, float>(16)));
  EXPECT_FALSE((eight_image_tiles<s7, false, float>(128)));
  EXPECT_TRUE((eight_image_tiles<s4, false, float>(128)));
  EXPECT_FALSE((eight_image_tiles<s4, false, float>(24)));
  EXPECT_FALSE((eight_image_tiles<s4, false, float>(7)));
  EXPECT_FALSE((eight_image_tiles<big, false, float>(8)));

  // The same bits as the 6-image tiles (each output's taps and channels
  // summed in the same order), forward at 16 images.
  constexpr int N = 16;
  using P = rnc::cpu::detail::TiledProblem<128, 128, 16, 16, 9>;
  auto x = kt::random_vec<float>(x_size<s4>(N), 55);
  auto w = kt::random_vec<float>(s4.weight_size(), 56);
  auto b = kt::random_vec<float>(s4.out_channels, 57);
  std::vector<float> y[2];
  for (bool eight : {false, true}) {
    y[eight] = kt::poisoned<float>(y_size<s4>(N));
    rnc::cpu::detail::tiled_dispatch<P>(
        y[eight].data(), x.data(), b.data(), N,
        rnc::cpu::detail::forward_taps<s4>(s4.in_channels), s4.out_w(),
        w.data(), rnc::cpu::detail::WeightStrides{1, 9, 128L * 9},
        rnc::cpu::NoEpilogue{}, eight);
  }
  EXPECT_EQ(y[0], y[1]);
}

// The row tiles (conv_rows.h): planes larger than the image tiles take,
// forward and the stride-1 data gradient (a forward on flipped weights).
// Shapes: channel counts off the vector width (masked transposes, padded
// vector blocks, a last chunk of 2 channels), stride 2 (one run per row),
// dilation, no padding, a 5x5 kernel, panels over 1 MB (the blocks
// outermost), a batch of one on several threads (runs split), doubles; a
// 13x14 plane with 64 channels or fewer, which the row tiles take before
// the image tiles, at a batch the image tiles would take.
template <Conv2DShape S, class T = float>
void check_rows(int N, uint64_t seed) {
  using rnc::cpu::detail::use_row_tiles;
  static_assert(use_row_tiles<S, T>());
  check<S, T, false>(N, seed);
}

TEST(ConvRows, MatchesReference) {
  check_rows<Conv2DShape{24, 40, 20, 19, 3, 3, 1, 1, 1, 1}>(3, 51);
  check_rows<Conv2DShape{24, 40, 20, 19, 3, 3, 1, 1, 1, 1}>(1, 52);
  check_rows<Conv2DShape{32, 48, 40, 36, 3, 3, 2, 2, 1, 1}>(2, 53);
  check_rows<Conv2DShape{16, 32, 24, 24, 3, 3, 1, 1, 2, 2, 2, 2}>(2, 54);
  check_rows<Conv2DShape{16, 16, 20, 20, 3, 3, 1, 1, 0, 0}>(3, 55);
  check_rows<Conv2DShape{20, 24, 18, 18, 5, 5, 1, 1, 2, 2}>(2, 56);
  check_rows<Conv2DShape{130, 16, 17, 17, 3, 3, 1, 1, 1, 1}>(2, 57);
  check_rows<Conv2DShape{128, 256, 17, 17, 3, 3, 1, 1, 1, 1}>(2, 58);
  check_rows<Conv2DShape{16, 16, 17, 17, 3, 3, 1, 1, 1, 1}, double>(2, 59);
  constexpr Conv2DShape mid{24, 40, 13, 14, 3, 3, 1, 1, 1, 1};
  static_assert(
      rnc::cpu::detail::use_tiled_forward<mid>() &&
      rnc::cpu::detail::use_row_tiles<rnc::cpu::detail::flipped_conv<mid>(),
                                      float>());
  ASSERT_TRUE((rnc::cpu::detail::tiled_batch_ok<40, float>(25)));
  check_rows<mid>(25, 60);
}

// Whole output rows as runs where a tile size divides the row
// (row_tile_mr): 14 positions a tile (fashion_resnet's 32->32 @14, above
// MR), 6 (64 channels @24), 10 (24 output channels, 20 wide), 9 with a 5x5
// kernel, 7 with three vectors, 14 with two vectors where TileCfg has more
// (RowTileCfg), 7 at stride 2 (a row shorter than MR); forward and data
// gradient against the reference (the data gradients here take their own tile
// sizes).
template <Conv2DShape S> void check_row_runs(int N, int mr, uint64_t seed) {
  using R = rnc::cpu::detail::RowTiles<S, float>;
  if constexpr (rnc::cpu::kVecRegs == 32) { // the sizes assume AVX-512
    EXPECT_EQ(R::kRowMR, mr);
    EXPECT_FALSE(R::kFlat);
  }
  check_rows<S>(N, seed);
}

TEST(ConvRows, WholeRowRunsMatchReference) {
  check_row_runs<Conv2DShape{32, 32, 14, 14, 3, 3, 1, 1, 1, 1}>(3, 14, 61);
  check_row_runs<Conv2DShape{64, 64, 24, 24, 3, 3, 1, 1, 1, 1}>(1, 6, 62);
  check_row_runs<Conv2DShape{40, 24, 20, 20, 3, 3, 1, 1, 1, 1}>(2, 10, 63);
  check_row_runs<Conv2DShape{20, 24, 18, 18, 5, 5, 1, 1, 2, 2}>(2, 9, 64);
  check_row_runs<Conv2DShape{24, 48, 14, 14, 3, 3, 1, 1, 1, 1}>(2, 7, 65);
  // 64 and 128 output channels on 2-vector tiles (RowTileCfg), 14 a tile.
  constexpr Conv2DShape c64{64, 64, 28, 28, 3, 3, 1, 1, 1, 1};
  constexpr Conv2DShape c128{40, 128, 28, 28, 3, 3, 1, 1, 1, 1};
  if (rnc::cpu::kVecRegs == 32) { // the sizes assume AVX-512
    EXPECT_EQ((rnc::cpu::detail::RowTiles<c64, float>::Cfg::NV), 2);
    EXPECT_EQ((rnc::cpu::detail::RowTiles<c128, float>::Cfg::NV), 2);
  }
  check_row_runs<c64>(1, 14, 66);
  check_row_runs<c128>(2, 14, 67);
  // Stride 2 from a 14x14 plane (fashion_resnet's 32->64 s2 @14): one tile
  // of 7 positions x 2 vectors a row, at a batch the image tiles would take
  // (they did before); 48 inputs to 40 outputs on a 14x13 plane (three
  // vectors, the last masked). Not taken: 128 outputs, 16 outputs.
  using rnc::cpu::detail::use_row_tiles;
  constexpr Conv2DShape fr_s2{32, 64, 14, 14, 3, 3, 2, 2, 1, 1};
  if (rnc::cpu::kVecRegs == 32) {
    EXPECT_EQ((rnc::cpu::detail::RowTiles<fr_s2, float>::Cfg::NV), 2);
  }
  check_row_runs<fr_s2>(13, 7, 68);
  check_row_runs<Conv2DShape{48, 40, 14, 13, 3, 3, 2, 2, 1, 1}>(3, 7, 69);
  static_assert(
      !use_row_tiles<Conv2DShape{32, 128, 14, 14, 3, 3, 2, 2, 1, 1}, float>());
  static_assert(
      !use_row_tiles<Conv2DShape{32, 16, 14, 14, 3, 3, 2, 2, 1, 1}, float>());
}

// Grouped layers with 16 or 32 outputs a group (resnext50's 512 g32 @14 and
// 1024 g32 @7): the forward and the stride-1 data gradient on the row tiles
// (7- and 14-wide rows, a group's channels at an offset of the copy), the
// weight gradient on the tiles (a group's slice of dy^T) where 32 outputs a
// group or a stride send it there (16 at stride 1: the direct kernel); 512
// input channels (2 KB a position: the copy's and dy^T's padded position
// stride), stride 2 (whole rows at any stride), a bias and the BN sums per
// group.
template <Conv2DShape S> void check_grouped(int N, int mr, uint64_t seed) {
  using namespace rnc::cpu::detail;
  static_assert(S.groups > 1 && use_row_tiles<S, float>());
  static_assert(use_tiled_backward_weight<S, float>() ==
                (S.out_per_group() == 32 || S.stride_h > 1));
  static_assert(!data_grad_is_forward<S>() ||
                use_row_tiles<flipped_conv<S>(), float>());
  if constexpr (rnc::cpu::kVecRegs == 32) { // the sizes assume AVX-512
    EXPECT_EQ((RowTiles<S, float>::MR), mr);
  }
  ASSERT_TRUE((tiled_weight_batch_ok<S, float>(N)));
  check<S, float, false>(N, seed);
}

TEST(ConvRows, GroupedMatchReference) {
  check_grouped<Conv2DShape{64, 64, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 2}>(3, 7, 71);
  check_grouped<Conv2DShape{32, 32, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 2}>(2, 14,
                                                                        72);
  check_grouped<Conv2DShape{512, 512, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 16}>(2, 7,
                                                                         73);
  check_grouped<Conv2DShape{64, 64, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 2}>(2, 7,
                                                                        74);
  check_grouped<Conv2DShape{32, 32, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1, 2}>(2, 14,
                                                                        75);
  static_assert(
      rnc::cpu::detail::RowTiles<
          Conv2DShape{512, 512, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 16}, float>::PS ==
      512 + 16);
}

// Stride-2 3x3 data gradients in four output phases on the row tiles
// (conv_rows_s2.h): forward, data gradient (plain and with an epilogue) and
// weight gradient against the reference, the same bits on 1-3 threads.
// Shapes: 14-wide phase rows on 2-vector tiles, dx's channels off the vector
// width (masked columns), 6-position tiles (one store vector a row), a
// non-square plane, panels over 1 MB (the blocks outermost), batch 1 on
// several threads, two groups of 32 channels.
template <Conv2DShape S> void check_s2_phases(int N, int mr, uint64_t seed) {
  using namespace rnc::cpu::detail;
  static_assert(use_row_tiles_s2_data<S, float>());
  if constexpr (rnc::cpu::kVecRegs == 32) { // the sizes assume AVX-512
    EXPECT_EQ((RowTiles<s2_phase_conv<S>(), float>::MR), mr);
  }
  check<S, float, false>(N, seed);
}

TEST(ConvRows, StrideTwoDataGradientPhasesMatchReference) {
  using rnc::cpu::detail::use_row_tiles_s2_data;
  check_s2_phases<Conv2DShape{32, 48, 28, 28, 3, 3, 2, 2, 1, 1}>(2, 14, 81);
  check_s2_phases<Conv2DShape{24, 40, 28, 28, 3, 3, 2, 2, 1, 1}>(3, 14, 82);
  check_s2_phases<Conv2DShape{64, 64, 24, 24, 3, 3, 2, 2, 1, 1}>(2, 6, 83);
  check_s2_phases<Conv2DShape{32, 32, 20, 28, 3, 3, 2, 2, 1, 1}>(2, 14, 84);
  check_s2_phases<Conv2DShape{192, 192, 28, 28, 3, 3, 2, 2, 1, 1}>(2, 14, 85);
  check_s2_phases<Conv2DShape{32, 48, 28, 28, 3, 3, 2, 2, 1, 1}>(1, 14, 86);
  check_s2_phases<Conv2DShape{64, 64, 28, 28, 3, 3, 2, 2, 1, 1, 1, 1, 2}>(2, 14,
                                                                          87);
  // Not the phases: an odd input (dx not twice dy), a 1x1 or a 5x5 layer,
  // stride 1, phase rows too short for whole-row tiles (7 wide, 512
  // channels), 8 channels a group.
  static_assert(
      !use_row_tiles_s2_data<Conv2DShape{32, 32, 27, 28, 3, 3, 2, 2, 1, 1},
                             float>());
  static_assert(
      !use_row_tiles_s2_data<Conv2DShape{32, 32, 28, 28, 1, 1, 2, 2}, float>());
  static_assert(
      !use_row_tiles_s2_data<Conv2DShape{32, 32, 28, 28, 5, 5, 2, 2, 2, 2},
                             float>());
  static_assert(
      !use_row_tiles_s2_data<Conv2DShape{32, 32, 28, 28, 3, 3, 1, 1, 1, 1},
                             float>());
  static_assert(
      !use_row_tiles_s2_data<Conv2DShape{512, 512, 14, 14, 3, 3, 2, 2, 1, 1},
                             float>());
  static_assert(
      !use_row_tiles_s2_data<
          Conv2DShape{256, 256, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1, 32}, float>());
}

// The taps a run of one output row leaves out (border_row_taps): those whose
// input row is the copy's zero border, and no other. A tap left out that
// should not be fails every MatchesReference test above; this one fails
// when none is left out (the same bits either way).
template <Conv2DShape S>
std::vector<int> live_taps(int oh, const rnc::cpu::detail::RowTaps &taps) {
  using namespace rnc::cpu::detail;
  int off[kMaxRowTaps], tw[kMaxRowTaps];
  const RowTaps live = border_row_taps<S, float>(taps, oh, off, tw);
  return std::vector<int>(live.tw, live.tw + live.n);
}

template <Conv2DShape S> std::vector<int> live_taps(int oh) {
  using R = rnc::cpu::detail::RowTiles<S, float>;
  constexpr int KW = S.kernel_w, KHW = S.kernel_h * KW;
  int off[KHW], tw[KHW];
  for (int t = 0; t < KHW; ++t) { // as conv2d_row_tiles_forward builds them
    off[t] = (t / KW * S.dilation_h * R::Wp + t % KW * S.dilation_w) * R::PS;
    tw[t] = t;
  }
  return live_taps<S>(oh, rnc::cpu::detail::RowTaps{off, tw, KHW});
}

TEST(ConvRows, BorderRowsLeaveOutTheirBorderTaps) {
  using V = std::vector<int>;
  constexpr Conv2DShape s1{32, 32, 14, 14, 3, 3, 1, 1, 1, 1};
  EXPECT_EQ(live_taps<s1>(0), (V{3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(live_taps<s1>(6), (V{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(live_taps<s1>(13), (V{0, 1, 2, 3, 4, 5}));
  // Stride 2 on an even plane: only the first row reads the border.
  constexpr Conv2DShape s2{64, 64, 28, 28, 3, 3, 2, 2, 1, 1};
  EXPECT_EQ(live_taps<s2>(0), (V{3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(live_taps<s2>(13).size(), 9u);
  // 5x5, pad 2: two kernel rows in the border at either end.
  constexpr Conv2DShape k5{20, 24, 18, 18, 5, 5, 1, 1, 2, 2};
  EXPECT_EQ(live_taps<k5>(0).size(), 15u);
  EXPECT_EQ(live_taps<k5>(1).size(), 20u);
  EXPECT_EQ(live_taps<k5>(2).size(), 25u);
  EXPECT_EQ(live_taps<k5>(17).size(), 15u);
  // 3x3, dilation 2, pad 2: kernel rows 4 rows apart.
  constexpr Conv2DShape d2{16, 16, 14, 14, 3, 3, 1, 1, 2, 2, 2, 2};
  EXPECT_EQ(live_taps<d2>(1), (V{3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(live_taps<d2>(2).size(), 9u);
  EXPECT_EQ(live_taps<d2>(13), (V{0, 1, 2, 3, 4, 5}));
  // The stride-2 data gradient's phases: dx's odd rows (phases 2 and 3)
  // read dy rows oh and oh + 1, the last of which is the border at the end.
  using namespace rnc::cpu::detail;
  constexpr Conv2DShape ph = s2_phase_conv<s2>();
  const S2PhaseTaps taps = s2_phase_taps<RowTiles<ph, float>>();
  EXPECT_EQ(live_taps<ph>(0, taps[2]), (V{1, 7}));
  EXPECT_EQ(live_taps<ph>(13, taps[2]), (V{7}));
  EXPECT_EQ(live_taps<ph>(0, taps[3]), (V{0, 2, 6, 8}));
  EXPECT_EQ(live_taps<ph>(13, taps[3]), (V{6, 8}));
  EXPECT_EQ(live_taps<ph>(13, taps[0]), (V{4}));
}

// The weight gradient of a stem (1 or 3 input channels): the direct kernel
// over chunks of images, summed in chunk order.
template <Conv2DShape S> void check_stem_weight_grad(int N, uint64_t seed) {
  static_assert(rnc::cpu::detail::use_direct_stem_weight<S>());
  SCOPED_TRACE(testing::Message()
               << "C=" << S.in_channels << " O=" << S.out_channels << " "
               << S.in_h << "x" << S.in_w << " k=" << S.kernel_h
               << " s=" << S.stride_h << " N=" << N);
  auto x = kt::random_vec<float>(x_size<S>(N), seed);
  auto w = kt::random_vec<float>(S.weight_size(), seed + 1);
  auto b = kt::random_vec<float>(S.out_channels, seed + 2);
  auto dy = kt::random_vec<float>(y_size<S>(N), seed + 3);
  Refs<S> ref = reference<S>(x, w, b, dy, N);
  auto run = [&] {
    auto dw = kt::poisoned<float>(w.size());
    rnc::cpu::conv2d_grad_weight<S>(dw.data(), dy.data(), x.data(), N);
    return dw;
  };
  auto got = run();
  EXPECT_LT(kt::rel_err(got, ref.dw), 2e-6) << "weight gradient";
  int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    EXPECT_TRUE(run() == got)
        << "not the same bits on " << threads << " threads";
  }
  omp_set_num_threads(saved);
}

TEST(ConvStem, WeightGradientMatchesReference) {
  // fashion_resnet's stem (3x3, 1 channel), D2L's (7x7 stride 2) and an RGB
  // one; 20 and 5 images: chunks of unequal size, fewer images than chunks.
  check_stem_weight_grad<Conv2DShape{1, 32, 12, 12, 3, 3, 1, 1, 1, 1}>(20, 11);
  check_stem_weight_grad<Conv2DShape{1, 24, 15, 13, 7, 7, 2, 2, 3, 3}>(5, 12);
  check_stem_weight_grad<Conv2DShape{3, 16, 16, 16, 7, 7, 2, 2, 3, 3}>(9, 13);
}

// Few input channels at stride 1: the data gradient is the GEMM path's
// forward convolution of dy with flipped weights, and that forward takes the
// tiled kernel (whose weight panels must not overwrite the flipped weights).
TEST(ConvTiled, DataGradientThroughFlippedForward) {
  constexpr Conv2DShape S{4, 32, 6, 6, 3, 3, 1, 1, 1, 1};
  constexpr Conv2DShape TS{32, 4, 6, 6, 3, 3, 1, 1, 1, 1};
  static_assert(!rnc::cpu::detail::use_tiled_backward_data<S>() &&
                rnc::cpu::detail::use_tiled_forward<TS>());
  constexpr int N = 33;
  ASSERT_TRUE((rnc::cpu::detail::tiled_batch_ok<TS.out_channels, float>(N)));
  auto x = kt::random_vec<float>(x_size<S>(N), 21);
  auto w = kt::random_vec<float>(S.weight_size(), 22);
  auto b = kt::random_vec<float>(S.out_channels, 23);
  auto dy = kt::random_vec<float>(y_size<S>(N), 24);
  Refs<S> ref = reference<S>(x, w, b, dy, N);
  auto dx = kt::poisoned<float>(x.size());
  rnc::cpu::conv2d_grad_input<S>(dx.data(), dy.data(), w.data(), N);
  EXPECT_LT(kt::rel_err(dx, ref.dx), 2e-6);
}

} // namespace
