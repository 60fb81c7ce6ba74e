// batch_norm against float64 loops and finite differences.
#include <gtest/gtest.h>

#include "kernels/cpu/batchnorm.h"
#include "kernels/cpu/elementwise.h"
#include "test_util.h"

namespace {

using rnc::BatchNormShape;

struct RefStats {
  std::vector<double> mean, var; // biased variance
};

template <BatchNormShape S, class T>
RefStats stats_ref(const std::vector<T> &x, int N) {
  RefStats r{std::vector<double>(S.channels, 0.0),
             std::vector<double>(S.channels, 0.0)};
  double m = double(N) * S.plane;
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < S.channels; ++c)
      for (long p = 0; p < S.plane; ++p)
        r.mean[c] += x[(size_t(n) * S.channels + c) * S.plane + p] / m;
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < S.channels; ++c)
      for (long p = 0; p < S.plane; ++p) {
        double d = x[(size_t(n) * S.channels + c) * S.plane + p] - r.mean[c];
        r.var[c] += d * d / m;
      }
  return r;
}

template <BatchNormShape S> void check_forward(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message()
               << "C=" << S.channels << " plane=" << S.plane << " N=" << N);
  size_t size = size_t(N) * S.channels * S.plane;
  // An offset mean, as real activations have, to exercise the two-pass
  // variance.
  auto x = kt::random_vec<float>(size, seed, 2.0, 5.0);
  auto gamma = kt::random_vec<float>(S.channels, seed + 1, 0.5, 1.5);
  auto beta = kt::random_vec<float>(S.channels, seed + 2);
  auto rm = kt::random_vec<float>(S.channels, seed + 3),
       rv = kt::random_vec<float>(S.channels, seed + 4, 0.5, 2.0);
  const float eps = 1e-5f, momentum = 0.1f;
  RefStats st = stats_ref<S>(x, N);

  std::vector<double> y_ref(size), rm_ref(S.channels), rv_ref(S.channels),
      inv_ref(S.channels);
  double m = double(N) * S.plane;
  for (int c = 0; c < S.channels; ++c) {
    inv_ref[c] = 1.0 / std::sqrt(st.var[c] + eps);
    rm_ref[c] = (1 - momentum) * double(rm[c]) + momentum * st.mean[c];
    rv_ref[c] =
        (1 - momentum) * double(rv[c]) + momentum * st.var[c] * m / (m - 1);
  }
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < S.channels; ++c)
      for (long p = 0; p < S.plane; ++p) {
        size_t i = (size_t(n) * S.channels + c) * S.plane + p;
        y_ref[i] = (x[i] - st.mean[c]) * inv_ref[c] * gamma[c] + beta[c];
      }

  auto y = kt::poisoned<float>(size), mean = kt::poisoned<float>(S.channels),
       inv = kt::poisoned<float>(S.channels);
  rnc::cpu::batch_norm_train<S>(y.data(), mean.data(), inv.data(), rm.data(),
                                rv.data(), x.data(), gamma.data(), beta.data(),
                                N, eps, momentum);
  EXPECT_LT(kt::rel_err(y, y_ref), 1e-5) << "y";
  EXPECT_LT(kt::rel_err(mean, st.mean), 1e-5) << "saved mean";
  EXPECT_LT(kt::rel_err(inv, inv_ref), 1e-5) << "saved inv_std";
  EXPECT_LT(kt::rel_err(rm, rm_ref), 1e-5) << "running mean";
  EXPECT_LT(kt::rel_err(rv, rv_ref), 1e-5) << "running var (unbiased)";

  // Eval mode uses the running statistics; with a ReLU epilogue.
  std::vector<double> ye_ref(size);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < S.channels; ++c)
      for (long p = 0; p < S.plane; ++p) {
        size_t i = (size_t(n) * S.channels + c) * S.plane + p;
        double v =
            (x[i] - double(rm[c])) / std::sqrt(double(rv[c]) + eps) * gamma[c] +
            beta[c];
        ye_ref[i] = v > 0 ? v : 0;
      }
  y = kt::poisoned<float>(size);
  rnc::cpu::batch_norm<S>(y.data(), x.data(), gamma.data(), beta.data(),
                          rm.data(), rv.data(), N, eps,
                          rnc::cpu::ReluEpilogue{});
  EXPECT_LT(kt::rel_err(y, ye_ref), 1e-5) << "eval";

  // Statistics from per-channel sums (the fused conv path).
  std::vector<float> sum(S.channels, 0.0f), sumsq(S.channels, 0.0f);
  for (size_t i = 0; i < size; ++i) {
    int c = int(i / S.plane % S.channels);
    sum[c] += x[i];
    sumsq[c] += x[i] * x[i];
  }
  auto var = kt::poisoned<float>(S.channels);
  rnc::cpu::batch_norm_stats_from_sums(mean.data(), inv.data(), var.data(),
                                       sum.data(), sumsq.data(), S.channels,
                                       long(N) * S.plane, eps);
  EXPECT_LT(kt::rel_err(mean, st.mean), 1e-5) << "stats_from_sums mean";
  EXPECT_LT(kt::rel_err(var, st.var), 1e-3)
      << "stats_from_sums var (E[x^2] - mean^2 loses digits)";
}

