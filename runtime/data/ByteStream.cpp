// ByteStream: sequential reading of a file, gunzipped on the fly when it is gzip.
#include "runtime/data/ByteStream.h"

#include "runtime/data/DataError.h"
#include "runtime/InputFile.h"

#include <zlib.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace rnc::data {

namespace {
constexpr size_t kChunk = 1 << 16;
constexpr uint64_t kMaxFileBytes = uint64_t(64) << 30;
constexpr uint8_t kGzipMagic0 = 0x1f, kGzipMagic1 = 0x8b;
} // namespace

struct ByteStream::Impl {
  std::string path;
  std::FILE *file = nullptr;
  uint64_t fileSize = 0;
  bool gzip = false;

  // Raw bytes read from the file and not yet consumed (by the caller for
  // plain files, by zlib for gzip files).
  std::vector<uint8_t> in;
  size_t inPos = 0, inEnd = 0;
  bool fileEof = false;

  z_stream z{};
  bool zInit = false;
  bool memberDone = false; // the current gzip member ended; more may follow
  bool dataEnd = false;    // no more decompressed bytes will come
  uint64_t compressedRead = 0;

  [[noreturn]] void fail(const std::string &problem) const {
    throw DataError(path, problem);
  }

  // Refills `in` from the file when it is empty. Returns false at end of file.
  bool fillInput() {
    if (inPos < inEnd)
      return true;
    if (fileEof)
      return false;
    inPos = 0;
    inEnd = std::fread(in.data(), 1, in.size(), file);
    compressedRead += inEnd;
    if (inEnd < in.size()) {
      if (std::ferror(file))
        fail(std::string("read error: ") + std::strerror(errno));
      fileEof = true;
    }
    return inEnd > 0;
  }

  size_t readPlain(uint8_t *dst, size_t n) {
    size_t done = 0;
    while (done < n && fillInput()) {
      size_t take = std::min(n - done, inEnd - inPos);
      std::memcpy(dst + done, in.data() + inPos, take);
      inPos += take;
      done += take;
    }
    return done;
  }

  // After a gzip member ends: either another member follows, or the file
  // ends. Anything else is an error rather than silently ignored data.
  void startNextMember() {
    if (!fillInput()) {
      dataEnd = true;
      return;
    }
    if (in[inPos] != kGzipMagic0) {
      fail("unexpected data after the end of the gzip stream (at compressed "
           "byte " +
           std::to_string(compressedRead - (inEnd - inPos)) + ")");
    }
    if (inflateReset(&z) != Z_OK)
      fail("cannot restart the gzip decoder");
    memberDone = false;
  }

  size_t readGzip(uint8_t *dst, size_t n) {
    size_t done = 0;
    while (done < n && !dataEnd) {
      if (memberDone) {
        startNextMember();
        continue;
      }
      if (!fillInput()) {
        fail("truncated gzip data: the compressed stream ends early, after " +
             std::to_string(compressedRead) + " bytes");
      }
      z.next_in = in.data() + inPos;
      z.avail_in = static_cast<uInt>(inEnd - inPos);
      z.next_out = dst + done;
      z.avail_out = static_cast<uInt>(std::min<size_t>(n - done, 1u << 30));
      int ret = inflate(&z, Z_NO_FLUSH);
      size_t produced = static_cast<size_t>(z.next_out - (dst + done));
      inPos = static_cast<size_t>(z.next_in - in.data());
      done += produced;
      switch (ret) {
      case Z_OK:
        break;
      case Z_STREAM_END:
        memberDone = true;
        break;
      case Z_BUF_ERROR:
        // No progress possible. Input is always supplied, so this means the
        // decoder is stuck on it; never loop on that.
        if (produced == 0 && z.avail_in > 0)
          fail("corrupt gzip data (the decoder cannot make progress)");
        break;
      case Z_MEM_ERROR:
        fail("out of memory while decompressing gzip data");
      case Z_NEED_DICT:
        fail("corrupt gzip data (the stream asks for a preset dictionary)");
      default:
        fail(std::string("corrupt gzip data (") +
             (z.msg ? z.msg : "zlib error " + std::to_string(ret)) + ")");
      }
    }
    return done;
  }
};

ByteStream::ByteStream(const std::string &path) : impl_(new Impl) {
  Impl &s = *impl_;
  s.path = path;
  // A regular file only (runtime/InputFile.h): a FIFO would hang, a device
  // such as /dev/zero never end.
  std::string error;
  int fd = openInputFile(path, kMaxFileBytes, "a data file", s.fileSize, error);
  if (fd < 0)
    s.fail("cannot open: " + error);
  s.file = ::fdopen(fd, "rb");
  if (!s.file) {
    ::close(fd);
    s.fail(std::string("cannot open: ") + std::strerror(errno));
  }
  s.in.resize(kChunk);
  if (s.fillInput() && s.inEnd >= 2 && s.in[0] == kGzipMagic0 &&
      s.in[1] == kGzipMagic1) {
    s.gzip = true;
    // 16 + MAX_WBITS: expect a gzip header and check its CRC and length.
    if (inflateInit2(&s.z, 16 + MAX_WBITS) != Z_OK)
      s.fail("cannot start the gzip decoder");
    s.zInit = true;
  }
}

ByteStream::~ByteStream() {
  if (impl_->zInit)
    inflateEnd(&impl_->z);
  if (impl_->file)
    std::fclose(impl_->file);
}

size_t ByteStream::read(uint8_t *dst, size_t n) {
  return impl_->gzip ? impl_->readGzip(dst, n) : impl_->readPlain(dst, n);
}

uint64_t ByteStream::skip(uint64_t max) {
  std::vector<uint8_t> sink(kChunk);
  uint64_t total = 0;
  while (total < max) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, max - total));
    size_t got = read(sink.data(), want);
    total += got;
    if (got < want)
      break;
  }
  return total;
}

const std::string &ByteStream::path() const { return impl_->path; }
bool ByteStream::compressed() const { return impl_->gzip; }
uint64_t ByteStream::fileSize() const { return impl_->fileSize; }

} // namespace rnc::data
