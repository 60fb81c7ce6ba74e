// Tests of readIdx on generated files: valid plain/gzip input and every kind of damage.
#include "runtime/data/DataError.h"
#include "runtime/data/Idx.h"

#include "IdxFiles.h"
#include "LargestAllocation.h"

#include <gtest/gtest.h>

namespace rnc::data {
namespace {

using test::Bytes;
using test::gzip;
using test::idxBytes;
using test::ramp;
using test::TempDir;

// Runs readIdx on `path` and returns the DataError message ("" if none).
std::string errorOf(const std::string &path) {
  try {
    readIdx(path);
  } catch (const DataError &e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(std::string(e.what()), path + ": " + e.problem());
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(pathExpr, substring)                                      \
  do {                                                                         \
    std::string path_ = (pathExpr);                                            \
    std::string msg_ = errorOf(path_);                                         \
    EXPECT_NE(msg_.find(substring), std::string::npos)                         \
        << "message: " << msg_;                                                \
    EXPECT_EQ(msg_.rfind(path_ + ": ", 0), 0u)                                 \
        << "message does not start with the file: " << msg_;                   \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << "not one line: " << msg_; \
  } while (0)

TEST(Idx, ReadsPlainAndGzip) {
  TempDir dir;
  Bytes file = idxBytes({3, 4, 5}, ramp(60, 7));
  for (const std::string &path :
       {dir.write("a.idx", file), dir.write("a.idx.gz", gzip(file)),
        dir.write("gz-without-suffix", gzip(file))}) {
    IdxArray a = readIdx(path);
    EXPECT_EQ(a.dims, (std::vector<uint32_t>{3, 4, 5})) << path;
    EXPECT_EQ(a.data, ramp(60, 7)) << path;
    EXPECT_EQ(a.magic(), 0x00000803u);
  }
  IdxArray labels = readIdx(dir.write("l.gz", gzip(idxBytes({4}, {9, 0, 3, 1}))));
  EXPECT_EQ(labels.dims, (std::vector<uint32_t>{4}));
  EXPECT_EQ(labels.data, (Bytes{9, 0, 3, 1}));
}

TEST(Idx, ReadsLargeAndConcatenatedGzip) {
  TempDir dir;
  // Larger than the reader's 64 KiB chunks, in two gzip members.
  Bytes file = idxBytes({300, 28, 28}, ramp(300 * 784, 1));
  Bytes first(file.begin(), file.begin() + 100000);
  Bytes second(file.begin() + 100000, file.end());
  Bytes gz = gzip(first);
  Bytes gz2 = gzip(second);
  gz.insert(gz.end(), gz2.begin(), gz2.end());
  IdxArray a = readIdx(dir.write("two-members.gz", gz));
  EXPECT_EQ(a.dims, (std::vector<uint32_t>{300, 28, 28}));
  EXPECT_EQ(a.data, ramp(300 * 784, 1));
}

TEST(Idx, MissingFile) {
  TempDir dir;
  std::string path = (dir.path() / "nope.gz").string();
  EXPECT_ERROR(path, "no such file");
  EXPECT_EQ(errorOf(path).find("apt-get"), std::string::npos);

  std::string debian = "/usr/share/datasets/fashion-mnist/missing-idx1-ubyte.gz";
  EXPECT_ERROR(debian, "no such file");
  EXPECT_ERROR(debian, "apt-get install dataset-fashion-mnist");
  EXPECT_EQ(missingFileHint("/usr/share/datasets/fashion-mnist-other/x"), "");
  EXPECT_NE(missingFileHint("/usr/share/datasets/fashion-mnist/../fashion-mnist/x"), "");
}

TEST(Idx, DirectoryIsNotAFile) {
  TempDir dir;
  EXPECT_ERROR(dir.path().string(), "is a directory");
}

TEST(Idx, EmptyFileAndEmptyGzip) {
  TempDir dir;
  EXPECT_ERROR(dir.write("empty", {}), "empty file");
  EXPECT_ERROR(dir.write("empty.gz", gzip({})), "empty gzip data");
}

TEST(Idx, WrongMagic) {
  TempDir dir;
  Bytes file = idxBytes({2}, {1, 2});
  file[0] = 0x50; // 'P', as in a PNG or a text file
  EXPECT_ERROR(dir.write("bad-magic", file), "not an IDX file: magic 0x50000801");
  EXPECT_ERROR(dir.write("bad-magic.gz", gzip(file)), "not an IDX file");
  EXPECT_ERROR(dir.write("text", Bytes{'h', 'e', 'l', 'l', 'o', '\n'}),
               "not an IDX file");
}

TEST(Idx, WrongDtype) {
  TempDir dir;
  EXPECT_ERROR(dir.write("float.idx", idxBytes({2}, Bytes(8), 0x0D)),
               "unsupported IDX dtype 0x0d (float32)");
  EXPECT_ERROR(dir.write("odd.idx", idxBytes({2}, Bytes(2), 0x42)),
               "unsupported IDX dtype 0x42");
}

TEST(Idx, BrokenHeader) {
  TempDir dir;
  EXPECT_ERROR(dir.write("two-bytes", Bytes{0, 0}),
               "truncated IDX header: 2 bytes");
  EXPECT_ERROR(dir.write("no-dims", Bytes{0, 0, 8, 0, 1, 2}), "declares no dims");
  EXPECT_ERROR(dir.write("short-dims", Bytes{0, 0, 8, 3, 0, 0, 0, 9, 0, 0}),
               "truncated IDX header: 3 dims need 12 bytes after the magic, "
               "found 6 bytes");
}

TEST(Idx, TruncatedPayload) {
  TempDir dir;
  Bytes file = idxBytes({3, 4, 5}, ramp(50));
  EXPECT_ERROR(dir.write("short.idx", file),
               "truncated: dims 3x4x5 need 60 bytes of data, the file has 50 bytes");
  EXPECT_ERROR(dir.write("short.gz", gzip(file)),
               "truncated: dims 3x4x5 need 60 bytes of data, found 50 bytes");
}

TEST(Idx, TrailingBytes) {
  TempDir dir;
  Bytes file = idxBytes({3, 4, 5}, ramp(70));
  const char *expected =
      "10 bytes of trailing data after the 60 bytes that dims 3x4x5 call for";
  EXPECT_ERROR(dir.write("long.idx", file), expected);
  EXPECT_ERROR(dir.write("long.gz", gzip(file)), expected);
}

TEST(Idx, TruncatedGzipStream) {
  TempDir dir;
  Bytes gz = gzip(idxBytes({100, 28, 28}, ramp(78400)));
  for (size_t keep : {size_t(3), size_t(10), gz.size() / 2, gz.size() - 4,
                      gz.size() - 1}) {
    Bytes cut(gz.begin(), gz.begin() + static_cast<long>(keep));
    std::string path = dir.write("cut" + std::to_string(keep) + ".gz", cut);
    EXPECT_ERROR(path, "truncated gzip data");
  }
}

TEST(Idx, CorruptGzip) {
  TempDir dir;
  Bytes gz = gzip(idxBytes({100, 28, 28}, ramp(78400)));

  Bytes badCrc = gz;
  badCrc[badCrc.size() - 8] ^= 0xff; // the CRC-32 in the trailer
  EXPECT_ERROR(dir.write("crc.gz", badCrc), "corrupt gzip data (incorrect data check)");

  Bytes badMethod = gz;
  badMethod[2] = 9; // compression method: only 8 (deflate) exists
  EXPECT_ERROR(dir.write("method.gz", badMethod), "corrupt gzip data");

  // Damage in the deflate stream itself: whatever zlib notices first (an
  // invalid code, or the CRC at the end), it is a corrupt-gzip error.
  for (size_t at : {size_t(12), gz.size() / 3, gz.size() / 2}) {
    Bytes bad = gz;
    for (size_t i = at; i < at + 8 && i < bad.size() - 8; ++i)
      bad[i] ^= 0x5a;
    std::string path = dir.write("flip" + std::to_string(at) + ".gz", bad);
    std::string msg = errorOf(path);
    EXPECT_NE(msg.find("corrupt gzip data"), std::string::npos) << msg;
  }

  Bytes garbage = gz;
  garbage.insert(garbage.end(), {'x', 'y', 'z'});
  EXPECT_ERROR(dir.write("garbage.gz", garbage),
               "unexpected data after the end of the gzip stream");
}

TEST(Idx, HugeClaimedDimsAreNotAllocated) {
  TempDir dir;
  EXPECT_ERROR(dir.write("huge.idx",
                         idxBytes({0xffffffffu, 0xffffffffu, 0xffffffffu}, ramp(10))),
               "dims 4294967295x4294967295x4294967295 claim more than the "
               "1073741824 bytes this reader accepts");
  EXPECT_ERROR(dir.write("huge.gz", gzip(idxBytes({70000, 28, 28, 28}, ramp(10)))),
               "claim more than");

  // Just under the limit (1e9 bytes claimed), 10 bytes there: the reader
  // must notice without allocating the claimed size.
  test::resetLargestAllocation();
  EXPECT_ERROR(dir.write("big.idx", idxBytes({1000000000u}, ramp(10))),
               "truncated: dims 1000000000 need 1000000000 bytes of data, "
               "the file has 10 bytes");
  EXPECT_ERROR(dir.write("big.gz", gzip(idxBytes({1000000000u}, ramp(10)))),
               "found 10 bytes");
  EXPECT_LE(test::largestAllocation(), size_t(64) << 20);
}

// Random damage (flipped bytes, cuts, inserted bytes) to small plain and gzip
// files: every outcome is either an array that fits its dims or a DataError.
TEST(Idx, RandomDamageNeverCrashes) {
  TempDir dir;
  Bytes plainFile = idxBytes({4, 5, 6}, ramp(120, 3));
  Bytes gzFile = gzip(plainFile);
  uint64_t s = 0x2545f4914f6cdd1dull;
  auto rnd = [&s](uint64_t bound) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<size_t>(s % bound);
  };
  int accepted = 0, rejected = 0;
  for (int round = 0; round < 1500; ++round) {
    Bytes b = round % 2 ? gzFile : plainFile;
    switch (rnd(3)) {
    case 0:
      for (size_t k = 0, n = 1 + rnd(4); k < n; ++k)
        b[rnd(b.size())] ^= static_cast<uint8_t>(1 + rnd(255));
      break;
    case 1:
      b.resize(rnd(b.size()));
      break;
    default:
      b.insert(b.begin() + static_cast<long>(rnd(b.size() + 1)),
               static_cast<uint8_t>(rnd(256)));
    }
    std::string path = dir.write("damaged", b);
    try {
      IdxArray a = readIdx(path);
      uint64_t n = 1;
      for (uint32_t d : a.dims)
        n *= d;
      ASSERT_EQ(a.data.size(), n) << "round " << round;
      ++accepted;
    } catch (const DataError &e) {
      ASSERT_EQ(e.file(), path);
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
}

TEST(Idx, FormatDims) {
  EXPECT_EQ(formatDims({60000, 28, 28}), "60000x28x28");
  EXPECT_EQ(formatDims({7}), "7");
  EXPECT_EQ(formatDims({}), "scalar");
}

} // namespace
} // namespace rnc::data
