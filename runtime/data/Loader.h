// Loader: batches of an ImageSet in a seeded order, prepared (decode, augment, normalize) by worker threads ahead of use.
#pragma once

#include "runtime/data/Augment.h"
#include "runtime/data/ImageSet.h"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace rnc::data {

struct LoaderOptions {
  int batchSize = 128;
  /// Epoch e visits the images in shuffledOrder(n, seed, e) (Shuffle.h);
  /// with shuffle off, in index order. The augmentation of image i in
  /// epoch e draws from SampleRng(seed, e, i).
  uint64_t seed = 0;
  bool shuffle = true;
  /// Use only the first `limit` images of the split; 0 (or a limit larger
  /// than the split) uses all of them.
  size_t limit = 0;
  /// Worker threads that prepare images. The output does not depend on it.
  int threads = 2;
  /// Batches prepared ahead (at least 1): the memory of the loader is
  /// (prefetch + 1) batches of floats. The output does not depend on it.
  int prefetch = 2;
  /// Training augmentation; evaluation leaves it off.
  Augment augment;
  /// Data parallelism: this process is shard `shard` of `shards`. Every
  /// shard walks the same order in the same global batches of `batchSize`
  /// and takes its own contiguous share of each, the shares as even as
  /// possible (sizes differ by at most one); a last batch with fewer images
  /// than shards is left out. One shard is the whole batch.
  int shards = 1, shard = 0;
  /// Per-channel normalization (one value per channel of the set).
  std::vector<float> mean{kFashionMnistMean}, std{kFashionMnistStd};
  /// Hand out only the positions of each batch's images in the set
  /// (nextIndices), in the same order and shares as next() would load
  /// them; no image is read. For a model that holds the set itself
  /// (rnc_set_dataset); with augmentation, nextIndices also hands out what
  /// it drew for each image, for the model to apply
  /// (rnc_train_step_augmented).
  bool indicesOnly = false;
};

/// Iterates over one epoch at a time in batches of `batchSize`; the last
/// batch of an epoch holds the remainder (ragged). The set must outlive the
/// loader.
///
///   Loader loader(train, opts);
///   for (uint64_t e = 0; e < epochs; ++e) {
///     loader.startEpoch(e);
///     while (size_t b = loader.next(x, y)) { ... }
///   }
///
/// Workers prepare the next `prefetch` batches while the caller trains;
/// next() returns as soon as its batch is complete. The time next() spends
/// waiting for a batch is added up (waitSeconds()).
class Loader {
public:
  /// Throws std::invalid_argument for options out of range.
  Loader(const ImageSet &set, const LoaderOptions &options);
  ~Loader();
  Loader(const Loader &) = delete;
  Loader &operator=(const Loader &) = delete;

  /// Images per epoch (the split, or its first `limit` images).
  size_t size() const { return order_.size(); }
  /// Batches per epoch, every shard the same number.
  size_t batchesPerEpoch() const;
  /// Images of all shards in the batch next() returned last (its global
  /// size; the same as next()'s count with one shard).
  size_t lastGlobalBatch() const { return lastGlobal_; }
  /// Floats in one full input batch: batchSize * C * H * W.
  size_t batchFloats() const;
  const LoaderOptions &options() const { return options_; }

  /// Starts epoch `epoch` from its first batch (the constructor starts 0).
  void startEpoch(uint64_t epoch);
  /// The order of this epoch: indices into the set.
  const std::vector<uint32_t> &order() const { return order_; }

  /// Fills `x` [B, C, H, W] and `y` [B] with the next batch and returns B
  /// (batchSize, or less for the last batch); 0 once the epoch is over.
  /// `x` and `y` must have room for a full batch. Rethrows the DataError of
  /// an image that could not be read (the first in the batch).
  size_t next(float *x, int32_t *y);

  /// With indicesOnly: fills `index` with the positions in the set of the
  /// next batch's images (what next() would load, in its order) and returns
  /// their count; 0 once the epoch is over. With augmentation, `draws`
  /// (not null then) gets each image's Draw, the one next() would apply.
  /// Both must have room for a full batch.
  size_t nextIndices(int32_t *index, Draw *draws = nullptr);

  /// Seconds next() has waited for batches since startEpoch.
  double waitSeconds() const { return waitSeconds_; }

private:
  struct Slot {
    std::vector<float> x;
    std::vector<int32_t> y;
    size_t batch = 0, count = 0, remaining = 0;
    size_t first = 0;  // position in the order of this shard's first image
    size_t global = 0; // images of the batch over all shards
    size_t errorAt = 0; // the smallest failed position, when error is set
    std::exception_ptr error;
  };
  struct Task {
    size_t slot, begin, end;
  };
  // An image of a task failed: what, and its position in the batch.
  struct PrepareError {
    std::exception_ptr error;
    size_t position;
  };

  void workerLoop();
  void prepare(size_t slot, size_t begin, size_t end);
  // Assigns batch `b` to a free slot and queues its tasks; m_ held.
  void schedule(size_t b);
  // This shard's share of batch `b`: the batch's images over all shards,
  // this shard's count, and its first position in the order.
  void shareOf(size_t b, size_t *global, size_t *count, size_t *first) const;
  // Empties the queue and waits for running tasks; m_ held via `lock`.
  void drain(std::unique_lock<std::mutex> &lock);

  const ImageSet &set_;
  LoaderOptions options_;
  Normalizer normalizer_;
  std::vector<uint32_t> order_;
  uint64_t epoch_ = 0;
  size_t nextBatch_ = 0, scheduled_ = 0, lastGlobal_ = 0;
  double waitSeconds_ = 0;

  std::vector<Slot> slots_;
  std::mutex m_;
  std::condition_variable work_, done_;
  std::deque<Task> queue_;
  int active_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

} // namespace rnc::data
