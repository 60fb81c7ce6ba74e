// ByteStream: sequential reading of a file, gunzipped on the fly when it is gzip.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace rnc::data {

/// A file opened for reading front to back. A file that starts with the gzip
/// magic (1f 8b) is decompressed as it is read; concatenated gzip members are
/// read as one stream, as gzip(1) does. Every failure (cannot open, corrupt
/// or truncated gzip data, read error) throws DataError naming the file.
class ByteStream {
public:
  explicit ByteStream(const std::string &path);
  ~ByteStream();
  ByteStream(const ByteStream &) = delete;
  ByteStream &operator=(const ByteStream &) = delete;

  /// Reads up to `n` bytes into `dst`. Returns fewer than `n` only when the
  /// data ends.
  size_t read(uint8_t *dst, size_t n);

  /// Reads and discards up to `max` bytes; returns how many there were.
  uint64_t skip(uint64_t max);

  const std::string &path() const;
  /// True when the file is gzip-compressed.
  bool compressed() const;
  /// The size of the file on disk (the compressed size for gzip files).
  uint64_t fileSize() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace rnc::data
