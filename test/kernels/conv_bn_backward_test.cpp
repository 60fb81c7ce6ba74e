// The BN backward reductions fused into conv2d_grad_input
// (conv2d_grad_input_bn_reduce + batch_norm_grad_from_sums) against the
// unfused kernels.
#include <gtest/gtest.h>
#include <omp.h>

#include "bench_shapes.h"
#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/conv.h"
#include "test_util.h"

namespace {

using rnc::BatchNormShape;
using rnc::cpu::Compose;
using rnc::Conv2DShape;
using rnc::cpu::NoEpilogue;
using rnc::cpu::ReluMaskEpilogue;
using rnc::cpu::ResidualAddEpilogue;

// What the convolution's epilogue does before the sums are taken: the forms
// of rn.conv2d_grad_input_bn_reduce.
enum class Form { Plain, Mask, Add, AddMask };

const char *name(Form f) {
  switch (f) {
  case Form::Plain:
    return "plain";
  case Form::Mask:
    return "mask";
  case Form::Add:
    return "add";
  case Form::AddMask:
    return "add+mask";
  }
  return "";
}

struct Outputs {
  std::vector<float> g, dx, dgamma, dbeta;
  bool operator==(const Outputs &) const = default;
};

template <Conv2DShape S> struct Case {
  static constexpr int C = S.in_channels;
  static constexpr long plane = S.in_plane();
  static constexpr BatchNormShape B{.channels = C, .plane = plane};
  int N;
  std::vector<float> dy, w, addend, relu, x, mean, inv_std, gamma;

  Case(int N, uint64_t seed) : N(N) {
    size_t in = size_t(N) * C * plane;
    dy =
        kt::random_vec<float>(size_t(N) * S.out_channels * S.out_plane(), seed);
    w = kt::random_vec<float>(S.weight_size(), seed + 1);
    addend = kt::random_vec<float>(in, seed + 2);
    relu = kt::random_vec<float>(in, seed + 3); // about half <= 0
    x = kt::random_vec<float>(in, seed + 4, 1.0, 3.0);
    mean = kt::random_vec<float>(C, seed + 5, 1.5, 2.5);
    inv_std = kt::random_vec<float>(C, seed + 6, 0.5, 2.0);
    gamma = kt::random_vec<float>(C, seed + 7, 0.5, 1.5);
  }

  template <class F> auto with_epilogue(Form f, const F &run) const {
    ResidualAddEpilogue<float> add{addend.data(), C, plane};
    ReluMaskEpilogue<float> mask{relu.data(), C, plane};
    switch (f) {
    case Form::Plain:
      return run(NoEpilogue{});
    case Form::Mask:
      return run(mask);
    case Form::Add:
      return run(add);
    case Form::AddMask:
      break;
    }
    return run(Compose<ResidualAddEpilogue<float>, ReluMaskEpilogue<float>>{
        add, mask});
  }

  // Today's kernels: the conv input gradient (with the fan-in epilogue when
  // there is an addend), then batch_norm_grad, or for a mask alone
  // batch_norm_relu_grad on the unmasked gradient.
  Outputs unfused(Form f) const {
    Outputs o{kt::poisoned<float>(x.size()), kt::poisoned<float>(x.size()),
              kt::poisoned<float>(C), kt::poisoned<float>(C)};
    if (f == Form::Mask) {
      std::vector<float> raw(x.size());
      rnc::cpu::conv2d_grad_input<S>(raw.data(), dy.data(), w.data(), N);
      rnc::cpu::batch_norm_relu_grad<B>(
          o.dx.data(), o.dgamma.data(), o.dbeta.data(), raw.data(), relu.data(),
          x.data(), mean.data(), inv_std.data(), gamma.data(), N);
      for (size_t i = 0; i < raw.size(); ++i)
        o.g[i] = relu[i] > 0 ? raw[i] : 0.0f;
      return o;
    }
    with_epilogue(f, [&](const auto &epi) {
      rnc::cpu::conv2d_grad_input<S>(o.g.data(), dy.data(), w.data(), N, epi);
      return 0;
    });
    rnc::cpu::batch_norm_grad<B>(o.dx.data(), o.dgamma.data(), o.dbeta.data(),
                                 o.g.data(), x.data(), mean.data(),
                                 inv_std.data(), gamma.data(), N);
    return o;
  }

  Outputs fused(Form f, std::vector<float> *sums = nullptr) const {
    Outputs o{kt::poisoned<float>(x.size()), kt::poisoned<float>(x.size()),
              kt::poisoned<float>(C), kt::poisoned<float>(C)};
    auto s = kt::poisoned<float>(C), sd = kt::poisoned<float>(C);
    kt::AlignedPoisoned g(x.size()); // as the runtime's workspace is
    with_epilogue(f, [&](const auto &epi) {
      rnc::cpu::conv2d_grad_input_bn_reduce<S>(g.data(), s.data(), sd.data(),
                                               dy.data(), w.data(), x.data(),
                                               mean.data(), N, epi);
      return 0;
    });
    o.g = g.vec();
    if (sums) {
      *sums = s;
      sums->insert(sums->end(), sd.begin(), sd.end());
    }
    rnc::cpu::batch_norm_grad_from_sums<B>(
        o.dx.data(), o.dgamma.data(), o.dbeta.data(), o.g.data(), x.data(),
        mean.data(), inv_std.data(), gamma.data(), s.data(), sd.data(), N);
    return o;
  }
};

// Bit for bit: the sums are reduced per (image, channel) with the same
// function and then over images in order, as batch_norm_grad does, and
// dx is the same expression. Also the sums against float64 sums of the
// stored gradient (1e-5 relative), and the same bits on 1, 2 and 3 threads.
template <Conv2DShape S> void check(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message()
               << "C=" << S.in_channels << " O=" << S.out_channels << " "
               << S.in_h << "x" << S.in_w << " k=" << S.kernel_h
               << " s=" << S.stride_h << " p=" << S.pad_h << " g=" << S.groups
               << " N=" << N);
  Case<S> t(N, seed);
  constexpr int C = S.in_channels;
  constexpr long P = S.in_plane();
  for (Form f : {Form::Plain, Form::Mask, Form::Add, Form::AddMask}) {
    SCOPED_TRACE(name(f));
    std::vector<float> sums;
    Outputs want = t.unfused(f), got = t.fused(f, &sums);
    EXPECT_EQ(got.g, want.g) << "stored gradient";
    EXPECT_EQ(got.dx, want.dx) << "dx";
    EXPECT_EQ(got.dgamma, want.dgamma) << "dgamma";
    EXPECT_EQ(got.dbeta, want.dbeta) << "dbeta";

    std::vector<double> ref(2 * C, 0.0);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c)
        for (long i = 0; i < P; ++i) {
          size_t k = (size_t(n) * C + c) * P + i;
          ref[c] += got.g[k];
          ref[C + c] += double(got.g[k]) * (double(t.x[k]) - t.mean[c]);
        }
    EXPECT_LT(kt::rel_err(sums, ref), 1e-5) << "sums";

