// Loader: batches of an ImageSet in a seeded order, prepared (decode, augment, normalize) by worker threads ahead of use.
#include "runtime/data/Loader.h"

#include "runtime/data/Shuffle.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace rnc::data {

namespace {

constexpr int kMaxThreads = 64;
constexpr int kMaxPrefetch = 64;
constexpr int kMaxBatch = 1 << 20;
// Images per task: small enough to spread a batch over the workers.
constexpr size_t kTaskImages = 16;

const LoaderOptions &checked(const LoaderOptions &o, const ImageSet &s) {
  auto bad = [](const std::string &what) {
    throw std::invalid_argument("data loader: " + what);
  };
  if (o.batchSize < 1 || o.batchSize > kMaxBatch)
    bad("batch size must be in [1, " + std::to_string(kMaxBatch) + "], got " +
        std::to_string(o.batchSize));
  if (o.threads < 1 || o.threads > kMaxThreads)
    bad("threads must be in [1, " + std::to_string(kMaxThreads) + "], got " +
        std::to_string(o.threads));
  if (o.prefetch < 1 || o.prefetch > kMaxPrefetch)
    bad("prefetch must be in [1, " + std::to_string(kMaxPrefetch) +
        "] batches, got " + std::to_string(o.prefetch));
  if (o.augment.cropPadding < 0 || o.augment.cropPadding > 1024)
    bad("crop padding must be in [0, 1024], got " +
        std::to_string(o.augment.cropPadding));
  if (!(o.augment.erasing >= 0 && o.augment.erasing <= 1))
    bad("random erasing probability must be in [0, 1]");
  if (o.shards < 1 || o.shard < 0 || o.shard >= o.shards)
    bad("shard " + std::to_string(o.shard) + " of " +
        std::to_string(o.shards) + " does not exist");
  if (o.batchSize < o.shards)
    bad("batch size " + std::to_string(o.batchSize) + " is below the " +
        std::to_string(o.shards) + " shards");
  if (s.size() > std::numeric_limits<uint32_t>::max())
    bad("data set too large");
  return o;
}

} // namespace

Loader::Loader(const ImageSet &set, const LoaderOptions &options)
    : set_(set), options_(checked(options, set)),
      normalizer_(options.mean, options.std, set.shape().channels) {
  // Indices only: no image is prepared, so no slot or worker is needed.
  if (!options_.indicesOnly) {
    slots_.resize(static_cast<size_t>(options_.prefetch));
    for (Slot &s : slots_) {
      s.x.resize(batchFloats());
      s.y.resize(static_cast<size_t>(options_.batchSize));
    }
    for (int t = 0; t < options_.threads; ++t)
      workers_.emplace_back(&Loader::workerLoop, this);
  }
  startEpoch(0);
}

Loader::~Loader() {
  {
    std::unique_lock<std::mutex> lock(m_);
    stop_ = true;
    queue_.clear();
  }
  work_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

size_t Loader::batchesPerEpoch() const {
  size_t b = static_cast<size_t>(options_.batchSize);
  size_t tail = order_.size() % b;
  return order_.size() / b +
         (tail >= static_cast<size_t>(options_.shards) ? 1 : 0);
}

size_t Loader::batchFloats() const {
  return static_cast<size_t>(options_.batchSize) * set_.shape().values();
}

void Loader::drain(std::unique_lock<std::mutex> &lock) {
  queue_.clear();
  done_.wait(lock, [&] { return active_ == 0; });
}

void Loader::startEpoch(uint64_t epoch) {
  std::unique_lock<std::mutex> lock(m_);
  drain(lock);
  size_t n = set_.size();
  if (options_.limit > 0)
    n = std::min(n, options_.limit);
  uint32_t n32 = static_cast<uint32_t>(n);
  order_ = options_.shuffle ? shuffledOrder(n32, options_.seed, epoch)
                            : sequentialOrder(n32);
  epoch_ = epoch;
  nextBatch_ = scheduled_ = 0;
  waitSeconds_ = 0;
  while (!options_.indicesOnly && scheduled_ < batchesPerEpoch() &&
         scheduled_ < static_cast<size_t>(options_.prefetch))
    schedule(scheduled_++);
  lock.unlock();
  work_.notify_all();
}

void Loader::shareOf(size_t b, size_t *global, size_t *count,
                     size_t *first) const {
  const size_t bs = static_cast<size_t>(options_.batchSize);
  const size_t shards = static_cast<size_t>(options_.shards);
  const size_t shard = static_cast<size_t>(options_.shard);
  *global = std::min(bs, order_.size() - b * bs);
  const size_t base = *global / shards, extra = *global % shards;
  *count = base + (shard < extra ? 1 : 0);
  *first = b * bs + shard * base + std::min(shard, extra);
}

void Loader::schedule(size_t b) {
  Slot &s = slots_[b % slots_.size()];
  s.batch = b;
  shareOf(b, &s.global, &s.count, &s.first);
  s.remaining = s.count;
  s.error = nullptr;
  for (size_t begin = 0; begin < s.count; begin += kTaskImages)
    queue_.push_back({b % slots_.size(), begin,
                      std::min(s.count, begin + kTaskImages)});
}

void Loader::workerLoop() {
  std::unique_lock<std::mutex> lock(m_);
  for (;;) {
    work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_)
      return;
    Task t = queue_.front();
    queue_.pop_front();
    ++active_;
    lock.unlock();
    std::exception_ptr error;
    size_t errorAt = 0;
    try {
      prepare(t.slot, t.begin, t.end);
    } catch (const PrepareError &e) {
      error = e.error;
      errorAt = e.position;
    } catch (...) { // out of memory: fail the batch, not the process
      error = std::current_exception();
      errorAt = t.begin;
    }
    lock.lock();
    --active_;
    Slot &s = slots_[t.slot];
    if (error && (!s.error || errorAt < s.errorAt)) {
      s.error = error;
      s.errorAt = errorAt;
    }
    s.remaining -= t.end - t.begin;
    done_.notify_all();
  }
}

