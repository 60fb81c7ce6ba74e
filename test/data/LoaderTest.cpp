// Tests of the epoch order (against a Python reference) and of the worker-pool Loader.
#include "runtime/data/Loader.h"
#include "runtime/data/Shuffle.h"

#include "MemorySet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace rnc::data {
namespace {

using test::MemorySet;

// Expected orders were computed by a separate Python implementation of
// std::mt19937_64 (checked against the standard's 10000th output), splitmix64
// and the same Fisher-Yates loop.
TEST(Shuffle, MatchesTheReferenceImplementation) {
  EXPECT_EQ(shuffledOrder(10, 42, 0),
            (std::vector<uint32_t>{9, 6, 2, 0, 1, 4, 3, 8, 5, 7}));
  EXPECT_EQ(shuffledOrder(10, 42, 1),
            (std::vector<uint32_t>{5, 4, 1, 3, 0, 2, 7, 8, 6, 9}));
  EXPECT_EQ(shuffledOrder(20, 7, 3),
            (std::vector<uint32_t>{15, 12, 1, 13, 8, 9, 11, 7, 19, 17, 0, 18,
                                   3, 6, 10, 14, 16, 5, 4, 2}));
  std::mt19937_64 rng; // default seed 5489
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ull);
}

TEST(Shuffle, IsAPermutationAndRoughlyUniform) {
  // Each of 6 positions of a 6-element shuffle sees each value ~1/6 of the time.
  std::array<std::array<int, 6>, 6> counts{};
  for (uint64_t e = 0; e < 6000; ++e) {
    std::vector<uint32_t> o = shuffledOrder(6, 1, e);
    std::vector<uint32_t> sorted = o;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted, sequentialOrder(6));
    for (int p = 0; p < 6; ++p)
      ++counts[p][o[p]];
  }
  for (auto &row : counts)
    for (int c : row)
      EXPECT_NEAR(c, 1000, 150);
  EXPECT_TRUE(shuffledOrder(0, 1, 0).empty());
  EXPECT_EQ(shuffledOrder(1, 1, 0), std::vector<uint32_t>{0});
}

constexpr Shape kGray28{1, 28, 28};

// Options that keep pixels decodable: x = pixel / 255.
LoaderOptions plain(int batch, uint64_t seed) {
  LoaderOptions o;
  o.batchSize = batch;
  o.seed = seed;
  o.mean = {0.0f};
  o.std = {1.0f};
  return o;
}

struct Epoch {
  std::vector<size_t> batchSizes;
  std::vector<uint32_t> indices; // decoded from the pixels
  std::vector<int32_t> labels;
  std::vector<float> x;          // every batch, concatenated
  double wait = 0;
};

Epoch runEpoch(Loader &loader, const ImageSet &set, uint64_t epoch) {
  loader.startEpoch(epoch);
  const LoaderOptions &o = loader.options();
  const size_t values = set.shape().values();
  const bool decodable = o.mean[0] == 0.0f && o.std[0] == 1.0f;
  std::vector<float> x(loader.batchFloats(), NAN);
  std::vector<int32_t> y(static_cast<size_t>(o.batchSize), -1);
  Epoch out;
  while (size_t b = loader.next(x.data(), y.data())) {
    out.batchSizes.push_back(b);
    for (size_t k = 0; k < b; ++k) {
      const float *img = x.data() + k * values;
      if (decodable)
        out.indices.push_back(static_cast<uint32_t>(std::lround(img[0] * 255)) +
                              256 * static_cast<uint32_t>(std::lround(img[1] * 255)));
      out.labels.push_back(y[k]);
    }
    out.x.insert(out.x.end(), x.begin(), x.begin() + static_cast<long>(b * values));
  }
  EXPECT_EQ(loader.next(x.data(), y.data()), 0u) << "still 0 after the end";
  out.wait = loader.waitSeconds();
  return out;
}

TEST(Loader, EveryImageOncePerEpochInTheLoaderOrder) {
  MemorySet d(1000, kGray28);
  Loader loader(d, plain(64, 3));
  for (uint64_t e : {0, 1, 2}) {
    Epoch ep = runEpoch(loader, d, e);
    EXPECT_EQ(ep.indices, loader.order());
    EXPECT_EQ(loader.order(), shuffledOrder(1000, 3, e));
    std::vector<uint32_t> sorted = ep.indices;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, sequentialOrder(1000));
    for (size_t k = 0; k < ep.labels.size(); ++k)
      ASSERT_EQ(ep.labels[k], static_cast<int32_t>(ep.indices[k] % 10));
  }
}

