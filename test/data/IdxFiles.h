// Test helpers: building IDX bytes, gzipping them and writing them to a temp dir.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace rnc::data::test {

using Bytes = std::vector<uint8_t>;

inline void putBigEndian(Bytes &out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(v >> shift));
}

/// An IDX file: 00 00 dtype ndims, big-endian dims, then `payload`.
inline Bytes idxBytes(const std::vector<uint32_t> &dims, const Bytes &payload,
                      uint8_t dtype = 0x08) {
  Bytes out = {0, 0, dtype, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    putBigEndian(out, d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

/// `n` bytes counting up from `start` (mod 256).
inline Bytes ramp(size_t n, uint8_t start = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<uint8_t>(start + i);
  return b;
}

/// A complete gzip member holding `data`.
inline Bytes gzip(const Bytes &data) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  Bytes out(deflateBound(&z, data.size()) + 64);
  z.next_in = const_cast<Bytes::value_type *>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  int ret = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (ret != Z_STREAM_END)
    throw std::runtime_error("deflate failed");
  return out;
}

/// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "rnc-data-XXXXXX").string();
    if (!mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::filesystem::path &path() const { return path_; }

  /// Writes `bytes` to `<dir>/<name>` and returns the full path.
  std::string write(const std::string &name, const Bytes &bytes) const {
    std::string p = (path_ / name).string();
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    if (!f)
      throw std::runtime_error("cannot write " + p);
    return p;
  }

private:
  std::filesystem::path path_;
};

} // namespace rnc::data::test
