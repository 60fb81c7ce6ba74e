// Image: 8-bit pixels (gray or RGB, rows of interleaved channels) and the input shape of a network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rnc::data {

/// An 8-bit image: `height` rows of `width` pixels of `channels` values
/// (1: gray, 3: R, G, B), row-major, channels interleaved (PIL's layout).
struct Image {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels; // [height][width][channels]

  Image() = default;
  Image(int h, int w, int c)
      : height(h), width(w), channels(c),
        pixels(static_cast<size_t>(h) * w * c) {}
  size_t size() const { return pixels.size(); }
  uint8_t *row(int y) {
    return pixels.data() + static_cast<size_t>(y) * width * channels;
  }
  const uint8_t *row(int y) const {
    return pixels.data() + static_cast<size_t>(y) * width * channels;
  }
};

/// The input of a network: channels x height x width (`rnc compile --input`).
struct Shape {
  int channels = 1, height = 28, width = 28;
  /// height * width * channels: the bytes of one image at this shape.
  size_t values() const {
    return static_cast<size_t>(channels) * height * width;
  }
  /// "3x32x32".
  std::string text() const {
    return std::to_string(channels) + "x" + std::to_string(height) + "x" +
           std::to_string(width);
  }
  bool operator==(const Shape &o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
};

} // namespace rnc::data
