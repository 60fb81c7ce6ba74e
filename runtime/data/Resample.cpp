// Resize, center crop and channel conversion of 8-bit images, computed as Pillow and torchvision do.
#include "runtime/data/Resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace rnc::data {

namespace {

// Pillow keeps resampling weights in fixed point with this many fraction
// bits (32 - 8 - 2: room for 8-bit values and the sum's headroom).
constexpr int kPrecisionBits = 22;

// One output sample: it reads `count` inputs from `first` with `weights`.
struct Taps {
  int size = 0; // weights per output sample (the widest filter)
  std::vector<int> first, count;
  std::vector<int32_t> weights; // [out][size]
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// The filter taps for one axis, in Pillow's arithmetic: centre of output d
// at (d + 0.5) * scale, support scaled by max(scale, 1), weights normalized
// in double and then rounded to fixed point.
Taps taps(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  const double filterScale = std::max(scale, 1.0);
  const double support = 1.0 * filterScale;
  Taps t;
  t.size = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.weights.assign(static_cast<size_t>(out) * t.size, 0);
  std::vector<double> w(t.size);
  for (int d = 0; d < out; ++d) {
    const double center = (d + 0.5) * scale;
    int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    int hi = std::min(static_cast<int>(center + support + 0.5), in);
    int n = hi - lo;
    double sum = 0;
    for (int k = 0; k < n; ++k) {
      w[k] = triangle((k + lo - center + 0.5) / filterScale);
      sum += w[k];
    }
    for (int k = 0; k < n; ++k) {
      double v = sum != 0.0 ? w[k] / sum : w[k];
      double fixed = v * (1 << kPrecisionBits);
      t.weights[static_cast<size_t>(d) * t.size + k] =
          static_cast<int32_t>(fixed < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    t.first[d] = lo;
    t.count[d] = n;
  }
  return t;
}

uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8))
    return 255;
  if (v <= 0)
    return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

Image horizontal(const Image &in, int width) {
  const Taps t = taps(in.width, width);
  const int c = in.channels;
  Image out(in.height, width, c);
  for (int y = 0; y < in.height; ++y) {
    const uint8_t *src = in.row(y);
    uint8_t *dst = out.row(y);
    for (int x = 0; x < width; ++x) {
      const int32_t *w = &t.weights[static_cast<size_t>(x) * t.size];
      const uint8_t *s = src + static_cast<size_t>(t.first[x]) * c;
      for (int ch = 0; ch < c; ++ch) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (int k = 0; k < t.count[x]; ++k)
          acc += s[k * c + ch] * w[k];
        dst[x * c + ch] = clip8(acc);
      }
    }
  }
  return out;
}

Image vertical(const Image &in, int height) {
  const Taps t = taps(in.height, height);
  const size_t rowLen = static_cast<size_t>(in.width) * in.channels;
  Image out(height, in.width, in.channels);
  std::vector<int32_t> acc(rowLen);
  for (int y = 0; y < height; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t *w = &t.weights[static_cast<size_t>(y) * t.size];
    for (int k = 0; k < t.count[y]; ++k) {
      const uint8_t *src = in.row(t.first[y] + k);
      for (size_t i = 0; i < rowLen; ++i)
        acc[i] += src[i] * w[k];
    }
    uint8_t *dst = out.row(y);
    for (size_t i = 0; i < rowLen; ++i)
      dst[i] = clip8(acc[i]);
  }
  return out;
}

void checkSize(const Image &in, int height, int width) {
  for (int side : {in.height, in.width, height, width})
    if (side < 1 || side > kMaxSide)
      throw std::invalid_argument(
          "resize: sides must be in [1, " + std::to_string(kMaxSide) +
          "], got " + std::to_string(in.height) + "x" +
          std::to_string(in.width) + " -> " + std::to_string(height) + "x" +
          std::to_string(width));
}

} // namespace

Image resizeBilinear(const Image &in, int height, int width) {
  checkSize(in, height, width);
  if (in.height == height && in.width == width)
    return in;
  // Pillow resamples horizontally first, over all rows: the vertical pass
  // then reads the rounded result. (Pillow skips the rows no output reads;
  // with a triangle filter every row is read, so all are computed here.)
  if (in.width == width)
    return vertical(in, height);
  Image wide = horizontal(in, width);
  return in.height == height ? wide : vertical(wide, height);
}

