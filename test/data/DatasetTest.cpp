// Tests of FashionMnist: the real Debian files, and checks on generated pairs of files.
#include "runtime/data/DataError.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/Loader.h"
#include "runtime/data/Augment.h"
#include "runtime/data/Formats.h"
#include "runtime/data/Scan.h"

#include "IdxFiles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <numeric>

namespace rnc::data {
namespace {

using test::Bytes;
using test::gzip;
using test::idxBytes;
using test::ramp;
using test::TempDir;

// The real files are read once for all tests (about a second for train).
class RealData : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    train_ = std::make_unique<FashionMnist>(
        FashionMnist::load(FashionMnist::kDebianDir, Split::Train));
    test_ = std::make_unique<FashionMnist>(
        FashionMnist::load(FashionMnist::kDebianDir, Split::Test));
  }
  static void TearDownTestSuite() {
    train_.reset();
    test_.reset();
  }
  static std::unique_ptr<FashionMnist> train_, test_;
};
std::unique_ptr<FashionMnist> RealData::train_, RealData::test_;

std::array<size_t, 10> histogram(const std::vector<uint8_t> &labels) {
  std::array<size_t, 10> h{};
  for (uint8_t l : labels)
    ++h.at(l);
  return h;
}

// Facts below were checked against the files with Python's gzip module.
TEST_F(RealData, Sizes) {
  EXPECT_EQ(train_->size(), 60000u);
  EXPECT_EQ(train_->images.size(), 60000u * 28 * 28);
  EXPECT_EQ(test_->size(), 10000u);
  EXPECT_EQ(test_->images.size(), 10000u * 28 * 28);
}

TEST_F(RealData, LabelHistogramIsBalanced) {
  for (size_t n : histogram(train_->labels))
    EXPECT_EQ(n, 6000u);
  for (size_t n : histogram(test_->labels))
    EXPECT_EQ(n, 1000u);
}

TEST_F(RealData, FirstSamples) {
  EXPECT_EQ(train_->labels[0], 9);
  EXPECT_STREQ(FashionMnist::classNames()[train_->labels[0]], "Ankle boot");
  EXPECT_EQ((std::vector<uint8_t>(train_->labels.begin(), train_->labels.begin() + 5)),
            (std::vector<uint8_t>{9, 0, 0, 3, 0}));
  EXPECT_EQ((std::vector<uint8_t>(test_->labels.begin(), test_->labels.begin() + 5)),
            (std::vector<uint8_t>{9, 2, 1, 1, 6}));
  const uint8_t *img = train_->image(0);
  EXPECT_EQ(std::accumulate(img, img + 784, 0u), 76247u);
  EXPECT_EQ(std::count_if(img, img + 784, [](uint8_t p) { return p != 0; }), 433);
}

TEST_F(RealData, MeanAndStdMatchTheConstants) {
  // Over all 47,040,000 training pixels, in integers then doubles.
  uint64_t sum = 0, sumSq = 0;
  for (uint8_t p : train_->images) {
    sum += p;
    sumSq += uint64_t(p) * p;
  }
  EXPECT_EQ(sum, 3431114169u);
  double n = static_cast<double>(train_->images.size());
  double m1 = static_cast<double>(sum) / n, m2 = static_cast<double>(sumSq) / n;
  double mean = m1 / 255.0;
  double var = (m2 - m1 * m1) / (255.0 * 255.0);
  EXPECT_NEAR(mean, 0.2860406, 1e-7);
  EXPECT_NEAR(std::sqrt(var), 0.3530242, 1e-7);
  EXPECT_NEAR(kFashionMnistMean, mean, 1e-7);
  EXPECT_NEAR(kFashionMnistStd, std::sqrt(var), 1e-7);
}

// The scan of the training split at 28x28 gives the statistics computed
// with numpy from the files: mean 0.28604059699..., std 0.35302424451...
// (the float nearest the std is one ulp above the 7-digit constant).
TEST_F(RealData, ScanGivesTheStatistics) {
  auto set = openIdx(FashionMnist::kDebianDir, Split::Train, 28, 28);
  ScanResult r = scan(*set, 2, true);
  EXPECT_EQ(r.images, 60000u);
  EXPECT_EQ(r.channels, 1);
  EXPECT_NEAR(r.mean[0], 0.2860405970, 1e-10);
  EXPECT_NEAR(r.std[0], 0.3530242445, 1e-10);
  EXPECT_EQ(static_cast<float>(r.mean[0]), kFashionMnistMean);
  EXPECT_NEAR(static_cast<float>(r.std[0]), kFashionMnistStd, 3e-8);
  EXPECT_EQ(set->classNames()[9], "Ankle boot");
  EXPECT_EQ(set->label(0), 9);
}

