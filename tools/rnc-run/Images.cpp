// Images to classify: PNG through libpng, IDX through the data library.
#include "Images.h"

#include "runtime/data/DataError.h"
#include "runtime/data/Idx.h"
#include "runtime/InputFile.h"

#include <png.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace rnc::run {

namespace {

constexpr uint64_t kMaxPngBytes = uint64_t(256) << 20;

// Opened as runtime/InputFile.h opens inputs: a FIFO or device is refused
// before it can block or never end.
bool isPng(const std::string &path) {
  uint64_t size = 0;
  std::string error;
  int fd = openInputFile(path, UINT64_MAX, "an image file", size, error);
  if (fd < 0)
    throw data::DataError(path, "cannot open: " + error);
  unsigned char sig[8] = {};
  ssize_t n = ::read(fd, sig, 8);
  ::close(fd);
  return n == 8 && png_sig_cmp(sig, 0, 8) == 0;
}

GrayImage readPng(const std::string &path) {
  std::string bytes, error;
  if (!readInputFile(path, kMaxPngBytes, "a PNG image", bytes, error))
    throw data::DataError(path, "cannot open: " + error);
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  auto fail = [&](const char *what) {
    std::string msg = std::string(what) + ": " + image.message;
    png_image_free(&image);
    throw data::DataError(path, msg);
  };
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    fail("not a readable PNG");
  image.format = PNG_FORMAT_GRAY; // libpng converts color and bit depth
  if (image.width == 0 || image.height == 0 || image.width > 4096 ||
      image.height > 4096) {
    png_image_free(&image);
    throw data::DataError(path, "PNG of " + std::to_string(image.width) + "x" +
                                    std::to_string(image.height) +
                                    " pixels; expected 1 to 4096 per side");
  }
  GrayImage out;
  out.name = path;
  out.height = int(image.height);
  out.width = int(image.width);
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  png_color black{0, 0, 0};
  if (!png_image_finish_read(&image, &black, out.pixels.data(), 0, nullptr))
    fail("corrupt PNG");
  return out;
}

} // namespace

std::vector<GrayImage> readImages(const std::string &path, size_t limit) {
  if (isPng(path))
    return {readPng(path)};
  data::IdxArray idx = data::readIdx(path); // DataError names the problem
  std::vector<uint32_t> d = idx.dims;
  if (d.size() == 2)
    d.insert(d.begin(), 1);
  if (d.size() != 3 || d[1] == 0 || d[2] == 0 || d[1] > 4096 || d[2] > 4096)
    throw data::DataError(path, "neither a PNG nor an IDX file of images (N x "
                                "H x W bytes): IDX dims " +
                                    data::formatDims(idx.dims));
  size_t n = d[0], plane = size_t(d[1]) * d[2];
  if (limit)
    n = std::min(n, limit);
  std::vector<GrayImage> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].name = path + "[" + std::to_string(i) + "]";
    out[i].height = int(d[1]);
    out[i].width = int(d[2]);
    out[i].pixels.assign(idx.data.begin() + long(i * plane),
                         idx.data.begin() + long((i + 1) * plane));
  }
  return out;
}

} // namespace rnc::run
