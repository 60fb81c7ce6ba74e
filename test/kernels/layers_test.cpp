// ReLU, add, linear and softmax cross-entropy against references.
#include <gtest/gtest.h>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/loss.h"
#include "test_util.h"

namespace {

using rnc::LinearShape;

TEST(Elementwise, ReluAddAccumulate) {
  for (long n : {1L, 37L, 300000L}) { // the last one runs multi-threaded
    auto a = kt::random_vec<float>(n, 1), b = kt::random_vec<float>(n, 2),
         dy = kt::random_vec<float>(n, 3);
    std::vector<double> relu(n), drelu(n), add(n), add_relu(n), acc(n);
    for (long i = 0; i < n; ++i) {
      relu[i] = a[i] > 0 ? a[i] : 0;
      drelu[i] = a[i] > 0 ? dy[i] : 0;
      add[i] = double(a[i]) + b[i];
      add_relu[i] = std::max(0.0, double(a[i] + b[i]));
      acc[i] = double(b[i]) + a[i];
    }
    auto y = kt::poisoned<float>(n), dx = kt::poisoned<float>(n);
    rnc::cpu::relu(y.data(), a.data(), n);
    EXPECT_LT(kt::rel_err(y, relu), 1e-7);
    rnc::cpu::relu_grad(dx.data(), dy.data(), y.data(),
                        n); // from the output
    EXPECT_LT(kt::rel_err(dx, drelu), 1e-7);
    dx = kt::poisoned<float>(n);
    rnc::cpu::relu_grad(dx.data(), dy.data(), a.data(),
                        n); // from the input
    EXPECT_LT(kt::rel_err(dx, drelu), 1e-7);
    y = kt::poisoned<float>(n);
    rnc::cpu::add(y.data(), a.data(), b.data(), n);
    EXPECT_LT(kt::rel_err(y, add), 1e-7);
    y = kt::poisoned<float>(n);
    rnc::cpu::add_relu(y.data(), a.data(), b.data(), n);
    EXPECT_LT(kt::rel_err(y, add_relu), 1e-7);
    rnc::cpu::accumulate(b.data(), a.data(), n);
    EXPECT_LT(kt::rel_err(b, acc), 1e-7);
  }
}

template <LinearShape S> void check_linear(int N, uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "in=" << S.in_features
                                  << " out=" << S.out_features << " N=" << N);
  constexpr int K = S.in_features, M = S.out_features;
  auto x = kt::random_vec<float>(size_t(N) * K, seed),
       w = kt::random_vec<float>(size_t(M) * K, seed + 1);
  auto b = kt::random_vec<float>(M, seed + 2);
  std::vector<double> ref(size_t(N) * M), ref_relu(size_t(N) * M);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < M; ++o) {
      double s = b[o];
      for (int k = 0; k < K; ++k)
        s += double(x[size_t(n) * K + k]) * w[size_t(o) * K + k];
      ref[size_t(n) * M + o] = s;
      ref_relu[size_t(n) * M + o] = std::max(0.0, s);
    }
  auto y = kt::poisoned<float>(size_t(N) * M);
  rnc::cpu::linear<S>(y.data(), x.data(), w.data(), b.data(), N);
  EXPECT_LT(kt::rel_err(y, ref), 1e-5) << "forward";
  y = kt::poisoned<float>(size_t(N) * M);
  rnc::cpu::linear<S>(y.data(), x.data(), w.data(), b.data(), N,
                      rnc::cpu::ReluEpilogue{});
  EXPECT_LT(kt::rel_err(y, ref_relu), 1e-5) << "forward + relu";

  auto xd = kt::cast<float, double>(x), wd = kt::cast<float, double>(w),
       bd = kt::cast<float, double>(b);
  auto r = kt::random_vec<double>(size_t(N) * M, seed + 3);
  std::vector<double> yd(size_t(N) * M);
  auto loss = [&] {
    rnc::cpu::linear<S, double>(yd.data(), xd.data(), wd.data(), bd.data(), N);
    return kt::dot(r, yd);
  };
  auto dx = kt::poisoned<double>(xd.size()),
       dw = kt::poisoned<double>(wd.size()), db = kt::poisoned<double>(M);
  rnc::cpu::linear_grad_input<S, double>(dx.data(), r.data(), wd.data(), N);
  rnc::cpu::linear_grad_weight<S, double>(dw.data(), r.data(), xd.data(), N);
  rnc::cpu::linear_bias_grad<S, double>(db.data(), r.data(), N);
  EXPECT_LT(kt::rel_err(dx, kt::numeric_grad(xd, loss)), 1e-6) << "dx";
  EXPECT_LT(kt::rel_err(dw, kt::numeric_grad(wd, loss)), 1e-6) << "dw";
  EXPECT_LT(kt::rel_err(db, kt::numeric_grad(bd, loss)), 1e-6) << "db";
}

