// Tests of the augmentation: the statistics of its draws, determinism, and what toTensor writes.
#include "runtime/data/Augment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <stdexcept>
#include <vector>

namespace rnc::data {
namespace {

// A count of n Bernoulli(p) draws lies within 5 standard deviations.
void expectRate(size_t hits, size_t n, double p, const char *what) {
  double sd = std::sqrt(n * p * (1 - p));
  EXPECT_NEAR(static_cast<double>(hits), n * p, 5 * sd) << what;
}

TEST(Augment, FlipHalfTheTime) {
  Augment a;
  a.hflip = true;
  size_t flips = 0;
  const size_t n = 40000;
  for (size_t i = 0; i < n; ++i) {
    SampleRng rng(1, 0, i);
    flips += drawAugment(a, 28, 28, rng).flip;
  }
  expectRate(flips, n, 0.5, "flips");
}

// RandomCrop with padding P: top and left uniform over 0..2P, independent.
TEST(Augment, CropOffsetsUniformOverThePaddedRange) {
  Augment a;
  a.cropPadding = 2;
  const size_t n = 50000;
  std::map<std::pair<int, int>, size_t> counts;
  for (size_t i = 0; i < n; ++i) {
    SampleRng rng(7, 3, i);
    Draw d = drawAugment(a, 28, 28, rng);
    ASSERT_GE(d.top, 0);
    ASSERT_LE(d.top, 4);
    ASSERT_GE(d.left, 0);
    ASSERT_LE(d.left, 4);
    ++counts[{d.top, d.left}];
  }
  ASSERT_EQ(counts.size(), 25u);
  // Pearson's chi-square with 24 degrees of freedom: P(> 60) < 1e-4.
  double chi2 = 0, expected = n / 25.0;
  for (auto &[k, c] : counts)
    chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 60.0);
}

// RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3)): the rectangle's
// area and aspect stay in range (up to rounding of h and w), it lies inside
// the image, and it is erased with probability p (on a 28x28 image almost
// every try fits, so the rate is p).
TEST(Augment, ErasingRateAreaAndAspect) {
  Augment a;
  a.erasing = 0.5f;
  const int H = 28, W = 28;
  const size_t n = 20000;
  size_t erased = 0;
  double areaSum = 0;
  for (size_t i = 0; i < n; ++i) {
    SampleRng rng(3, 1, i);
    Draw d = drawAugment(a, H, W, rng);
    if (!d.erase)
      continue;
    ++erased;
    ASSERT_GE(d.eraseTop, 0);
    ASSERT_GE(d.eraseLeft, 0);
    ASSERT_LT(d.eraseHeight, H);
    ASSERT_LT(d.eraseWidth, W);
    ASSERT_LE(d.eraseTop + d.eraseHeight, H);
    ASSERT_LE(d.eraseLeft + d.eraseWidth, W);
    double h = d.eraseHeight, w = d.eraseWidth;
    double area = h * w / (H * W);
    // sqrt(area * ratio) is rounded: allow half a pixel on each side.
    EXPECT_GE((h + 0.5) * (w + 0.5) / (H * W), 0.02);
    EXPECT_LE((h - 0.5) * (w - 0.5) / (H * W), 0.33);
    EXPECT_GE((h + 0.5) / (w - 0.5), 0.3);
    EXPECT_LE((h - 0.5) / (w + 0.5), 3.3);
    areaSum += area;
  }
  expectRate(erased, n, 0.499, "erased");
  // The area fraction is U(0.02, 0.33) conditioned on fitting: its mean is
  // close to 0.175 (rounding and rejection move it a little).
  EXPECT_NEAR(areaSum / erased, 0.175, 0.02);
  a.erasing = 0.0f;
  SampleRng rng(3, 1, 0);
  EXPECT_FALSE(drawAugment(a, H, W, rng).erase);
}

TEST(Augment, SameImageSameDrawsAnotherEpochOthers) {
  Augment a;
  a.cropPadding = 4;
  a.hflip = true;
  a.erasing = 1.0f;
  auto draw = [&](uint64_t seed, uint64_t epoch, uint64_t index) {
    SampleRng rng(seed, epoch, index);
    Draw d = drawAugment(a, 32, 32, rng);
    return std::vector<int>{d.top,      d.left,      d.flip,       d.erase,
                            d.eraseTop, d.eraseLeft, d.eraseHeight, d.eraseWidth};
  };
  EXPECT_EQ(draw(5, 2, 17), draw(5, 2, 17));
  size_t differ = 0;
  for (uint64_t i = 0; i < 100; ++i)
    differ += draw(5, 2, i) != draw(5, 3, i);
  EXPECT_GT(differ, 90u);
  differ = 0;
  for (uint64_t i = 0; i < 100; ++i)
    differ += draw(5, 2, i) != draw(6, 2, i);
  EXPECT_GT(differ, 90u);
}

class ToTensor : public ::testing::Test {
protected:
  // 2 channels so that channel order is checked; pixel (y, x, c) = 10 y + x + 100 c.
  static constexpr int H = 4, W = 5, C = 2;
  std::vector<uint8_t> img = [] {
    std::vector<uint8_t> v(H * W * C);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < C; ++c)
          v[(y * W + x) * C + c] = static_cast<uint8_t>(10 * y + x + 100 * c);
    return v;
  }();
  // Identity normalization so that x = pixel / 255.
  Normalizer unit{{0.0f, 0.0f}, {1.0f, 1.0f}, C};
  std::vector<float> out = std::vector<float>(H * W * C, NAN);
  float at(int c, int y, int x) const { return out[(c * H + y) * W + x] * 255; }
};

