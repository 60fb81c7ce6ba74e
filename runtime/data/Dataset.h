// Fashion-MNIST (or MNIST) in memory: images, labels and class names, read from IDX files.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rnc::data {

enum class Split { Train, Test };

/// "train" or "test".
const char *splitName(Split split);
/// Accepts "train", "test" and "t10k" (the file prefix of the test split).
std::optional<Split> parseSplit(const std::string &name);

/// One split of Fashion-MNIST: N grayscale 28x28 images and their labels.
struct FashionMnist {
  static constexpr int kRows = 28;
  static constexpr int kCols = 28;
  static constexpr int kPixels = kRows * kCols;
  static constexpr int kClasses = 10;
  /// Where Debian's dataset-fashion-mnist package installs the files.
  static constexpr const char *kDebianDir = "/usr/share/datasets/fashion-mnist";

  std::vector<uint8_t> images; // [N, 28, 28], row-major, 0 = background
  std::vector<uint8_t> labels; // [N], each in [0, kClasses)

  size_t size() const { return labels.size(); }
  const uint8_t *image(size_t i) const { return images.data() + i * kPixels; }

  /// Loads `<dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`, or the
  /// same names without `.gz` when only those exist. Throws DataError.
  static FashionMnist load(const std::string &dir, Split split);
  /// The files load() reads.
  static std::string imagesFile(const std::string &dir, Split split);
  static std::string labelsFile(const std::string &dir, Split split);

  /// Loads and checks a pair of IDX files: images N x 28 x 28, labels N,
  /// every label in [0, 9]. Throws DataError naming the offending file.
  static FashionMnist loadFiles(const std::string &imagesPath,
                                const std::string &labelsPath);

  /// "T-shirt/top", "Trouser", ..., "Ankle boot", indexed by label.
  static const std::array<const char *, kClasses> &classNames();
};

} // namespace rnc::data
