// Tests of resizing (against Pillow), cover size and center crop (torchvision's arithmetic) and channel conversion.
#include "runtime/data/Resample.h"
#include "kernels/resize.h"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <vector>

namespace rnc::data {
namespace {

Image gray(int h, int w, std::vector<uint8_t> px) {
  Image img(h, w, 1);
  img.pixels = std::move(px);
  return img;
}

// Expected values were printed by Pillow 12.0.0 (the version the test venv
// pins; scripts/setup-venv.sh), an independent implementation:
//   Image.fromarray(a, "L").resize((W, H), Image.BILINEAR)
// test/data/check_images.py compares many more sizes and real files.
TEST(Resize, MatchesPillowUpsampling3x3To5x7) {
  Image out = resizeBilinear(gray(3, 3, {0, 10, 20, 30, 40, 50, 60, 70, 255}),
                             5, 7);
  EXPECT_EQ(out.pixels,
            (std::vector<uint8_t>{0,  1,  6,  10, 14,  19,  20,  //
                                  12, 13, 18, 22, 26,  31,  32,  //
                                  30, 31, 36, 40, 44,  49,  50,  //
                                  48, 49, 54, 58, 107, 157, 173, //
                                  60, 61, 66, 70, 149, 229, 255}));
}

TEST(Resize, MatchesPillowDownsampling6x8To4x3) {
  std::vector<uint8_t> px(48);
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<uint8_t>(i * 37 % 256);
  Image out = resizeBilinear(gray(6, 8, px), 4, 3);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{56, 142, 121, 112, 157, 71, 163,
                                              113, 93, 168, 81, 147}));
}

TEST(Resize, RgbChannelsAreResizedApart) {
  Image rgb(2, 2, 3);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  Image out = resizeBilinear(rgb, 1, 3);
  EXPECT_EQ(out.pixels,
            (std::vector<uint8_t>{128, 0, 128, 128, 128, 128, 128, 255, 128}));
}

// Pillow in float mode ("F") rounds nothing: rnc's 8-bit result is within
// one level of it (each of the two passes rounds once).
TEST(Resize, WithinOneLevelOfPillowFloat) {
  const float expected[] = {
      0.000000f,  1.428571f,  5.714286f,  10.000000f, 14.285714f, 18.571428f, 20.000000f,
      12.000000f, 13.428572f, 17.714287f, 22.000000f, 26.285713f, 30.571428f, 32.000000f,
      30.000000f, 31.428572f, 35.714287f, 40.000000f, 44.285713f, 48.571430f, 50.000000f,
      48.000000f, 49.428570f, 53.714287f, 58.000000f, 107.285721f, 156.571426f, 173.000000f,
      60.000000f, 61.428570f, 65.714287f, 70.000000f, 149.285721f, 228.571426f, 255.000000f};
  Image out = resizeBilinear(gray(3, 3, {0, 10, 20, 30, 40, 50, 60, 70, 255}),
                             5, 7);
  for (size_t i = 0; i < out.pixels.size(); ++i)
    EXPECT_NEAR(out.pixels[i], expected[i], 1.0) << "at " << i;
}

TEST(Resize, SameSizeIsACopy) {
  std::vector<uint8_t> px(28 * 28);
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
  EXPECT_EQ(resizeBilinear(gray(28, 28, px), 28, 28).pixels, px);
}

TEST(Resize, OutputStaysWithinTheInputRange) {
  std::vector<uint8_t> px(28 * 28);
  uint32_t s = 12345;
  for (uint8_t &p : px) {
    s = s * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(40 + (s >> 24) % 180); // [40, 219]
  }
  for (int side : {1, 3, 14, 29, 32, 56, 97}) {
    Image out = resizeBilinear(gray(28, 28, px), side, side);
    for (uint8_t v : out.pixels) {
      ASSERT_GE(v, 40) << side;
      ASSERT_LE(v, 219) << side;
    }
  }
}

TEST(Resize, RejectsBadSizes) {
  Image img = gray(2, 2, {1, 2, 3, 4});
  EXPECT_THROW(resizeBilinear(img, 0, 3), std::invalid_argument);
  EXPECT_THROW(resizeBilinear(img, 3, -1), std::invalid_argument);
  EXPECT_THROW(resizeBilinear(img, kMaxSide + 1, 3), std::invalid_argument);
}

// torchvision's Resize(S) of an h x w image: the short side becomes S, the
// long side int(S * long / short).
TEST(Fit, CoverSizeFollowsTorchvision) {
  int h, w;
  coverSize(375, 500, 224, 224, h, w);
  EXPECT_EQ(h, 224);
  EXPECT_EQ(w, 298); // int(224 * 500 / 375) = int(298.67)
  coverSize(500, 375, 224, 224, h, w);
  EXPECT_EQ(h, 298);
  EXPECT_EQ(w, 224);
  coverSize(28, 28, 96, 96, h, w);
  EXPECT_EQ(h, 96);
  EXPECT_EQ(w, 96);
  // A non-square target: the image covers both sides.
  coverSize(100, 100, 20, 40, h, w);
  EXPECT_EQ(h, 40);
  EXPECT_EQ(w, 40);
  coverSize(10, 100, 20, 40, h, w);
  EXPECT_EQ(h, 20);
  EXPECT_EQ(w, 200);
}

