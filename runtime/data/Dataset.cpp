// Fashion-MNIST (or MNIST) in memory: images, labels and class names, read from IDX files.
#include "runtime/data/Dataset.h"

#include "runtime/data/DataError.h"
#include "runtime/data/Idx.h"

#include <filesystem>
#include <system_error>

namespace rnc::data {

namespace {

// `<dir>/<stem>.gz` when it exists, else `<dir>/<stem>` when that exists,
// else the `.gz` name, so that the error names the file Debian installs.
std::string pickFile(const std::string &dir, const std::string &stem) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path gz = fs::path(dir) / (stem + ".gz");
  fs::path plain = fs::path(dir) / stem;
  if (!fs::exists(gz, ec) && fs::exists(plain, ec))
    return plain.string();
  return gz.string();
}

} // namespace

const char *splitName(Split split) {
  return split == Split::Train ? "train" : "test";
}

std::optional<Split> parseSplit(const std::string &name) {
  if (name == "train")
    return Split::Train;
  if (name == "test" || name == "t10k")
    return Split::Test;
  return std::nullopt;
}

std::string FashionMnist::imagesFile(const std::string &dir, Split split) {
  return pickFile(dir, std::string(split == Split::Train ? "train" : "t10k") +
                           "-images-idx3-ubyte");
}

std::string FashionMnist::labelsFile(const std::string &dir, Split split) {
  return pickFile(dir, std::string(split == Split::Train ? "train" : "t10k") +
                           "-labels-idx1-ubyte");
}

FashionMnist FashionMnist::load(const std::string &dir, Split split) {
  return loadFiles(imagesFile(dir, split), labelsFile(dir, split));
}

FashionMnist FashionMnist::loadFiles(const std::string &imagesPath,
                                     const std::string &labelsPath) {
  IdxArray images = readIdx(imagesPath);
  if (images.dims.size() != 3 || images.dims[1] != kRows ||
      images.dims[2] != kCols)
    throw DataError(imagesPath,
                    "expected images of N x 28 x 28 (IDX magic 0x00000803), "
                    "found dims " + formatDims(images.dims));
  if (images.dims[0] == 0)
    throw DataError(imagesPath, "holds no images (dims " +
                                    formatDims(images.dims) + ")");

  IdxArray labels = readIdx(labelsPath);
  if (labels.dims.size() != 1)
    throw DataError(labelsPath,
                    "expected a 1-d array of labels (IDX magic 0x00000801), "
                    "found dims " + formatDims(labels.dims));
  if (labels.dims[0] != images.dims[0])
    throw DataError(labelsPath,
                    "holds " + std::to_string(labels.dims[0]) +
                        " labels but " + imagesPath + " holds " +
                        std::to_string(images.dims[0]) +
                        " images: the counts must match");
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kClasses)
      throw DataError(labelsPath,
                      "label " + std::to_string(labels.data[i]) +
                          " at index " + std::to_string(i) +
                          " is out of range [0, " +
                          std::to_string(kClasses - 1) + "]");
  }

  FashionMnist out;
  out.images = std::move(images.data);
  out.labels = std::move(labels.data);
  return out;
}

const std::array<const char *, FashionMnist::kClasses> &
FashionMnist::classNames() {
  static const std::array<const char *, kClasses> names = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

} // namespace rnc::data
