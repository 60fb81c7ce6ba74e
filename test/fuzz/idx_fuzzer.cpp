// libFuzzer target for the IDX reader (runtime/data/Idx.h), plain and gzip.
// The input is given to readIdx as a file (an in-memory memfd, a regular
// file like any on disk). It must either be read or refused with a
// DataError; a crash, hang, sanitizer report or other exception is a bug.
// An accepted array must hold exactly the bytes its dims call for.
#include "runtime/data/DataError.h"
#include "runtime/data/Idx.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = ::memfd_create("idx-fuzz", MFD_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, data, size, 0) != ssize_t(size))
    __builtin_trap();
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  rnc::data::IdxArray arr;
  try {
    arr = rnc::data::readIdx(path);
  } catch (const rnc::data::DataError &) {
    return 0;
  }
  uint64_t n = 1;
  for (uint32_t d : arr.dims)
    n *= d;
  if (arr.dims.empty() || arr.data.size() != n ||
      n > rnc::data::IdxLimits::kMaxBytes)
    __builtin_trap();
  return 0;
}