TEST(Loader, RaggedLastBatch) {
  MemorySet d(1000, kGray28);
  Loader loader(d, plain(64, 0));
  EXPECT_EQ(loader.batchesPerEpoch(), 16u);
  Epoch ep = runEpoch(loader, d, 0);
  ASSERT_EQ(ep.batchSizes.size(), 16u);
  for (size_t i = 0; i < 15; ++i)
    EXPECT_EQ(ep.batchSizes[i], 64u);
  EXPECT_EQ(ep.batchSizes[15], 1000u - 15 * 64);

  Loader exact(d, plain(100, 0));
  EXPECT_EQ(runEpoch(exact, d, 0).batchSizes, std::vector<size_t>(10, 100));
  Loader one(d, plain(5000, 0));
  EXPECT_EQ(runEpoch(one, d, 0).batchSizes, std::vector<size_t>{1000});
}

// Data parallelism: 3 shards of a global batch of 64 over 1000 images take
// contiguous, disjoint shares of every batch in the one-shard order, as even
// as possible (22/21/21 of 64; the ragged 40 as 14/13/13), with the global
// size of each batch reported; together they are the one-shard epoch. A
// tail smaller than the shards is left out on every shard.
TEST(Loader, ShardsSplitEveryGlobalBatch) {
  MemorySet d(1000, kGray28);
  Loader whole(d, plain(64, 5));
  Epoch all = runEpoch(whole, d, 1);
  std::vector<Epoch> parts;
  for (int r = 0; r < 3; ++r) {
    LoaderOptions o = plain(64, 5);
    o.shards = 3;
    o.shard = r;
    Loader loader(d, o);
    EXPECT_EQ(loader.batchesPerEpoch(), 16u);
    parts.push_back(runEpoch(loader, d, 1));
    ASSERT_EQ(parts[r].batchSizes.size(), 16u);
    EXPECT_EQ(parts[r].batchSizes[0], r == 0 ? 22u : 21u);
    EXPECT_EQ(parts[r].batchSizes[15], r == 0 ? 14u : 13u);
    EXPECT_EQ(loader.lastGlobalBatch(), 40u);
  }
  std::vector<uint32_t> joined;
  for (size_t b = 0, at[3] = {0, 0, 0}; b < 16; ++b)
    for (int r = 0; r < 3; ++r) {
      size_t n = parts[r].batchSizes[b];
      joined.insert(joined.end(), parts[r].indices.begin() + long(at[r]),
                    parts[r].indices.begin() + long(at[r] + n));
      at[r] += n;
    }
  EXPECT_EQ(joined, all.indices);

  MemorySet d2(129, kGray28); // 2 x 64 + 1: the 1 image left over is left out
  LoaderOptions o = plain(64, 0);
  o.shards = 2;
  o.shard = 1;
  Loader tail(d2, o);
  EXPECT_EQ(runEpoch(tail, d2, 0).batchSizes, (std::vector<size_t>{32, 32}));
  o.batchSize = 1;
  EXPECT_THROW(Loader(d2, o), std::invalid_argument) << "batch below shards";
}

// indicesOnly: the positions next() would have loaded, batch by batch and
// shard by shard (the 3-shard geometry above, with a limit), reading no
// image; next() is refused.
TEST(Loader, IndicesOnlyGivesWhatNextWouldLoad) {
  MemorySet d(1000, kGray28);
  for (int shard = 0; shard < 3; ++shard) {
    LoaderOptions o = plain(64, 9);
    o.shards = 3;
    o.shard = shard;
    o.limit = 900;
    Loader images(d, o);
    o.indicesOnly = true;
    Loader indices(d, o);
    for (uint64_t e : {0, 2}) {
      Epoch ep = runEpoch(images, d, e);
      indices.startEpoch(e);
      std::vector<int32_t> index(64, -1);
      std::vector<size_t> sizes;
      std::vector<uint32_t> got;
      while (size_t b = indices.nextIndices(index.data())) {
        sizes.push_back(b);
        got.insert(got.end(), index.begin(), index.begin() + long(b));
      }
      EXPECT_EQ(indices.lastGlobalBatch(), 900u - 14 * 64);
      EXPECT_EQ(sizes, ep.batchSizes) << "shard " << shard << " epoch " << e;
      EXPECT_EQ(got, ep.indices) << "shard " << shard << " epoch " << e;
      EXPECT_EQ(indices.nextIndices(index.data()), 0u);
    }
    float x[28 * 28];
    int32_t y[64];
    EXPECT_THROW(indices.next(x, y), std::logic_error);
    int32_t index[64];
    EXPECT_THROW(images.nextIndices(index), std::logic_error);
  }
}