    int saved = omp_get_max_threads();
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      EXPECT_TRUE(t.fused(f) == got) << threads << " threads";
    }
    omp_set_num_threads(saved);
  }
}

TEST(ConvBnBackward, FusedSumsEqualUnfusedKernels) {
  // Stride 1, 3x3: the transposed forward GEMM path (several images per
  // GEMM at 10x10).
  check<Conv2DShape{.in_channels = 16,
                    .out_channels = 24,
                    .in_h = 10,
                    .in_w = 10,
                    .kernel_h = 3,
                    .kernel_w = 3,
                    .pad_h = 1,
                    .pad_w = 1}>(5, 51);
  // Stride 1, 3x3 at 18x18: the row tiles (the flipped forward), the
  // epilogue in a pass per row with the sums.
  check<Conv2DShape{.in_channels = 16,
                    .out_channels = 24,
                    .in_h = 18,
                    .in_w = 18,
                    .kernel_h = 3,
                    .kernel_w = 3,
                    .pad_h = 1,
                    .pad_w = 1}>(3, 58);
  // Stride 1, 3x3 at 6x6, batch 64: the image tiles, the epilogue in a
  // pass per row with the sums.
  check<conv3x3(16, 6)>(64, 59);
  // 1x1 stride 1 (pointwise, one image per GEMM at 24x24).
  check<Conv2DShape{
      .in_channels = 8, .out_channels = 16, .in_h = 24, .in_w = 24}>(3, 52);
  // 1x1 stride 1 at 23x23, the sums in the GEMM's stores: a tail of 17
  // positions, K = 272 in two blocks, 20 rows (a last micro-tile of 4).
  check<Conv2DShape{
      .in_channels = 20, .out_channels = 272, .in_h = 23, .in_w = 23}>(2, 56);
  // 1x1 stride 1, 256 channels of 40x26 in dx (1 MB an image): without an
  // epilogue the sums in the GEMM's stores and dx streamed; a tail of 16.
  check<Conv2DShape{
      .in_channels = 256, .out_channels = 24, .in_h = 40, .in_w = 26}>(2, 57);
  // Grouped, stride 1, 4 channels per group: the direct grouped kernel (a
  // ResNeXt block's 3x3).
  check<Conv2DShape{.in_channels = 16,
                    .out_channels = 16,
                    .in_h = 8,
                    .in_w = 8,
                    .kernel_h = 3,
                    .kernel_w = 3,
                    .pad_h = 1,
                    .pad_w = 1,
                    .groups = 4}>(4, 53);
  // Grouped, stride 1, 32 channels per group on a 7x7 plane: the row
  // tiles (the flipped forward per group), the epilogue in a pass per row
  // with the sums, once per image.
  check<conv3x3(64, 7, 1, 2)>(3, 60);
  // Strided and grouped: the col2im path.
  check<Conv2DShape{.in_channels = 8,
                    .out_channels = 12,
                    .in_h = 9,
                    .in_w = 9,
                    .kernel_h = 3,
                    .kernel_w = 3,
                    .stride_h = 2,
                    .stride_w = 2,
                    .pad_h = 1,
                    .pad_w = 1,
                    .groups = 4}>(5, 54);
  // Strided 3x3 on an even plane: the row tiles in four output phases
  // (conv_rows_s2.h), the epilogue in a pass per row with the sums; dense,
  // and grouped with 32 channels a group.
  static_assert(
      rnc::cpu::detail::use_row_tiles_s2_data<conv3x3(32, 28, 2), float>() &&
      rnc::cpu::detail::use_row_tiles_s2_data<conv3x3(64, 28, 2, 2), float>());
  check<conv3x3(32, 28, 2)>(3, 61);
  check<conv3x3(64, 28, 2, 2)>(2, 62);
  // 1x1 stride 2 (a downsampling shortcut): col2im, small planes chunked.
  check<Conv2DShape{.in_channels = 16,
                    .out_channels = 32,
                    .in_h = 8,
                    .in_w = 8,
                    .kernel_h = 1,
                    .kernel_w = 1,
                    .stride_h = 2,
                    .stride_w = 2}>(12, 55);
  // 1x1 stride 2 with dx of 1.2 MB an image (128 channels of 48x48): each
  // channel's plane built in a buffer, its epilogue and sums taken there,
  // then streamed out.
  check<conv1x1(128, 16, 48, 2)>(2, 60);
}

} // namespace
