// Test helper: an in-memory ImageSet whose images encode their index, optionally slow or failing.
#pragma once

#include "runtime/data/DataError.h"
#include "runtime/data/ImageSet.h"

#include <chrono>
#include <thread>

namespace rnc::data::test {

/// `n` images of channels x height x width. Image i has pixel 0 = i % 256,
/// pixel 1 = i / 256 (channel 0), the rest a pattern of i and the position;
/// label i % classes. Image `failAt` throws DataError; each load sleeps
/// `delay`.
class MemorySet : public ImageSet {
public:
  MemorySet(size_t n, Shape shape, int classes = 10)
      : ImageSet("memory", shape), n_(n), classCount_(classes) {
    std::vector<std::string> names;
    for (int c = 0; c < classes; ++c)
      names.push_back("c" + std::to_string(c));
    setClassNames(names);
  }
  size_t failAt = static_cast<size_t>(-1);
  std::chrono::microseconds delay{0};

  size_t size() const override { return n_; }
  int32_t label(size_t i) const override {
    return static_cast<int32_t>(i % static_cast<size_t>(classCount_));
  }
  Image loadNative(size_t i) const override {
    if (delay.count() > 0)
      std::this_thread::sleep_for(delay);
    if (i == failAt)
      throw DataError(name(i), "corrupt on purpose");
    Image img(shape_.height, shape_.width, shape_.channels);
    for (size_t p = 0; p < img.pixels.size(); ++p)
      img.pixels[p] = static_cast<uint8_t>((i * 31 + p * 7) % 256);
    img.pixels[0] = static_cast<uint8_t>(i % 256);
    if (img.pixels.size() > static_cast<size_t>(shape_.channels))
      img.pixels[static_cast<size_t>(shape_.channels)] =
          static_cast<uint8_t>(i / 256);
    return img;
  }
  std::string name(size_t i) const override {
    return "memory image " + std::to_string(i);
  }
  std::string fingerprint() const override { return "memory"; }

private:
  size_t n_;
  int classCount_;
};

} // namespace rnc::data::test
