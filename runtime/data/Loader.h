// Loader: batches of preprocessed Fashion-MNIST images in a seeded order, prefetched.
#pragma once

#include "runtime/data/Dataset.h"
#include "runtime/data/Transform.h"

#include <cstddef>
#include <cstdint>
#include <future>
#include <vector>

namespace rnc::data {

struct LoaderOptions {
  int batchSize = 128;
  /// Network input size; images are resized from 28x28 (Transform.h).
  int height = FashionMnist::kRows;
  int width = FashionMnist::kCols;
  /// Epoch e visits the images in shuffledOrder(n, seed, e) (Shuffle.h);
  /// with shuffle off, in file order.
  uint64_t seed = 0;
  bool shuffle = true;
  /// Use only the first `limit` images of the split; 0 (or a limit larger
  /// than the split) uses all of them.
  size_t limit = 0;
  /// Threads that preprocess one batch. The output does not depend on it.
  int threads = 2;
  /// Prepare the next batch in the background while the caller works.
  bool prefetch = true;
  float mean = kFashionMnistMean;
  float std = kFashionMnistStd;
};

/// Iterates over one epoch at a time in batches of `batchSize`; the last
/// batch of an epoch holds the remainder (ragged). The data set must outlive
/// the loader.
///
///   Loader loader(train, opts);
///   for (uint64_t e = 0; e < epochs; ++e) {
///     loader.startEpoch(e);
///     while (size_t b = loader.next(x, y)) { ... }
///   }
class Loader {
public:
  /// Throws std::invalid_argument for options out of range.
  Loader(const FashionMnist &data, const LoaderOptions &options);
  ~Loader();
  Loader(const Loader &) = delete;
  Loader &operator=(const Loader &) = delete;

  /// Images per epoch (the split, or its first `limit` images).
  size_t size() const { return order_.size(); }
  size_t batchesPerEpoch() const;
  /// Floats in one full input batch: batchSize * 1 * height * width.
  size_t batchFloats() const;
  const LoaderOptions &options() const { return options_; }

  /// Starts epoch `epoch` from its first batch (the constructor starts 0).
  void startEpoch(uint64_t epoch);
  /// The order of this epoch: indices into the data set.
  const std::vector<uint32_t> &order() const { return order_; }

  /// Fills `x` [B, 1, height, width] and `y` [B] with the next batch and
  /// returns B (batchSize, or less for the last batch); 0 once the epoch
  /// is over. `x` and `y` must have room for a full batch.
  size_t next(float *x, int32_t *y);

private:
  // Preprocesses batch `batch` of the current order into x and y, split
  // across options_.threads threads; returns its size.
  size_t fill(size_t batch, float *x, int32_t *y) const;
  void launchPrefetch();
  void waitPrefetch();

  const FashionMnist &data_;
  LoaderOptions options_;
  Preprocess preprocess_;
  std::vector<uint32_t> order_;
  size_t nextBatch_ = 0;

  // Prefetching: batch `pendingBatch_` is being written to bufX_/bufY_.
  std::future<size_t> pending_;
  size_t pendingBatch_ = 0;
  std::vector<float> bufX_;
  std::vector<int32_t> bufY_;
};

} // namespace rnc::data