// indicesOnly with augmentation: each image's Draw, which applied to the
// image (toTensor) gives exactly the floats next() gives for it; without a
// place for the draws nextIndices refuses.
TEST(Loader, IndicesOnlyHandsOutTheDrawsNextWouldApply) {
  MemorySet d(300, kGray28);
  LoaderOptions o = plain(64, 4);
  o.mean = {0.25f};
  o.std = {0.5f};
  o.augment.cropPadding = 4;
  o.augment.hflip = true;
  o.augment.erasing = 0.5f;
  Loader images(d, o);
  o.indicesOnly = true;
  Loader indices(d, o);
  const Normalizer norm(o.mean, o.std, 1);
  const size_t values = d.shape().values();
  int flipped = 0, erased = 0;
  for (uint64_t e : {0, 3}) {
    Epoch ep = runEpoch(images, d, e);
    indices.startEpoch(e);
    std::vector<int32_t> index(64);
    std::vector<Draw> draws(64);
    std::vector<float> x;
    std::vector<uint8_t> pixels(values);
    std::vector<float> one(values);
    while (size_t b = indices.nextIndices(index.data(), draws.data()))
      for (size_t k = 0; k < b; ++k) {
        d.load(size_t(index[k]), pixels.data());
        toTensor(pixels.data(), d.shape(), 4, draws[k], norm, one.data());
        x.insert(x.end(), one.begin(), one.end());
        flipped += draws[k].flip;
        erased += draws[k].erase;
      }
    EXPECT_EQ(x, ep.x) << "epoch " << e;
  }
  EXPECT_GT(flipped, 100) << "the draws vary";
  EXPECT_GT(erased, 100);
  int32_t index[64];
  indices.startEpoch(0);
  EXPECT_THROW(indices.nextIndices(index), std::logic_error);
}

TEST(Loader, SeedsAndEpochs) {
  MemorySet d(500, kGray28);
  Loader a(d, plain(32, 11)), b(d, plain(32, 11)), c(d, plain(32, 12));
  Epoch a0 = runEpoch(a, d, 0);
  EXPECT_EQ(a0.indices, runEpoch(b, d, 0).indices);
  EXPECT_EQ(a0.x, runEpoch(b, d, 0).x);
  EXPECT_NE(a0.indices, runEpoch(c, d, 0).indices);
  EXPECT_NE(a0.indices, runEpoch(a, d, 1).indices);
  EXPECT_EQ(a0.indices, runEpoch(a, d, 0).indices) << "restarting an epoch repeats it";

  LoaderOptions o = plain(32, 11);
  o.shuffle = false;
  Loader s(d, o);
  EXPECT_EQ(runEpoch(s, d, 5).indices, sequentialOrder(500));
}

TEST(Loader, Limit) {
  MemorySet d(1000, kGray28);
  LoaderOptions o = plain(30, 4);
  o.limit = 100;
  Loader loader(d, o);
  EXPECT_EQ(loader.size(), 100u);
  Epoch ep = runEpoch(loader, d, 0);
  EXPECT_EQ(ep.batchSizes, (std::vector<size_t>{30, 30, 30, 10}));
  std::vector<uint32_t> sorted = ep.indices;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, sequentialOrder(100));

  o.limit = 5000; // more than there is: all of it
  Loader all(d, o);
  EXPECT_EQ(all.size(), 1000u);
}

// The determinism resume relies on: with augmentation on, every batch is
// the same bytes whatever the number of workers, the prefetch depth, or
// the timing (a slow set makes workers finish out of order).
TEST(Loader, OutputIndependentOfThreadsPrefetchAndTiming) {
  MemorySet d(700, Shape{3, 20, 24});
  LoaderOptions base;
  base.batchSize = 50;
  base.seed = 9;
  base.mean = {0.5f, 0.4f, 0.3f};
  base.std = {0.2f, 0.25f, 0.3f};
  base.augment.cropPadding = 3;
  base.augment.hflip = true;
  base.augment.erasing = 0.5f;
  Epoch reference;
  {
    LoaderOptions o = base;
    o.threads = 1;
    o.prefetch = 1;
    Loader loader(d, o);
    reference = runEpoch(loader, d, 2);
  }
  ASSERT_EQ(reference.x.size(), 700u * 3 * 20 * 24);
  for (int threads : {1, 2, 3, 8}) {
    for (int prefetch : {1, 2, 5}) {
      LoaderOptions o = base;
      o.threads = threads;
      o.prefetch = prefetch;
      Loader loader(d, o);
      Epoch ep = runEpoch(loader, d, 2);
      EXPECT_EQ(ep.labels, reference.labels) << threads << " " << prefetch;
      ASSERT_EQ(ep.x.size(), reference.x.size());
      EXPECT_EQ(std::memcmp(ep.x.data(), reference.x.data(),
                            ep.x.size() * sizeof(float)), 0)
          << threads << " threads, prefetch " << prefetch;
    }
  }
  MemorySet slow(120, Shape{3, 20, 24});
  slow.delay = std::chrono::microseconds(200);
  LoaderOptions o = base;
  o.threads = 4;
  Loader a(slow, o);
  o.threads = 1;
  Loader b(slow, o);
  Epoch ea = runEpoch(a, slow, 7), eb = runEpoch(b, slow, 7);
  EXPECT_EQ(ea.x, eb.x);
  // Another epoch augments differently.
  EXPECT_NE(runEpoch(a, slow, 8).x, ea.x);
}

