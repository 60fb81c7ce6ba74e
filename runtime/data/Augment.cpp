// Training augmentation (random crop with padding, horizontal flip, random erasing) and normalization to float.
#include "runtime/data/Augment.h"

#include "runtime/data/Shuffle.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace rnc::data {

std::string Augment::text() const {
  std::string s;
  auto add = [&](const std::string &part) { s += (s.empty() ? "" : ", ") + part; };
  if (cropPadding > 0)
    add("random crop (padding " + std::to_string(cropPadding) + ")");
  if (hflip)
    add("horizontal flip");
  if (erasing > 0) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "random erasing (p %g)", erasing);
    add(buf);
  }
  return s.empty() ? "none" : s;
}

SampleRng::SampleRng(uint64_t seed, uint64_t epoch, uint64_t index)
    : state_(splitmix64(seed ^ splitmix64(epoch ^ splitmix64(index ^
                                                             0x5851f42d4c957f2dull)))) {}

uint64_t SampleRng::next() {
  state_ += 0x9e3779b97f4a7c15ull;
  return splitmix64(state_);
}

double SampleRng::uniform() {
  return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
}

int SampleRng::below(int n) {
  return static_cast<int>(uniform() * n);
}

Draw drawAugment(const Augment &a, int height, int width, SampleRng &rng) {
  Draw d;
  if (a.cropPadding > 0) {
    d.top = rng.below(2 * a.cropPadding + 1);
    d.left = rng.below(2 * a.cropPadding + 1);
  } else {
    d.top = d.left = 0;
  }
  if (a.hflip)
    d.flip = rng.uniform() < 0.5;
  if (a.erasing > 0 && rng.uniform() < a.erasing) {
    const double area = static_cast<double>(height) * width;
    const double logLo = std::log(0.3), logHi = std::log(3.3);
    for (int attempt = 0; attempt < 10; ++attempt) {
      double target = area * (0.02 + (0.33 - 0.02) * rng.uniform());
      double ratio = std::exp(logLo + (logHi - logLo) * rng.uniform());
      int h = static_cast<int>(std::nearbyint(std::sqrt(target * ratio)));
      int w = static_cast<int>(std::nearbyint(std::sqrt(target / ratio)));
      if (!(h < height && w < width))
        continue;
      d.erase = true;
      d.eraseHeight = h;
      d.eraseWidth = w;
      d.eraseTop = rng.below(height - h + 1);
      d.eraseLeft = rng.below(width - w + 1);
      break;
    }
  }
  return d;
}

Normalizer::Normalizer(const std::vector<float> &mean,
                       const std::vector<float> &std, int channels) {
  if (mean.size() != static_cast<size_t>(channels) ||
      std.size() != static_cast<size_t>(channels))
    throw std::invalid_argument(
        "normalization: " + std::to_string(mean.size()) + " means and " +
        std::to_string(std.size()) + " stds for " + std::to_string(channels) +
        " channels");
  table.resize(static_cast<size_t>(channels) * 256);
  for (int c = 0; c < channels; ++c) {
    if (!(std[c] > 0.0f) || !std::isfinite(std[c]) || !std::isfinite(mean[c]))
      throw std::invalid_argument("normalization: std must be positive and "
                                  "finite, mean finite");
    for (int v = 0; v < 256; ++v)
      table[static_cast<size_t>(c) * 256 + v] =
          (static_cast<float>(v) / 255.0f - mean[c]) / std[c];
  }
}

void toTensor(const uint8_t *hwc, const Shape &shape, int padding,
              const Draw &d, const Normalizer &n, float *chw) {
  const int H = shape.height, W = shape.width, C = shape.channels;
  // Output (y, x) reads input (y + top - P, x' + left - P), x' = x or,
  // flipped, W - 1 - x; outside the image it is the zero padding.
  const int dy = d.top - padding, dx = d.left - padding;
  for (int c = 0; c < C; ++c) {
    const float *lut = n.table.data() + static_cast<size_t>(c) * 256;
    float *plane = chw + static_cast<size_t>(c) * H * W;
    for (int y = 0; y < H; ++y) {
      const int sy = y + dy;
      float *out = plane + static_cast<size_t>(y) * W;
      if (sy < 0 || sy >= H) {
        for (int x = 0; x < W; ++x)
          out[x] = lut[0];
        continue;
      }
      const uint8_t *row = hwc + static_cast<size_t>(sy) * W * C + c;
      for (int x = 0; x < W; ++x) {
        const int sx = (d.flip ? W - 1 - x : x) + dx;
        out[x] = sx >= 0 && sx < W ? lut[row[static_cast<size_t>(sx) * C]]
                                   : lut[0];
      }
    }
    if (d.erase)
      for (int y = d.eraseTop; y < d.eraseTop + d.eraseHeight; ++y)
        for (int x = d.eraseLeft; x < d.eraseLeft + d.eraseWidth; ++x)
          plane[static_cast<size_t>(y) * W + x] = 0.0f;
  }
}

} // namespace rnc::data