TEST_F(RealData, FullEpochThroughTheLoader) {
  LoaderOptions o;
  o.batchSize = 256;
  o.seed = 1;
  auto set = openIdx(FashionMnist::kDebianDir, Split::Train, 32, 32);
  Loader loader(*set, o);
  std::vector<float> x(loader.batchFloats());
  std::vector<int32_t> y(256);
  std::array<size_t, 10> seen{};
  size_t batches = 0, images = 0;
  float lo = 1e9f, hi = -1e9f;
  while (size_t b = loader.next(x.data(), y.data())) {
    ++batches;
    images += b;
    for (size_t k = 0; k < b; ++k)
      ++seen.at(static_cast<size_t>(y[k]));
    auto [mn, mx] = std::minmax_element(x.begin(), x.begin() + static_cast<long>(b * 1024));
    lo = std::min(lo, *mn);
    hi = std::max(hi, *mx);
  }
  EXPECT_EQ(batches, 235u); // 234 x 256 + 96
  EXPECT_EQ(images, 60000u);
  for (size_t n : seen)
    EXPECT_EQ(n, 6000u);
  EXPECT_NEAR(lo, -kFashionMnistMean / kFashionMnistStd, 1e-5);
  EXPECT_NEAR(hi, (1 - kFashionMnistMean) / kFashionMnistStd, 1e-5);
}

TEST(Dataset, ClassNamesAndSplits) {
  const auto &names = FashionMnist::classNames();
  EXPECT_STREQ(names[0], "T-shirt/top");
  EXPECT_STREQ(names[1], "Trouser");
  EXPECT_STREQ(names[2], "Pullover");
  EXPECT_STREQ(names[3], "Dress");
  EXPECT_STREQ(names[4], "Coat");
  EXPECT_STREQ(names[5], "Sandal");
  EXPECT_STREQ(names[6], "Shirt");
  EXPECT_STREQ(names[7], "Sneaker");
  EXPECT_STREQ(names[8], "Bag");
  EXPECT_STREQ(names[9], "Ankle boot");
  EXPECT_EQ(parseSplit("train"), Split::Train);
  EXPECT_EQ(parseSplit("test"), Split::Test);
  EXPECT_EQ(parseSplit("t10k"), Split::Test);
  EXPECT_EQ(parseSplit("validation"), std::nullopt);
  EXPECT_STREQ(splitName(Split::Test), "test");
}

// Loads a pair of generated files and returns the DataError message.
std::string loadError(const std::string &images, const std::string &labels) {
  try {
    FashionMnist::loadFiles(images, labels);
  } catch (const DataError &e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Dataset, LoadsGeneratedFilesPlainOrGzip) {
  TempDir dir;
  Bytes images = idxBytes({3, 28, 28}, ramp(3 * 784, 5));
  Bytes labels = idxBytes({3}, {0, 9, 5});
  dir.write("train-images-idx3-ubyte", images); // plain: the fallback
  dir.write("train-labels-idx1-ubyte.gz", gzip(labels));
  FashionMnist d = FashionMnist::load(dir.path().string(), Split::Train);
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.labels, (std::vector<uint8_t>{0, 9, 5}));
  EXPECT_EQ(d.image(2)[0], static_cast<uint8_t>(5 + 2 * 784));
}

TEST(Dataset, MissingFilesNameThePackage) {
  std::string dir = std::string(FashionMnist::kDebianDir) + "/no-such-dir";
  try {
    FashionMnist::load(dir, Split::Test);
    FAIL() << "expected a DataError";
  } catch (const DataError &e) {
    EXPECT_EQ(e.file(), dir + "/t10k-images-idx3-ubyte.gz");
    EXPECT_NE(std::string(e.what()).find("apt-get install dataset-fashion-mnist"),
              std::string::npos) << e.what();
  }
}

TEST(Dataset, CountMismatch) {
  TempDir dir;
  std::string images = dir.write("i.gz", gzip(idxBytes({3, 28, 28}, Bytes(3 * 784))));
  std::string labels = dir.write("l.gz", gzip(idxBytes({2}, {1, 2})));
  EXPECT_EQ(loadError(images, labels),
            labels + ": holds 2 labels but " + images +
                " holds 3 images: the counts must match");
}

TEST(Dataset, LabelOutOfRange) {
  TempDir dir;
  std::string images = dir.write("i", idxBytes({3, 28, 28}, Bytes(3 * 784)));
  std::string labels = dir.write("l", idxBytes({3}, {1, 10, 2}));
  EXPECT_EQ(loadError(images, labels),
            labels + ": label 10 at index 1 is out of range [0, 9]");
  labels = dir.write("l255", idxBytes({3}, {1, 2, 255}));
  EXPECT_EQ(loadError(images, labels),
            labels + ": label 255 at index 2 is out of range [0, 9]");
}

TEST(Dataset, WrongShapes) {
  TempDir dir;
  std::string labels = dir.write("l", idxBytes({2}, {1, 2}));
  std::string big = dir.write("big", idxBytes({2, 32, 32}, Bytes(2 * 1024)));
  EXPECT_EQ(loadError(big, labels),
            big + ": expected images of N x 28 x 28 (IDX magic 0x00000803), "
                  "found dims 2x32x32");
  // Swapped arguments: a labels file given as images.
  EXPECT_NE(loadError(labels, labels).find("found dims 2"), std::string::npos);
  std::string images = dir.write("i", idxBytes({2, 28, 28}, Bytes(2 * 784)));
  EXPECT_NE(loadError(images, images).find(
                images + ": expected a 1-d array of labels"),
            std::string::npos);
  std::string none = dir.write("none", idxBytes({0, 28, 28}, {}));
  EXPECT_EQ(loadError(none, labels), none + ": holds no images (dims 0x28x28)");
}

} // namespace
} // namespace rnc::data