TEST(Loader, BatchIsTheNormalizedImages) {
  MemorySet d(40, Shape{3, 5, 4});
  LoaderOptions o;
  o.batchSize = 16;
  o.mean = {0.1f, 0.2f, 0.3f};
  o.std = {0.5f, 0.25f, 2.0f};
  Loader loader(d, o);
  std::vector<float> x(loader.batchFloats());
  std::vector<int32_t> y(16);
  ASSERT_EQ(loader.next(x.data(), y.data()), 16u);
  for (size_t k = 0; k < 16; ++k) {
    uint32_t idx = loader.order()[k];
    Image img = d.loadNative(idx);
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 20; ++p) {
        float want = (img.pixels[static_cast<size_t>(p) * 3 + c] / 255.0f -
                      o.mean[c]) / o.std[c];
        ASSERT_EQ(x[k * 60 + static_cast<size_t>(c) * 20 + p], want)
            << "image " << idx << " channel " << c << " pixel " << p;
      }
    EXPECT_EQ(y[k], d.label(idx));
  }
}

TEST(Loader, ABadImageFailsItsBatchWithItsName) {
  MemorySet d(300, kGray28);
  d.failAt = 137;
  LoaderOptions o = plain(64, 5);
  o.threads = 3;
  Loader loader(d, o);
  std::vector<float> x(loader.batchFloats());
  std::vector<int32_t> y(64);
  size_t position = std::find(loader.order().begin(), loader.order().end(),
                              137u) - loader.order().begin();
  size_t good = position / 64;
  for (size_t b = 0; b < good; ++b)
    ASSERT_EQ(loader.next(x.data(), y.data()), 64u);
  try {
    loader.next(x.data(), y.data());
    FAIL() << "expected the DataError of image 137";
  } catch (const DataError &e) {
    EXPECT_STREQ(e.what(), "memory image 137: corrupt on purpose");
  }
  EXPECT_EQ(loader.next(x.data(), y.data()), 0u) << "the epoch is over";
  loader.startEpoch(1); // and a new one can start
}

TEST(Loader, WaitTimeIsMeasured) {
  MemorySet d(64, kGray28);
  d.delay = std::chrono::microseconds(2000);
  LoaderOptions o = plain(16, 1);
  o.threads = 1;
  o.prefetch = 1;
  Loader loader(d, o);
  // 64 images x 2 ms on one worker: the consumer waits most of ~128 ms.
  Epoch ep = runEpoch(loader, d, 0);
  EXPECT_GT(ep.wait, 0.05);
  EXPECT_LT(ep.wait, 5.0);
  loader.startEpoch(1);
  EXPECT_EQ(loader.waitSeconds(), 0.0) << "reset by startEpoch";
}

TEST(Loader, RestartingMidEpochAndDestroyingMidEpoch) {
  MemorySet d(500, kGray28);
  d.delay = std::chrono::microseconds(50);
  LoaderOptions o = plain(20, 3);
  o.threads = 4;
  o.prefetch = 4;
  Epoch whole;
  {
    Loader loader(d, o);
    whole = runEpoch(loader, d, 1);
  }
  Loader loader(d, o);
  std::vector<float> x(loader.batchFloats());
  std::vector<int32_t> y(20);
  loader.startEpoch(1);
  loader.next(x.data(), y.data());
  loader.next(x.data(), y.data());
  EXPECT_EQ(runEpoch(loader, d, 1).x, whole.x) << "a restart is a full epoch";
  loader.startEpoch(2);
  loader.next(x.data(), y.data());
  // The destructor stops the workers with batches still queued.
}

TEST(Loader, EmptySetHasNoBatches) {
  MemorySet d(0, kGray28);
  Loader loader(d, plain(8, 0));
  EXPECT_EQ(loader.batchesPerEpoch(), 0u);
  EXPECT_TRUE(runEpoch(loader, d, 0).batchSizes.empty());
}

TEST(Loader, RejectsBadOptions) {
  MemorySet d(10, kGray28);
  auto with = [](auto change) {
    LoaderOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.batchSize = 0; })),
               std::invalid_argument);
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.threads = 0; })),
               std::invalid_argument);
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.prefetch = 0; })),
               std::invalid_argument);
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.std = {0.0f}; })),
               std::invalid_argument);
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.mean = {0.1f, 0.2f}; })),
               std::invalid_argument)
      << "two means for one channel";
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.augment.erasing = 1.5f; })),
               std::invalid_argument);
}

} // namespace
} // namespace rnc::data