TEST(BatchNorm, ForwardMatchesReference) {
  check_forward<BatchNormShape{.channels = 8, .plane = 7 * 9}>(3, 1);
  check_forward<BatchNormShape{.channels = 5, .plane = 1}>(7,
                                                           2); // rank 2 [N, C]
  check_forward<BatchNormShape{.channels = 16, .plane = 56 * 56}>(4, 3);
  check_forward<BatchNormShape{.channels = 3, .plane = 2 * 2}>(1, 4);
}

// L = sum(r * bn(x)); gradients with respect to x, gamma and beta.
template <BatchNormShape S> void check_backward(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message()
               << "C=" << S.channels << " plane=" << S.plane << " N=" << N);
  size_t size = size_t(N) * S.channels * S.plane;
  auto x = kt::random_vec<double>(size, seed, -1.0, 3.0);
  auto gamma = kt::random_vec<double>(S.channels, seed + 1, 0.5, 1.5);
  auto beta = kt::random_vec<double>(S.channels, seed + 2);
  auto r = kt::random_vec<double>(size, seed + 3);
  std::vector<double> y(size), mean(S.channels), inv(S.channels);
  auto loss = [&] {
    rnc::cpu::batch_norm_train<S, double>(y.data(), mean.data(), inv.data(),
                                          nullptr, nullptr, x.data(),
                                          gamma.data(), beta.data(), N, 1e-5);
    return kt::dot(r, y);
  };
  loss();
  auto dx = kt::poisoned<double>(size), dg = kt::poisoned<double>(S.channels),
       db = kt::poisoned<double>(S.channels);
  rnc::cpu::batch_norm_grad<S, double>(dx.data(), dg.data(), db.data(),
                                       r.data(), x.data(), mean.data(),
                                       inv.data(), gamma.data(), N);
  EXPECT_LT(kt::rel_err(dx, kt::numeric_grad(x, loss)), 1e-6) << "dx";
  EXPECT_LT(kt::rel_err(dg, kt::numeric_grad(gamma, loss)), 1e-6) << "dgamma";
  EXPECT_LT(kt::rel_err(db, kt::numeric_grad(beta, loss)), 1e-6) << "dbeta";
}

TEST(BatchNorm, BackwardMatchesFiniteDifferences) {
  check_backward<BatchNormShape{.channels = 3, .plane = 5 * 4}>(2, 11);
  check_backward<BatchNormShape{.channels = 4, .plane = 1}>(6, 12);
  check_backward<BatchNormShape{.channels = 2, .plane = 3 * 3}>(1, 13);
  check_backward<BatchNormShape{.channels = 2, .plane = 40}>(
      3, 14); // plane > 4 lanes x 8: vector path
}

// The fused ReLU + BN backward equals relu_grad then batch_norm_grad
// (same math, the mask applied on the fly), in float64 to 1e-12.
template <BatchNormShape S> void check_relu_backward(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message()
               << "C=" << S.channels << " plane=" << S.plane << " N=" << N);
  size_t size = size_t(N) * S.channels * S.plane;
  auto x = kt::random_vec<double>(size, seed, -1.0, 1.0);
  auto relu_out = kt::random_vec<double>(size, seed + 1, -1.0, 1.0);
  for (double &v : relu_out)
    v = v > 0 ? v : 0.0; // a ReLU output: half the entries are 0
  auto dy = kt::random_vec<double>(size, seed + 2, -1.0, 1.0);
  auto gamma = kt::random_vec<double>(S.channels, seed + 3, 0.5, 1.5);
  auto mean = kt::random_vec<double>(S.channels, seed + 4, -0.2, 0.2);
  auto inv_std = kt::random_vec<double>(S.channels, seed + 5, 0.5, 2.0);
  std::vector<double> masked(size), dx1(size), dx2(size), dg1(S.channels),
      dg2(S.channels), db1(S.channels), db2(S.channels);
  rnc::cpu::relu_grad(masked.data(), dy.data(), relu_out.data(), long(size));
  rnc::cpu::batch_norm_grad<S>(dx1.data(), dg1.data(), db1.data(),
                               masked.data(), x.data(), mean.data(),
                               inv_std.data(), gamma.data(), N);
  rnc::cpu::batch_norm_relu_grad<S>(
      dx2.data(), dg2.data(), db2.data(), dy.data(), relu_out.data(), x.data(),
      mean.data(), inv_std.data(), gamma.data(), N);
  for (size_t i = 0; i < size; ++i)
    EXPECT_NEAR(dx1[i], dx2[i], 1e-12) << "dx " << i;
  for (int c = 0; c < S.channels; ++c) {
    EXPECT_NEAR(dg1[c], dg2[c], 1e-12) << "dgamma " << c;
    EXPECT_NEAR(db1[c], db2[c], 1e-12) << "dbeta " << c;
  }
}

TEST(BatchNorm, ReluBackwardEqualsSeparateKernels) {
  check_relu_backward<BatchNormShape{.channels = 3, .plane = 5 * 4}>(2, 21);
  check_relu_backward<BatchNormShape{.channels = 4, .plane = 1}>(6, 22);
  check_relu_backward<BatchNormShape{.channels = 2, .plane = 40}>(3, 23);
}

} // namespace
