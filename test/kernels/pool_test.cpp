// Pooling against float64 loops and finite differences; max-pool ties.
#include <cmath>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "kernels/cpu/pool.h"
#include "test_util.h"

namespace {

using rnc::Pool2DShape;

template <Pool2DShape S> size_t in_size(int N) {
  return size_t(N) * S.channels * S.in_plane();
}
template <Pool2DShape S> size_t out_size(int N) {
  return size_t(N) * S.channels * S.out_plane();
}

// A ResNet stem's max pool: 3x3, stride 2, pad 1.
constexpr Pool2DShape stem_pool(int channels, int h, int w) {
  return Pool2DShape{.channels = channels,
                     .in_h = h,
                     .in_w = w,
                     .kernel_h = 3,
                     .kernel_w = 3,
                     .stride_h = 2,
                     .stride_w = 2,
                     .pad_h = 1,
                     .pad_w = 1};
}

// Reference pooling in float64, written from PyTorch's definition.
template <Pool2DShape S, bool Max, class T>
std::vector<double> pool_ref(const std::vector<T> &x, int N) {
  std::vector<double> y(out_size<S>(N));
  for (int p = 0; p < N * S.channels; ++p)
    for (int oh = 0; oh < S.out_h(); ++oh)
      for (int ow = 0; ow < S.out_w(); ++ow) {
        double m = -INFINITY, s = 0;
        int real = 0, padded = 0;
        for (int kh = 0; kh < S.kernel_h; ++kh)
          for (int kw = 0; kw < S.kernel_w; ++kw) {
            int ih = oh * S.stride_h - S.pad_h + kh,
                iw = ow * S.stride_w - S.pad_w + kw;
            if (ih < S.in_h + S.pad_h && iw < S.in_w + S.pad_w)
              ++padded;
            if (ih < 0 || ih >= S.in_h || iw < 0 || iw >= S.in_w)
              continue;
            double v = x[size_t(p) * S.in_plane() + size_t(ih) * S.in_w + iw];
            m = std::max(m, v);
            s += v;
            ++real;
          }
        y[size_t(p) * S.out_plane() + size_t(oh) * S.out_w() + ow] =
            Max ? m : s / (S.count_include_pad ? padded : real);
      }
  return y;
}

// Distinct values spaced far apart relative to the finite-difference step: no
// ties, no argmax flips.
std::vector<double> distinct_vec(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), 1.0);
  auto r = kt::random_vec<double>(n, seed);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return r[a] < r[b]; });
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i)
    out[order[i]] = (v[i] - n / 2.0) * 0.01;
  return out;
}

template <Pool2DShape S> void check_pool(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message()
               << S.in_h << "x" << S.in_w << " k=" << S.kernel_h << "x"
               << S.kernel_w << " s=" << S.stride_h << "x" << S.stride_w
               << " p=" << S.pad_h << "x" << S.pad_w
               << " include_pad=" << S.count_include_pad << " N=" << N);
  auto x = kt::random_vec<float>(in_size<S>(N), seed);
  auto y = kt::poisoned<float>(out_size<S>(N));
  rnc::cpu::max_pool2d<S>(y.data(), x.data(), N);
  EXPECT_LT(kt::rel_err(y, pool_ref<S, true>(x, N)), 1e-5) << "max forward";
  y = kt::poisoned<float>(out_size<S>(N));
  rnc::cpu::avg_pool2d<S>(y.data(), x.data(), N);
  EXPECT_LT(kt::rel_err(y, pool_ref<S, false>(x, N)), 1e-5) << "avg forward";

  // Backward, float64, L = sum(r * pool(x)).
  auto xd = distinct_vec(in_size<S>(N), seed + 1);
  auto r = kt::random_vec<double>(out_size<S>(N), seed + 2);
  std::vector<double> yd(out_size<S>(N));
  auto max_loss = [&] {
    rnc::cpu::max_pool2d<S, double>(yd.data(), xd.data(), N);
    return kt::dot(r, yd);
  };
  auto avg_loss = [&] {
    rnc::cpu::avg_pool2d<S, double>(yd.data(), xd.data(), N);
    return kt::dot(r, yd);
  };
  auto dx = kt::poisoned<double>(xd.size());
  rnc::cpu::max_pool2d_grad<S, double>(dx.data(), r.data(), xd.data(), N);
  EXPECT_LT(kt::rel_err(dx, kt::numeric_grad(xd, max_loss, 1e-4)), 1e-6)
      << "max backward";
  // The float backward (its own vector paths) routes the gradient to the
  // same elements as the float64 one (distinct inputs stay distinct in
  // float); overlapping windows sum in float, hence the 1e-6.
  {
    std::vector<float> xf(xd.begin(), xd.end()), rf(r.begin(), r.end());
    auto dxf = kt::poisoned<float>(xf.size());
    rnc::cpu::max_pool2d_grad<S>(dxf.data(), rf.data(), xf.data(), N);
    for (size_t i = 0; i < dxf.size(); ++i) {
      ASSERT_EQ(dxf[i] == 0.0f, dx[i] == 0.0) << "float max backward, " << i;
      ASSERT_NEAR(dxf[i], dx[i], 1e-6 * (1 + std::abs(dx[i])))
          << "float max backward, element " << i;
    }
  }
  dx = kt::poisoned<double>(xd.size());
  rnc::cpu::avg_pool2d_grad<S, double>(dx.data(), r.data(), N);
  EXPECT_LT(kt::rel_err(dx, kt::numeric_grad(xd, avg_loss)), 1e-6)
      << "avg backward";
}

