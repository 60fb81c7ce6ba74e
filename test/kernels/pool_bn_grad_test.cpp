// The fused max pool + ReLU + BN backward (kernels/cpu/pool_bn_grad.h)
// against max_pool2d_grad then batch_norm_relu_grad: the same bits where
// the fused kernel builds the pool's gradient plane by plane; within 1e-5
// (relative, float) where it sums over the windows (2x2 tiling, float),
// whose sums run in another order.
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/pool_bn_grad.h"
#include "test_util.h"

namespace {

using rnc::BatchNormShape;
using rnc::Pool2DShape;

template <Pool2DShape PS> void check_fused(int N, uint64_t seed) {
  constexpr BatchNormShape S{.channels = PS.channels, .plane = PS.in_plane()};
  SCOPED_TRACE(testing::Message()
               << PS.in_h << "x" << PS.in_w << " k=" << PS.kernel_h
               << " s=" << PS.stride_h << " p=" << PS.pad_h << " N=" << N);
  const size_t size = size_t(N) * S.channels * S.plane,
               pooled = size_t(N) * PS.channels * PS.out_plane();
  auto x = kt::random_vec<float>(size, seed, -1.0, 1.0);
  // The pool's input is a ReLU output: about half zeros, and some windows
  // all zero (their gradient goes to the first element, then is masked).
  auto relu_out = kt::random_vec<float>(size, seed + 1, -1.0, 1.0);
  for (float &v : relu_out)
    v = v > 0 ? v : 0.0f;
  auto g = kt::random_vec<float>(pooled, seed + 2, -1.0, 1.0);
  auto gamma = kt::random_vec<float>(S.channels, seed + 3, 0.5, 1.5);
  auto mean = kt::random_vec<float>(S.channels, seed + 4, -0.2, 0.2);
  auto inv_std = kt::random_vec<float>(S.channels, seed + 5, 0.5, 2.0);

  std::vector<float> dy(size), dx1(size), dg1(S.channels), db1(S.channels);
  rnc::cpu::max_pool2d_grad<PS>(dy.data(), g.data(), relu_out.data(), N);
  rnc::cpu::batch_norm_relu_grad<S>(
      dx1.data(), dg1.data(), db1.data(), dy.data(), relu_out.data(), x.data(),
      mean.data(), inv_std.data(), gamma.data(), N);
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    omp_set_num_threads(threads);
    auto dx2 = kt::poisoned<float>(size), dg2 = kt::poisoned<float>(S.channels),
         db2 = kt::poisoned<float>(S.channels);
    rnc::cpu::max_pool2d_bn_relu_grad<PS, S>(
        dx2.data(), dg2.data(), db2.data(), g.data(), relu_out.data(), x.data(),
        mean.data(), inv_std.data(), gamma.data(), N);
    if constexpr (rnc::cpu::detail::pool_bn_grad_windows<PS, float>()) {
      auto near = [](const std::vector<float> &a, const std::vector<float> &b,
                     const char *what) {
        double scale = 0;
        for (float v : a)
          scale = std::max(scale, double(std::abs(v)));
        for (size_t i = 0; i < a.size(); ++i)
          ASSERT_NEAR(a[i], b[i], 1e-5 * scale) << what << " " << i;
      };
      near(dx1, dx2, "dx");
      near(dg1, dg2, "dgamma");
      near(db1, db2, "dbeta");
    } else {
      EXPECT_EQ(dx1, dx2);
      EXPECT_EQ(dg1, dg2);
      EXPECT_EQ(db1, db2);
    }
  }
  omp_set_num_threads(1);
}

TEST(MaxPoolBnReluGrad, EqualsSeparateKernels) {
  // fashion_resnet's stem pool (2x2 tiling, the vector path), at a smaller
  // batch and channel count.
  check_fused<Pool2DShape{.channels = 5,
                          .in_h = 28,
                          .in_w = 28,
                          .kernel_h = 2,
                          .kernel_w = 2,
                          .stride_h = 2,
                          .stride_w = 2}>(6, 1);
  // Rows of 8 and of 9 windows (the last chunk overlapping its neighbour:
  // counted once).
  check_fused<Pool2DShape{.channels = 2,
                          .in_h = 4,
                          .in_w = 16,
                          .kernel_h = 2,
                          .kernel_w = 2,
                          .stride_h = 2,
                          .stride_w = 2}>(7, 4);
  check_fused<Pool2DShape{.channels = 3,
                          .in_h = 6,
                          .in_w = 18,
                          .kernel_h = 2,
                          .kernel_w = 2,
                          .stride_h = 2,
                          .stride_w = 2}>(5, 5);
  // A ragged edge the windows do not reach (its gradient is zero, its dx
  // is not).
  check_fused<Pool2DShape{.channels = 3,
                          .in_h = 7,
                          .in_w = 9,
                          .kernel_h = 2,
                          .kernel_w = 2,
                          .stride_h = 2,
                          .stride_w = 2}>(4, 2);
  // The ResNet stem's 3x3 stride 2 pad 1: overlapping windows add.
  check_fused<Pool2DShape{.channels = 4,
                          .in_h = 12,
                          .in_w = 11,
                          .kernel_h = 3,
                          .kernel_w = 3,
                          .stride_h = 2,
                          .stride_w = 2,
                          .pad_h = 1,
                          .pad_w = 1}>(3, 3);
}

} // namespace
