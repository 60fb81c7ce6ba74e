// Tests of the epoch order (against a Python reference) and of the batching Loader.
#include "runtime/data/Loader.h"
#include "runtime/data/Shuffle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace rnc::data {
namespace {

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

// A synthetic data set whose image i has pixel 0 = i % 256, pixel 1 = i / 256
// and label i % 10, so a batch can be decoded back to image indices.
FashionMnist synthetic(size_t n) {
  FashionMnist d;
  d.images.assign(n * FashionMnist::kPixels, 0);
  d.labels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    d.images[i * FashionMnist::kPixels] = static_cast<uint8_t>(i % 256);
    d.images[i * FashionMnist::kPixels + 1] = static_cast<uint8_t>(i / 256);
    for (int p = 2; p < FashionMnist::kPixels; ++p)
      d.images[i * FashionMnist::kPixels + p] =
          static_cast<uint8_t>((i * 31 + static_cast<size_t>(p) * 7) % 256);
    d.labels[i] = static_cast<uint8_t>(i % 10);
  }
  return d;
}

// Options that keep pixels decodable: 28x28, x = pixel / 255.
LoaderOptions plain(int batch, uint64_t seed) {
  LoaderOptions o;
  o.batchSize = batch;
  o.seed = seed;
  o.mean = 0.0f;
  o.std = 1.0f;
  return o;
}

struct Epoch {
  std::vector<size_t> batchSizes;
  std::vector<uint32_t> indices; // decoded from the pixels
  std::vector<int32_t> labels;
  std::vector<float> x;          // every batch, concatenated
};

Epoch runEpoch(Loader &loader, uint64_t epoch) {
  loader.startEpoch(epoch);
  const LoaderOptions &o = loader.options();
  const size_t pixels = static_cast<size_t>(o.height) * o.width;
  std::vector<float> x(loader.batchFloats(), NAN);
  std::vector<int32_t> y(static_cast<size_t>(o.batchSize), -1);
  Epoch out;
  while (size_t b = loader.next(x.data(), y.data())) {
    out.batchSizes.push_back(b);
    for (size_t k = 0; k < b; ++k) {
      const float *img = x.data() + k * pixels;
      if (o.height == 28 && o.width == 28 && o.mean == 0.0f && o.std == 1.0f)
        out.indices.push_back(static_cast<uint32_t>(std::lround(img[0] * 255)) +
                              256 * static_cast<uint32_t>(std::lround(img[1] * 255)));
      out.labels.push_back(y[k]);
    }
    out.x.insert(out.x.end(), x.begin(), x.begin() + static_cast<long>(b * pixels));
  }
  EXPECT_EQ(loader.next(x.data(), y.data()), 0u) << "still 0 after the end";
  return out;
}

TEST(Loader, EveryImageOncePerEpochInTheLoaderOrder) {
  FashionMnist d = synthetic(1000);
  Loader loader(d, plain(64, 3));
  for (uint64_t e : {0, 1, 2}) {
    Epoch ep = runEpoch(loader, e);
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
  FashionMnist d = synthetic(1000);
  Loader loader(d, plain(64, 0));
  EXPECT_EQ(loader.batchesPerEpoch(), 16u);
  Epoch ep = runEpoch(loader, 0);
  ASSERT_EQ(ep.batchSizes.size(), 16u);
  for (size_t i = 0; i < 15; ++i)
    EXPECT_EQ(ep.batchSizes[i], 64u);
  EXPECT_EQ(ep.batchSizes[15], 1000u - 15 * 64);

  Loader exact(d, plain(100, 0));
  EXPECT_EQ(runEpoch(exact, 0).batchSizes, std::vector<size_t>(10, 100));
  Loader one(d, plain(5000, 0));
  EXPECT_EQ(runEpoch(one, 0).batchSizes, std::vector<size_t>{1000});
}

TEST(Loader, SeedsAndEpochs) {
  FashionMnist d = synthetic(500);
  Loader a(d, plain(32, 11)), b(d, plain(32, 11)), c(d, plain(32, 12));
  Epoch a0 = runEpoch(a, 0);
  EXPECT_EQ(a0.indices, runEpoch(b, 0).indices);
  EXPECT_EQ(a0.x, runEpoch(b, 0).x);
  EXPECT_NE(a0.indices, runEpoch(c, 0).indices);
  EXPECT_NE(a0.indices, runEpoch(a, 1).indices);
  EXPECT_EQ(a0.indices, runEpoch(a, 0).indices) << "restarting an epoch repeats it";

  LoaderOptions o = plain(32, 11);
  o.shuffle = false;
  Loader s(d, o);
  EXPECT_EQ(runEpoch(s, 5).indices, sequentialOrder(500));
}

TEST(Loader, Limit) {
  FashionMnist d = synthetic(1000);
  LoaderOptions o = plain(30, 4);
  o.limit = 100;
  Loader loader(d, o);
  EXPECT_EQ(loader.size(), 100u);
  Epoch ep = runEpoch(loader, 0);
  EXPECT_EQ(ep.batchSizes, (std::vector<size_t>{30, 30, 30, 10}));
  std::vector<uint32_t> sorted = ep.indices;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, sequentialOrder(100));

  o.limit = 5000; // more than there is: all of it
  Loader all(d, o);
  EXPECT_EQ(all.size(), 1000u);
}