void coverSize(int inHeight, int inWidth, int height, int width,
               int &outHeight, int &outWidth) {
  // height / inHeight >= width / inWidth, in integers.
  if (static_cast<int64_t>(height) * inWidth >=
      static_cast<int64_t>(width) * inHeight) {
    outHeight = height;
    outWidth = std::max<int64_t>(
        width, static_cast<int64_t>(height) * inWidth / inHeight);
  } else {
    outWidth = width;
    outHeight = std::max<int64_t>(
        height, static_cast<int64_t>(width) * inHeight / inWidth);
  }
}

Image centerCrop(const Image &in, int height, int width) {
  if (height > in.height || width > in.width)
    throw std::invalid_argument("center crop: " + std::to_string(height) +
                                "x" + std::to_string(width) +
                                " is larger than the image");
  // Python's round(): half to even, which std::nearbyint does by default.
  int top = static_cast<int>(std::nearbyint((in.height - height) / 2.0));
  int left = static_cast<int>(std::nearbyint((in.width - width) / 2.0));
  Image out(height, width, in.channels);
  const size_t len = static_cast<size_t>(width) * in.channels;
  for (int y = 0; y < height; ++y)
    std::memcpy(out.row(y),
                in.row(top + y) + static_cast<size_t>(left) * in.channels, len);
  return out;
}

Image fitTo(const Image &in, int height, int width) {
  if (in.height == height && in.width == width)
    return in;
  int h, w;
  coverSize(in.height, in.width, height, width, h, w);
  Image resized = resizeBilinear(in, h, w);
  if (h == height && w == width)
    return resized;
  return centerCrop(resized, height, width);
}

namespace {

// One axis of fitTaps: `out` outputs of an axis of `in` stored pixels,
// resized to `resized` and cropped from `offset`.
void axisTaps(int in, int resized, int offset, int out, int &tapsOut,
              std::vector<int32_t> &first, std::vector<int32_t> &count,
              std::vector<int32_t> &weights) {
  first.resize(out);
  count.resize(out);
  if (in == resized) { // no pass on this axis: a copy
    tapsOut = 1;
    weights.assign(out, 1 << kPrecisionBits);
    for (int i = 0; i < out; ++i) {
      first[i] = offset + i;
      count[i] = 1;
    }
    return;
  }
  const Taps t = taps(in, resized);
  tapsOut = 1;
  for (int i = 0; i < out; ++i)
    tapsOut = std::max(tapsOut, t.count[offset + i]);
  weights.assign(static_cast<size_t>(out) * tapsOut, 0);
  for (int i = 0; i < out; ++i) {
    const int d = offset + i;
    first[i] = t.first[d];
    count[i] = t.count[d];
    for (int k = 0; k < t.count[d]; ++k)
      weights[static_cast<size_t>(i) * tapsOut + k] =
          t.weights[static_cast<size_t>(d) * t.size + k];
  }
}

// centerCrop's offset of `out` within `in`.
int cropOffset(int in, int out) {
  return static_cast<int>(std::nearbyint((in - out) / 2.0));
}

} // namespace

FitTaps fitTaps(int inHeight, int inWidth, int height, int width) {
  checkSize(Image(inHeight, inWidth, 0), height, width); // no pixels
  int h = height, w = width;
  if (inHeight != height || inWidth != width)
    coverSize(inHeight, inWidth, height, width, h, w);
  FitTaps f;
  f.inHeight = inHeight;
  f.inWidth = inWidth;
  axisTaps(inHeight, h, cropOffset(h, height), height, f.tapsY, f.firstY,
           f.countY, f.weightsY);
  axisTaps(inWidth, w, cropOffset(w, width), width, f.tapsX, f.firstX, f.countX,
           f.weightsX);
  return f;
}

Image convertChannels(const Image &in, int channels) {
  if (in.channels == channels)
    return in;
  Image out(in.height, in.width, channels);
  const size_t n = static_cast<size_t>(in.height) * in.width;
  const uint8_t *s = in.pixels.data();
  uint8_t *d = out.pixels.data();
  if (in.channels == 3 && channels == 1) {
    for (size_t i = 0; i < n; ++i, s += 3)
      d[i] = static_cast<uint8_t>(
          (s[0] * 19595u + s[1] * 38470u + s[2] * 7471u + 0x8000u) >> 16);
  } else if (in.channels == 1 && channels == 3) {
    for (size_t i = 0; i < n; ++i, d += 3)
      d[0] = d[1] = d[2] = s[i];
  } else {
    throw std::invalid_argument("convert: " + std::to_string(in.channels) +
                                " to " + std::to_string(channels) +
                                " channels is not supported");
  }
  return out;
}

} // namespace rnc::data
