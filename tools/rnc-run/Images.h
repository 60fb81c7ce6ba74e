// Images to classify with `rnc-run predict`: JPEG and PNG files, IDX image files.
#pragma once

#include "runtime/data/Image.h"

#include <string>
#include <vector>

namespace rnc::run {

/// An image to classify; `name` says where it came from ("shoe.png",
/// "t10k-images-idx3-ubyte.gz[17]").
struct NamedImage {
  std::string name;
  data::Image image; // gray or RGB, its own size
};

/// The images of `path`: a JPEG or PNG (decoded as for training, see
/// runtime/data/Decode.h), or an IDX file of N x H x W or H x W unsigned
/// bytes, gzip'd or not; at most `limit` of an IDX file (0: all). Throws
/// data::DataError (`<path>: <problem>`).
std::vector<NamedImage> readImages(const std::string &path, size_t limit);

} // namespace rnc::run
