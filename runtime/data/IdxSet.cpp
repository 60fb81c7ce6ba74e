// The IDX reader as an ImageSet: Fashion-MNIST or MNIST images, fitted to the network's input.
#include "runtime/data/Formats.h"
#include "runtime/data/Resample.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>

namespace rnc::data {

namespace {

class IdxSet : public ImageSet {
public:
  IdxSet(FashionMnist data, std::string imagesPath, std::string stamp,
         int height, int width)
      : ImageSet("IDX", Shape{1, height, width}), data_(std::move(data)),
        imagesPath_(std::move(imagesPath)), stamp_(std::move(stamp)) {}

  size_t size() const override { return data_.size(); }
  int32_t label(size_t i) const override { return data_.labels[i]; }
  Image loadNative(size_t i) const override {
    return fitTo(loadStored(i), shape_.height, shape_.width);
  }
  Shape storedShape() const override {
    return Shape{1, FashionMnist::kRows, FashionMnist::kCols};
  }
  Image loadStored(size_t i) const override {
    Image img(FashionMnist::kRows, FashionMnist::kCols, 1);
    std::memcpy(img.pixels.data(), data_.image(i), FashionMnist::kPixels);
    return img;
  }
  std::string name(size_t i) const override {
    return imagesPath_ + " image " + std::to_string(i);
  }
  bool worthCaching() const override {
    return shape_.height != FashionMnist::kRows ||
           shape_.width != FashionMnist::kCols;
  }
  std::string fingerprint() const override {
    return "idx " + stamp_ + " " + std::to_string(shape_.height) + "x" +
           std::to_string(shape_.width);
  }

private:
  FashionMnist data_;
  std::string imagesPath_, stamp_;
};

std::string lower(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

std::vector<std::string> idxClassNames(const std::string &dir) {
  std::vector<std::string> names = readNameFile(dir + "/classes.txt");
  if (names.size() == FashionMnist::kClasses)
    return names;
  std::error_code ec;
  std::string abs = std::filesystem::absolute(dir, ec).string();
  names.clear();
  if (lower(abs).find("fashion") != std::string::npos) {
    for (const char *n : FashionMnist::classNames())
      names.push_back(n);
  } else {
    for (int d = 0; d < FashionMnist::kClasses; ++d)
      names.push_back(std::to_string(d));
  }
  return names;
}

std::unique_ptr<ImageSet> openIdx(const std::string &dir, Split split,
                                  int height, int width) {
  FashionMnist data = FashionMnist::load(dir, split);
  std::string images = FashionMnist::imagesFile(dir, split);
  std::string stamp = fileStamp(images) + " " +
                      fileStamp(FashionMnist::labelsFile(dir, split));
  auto set = std::make_unique<IdxSet>(std::move(data), images, stamp, height,
                                      width);
  set->setClassNames(idxClassNames(dir));
  return set;
}

} // namespace rnc::data
