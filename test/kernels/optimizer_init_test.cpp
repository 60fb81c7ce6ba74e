// SGD against a hand-computed example; init statistics and seeding.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "kernels/init.h"
#include "kernels/cpu/optimizer.h"
#include "test_util.h"

namespace {

// lr 0.1, momentum 0.9, weight decay 0.01; by hand:
//   step 1: g' = g + wd p = 0.51, 0.08;  buf = g';  p = 0.949, -2.008
//   step 2: g' = -0.25 + 0.00949 = -0.24051,  0.3 - 0.02008 = 0.27992
//           buf = 0.9 * 0.51 - 0.24051 = 0.21849,  0.9 * 0.08 + 0.27992 =
//           0.35192 p = 0.949 - 0.021849 = 0.927151,  -2.008 - 0.035192 =
//           -2.043192
TEST(Sgd, TwoStepsByHand) {
  std::vector<double> p = {1.0, -2.0}, buf = {0.0, 0.0};
  std::vector<double> g1 = {0.5, 0.1}, g2 = {-0.25, 0.3};
  rnc::cpu::sgd_update(p.data(), buf.data(), g1.data(), 2, 0.1, 0.9, 0.01);
  EXPECT_NEAR(p[0], 0.949, 1e-12);
  EXPECT_NEAR(p[1], -2.008, 1e-12);
  EXPECT_NEAR(buf[0], 0.51, 1e-12);
  rnc::cpu::sgd_update(p.data(), buf.data(), g2.data(), 2, 0.1, 0.9, 0.01);
  EXPECT_NEAR(buf[0], 0.21849, 1e-12);
  EXPECT_NEAR(buf[1], 0.35192, 1e-12);
  EXPECT_NEAR(p[0], 0.927151, 1e-12);
  EXPECT_NEAR(p[1], -2.043192, 1e-12);

  // Same in float, and over a buffer large enough to be split across threads.
  long n = 300001;
  std::vector<float> pf(n, 1.0f), bf(n, 0.0f), gf(n, 0.5f);
  rnc::cpu::sgd_update(pf.data(), bf.data(), gf.data(), n, 0.1f, 0.9f, 0.01f);
  for (long i : {0L, n / 2, n - 1})
    EXPECT_FLOAT_EQ(pf[i], 0.949f);
}

template <class T>
void moments(const std::vector<T> &v, double *mean, double *std) {
  double s = 0, ss = 0;
  for (T x : v)
    s += x;
  *mean = s / v.size();
  for (T x : v)
    ss += (x - *mean) * (x - *mean);
  *std = std::sqrt(ss / v.size());
}

TEST(Init, KaimingNormalStatistics) {
  // torchvision ResNet conv: kaiming_normal_(mode='fan_out',
  // nonlinearity='relu').
  constexpr rnc::Conv2DShape S{.in_channels = 64,
                                    .out_channels = 128,
                                    .in_h = 8,
                                    .in_w = 8,
                                    .kernel_h = 3,
                                    .kernel_w = 3};
  static_assert(rnc::init::fan_out(S) == 128 * 9 &&
                rnc::init::fan_in(S) == 64 * 9);
  std::vector<float> w(S.weight_size() * 4); // ~300k samples
  rnc::init::init_kaiming_normal_fan_out(w.data(), long(w.size()),
                                        rnc::init::fan_out(S), 42, 0);
  double mean, std;
  moments(w, &mean, &std);
  double want = std::sqrt(2.0 / rnc::init::fan_out(S));
  EXPECT_NEAR(mean, 0.0, 0.01 * want);
  EXPECT_NEAR(std, want, 0.01 * want);
  // Tails of a normal: about 0.27% beyond 3 sigma.
  long beyond = 0;
  for (float x : w)
    beyond += std::abs(x) > 3 * want;
  EXPECT_NEAR(double(beyond) / w.size(), 0.0027, 0.0008);
}

TEST(Init, UniformDefaultsAndBias) {
  constexpr rnc::LinearShape L{.in_features = 512, .out_features = 1000};
  std::vector<float> w(512 * 1000), b(1000);
  rnc::init::init_kaiming_uniform_default(w.data(), long(w.size()),
                                         rnc::init::fan_in(L), 7, 1);
  rnc::init::init_bias_uniform(b.data(), long(b.size()), rnc::init::fan_in(L), 7,
                              2);
  double bound = 1.0 / std::sqrt(512.0), mean, std;
  for (float x : w)
    ASSERT_LE(std::abs(x), bound);
  for (float x : b)
    ASSERT_LE(std::abs(x), bound);
  moments(w, &mean, &std);
  EXPECT_NEAR(mean, 0.0, 0.01 * bound);
  EXPECT_NEAR(std, bound / std::sqrt(3.0), 0.01 * bound);
  std::vector<float> z(5, NAN), o(5, NAN);
  rnc::init::init_zeros(z.data(), 5);
  rnc::init::init_ones(o.data(), 5);
  EXPECT_EQ(z, std::vector<float>(5, 0.0f));
  EXPECT_EQ(o, std::vector<float>(5, 1.0f));
}

TEST(Init, DeterministicAndSeeded) {
  long n = 100000;
  auto draw = [&](uint64_t seed, uint64_t index, int threads) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<float> w(n);
    rnc::init::init_kaiming_normal_fan_out(w.data(), n, 576, seed, index);
    omp_set_num_threads(saved);
    return w;
  };
  auto a = draw(1, 3, 1);
  EXPECT_EQ(a, draw(1, 3, 2)) << "same seed and index, any thread count";
  EXPECT_NE(a, draw(2, 3, 1)) << "another seed";
  EXPECT_NE(a, draw(1, 4, 1)) << "another parameter";
  auto b = draw(2, 3, 1);
  long same = 0;
  for (long i = 0; i < n; ++i)
    same += a[i] == b[i];
  EXPECT_LT(same, 10);
}

} // namespace