TEST(Loader, OutputIndependentOfThreadsAndPrefetch) {
  FashionMnist d = synthetic(700);
  LoaderOptions base;
  base.batchSize = 50;
  base.seed = 9;
  base.height = 32;
  base.width = 40;
  Epoch reference;
  {
    LoaderOptions o = base;
    o.threads = 1;
    o.prefetch = false;
    Loader loader(d, o);
    reference = runEpoch(loader, 2);
  }
  ASSERT_EQ(reference.x.size(), 700u * 32 * 40);
  for (int threads : {1, 2, 3, 8}) {
    for (bool prefetch : {false, true}) {
      LoaderOptions o = base;
      o.threads = threads;
      o.prefetch = prefetch;
      Loader loader(d, o);
      Epoch ep = runEpoch(loader, 2);
      EXPECT_EQ(ep.labels, reference.labels) << threads << " " << prefetch;
      ASSERT_EQ(ep.x.size(), reference.x.size());
      EXPECT_EQ(std::memcmp(ep.x.data(), reference.x.data(),
                            ep.x.size() * sizeof(float)), 0)
          << threads << " threads, prefetch " << prefetch;
    }
  }
}

TEST(Loader, BatchMatchesPreprocessOfEachImage) {
  FashionMnist d = synthetic(40);
  LoaderOptions o;
  o.batchSize = 16;
  o.height = o.width = 32;
  Loader loader(d, o);
  std::vector<float> x(loader.batchFloats());
  std::vector<int32_t> y(16);
  ASSERT_EQ(loader.next(x.data(), y.data()), 16u);
  Preprocess pre{ResizePlan(28, 28, 32, 32), o.mean, o.std};
  std::vector<float> one(32 * 32);
  for (size_t k = 0; k < 16; ++k) {
    uint32_t idx = loader.order()[k];
    pre(d.image(idx), one.data());
    EXPECT_EQ(std::memcmp(one.data(), x.data() + k * 1024, 1024 * sizeof(float)), 0);
    EXPECT_EQ(y[k], d.labels[idx]);
  }
}

TEST(Loader, EmptyDataSetHasNoBatches) {
  FashionMnist d;
  Loader loader(d, plain(8, 0));
  EXPECT_EQ(loader.batchesPerEpoch(), 0u);
  EXPECT_TRUE(runEpoch(loader, 0).batchSizes.empty());
}

TEST(Loader, RejectsBadOptions) {
  FashionMnist d = synthetic(10);
  auto with = [](auto change) {
    LoaderOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.batchSize = 0; })),
               std::invalid_argument);
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.threads = 0; })),
               std::invalid_argument);
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.height = 0; })),
               std::invalid_argument);
  EXPECT_THROW(Loader(d, with([](LoaderOptions &o) { o.std = 0; })),
               std::invalid_argument);
  FashionMnist broken = synthetic(10);
  broken.labels.push_back(0); // 11 labels, 10 images
  EXPECT_THROW(Loader(broken, LoaderOptions{}), std::invalid_argument);
}

} // namespace
} // namespace rnc::data