TEST(Pool2D, MatchesReference) {
  // ResNet stem max pool: 3x3, stride 2, pad 1.
  check_pool<stem_pool(3, 12, 11)>(2, 1);
  // d2l_resnet18's stem pool at 28x28 input (max_pool_narrow: whole rows).
  check_pool<stem_pool(5, 14, 14)>(3, 10);
  // Rows wide enough for the vector path (kernels/cpu/pool.h,
  // max_pool_row: 16 outputs at a time, stride 2 and 1), with the scalar
  // rest and the padded border around it.
  check_pool<stem_pool(2, 9, 75)>(2, 8);
  check_pool<Pool2DShape{.channels = 2,
                         .in_h = 6,
                         .in_w = 41,
                         .kernel_h = 3,
                         .kernel_w = 2,
                         .stride_h = 1,
                         .stride_w = 1,
                         .pad_h = 1,
                         .pad_w = 1}>(2, 9);
  check_pool<Pool2DShape{.channels = 2,
                         .in_h = 8,
                         .in_w = 6,
                         .kernel_h = 2,
                         .kernel_w = 2,
                         .stride_h = 2,
                         .stride_w = 2}>(3, 2);
  // Windows that tile the input (the branch-free max pool path), with a
  // ragged edge floor mode drops (its gradient is zero), and 3x3 stride 3.
  check_pool<Pool2DShape{.channels = 3,
                         .in_h = 7,
                         .in_w = 9,
                         .kernel_h = 2,
                         .kernel_w = 2,
                         .stride_h = 2,
                         .stride_w = 2}>(2, 6);
  check_pool<Pool2DShape{.channels = 2,
                         .in_h = 9,
                         .in_w = 10,
                         .kernel_h = 3,
                         .kernel_w = 3,
                         .stride_h = 3,
                         .stride_w = 3}>(2, 7);
  // 2x2 rows of 8 outputs and more (max_pool_2x2_vector: chunks of 8, the
  // last overlapping): fashion_resnet's 28x28, a ragged 29-wide edge, and
  // exactly 8.
  check_pool<Pool2DShape{.channels = 2,
                         .in_h = 28,
                         .in_w = 28,
                         .kernel_h = 2,
                         .kernel_w = 2,
                         .stride_h = 2,
                         .stride_w = 2}>(2, 10);
  check_pool<Pool2DShape{.channels = 3,
                         .in_h = 5,
                         .in_w = 41,
                         .kernel_h = 2,
                         .kernel_w = 2,
                         .stride_h = 2,
                         .stride_w = 2}>(1, 11);
  check_pool<Pool2DShape{.channels = 1,
                         .in_h = 4,
                         .in_w = 16,
                         .kernel_h = 2,
                         .kernel_w = 2,
                         .stride_h = 2,
                         .stride_w = 2}>(2, 12);
  // Non-square window, overlapping, floor mode drops the ragged edge.
  check_pool<Pool2DShape{.channels = 2,
                         .in_h = 9,
                         .in_w = 10,
                         .kernel_h = 3,
                         .kernel_w = 2,
                         .stride_h = 2,
                         .stride_w = 3,
                         .pad_h = 1,
                         .pad_w = 0}>(1, 3);
  check_pool<Pool2DShape{.channels = 2,
                         .in_h = 7,
                         .in_w = 7,
                         .kernel_h = 3,
                         .kernel_w = 3,
                         .stride_h = 1,
                         .stride_w = 1,
                         .pad_h = 1,
                         .pad_w = 1,
                         .count_include_pad = false}>(2, 4);
  check_pool<Pool2DShape{.channels = 1,
                         .in_h = 5,
                         .in_w = 6,
                         .kernel_h = 4,
                         .kernel_w = 4,
                         .stride_h = 2,
                         .stride_w = 2,
                         .pad_h = 2,
                         .pad_w = 2,
                         .count_include_pad = false}>(2, 5);
}

