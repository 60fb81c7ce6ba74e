// ImageSet: one split of a labelled data set, each image fitted to the network's input, optionally cached.
#include "runtime/data/ImageSet.h"

#include "runtime/data/Resample.h"

#include <cstring>
#include <stdexcept>

namespace rnc::data {

namespace {
constexpr uint8_t kEmpty = 0, kFilling = 1, kReady = 2;
} // namespace

ImageSet::~ImageSet() = default;

void ImageSet::retain(const std::vector<bool> &) {
  throw std::logic_error(format_ + " readers drop bad records when opened");
}

bool ImageSet::enableCache(uint64_t budgetBytes) {
  cache_.reset();
  const uint64_t need = static_cast<uint64_t>(size()) * shape_.values();
  if (size() == 0 || need > budgetBytes)
    return false;
  auto c = std::make_unique<Cache>();
  c->bytes.resize(static_cast<size_t>(need));
  c->state = std::make_unique<std::atomic<uint8_t>[]>(size());
  for (size_t i = 0; i < size(); ++i)
    c->state[i].store(kEmpty, std::memory_order_relaxed);
  cache_ = std::move(c);
  return true;
}

void ImageSet::load(size_t i, uint8_t *dst) const {
  const size_t n = shape_.values();
  if (cache_ && cache_->state[i].load(std::memory_order_acquire) == kReady) {
    std::memcpy(dst, cache_->bytes.data() + i * n, n);
    return;
  }
  Image img = loadNative(i);
  if (img.channels != shape_.channels)
    img = convertChannels(img, shape_.channels);
  if (img.height != shape_.height || img.width != shape_.width ||
      img.size() != n)
    throw std::logic_error(name(i) + ": reader produced " +
                           std::to_string(img.height) + "x" +
                           std::to_string(img.width) + "x" +
                           std::to_string(img.channels) + ", expected " +
                           shape_.text());
  std::memcpy(dst, img.pixels.data(), n);
  if (cache_) {
    // The first worker to get here stores it; the image is the same for all.
    uint8_t expected = kEmpty;
    if (cache_->state[i].compare_exchange_strong(expected, kFilling,
                                                 std::memory_order_acq_rel)) {
      std::memcpy(cache_->bytes.data() + i * n, dst, n);
      cache_->state[i].store(kReady, std::memory_order_release);
    }
  }
}

Image ImageSet::loadStored(size_t i) const {
  throw std::logic_error(name(i) + ": the " + format_ +
                         " reader keeps no stored size");
}

bool ImageSet::keepStoredInModel() const {
  const Shape st = storedShape();
  return st.channels == shape_.channels &&
         static_cast<size_t>(st.height) * st.width <
             static_cast<size_t>(shape_.height) * shape_.width;
}

void ImageSet::loadStoredInto(size_t i, uint8_t *dst) const {
  const Image img = loadStored(i);
  const Shape st = storedShape();
  if (img.height != st.height || img.width != st.width ||
      img.channels != st.channels)
    throw std::logic_error(
        name(i) + ": reader stored " + std::to_string(img.height) + "x" +
        std::to_string(img.width) + "x" + std::to_string(img.channels) +
        ", expected " + st.text());
  std::memcpy(dst, img.pixels.data(), img.size());
}

} // namespace rnc::data
