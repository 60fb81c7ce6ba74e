// Images to classify with `rnc-run predict`: PNG files and IDX image files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rnc::run {

/// A grayscale image, 0 = black; `name` says where it came from
/// ("shoe.png", "t10k-images-idx3-ubyte.gz[17]").
struct GrayImage {
  std::string name;
  int height = 0, width = 0;
  std::vector<uint8_t> pixels; // row-major
};

/// The images of `path`: a PNG (any color type or bit depth, converted to
/// 8-bit gray by libpng; transparency composed over black) or an IDX file of
/// N x H x W or H x W unsigned bytes, gzip'd or not; at most `limit` of an
/// IDX file (0: all). Throws data::DataError (`<path>: <problem>`).
std::vector<GrayImage> readImages(const std::string &path, size_t limit);

} // namespace rnc::run