void Loader::prepare(size_t slot, size_t begin, size_t end) {
  Slot &s = slots_[slot];
  const Shape shape = set_.shape();
  const size_t values = shape.values();
  const size_t first = s.first;
  const bool augment = options_.augment.any();
  std::vector<uint8_t> pixels(values);
  for (size_t k = begin; k < end; ++k) {
    const uint32_t idx = order_[first + k];
    try {
      set_.load(idx, pixels.data());
    } catch (...) {
      throw PrepareError{std::current_exception(), k};
    }
    Draw d;
    if (augment) {
      SampleRng rng(options_.seed, epoch_, idx);
      d = drawAugment(options_.augment, shape.height, shape.width, rng);
    }
    toTensor(pixels.data(), shape, options_.augment.cropPadding, d,
             normalizer_, s.x.data() + k * values);
    s.y[k] = set_.label(idx);
  }
}

size_t Loader::nextIndices(int32_t *index, Draw *draws) {
  if (!options_.indicesOnly)
    throw std::logic_error("Loader::nextIndices needs indicesOnly");
  const bool augment = options_.augment.any();
  if (augment && !draws)
    throw std::logic_error("Loader::nextIndices: augmentation needs draws");
  if (nextBatch_ >= batchesPerEpoch())
    return 0;
  size_t count = 0, first = 0;
  shareOf(nextBatch_++, &lastGlobal_, &count, &first);
  const Shape shape = set_.shape();
  for (size_t i = 0; i < count; ++i) {
    const uint32_t idx = order_[first + i];
    index[i] = static_cast<int32_t>(idx);
    if (augment) {
      SampleRng rng(options_.seed, epoch_, idx);
      draws[i] = drawAugment(options_.augment, shape.height, shape.width, rng);
    }
  }
  return count;
}

size_t Loader::next(float *x, int32_t *y) {
  if (options_.indicesOnly)
    throw std::logic_error("Loader::next: the loader hands out indices only");
  std::unique_lock<std::mutex> lock(m_);
  if (nextBatch_ >= batchesPerEpoch())
    return 0;
  Slot &s = slots_[nextBatch_ % slots_.size()];
  if (s.remaining > 0) {
    auto start = std::chrono::steady_clock::now();
    done_.wait(lock, [&] { return s.remaining == 0; });
    waitSeconds_ += std::chrono::duration<double>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  }
  if (s.error) {
    std::exception_ptr e = s.error;
    drain(lock);
    nextBatch_ = batchesPerEpoch(); // the epoch cannot go on
    std::rethrow_exception(e);
  }
  const size_t count = s.count;
  lastGlobal_ = s.global;
  std::memcpy(x, s.x.data(), count * set_.shape().values() * sizeof(float));
  std::memcpy(y, s.y.data(), count * sizeof(int32_t));
  ++nextBatch_;
  if (scheduled_ < batchesPerEpoch()) {
    schedule(scheduled_++);
    lock.unlock();
    work_.notify_all();
  }
  return count;
}

} // namespace rnc::data