TEST(Linear, MatchesReferenceAndFiniteDifferences) {
  check_linear<LinearShape{.in_features = 20, .out_features = 10}>(3, 1);
  check_linear<LinearShape{.in_features = 64, .out_features = 7}>(1, 2);
  check_linear<LinearShape{.in_features = 5, .out_features = 33}>(9, 3);
}

// Softmax cross-entropy: loss and accuracy against float64, gradient against
// finite differences.
TEST(SoftmaxCrossEntropy, MatchesReferenceAndFiniteDifferences) {
  constexpr int C = 10;
  int N = 6;
  auto logits = kt::random_vec<float>(size_t(N) * C, 51, -4.0, 4.0);
  std::vector<int32_t> labels = {3, 0, 9, 9, 5, 1};
  // Make rows 0 and 4 predicted correctly.
  logits[0 * C + 3] = 10.0f;
  logits[4 * C + 5] = 10.0f;
  double ref = 0;
  int ref_correct = 0;
  for (int n = 0; n < N; ++n) {
    double s = 0;
    int am = 0;
    for (int j = 0; j < C; ++j) {
      s += std::exp(double(logits[n * C + j]));
      if (logits[n * C + j] > logits[n * C + am])
        am = j;
    }
    ref += (std::log(s) - logits[n * C + labels[n]]) / N;
    ref_correct += am == labels[n];
  }
  float loss = NAN;
  int correct = -1;
  rnc::cpu::softmax_cross_entropy<C>(&loss, &correct, logits.data(),
                                     labels.data(), N);
  EXPECT_NEAR(loss, ref, 1e-5 * std::abs(ref));
  EXPECT_EQ(correct, ref_correct);
  EXPECT_GE(correct, 2);

  auto z = kt::cast<float, double>(logits);
  auto f = [&] {
    double l;
    rnc::cpu::softmax_cross_entropy<C, double>(&l, nullptr, z.data(),
                                               labels.data(), N);
    return l;
  };
  auto dz = kt::poisoned<double>(z.size());
  rnc::cpu::softmax_cross_entropy_grad<C, double>(dz.data(), z.data(),
                                                  labels.data(), N);
  EXPECT_LT(kt::rel_err(dz, kt::numeric_grad(z, f)), 1e-6);
}

TEST(SoftmaxCrossEntropy, StableForHugeLogits) {
  constexpr int C = 3;
  std::vector<float> logits = {1000.0f,  0.0f,    -1000.0f,
                               -5000.0f, 5000.0f, 4999.0f};
  std::vector<int32_t> labels = {0, 2};
  float loss;
  int correct;
  rnc::cpu::softmax_cross_entropy<C>(&loss, &correct, logits.data(),
                                     labels.data(), 2);
  // Row 0: ~0; row 1: log(1 + e^-1) + 1.
  double want = (0.0 + (std::log(1 + std::exp(-1.0)) + 1.0)) / 2;
  EXPECT_NEAR(loss, want, 1e-5);
  EXPECT_EQ(correct, 1);
  std::vector<float> d(6, NAN);
  rnc::cpu::softmax_cross_entropy_grad<C>(d.data(), logits.data(),
                                          labels.data(), 2);
  for (float v : d)
    EXPECT_TRUE(std::isfinite(v));
}

} // namespace

// alloc_large (common.h): 64-byte alignment below 2 MB; from 2 MB on, 2 MB
// alignment (the granule of a transparent huge page), writable to the last
// byte asked for, released by std::free.
TEST(AllocLarge, Alignment) {
  for (size_t bytes : {size_t(2), size_t(100), (size_t(2) << 20) - 1,
                       size_t(2) << 20, (size_t(5) << 20) + 3}) {
    auto *p = static_cast<unsigned char *>(rnc::cpu::alloc_large(bytes));
    ASSERT_NE(p, nullptr) << bytes;
    size_t align = bytes < (size_t(2) << 20) ? 64 : size_t(2) << 20;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << bytes;
    p[0] = 1;
    p[bytes - 1] = 2;
    EXPECT_EQ(p[0] + p[bytes - 1], 3) << bytes;
    std::free(p);
  }
}
