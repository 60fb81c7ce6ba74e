// Loader: batches of preprocessed Fashion-MNIST images in a seeded order, prefetched.
#include "runtime/data/Loader.h"

#include "runtime/data/Shuffle.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

namespace rnc::data {

namespace {

constexpr int kMaxThreads = 64;
constexpr int kMaxBatch = 1 << 20;

const LoaderOptions &checked(const LoaderOptions &o, const FashionMnist &d) {
  auto bad = [](const std::string &what) {
    throw std::invalid_argument("data loader: " + what);
  };
  if (o.batchSize < 1 || o.batchSize > kMaxBatch)
    bad("batch size must be in [1, " + std::to_string(kMaxBatch) + "], got " +
        std::to_string(o.batchSize));
  if (o.threads < 1 || o.threads > kMaxThreads)
    bad("threads must be in [1, " + std::to_string(kMaxThreads) + "], got " +
        std::to_string(o.threads));
  if (!(o.std > 0.0f))
    bad("normalization std must be positive, got " + std::to_string(o.std));
  if (d.images.size() != d.labels.size() * FashionMnist::kPixels)
    bad("data set holds " + std::to_string(d.images.size()) +
        " pixels for " + std::to_string(d.labels.size()) + " labels");
  if (d.labels.size() > std::numeric_limits<uint32_t>::max())
    bad("data set too large");
  return o;
}

} // namespace

Loader::Loader(const FashionMnist &data, const LoaderOptions &options)
    : data_(data), options_(checked(options, data)),
      preprocess_{ResizePlan(FashionMnist::kRows, FashionMnist::kCols,
                             options.height, options.width),
                  options.mean, options.std} {
  bufX_.resize(batchFloats());
  bufY_.resize(static_cast<size_t>(options_.batchSize));
  startEpoch(0);
}

Loader::~Loader() {
  if (pending_.valid())
    pending_.wait();
}

size_t Loader::batchesPerEpoch() const {
  size_t b = static_cast<size_t>(options_.batchSize);
  return (order_.size() + b - 1) / b;
}

size_t Loader::batchFloats() const {
  return static_cast<size_t>(options_.batchSize) * options_.height *
         options_.width;
}

void Loader::startEpoch(uint64_t epoch) {
  waitPrefetch();
  size_t n = data_.size();
  if (options_.limit > 0)
    n = std::min(n, options_.limit);
  uint32_t n32 = static_cast<uint32_t>(n);
  order_ = options_.shuffle ? shuffledOrder(n32, options_.seed, epoch)
                            : sequentialOrder(n32);
  nextBatch_ = 0;
  if (options_.prefetch)
    launchPrefetch();
}

size_t Loader::fill(size_t batch, float *x, int32_t *y) const {
  const size_t bs = static_cast<size_t>(options_.batchSize);
  const size_t begin = batch * bs;
  if (begin >= order_.size())
    return 0;
  const size_t count = std::min(bs, order_.size() - begin);
  const size_t pixels = static_cast<size_t>(options_.height) * options_.width;

  // Each image is processed alone by the same code, so how the batch is
  // split across threads cannot change the output.
  auto work = [&](size_t lo, size_t hi) {
    for (size_t k = lo; k < hi; ++k) {
      uint32_t idx = order_[begin + k];
      preprocess_(data_.image(idx), x + k * pixels);
      y[k] = static_cast<int32_t>(data_.labels[idx]);
    }
  };
  size_t threads = std::min(static_cast<size_t>(options_.threads), count);
  std::vector<std::thread> helpers;
  helpers.reserve(threads > 0 ? threads - 1 : 0);
  for (size_t t = 1; t < threads; ++t) {
    size_t lo = t * count / threads, hi = (t + 1) * count / threads;
    try {
      helpers.emplace_back(work, lo, hi);
    } catch (const std::system_error &) {
      work(lo, hi); // no thread to be had: do its share here
    }
  }
  work(0, count / threads);
  for (std::thread &h : helpers)
    h.join();
  return count;
}

void Loader::launchPrefetch() {
  if (nextBatch_ >= batchesPerEpoch())
    return;
  pendingBatch_ = nextBatch_;
  pending_ = std::async(std::launch::async, [this, b = pendingBatch_] {
    return fill(b, bufX_.data(), bufY_.data());
  });
}

void Loader::waitPrefetch() {
  if (pending_.valid())
    pending_.get();
}

size_t Loader::next(float *x, int32_t *y) {
  if (!options_.prefetch) {
    size_t count = fill(nextBatch_, x, y);
    if (count > 0)
      ++nextBatch_;
    return count;
  }
  if (!pending_.valid())
    return 0; // the epoch is over
  size_t count = pending_.get();
  const size_t pixels = static_cast<size_t>(options_.height) * options_.width;
  std::memcpy(x, bufX_.data(), count * pixels * sizeof(float));
  std::memcpy(y, bufY_.data(), count * sizeof(int32_t));
  ++nextBatch_;
  launchPrefetch();
  return count;
}

} // namespace rnc::data
