// Images to classify: JPEG and PNG through the data library's decoders, IDX through its reader.
#include "Images.h"

#include "runtime/data/DataError.h"
#include "runtime/data/Decode.h"
#include "runtime/data/Idx.h"

#include <algorithm>

namespace rnc::run {

std::vector<NamedImage> readImages(const std::string &path, size_t limit) {
  std::vector<uint8_t> bytes = data::readFileBytes(path);
  if (data::looksLikeImage(bytes.data(), bytes.size()))
    return {{path, data::decodeImage(bytes.data(), bytes.size(), path)}};
  bytes.clear();
  data::IdxArray idx = data::readIdx(path); // DataError names the problem
  std::vector<uint32_t> d = idx.dims;
  if (d.size() == 2)
    d.insert(d.begin(), 1);
  if (d.size() != 3 || d[1] == 0 || d[2] == 0 || d[1] > 4096 || d[2] > 4096)
    throw data::DataError(path, "neither a JPEG, a PNG nor an IDX file of "
                                "images (N x H x W bytes): IDX dims " +
                                    data::formatDims(idx.dims));
  size_t n = d[0], plane = size_t(d[1]) * d[2];
  if (limit)
    n = std::min(n, limit);
  std::vector<NamedImage> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].name = path + "[" + std::to_string(i) + "]";
    out[i].image = data::Image(int(d[1]), int(d[2]), 1);
    std::copy(idx.data.begin() + long(i * plane),
              idx.data.begin() + long((i + 1) * plane),
              out[i].image.pixels.begin());
  }
  return out;
}

} // namespace rnc::run
