// Reading IDX files, the array container of (Fashion-)MNIST, plain or gzip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rnc::data {

/// An IDX array of unsigned bytes: its dimensions and row-major data.
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
  /// The IDX magic as a number: 0x00000800 | number of dims (ubyte data).
  uint32_t magic() const { return 0x0800u | static_cast<uint32_t>(dims.size()); }
};

/// What readIdx accepts. Arrays larger than kMaxBytes are refused before
/// anything is allocated for them (Fashion-MNIST's largest is 47 MB).
struct IdxLimits {
  static constexpr uint64_t kMaxBytes = uint64_t(1) << 30;
};

/// Reads an IDX file, gzip-compressed (detected by its magic, not its name)
/// or plain. Only dtype 0x08 (unsigned byte) is accepted. The dims must
/// account for the payload exactly: a short payload or trailing bytes are
/// errors. Throws DataError (`<path>: <problem>`) for every problem; for a
/// missing file under /usr/share/datasets/fashion-mnist the message says
/// which Debian package installs it.
IdxArray readIdx(const std::string &path);

/// `60000x28x28` (`scalar` for no dims).
std::string formatDims(const std::vector<uint32_t> &dims);

/// The install hint for a missing data file: " (install it with: apt-get
/// install dataset-fashion-mnist)" when `path` lies under
/// /usr/share/datasets/fashion-mnist, else empty.
std::string missingFileHint(const std::string &path);

} // namespace rnc::data
