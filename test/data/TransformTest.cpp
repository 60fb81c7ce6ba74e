// Tests of the bilinear resize (against PIL) and of the normalization.
#include "runtime/data/Transform.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace rnc::data {
namespace {

std::vector<float> resize(const std::vector<uint8_t> &src, int inH, int inW,
                          int outH, int outW) {
  ResizePlan plan(inH, inW, outH, outW);
  std::vector<float> out(static_cast<size_t>(outH) * outW, -1.0f);
  resizeBilinear(plan, src.data(), out.data());
  return out;
}

// Expected values below come from Pillow 13.0.0, an independent
// implementation: a mode "F" (float32) image, so nothing is rounded,
//   Image.new("F", (w, h)); im.putdata(pixels); im.resize((W, H), Image.BILINEAR)

TEST(Resize, MatchesPilOn3x3To5x7) {
  std::vector<uint8_t> src = {0, 10, 20, 30, 40, 50, 60, 70, 255};
  std::vector<float> expected = {
      0.000000f,  1.428571f,  5.714286f,  10.000000f, 14.285714f, 18.571428f, 20.000000f,
      12.000000f, 13.428572f, 17.714287f, 22.000000f, 26.285713f, 30.571428f, 32.000000f,
      30.000000f, 31.428572f, 35.714287f, 40.000000f, 44.285713f, 48.571430f, 50.000000f,
      48.000000f, 49.428570f, 53.714287f, 58.000000f, 107.285721f, 156.571426f, 173.000000f,
      60.000000f, 61.428570f, 65.714287f, 70.000000f, 149.285721f, 228.571426f, 255.000000f};
  std::vector<float> got = resize(src, 3, 3, 5, 7);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-4) << "at " << i / 7 << "," << i % 7;
}

TEST(Resize, MatchesPilOn2x2To4x4) {
  std::vector<float> expected = {0, 25, 75, 100,      50, 59.375f, 78.125f, 87.5f,
                                 150, 128.125f, 84.375f, 62.5f, 200, 162.5f, 87.5f, 50};
  std::vector<float> got = resize({0, 100, 200, 50}, 2, 2, 4, 4);
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-4) << "at " << i;
}

TEST(Resize, MatchesPilOn28To32) {
  std::vector<uint8_t> src(28 * 28);
  for (int i = 0; i < 28; ++i)
    for (int j = 0; j < 28; ++j)
      src[i * 28 + j] = static_cast<uint8_t>((i * 7 + j * 13) % 256);
  std::vector<float> got = resize(src, 28, 28, 32, 32);
  struct Point { int y, x; float v; };
  for (Point p : {Point{0, 0, 0.0f}, {0, 31, 95.0f}, {31, 0, 189.0f},
                  {31, 31, 28.0f}, {5, 9, 131.75f}, {16, 16, 22.75f},
                  {20, 3, 155.375f}, {10, 27, 111.125f}})
    EXPECT_NEAR(got[p.y * 32 + p.x], p.v, 1e-4) << p.y << "," << p.x;
}

TEST(Resize, TapsFollowTheHalfPixelFormula) {
  // src = (d + 0.5) * in / out - 0.5, clamped; checked by hand for 3 -> 7.
  std::vector<ResizeTap> taps = resizeTaps(3, 7);
  ASSERT_EQ(taps.size(), 7u);
  for (int d = 0; d < 7; ++d) {
    double src = std::max((d + 0.5) * 3.0 / 7.0 - 0.5, 0.0);
    int i0 = std::min(static_cast<int>(src), 2);
    EXPECT_EQ(taps[d].i0, i0) << d;
    EXPECT_NEAR(taps[d].w1, src - i0, 1e-6) << d;
    EXPECT_FLOAT_EQ(taps[d].w0 + taps[d].w1, 1.0f);
    EXPECT_LE(taps[d].i1, 2);
  }
  EXPECT_EQ(taps[0].i0, 0);    // src -0.29 clamps to 0
  EXPECT_EQ(taps[0].w1, 0.0f);
  EXPECT_EQ(taps[6].i0, 2);    // src 2.29: both taps on the last sample
  EXPECT_EQ(taps[6].i1, 2);
}

TEST(Resize, SameSizeIsTheIdentity) {
  std::vector<uint8_t> src(28 * 28);
  for (size_t i = 0; i < src.size(); ++i)
    src[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  std::vector<float> got = resize(src, 28, 28, 28, 28);
  for (size_t i = 0; i < src.size(); ++i)
    ASSERT_EQ(got[i], static_cast<float>(src[i])) << "at " << i;
}

TEST(Resize, OutputStaysWithinTheInputRange) {
  std::vector<uint8_t> src(28 * 28);
  uint32_t s = 12345;
  for (uint8_t &p : src) {
    s = s * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(40 + (s >> 24) % 180); // [40, 219]
  }
  for (int side : {1, 14, 29, 32, 56, 64, 97}) {
    std::vector<float> got = resize(src, 28, 28, side, side);
    auto [lo, hi] = std::minmax_element(got.begin(), got.end());
    EXPECT_GE(*lo, 40.0f) << side;
    EXPECT_LE(*hi, 219.0f) << side;
  }
}

TEST(Resize, RejectsBadSizes) {
  EXPECT_THROW(ResizePlan(28, 28, 0, 32), std::invalid_argument);
  EXPECT_THROW(ResizePlan(28, 28, 32, -1), std::invalid_argument);
  EXPECT_THROW(ResizePlan(0, 28, 32, 32), std::invalid_argument);
  EXPECT_THROW(ResizePlan(28, 28, 100000, 32), std::invalid_argument);
}

TEST(Normalize, MapsBytesThroughMeanAndStd) {
  std::vector<float> x = {0.0f, 255.0f, 72.9403535f};
  normalize(x.data(), x.size(), kFashionMnistMean, kFashionMnistStd);
  EXPECT_NEAR(x[0], -0.2860406 / 0.3530242, 1e-6);
  EXPECT_NEAR(x[1], (1 - 0.2860406) / 0.3530242, 1e-6);
  EXPECT_NEAR(x[2], 0.0, 1e-6); // 255 * mean maps to 0
}

TEST(Preprocess, OutputRange) {
  std::vector<uint8_t> src(28 * 28);
  for (size_t i = 0; i < src.size(); ++i)
    src[i] = static_cast<uint8_t>(i % 256);
  Preprocess pre{ResizePlan(28, 28, 32, 32)};
  std::vector<float> out(32 * 32);
  pre(src.data(), out.data());
  float lo = (0 - kFashionMnistMean) / kFashionMnistStd;
  float hi = (1 - kFashionMnistMean) / kFashionMnistStd;
  for (float v : out) {
    ASSERT_GE(v, lo - 1e-6f);
    ASSERT_LE(v, hi + 1e-6f);
  }
  EXPECT_NEAR(out[0], lo, 1e-6); // pixel 0 is 0 and the corner copies it
}

} // namespace
} // namespace rnc::data