TEST_F(ToTensor, NoDrawIsTheImageInChannelPlanes) {
  toTensor(img.data(), Shape{C, H, W}, 0, Draw{}, unit, out.data());
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        EXPECT_NEAR(at(c, y, x), 10 * y + x + 100 * c, 1e-3);
}

// Padding 2, offset (top 3, left 0): output (y, x) is input (y + 1, x - 2).
TEST_F(ToTensor, CropShiftsAndPadsWithZero) {
  Draw d;
  d.top = 3;
  d.left = 0;
  toTensor(img.data(), Shape{C, H, W}, 2, d, unit, out.data());
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        int sy = y + 1, sx = x - 2;
        float want = sy < H && sx >= 0 ? 10 * sy + sx + 100 * c : 0;
        EXPECT_NEAR(at(c, y, x), want, 1e-3) << c << " " << y << " " << x;
      }
}

TEST_F(ToTensor, FlipMirrorsAfterTheCrop) {
  Draw d;
  d.flip = true;
  d.top = 1; // padding 1, offset 1: no shift
  d.left = 2; // shift left by one: cropped (y, x) = input (y, x + 1)
  toTensor(img.data(), Shape{C, H, W}, 1, d, unit, out.data());
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      int sx = (W - 1 - x) + 1;
      float want = sx < W ? 10 * y + sx : 0;
      EXPECT_NEAR(at(0, y, x), want, 1e-3) << y << " " << x;
    }
}

TEST_F(ToTensor, ErasingWritesZerosAfterNormalization) {
  Normalizer n({0.5f, 0.25f}, {0.5f, 2.0f}, C);
  Draw d;
  d.erase = true;
  d.eraseTop = 1;
  d.eraseLeft = 2;
  d.eraseHeight = 2;
  d.eraseWidth = 3;
  toTensor(img.data(), Shape{C, H, W}, 0, d, n, out.data());
  const float mean[] = {0.5f, 0.25f}, sd[] = {0.5f, 2.0f};
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        bool inside = y >= 1 && y < 3 && x >= 2 && x < 5;
        float v = out[(c * H + y) * W + x];
        if (inside)
          EXPECT_EQ(v, 0.0f);
        else
          EXPECT_EQ(v, (static_cast<float>(10 * y + x + 100 * c) / 255.0f -
                        mean[c]) / sd[c]);
      }
}

TEST(Normalizer, RejectsBadValues) {
  EXPECT_THROW(Normalizer({0.5f}, {0.0f}, 1), std::invalid_argument);
  EXPECT_THROW(Normalizer({0.5f}, {NAN}, 1), std::invalid_argument);
  EXPECT_THROW(Normalizer({0.5f, 0.5f}, {1.0f}, 2), std::invalid_argument);
  Normalizer n({kFashionMnistMean}, {kFashionMnistStd}, 1);
  EXPECT_NEAR(n.table[0], -0.2860406 / 0.3530242, 1e-6);
  EXPECT_NEAR(n.table[255], (1 - 0.2860406) / 0.3530242, 1e-6);
}

TEST(Augment, Text) {
  Augment a;
  EXPECT_EQ(a.text(), "none");
  a.cropPadding = 4;
  a.hflip = true;
  a.erasing = 0.5f;
  EXPECT_EQ(a.text(),
            "random crop (padding 4), horizontal flip, random erasing (p 0.5)");
}

} // namespace
} // namespace rnc::data
