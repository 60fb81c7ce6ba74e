// Reading IDX files, the array container of (Fashion-)MNIST, plain or gzip.
#include "runtime/data/Idx.h"

#include "runtime/data/ByteStream.h"
#include "runtime/data/DataError.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

namespace rnc::data {

namespace {

constexpr const char *kDebianDir = "/usr/share/datasets/fashion-mnist";

std::string hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%0*x", digits, v);
  return buf;
}

std::string dtypeName(uint8_t t) {
  switch (t) {
  case 0x08: return "unsigned byte";
  case 0x09: return "signed byte";
  case 0x0B: return "int16";
  case 0x0C: return "int32";
  case 0x0D: return "float32";
  case 0x0E: return "float64";
  default: return "not an IDX dtype";
  }
}

std::string bytes(uint64_t n) {
  return std::to_string(n) + (n == 1 ? " byte" : " bytes");
}

uint32_t bigEndian(const uint8_t *p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) |
         (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

} // namespace

std::string formatDims(const std::vector<uint32_t> &dims) {
  if (dims.empty())
    return "scalar";
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i)
    s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

std::string missingFileHint(const std::string &path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(path), ec).lexically_normal();
  if (ec)
    return "";
  fs::path rel = abs.lexically_relative(kDebianDir);
  if (rel.empty() || *rel.begin() == "..")
    return "";
  return " (install it with: apt-get install dataset-fashion-mnist)";
}

IdxArray readIdx(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw DataError(path, "no such file" + missingFileHint(path));
  ByteStream in(path);

  uint8_t head[4];
  size_t got = in.read(head, 4);
  if (got == 0)
    throw DataError(path, std::string("empty ") +
                              (in.compressed() ? "gzip data" : "file") +
                              " (expected an IDX header)");
  if (got < 4)
    throw DataError(path, "truncated IDX header: " + bytes(got) +
                              ", the magic number alone needs 4");
  uint32_t magic = bigEndian(head);
  if (head[0] != 0 || head[1] != 0)
    throw DataError(path, "not an IDX file: magic " + hex(magic, 8) +
                              " does not start with two zero bytes" +
                              (in.compressed() ? "" : " (nor with the gzip "
                                                      "magic 1f 8b)"));
  if (head[2] != 0x08)
    throw DataError(path, "unsupported IDX dtype " + hex(head[2], 2) + " (" +
                              dtypeName(head[2]) +
                              "); only 0x08 (unsigned byte) is supported");
  size_t ndims = head[3];
  if (ndims == 0)
    throw DataError(path, "IDX magic " + hex(magic, 8) + " declares no dims");

  IdxArray arr;
  std::vector<uint8_t> dimBytes(4 * ndims);
  got = in.read(dimBytes.data(), dimBytes.size());
  if (got < dimBytes.size())
    throw DataError(path, "truncated IDX header: " + std::to_string(ndims) +
                              " dims need " + bytes(dimBytes.size()) +
                              " after the magic, found " + bytes(got));
  arr.dims.resize(ndims);
  uint64_t claimed = 1;
  bool tooBig = false;
  for (size_t i = 0; i < ndims; ++i) {
    arr.dims[i] = bigEndian(&dimBytes[4 * i]);
    // Each dim is < 2^32 and claimed stays <= kMaxBytes (2^30), so the
    // product cannot overflow before the check below catches it.
    if (!tooBig) {
      claimed *= arr.dims[i];
      tooBig = claimed > IdxLimits::kMaxBytes;
    }
  }
  std::string dimsText = formatDims(arr.dims);
  if (tooBig)
    throw DataError(path, "dims " + dimsText + " claim more than the " +
                              bytes(IdxLimits::kMaxBytes) +
                              " this reader accepts (corrupt header?)");

  uint64_t headerSize = 4 + 4 * uint64_t(ndims);
  if (!in.compressed() && in.fileSize() > 0) {
    // Plain file: compare with the size on disk before allocating anything.
    uint64_t payload =
        in.fileSize() > headerSize ? in.fileSize() - headerSize : 0;
    if (payload < claimed)
      throw DataError(path, "truncated: dims " + dimsText + " need " +
                                bytes(claimed) + " of data, the file has " +
                                bytes(payload));
    if (payload > claimed)
      throw DataError(path, bytes(payload - claimed) +
                                " of trailing data after the " +
                                bytes(claimed) + " that dims " + dimsText +
                                " call for");
  }

  // Grow the buffer as data actually arrives, so a header that lies about
  // the size of compressed data cannot make us allocate what is not there.
  constexpr uint64_t kStep = uint64_t(1) << 24;
  arr.data.reserve(static_cast<size_t>(std::min(claimed, kStep)));
  uint64_t have = 0;
  while (have < claimed) {
    size_t want = static_cast<size_t>(std::min(claimed - have, kStep));
    arr.data.resize(static_cast<size_t>(have) + want);
    size_t n = in.read(arr.data.data() + have, want);
    have += n;
    if (n < want)
      throw DataError(path, "truncated: dims " + dimsText + " need " +
                                bytes(claimed) + " of data, found " +
                                bytes(have));
  }
  uint64_t extra = in.skip(IdxLimits::kMaxBytes);
  if (extra > 0)
    throw DataError(path, (extra >= IdxLimits::kMaxBytes
                               ? "more than " + bytes(extra)
                               : bytes(extra)) +
                              " of trailing data after the " + bytes(claimed) +
                              " that dims " + dimsText + " call for");
  return arr;
}

} // namespace rnc::data