// Ties go to the first maximum in row-major window order, like PyTorch.
TEST(Pool2D, MaxTiesGoToFirst) {
  constexpr Pool2DShape S{.channels = 1,
                          .in_h = 4,
                          .in_w = 4,
                          .kernel_h = 2,
                          .kernel_w = 2,
                          .stride_h = 2,
                          .stride_w = 2};
  std::vector<float> x(16, 1.0f), dy = {1, 2, 3, 4}, dx(16, NAN), y(4, NAN);
  rnc::cpu::max_pool2d<S>(y.data(), x.data(), 1);
  rnc::cpu::max_pool2d_grad<S>(dx.data(), dy.data(), x.data(), 1);
  std::vector<float> want = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
  EXPECT_EQ(dx, want);
  // Overlapping windows (3x3 stride 1 over a constant) share their first
  // element.
  constexpr Pool2DShape O{
      .channels = 1, .in_h = 3, .in_w = 4, .kernel_h = 3, .kernel_w = 3};
  std::vector<float> xo(12, 2.0f), dyo = {1, 10}, dxo(12, NAN);
  rnc::cpu::max_pool2d_grad<O>(dxo.data(), dyo.data(), xo.data(), 1);
  std::vector<float> want_o = {1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(dxo, want_o);
  // A NaN wins its windows, forward and backward (as in PyTorch).
  xo[6] = NAN;
  std::vector<float> yo(2, 0.0f);
  rnc::cpu::max_pool2d<O>(yo.data(), xo.data(), 1);
  EXPECT_TRUE(std::isnan(yo[0]) && std::isnan(yo[1]));
  rnc::cpu::max_pool2d_grad<O>(dxo.data(), dyo.data(), xo.data(), 1);
  std::vector<float> want_nan = {0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 0, 0};
  EXPECT_EQ(dxo, want_nan);
  // The same in rows wide enough for the vector path: a constant row routes
  // each window's gradient to its first element (row 2*oh - 1 and column
  // 2*ow - 1, clipped to the plane), and a NaN wins its windows.
  constexpr Pool2DShape V = stem_pool(1, 5, 70);
  static_assert(rnc::cpu::detail::MaxPoolInterior<V>::oh_hi == 2);
  std::vector<float> xv(5 * 70, 1.0f), dyv(3 * 35, 1.0f), dxv(5 * 70, NAN),
      yv(3 * 35, 0.0f);
  xv[70 + 41] = NAN; // row 1, column 41: windows ow 20 and 21 of rows 0, 1
  rnc::cpu::max_pool2d<V>(yv.data(), xv.data(), 1);
  rnc::cpu::max_pool2d_grad<V>(dxv.data(), dyv.data(), xv.data(), 1);
  std::vector<float> want_v(5 * 70, 0.0f);
  for (int oh = 0; oh < 3; ++oh)
    for (int ow = 0; ow < 35; ++ow) {
      const bool nan = oh < 2 && (ow == 20 || ow == 21);
      EXPECT_EQ(std::isnan(yv[oh * 35 + ow]), nan) << oh << "," << ow;
      int h = std::max(2 * oh - 1, 0), w = std::max(2 * ow - 1, 0);
      if (nan)
        h = 1, w = 41;
      want_v[h * 70 + w] += 1.0f;
    }
  EXPECT_EQ(dxv, want_v);
}

// The narrow-row path (max_pool_narrow: d2l_resnet18's stem pool at 28x28
// input, 14x14 -> 7x7) keeps the scalar rules: ties go to the first element
// inside the plane in window order (padding is never picked, even when every
// element is -inf), a NaN wins its windows.
TEST(Pool2D, MaxTiesAndNaNInNarrowRows) {
  constexpr Pool2DShape S = stem_pool(1, 14, 14);
  static_assert(rnc::cpu::detail::max_pool_narrow<S, float>());
  for (float fill : {1.0f, -INFINITY}) {
    SCOPED_TRACE(fill);
    std::vector<float> x(14 * 14, fill), dy(49), dx(14 * 14, NAN),
        y(49, 0.0f);
    for (int o = 0; o < 49; ++o)
      dy[o] = float(o + 1);
    x[5 * 14 + 7] = NAN; // windows (2, 3), (2, 4), (3, 3), (3, 4)
    rnc::cpu::max_pool2d<S>(y.data(), x.data(), 1);
    rnc::cpu::max_pool2d_grad<S>(dx.data(), dy.data(), x.data(), 1);
    std::vector<float> want(14 * 14, 0.0f);
    for (int oh = 0; oh < 7; ++oh)
      for (int ow = 0; ow < 7; ++ow) {
        const bool nan = (oh == 2 || oh == 3) && (ow == 3 || ow == 4);
        const float got = y[oh * 7 + ow];
        EXPECT_TRUE(nan ? std::isnan(got) : got == fill) << oh << "," << ow;
        int h = std::max(2 * oh - 1, 0), w = std::max(2 * ow - 1, 0);
        if (nan)
          h = 5, w = 7;
        want[h * 14 + w] += dy[oh * 7 + ow];
      }
    EXPECT_EQ(dx, want);
  }
}

// The 2x2 vector path (max_pool_2x2_vector) keeps the scalar rules: ties
// go to the first element in window order, a NaN wins its window.
TEST(Pool2D, MaxTiesAndNaNInWideRows) {
  constexpr Pool2DShape S{.channels = 1,
                          .in_h = 4,
                          .in_w = 30,
                          .kernel_h = 2,
                          .kernel_w = 2,
                          .stride_h = 2,
                          .stride_w = 2};
  static_assert(rnc::cpu::detail::max_pool_2x2_vector<S, float>());
  constexpr int OW = 15, P = 2 * OW;
  std::vector<float> x(4 * 30), dy(P), dx(4 * 30, NAN), y(P, 0.0f);
  // Window w of output row 0: a tie at the maximum between its elements
  // (w % 4) and 3, or a NaN at element w % 4 beside a 5 when w % 5 == 0.
  std::vector<int> want_at(P);
  for (int o = 0; o < P; ++o) {
    int oh = o / OW, ow = o % OW;
    int e[4] = {(2 * oh) * 30 + 2 * ow, (2 * oh) * 30 + 2 * ow + 1,
                (2 * oh + 1) * 30 + 2 * ow, (2 * oh + 1) * 30 + 2 * ow + 1};
    for (int k = 0; k < 4; ++k)
      x[e[k]] = -1.0f - k;
    int k = o % 4;
    if (o % 5 == 0) {
      x[e[(k + 1) % 4]] = 5.0f;
      x[e[k]] = NAN;
    } else {
      x[e[k]] = 2.0f;
      x[e[3]] = 2.0f;
    }
    want_at[o] = e[k];
    dy[o] = float(o + 1);
  }
  rnc::cpu::max_pool2d<S>(y.data(), x.data(), 1);
  rnc::cpu::max_pool2d_grad<S>(dx.data(), dy.data(), x.data(), 1);
  std::vector<float> want(4 * 30, 0.0f);
  for (int o = 0; o < P; ++o) {
    EXPECT_EQ(std::isnan(y[o]), o % 5 == 0) << "output " << o;
    if (o % 5 != 0) {
      EXPECT_EQ(y[o], 2.0f) << "output " << o;
    }
    want[want_at[o]] = dy[o];
  }
  EXPECT_EQ(dx, want);
}

TEST(GlobalAvgPool, MatchesReference) {
  constexpr int C = 5;
  constexpr long P = 7 * 6;
  int N = 3;
  auto x = kt::random_vec<float>(size_t(N) * C * P, 41);
  std::vector<double> ref(size_t(N) * C, 0.0);
  for (size_t i = 0; i < x.size(); ++i)
    ref[i / P] += x[i] / double(P);
  auto y = kt::poisoned<float>(size_t(N) * C);
  rnc::cpu::global_avg_pool<C, P>(y.data(), x.data(), N);
  EXPECT_LT(kt::rel_err(y, ref), 1e-5);

  auto xd = kt::random_vec<double>(size_t(N) * C * P, 42),
       r = kt::random_vec<double>(size_t(N) * C, 43);
  std::vector<double> yd(size_t(N) * C);
  auto loss = [&] {
    rnc::cpu::global_avg_pool<C, P, double>(yd.data(), xd.data(), N);
    return kt::dot(r, yd);
  };
  auto dx = kt::poisoned<double>(xd.size());
  rnc::cpu::global_avg_pool_grad<C, P, double>(dx.data(), r.data(), N);
  EXPECT_LT(kt::rel_err(dx, kt::numeric_grad(xd, loss)), 1e-6);
}

} // namespace