// torchvision: top = int(round((H - h) / 2)), Python's round halves to even.
TEST(Fit, CenterCropRoundsHalfToEven) {
  Image img(7, 1, 1);
  for (int y = 0; y < 7; ++y)
    img.pixels[static_cast<size_t>(y)] = static_cast<uint8_t>(y);
  // (7 - 2) / 2 = 2.5 -> 2; (7 - 4) / 2 = 1.5 -> 2; (7 - 6) / 2 = 0.5 -> 0.
  EXPECT_EQ(centerCrop(img, 2, 1).pixels, (std::vector<uint8_t>{2, 3}));
  EXPECT_EQ(centerCrop(img, 4, 1).pixels, (std::vector<uint8_t>{2, 3, 4, 5}));
  EXPECT_EQ(centerCrop(img, 6, 1).pixels,
            (std::vector<uint8_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(centerCrop(img, 3, 1).pixels, (std::vector<uint8_t>{2, 3, 4}));
  EXPECT_THROW(centerCrop(img, 8, 1), std::invalid_argument);
}

TEST(Fit, ResizesThenCrops) {
  std::vector<uint8_t> px(4 * 8);
  for (size_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<uint8_t>(i * 8);
  Image in = gray(4, 8, px);
  Image fitted = fitTo(in, 2, 2);
  Image manual = centerCrop(resizeBilinear(in, 2, 4), 2, 2);
  EXPECT_EQ(fitted.height, 2);
  EXPECT_EQ(fitted.width, 2);
  EXPECT_EQ(fitted.pixels, manual.pixels);
  EXPECT_EQ(fitTo(in, 4, 8).pixels, px) << "already the size: unchanged";
}

// fitTaps evaluated as a model evaluates them (kernels/resize.h, the code
// both targets' gathers run) gives fitTo's pixels exactly: up and down,
// one axis or both, with and without a crop, the same size, 1 and 3
// channels. (fitTo itself is checked against Pillow above and in
// check_images.py.)
TEST(FitTaps, AsAModelEvaluatesThemTheyGiveFitTo) {
  const int sizes[][4] = {
      {28, 28, 96, 96},     {28, 28, 28, 28},   {28, 28, 224, 224},
      {32, 32, 28, 28},     {32, 32, 224, 224}, {3, 3, 5, 7},
      {6, 8, 4, 3},         {4, 8, 2, 2},       {1, 1, 4, 4},
      {1, 5, 3, 3},         {7, 3, 7, 9},       {40, 17, 12, 12},
      {500, 375, 224, 224}, {12, 12, 12, 7},    {9, 30, 9, 10}};
  std::mt19937 rng(5);
  for (const auto &sz : sizes)
    for (int channels : {1, 3}) {
      const int inH = sz[0], inW = sz[1], H = sz[2], W = sz[3];
      Image in(inH, inW, channels);
      for (uint8_t &p : in.pixels)
        p = static_cast<uint8_t>(rng() % 4 == 0 ? 255 * (rng() % 2)
                                                : rng() % 256);
      const Image want = fitTo(in, H, W);
      const FitTaps t = fitTaps(inH, inW, H, W);
      ASSERT_EQ(t.firstY.size(), size_t(H));
      ASSERT_EQ(t.weightsX.size(), size_t(W) * t.tapsX);
      EXPECT_LE(t.tapsY, inH);
      EXPECT_LE(t.tapsX, inW);
      const rnc_resize r{inH,
                         inW,
                         t.tapsY,
                         t.tapsX,
                         t.firstY.data(),
                         t.countY.data(),
                         t.weightsY.data(),
                         t.firstX.data(),
                         t.countX.data(),
                         t.weightsX.data()};
      std::vector<uint8_t> got(want.pixels.size());
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          for (int c = 0; c < channels; ++c)
            got[(size_t(y) * W + x) * channels + c] =
                resized_pixel(in.pixels.data(), channels, r, y, x, c);
      EXPECT_EQ(got, want.pixels) << inH << "x" << inW << " -> " << H << "x"
                                  << W << ", " << channels << " channels";
    }
  EXPECT_THROW(fitTaps(0, 5, 3, 3), std::invalid_argument);
  EXPECT_THROW(fitTaps(5, 5, 3, kMaxSide + 1), std::invalid_argument);
}

// Pillow's convert("L"): L = (19595 R + 38470 G + 7471 B + 32768) >> 16.
TEST(Convert, RgbToGrayAsPillow) {
  Image rgb(2, 2, 3);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  EXPECT_EQ(convertChannels(rgb, 1).pixels,
            (std::vector<uint8_t>{76, 150, 29, 255})); // printed by Pillow
  Image g = gray(1, 2, {7, 200});
  EXPECT_EQ(convertChannels(g, 3).pixels,
            (std::vector<uint8_t>{7, 7, 7, 200, 200, 200}));
  EXPECT_EQ(convertChannels(g, 1).pixels, g.pixels);
  EXPECT_THROW(convertChannels(g, 2), std::invalid_argument);
}

} // namespace
} // namespace rnc::data
