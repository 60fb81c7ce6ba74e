// ModelStamp: SHA-256 record at the end of a model .so (see ModelStamp.h).
#include "runtime/ModelStamp.h"

#include "runtime/InputFile.h"
#include "runtime/OutputFile.h"

#include <openssl/sha.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace rnc {

namespace {

constexpr char kMagic[17] = "rnc-model-stamp1";
constexpr uint64_t kMaxModelBytes = uint64_t(8) << 30;

} // namespace

std::string sha256Hex(const void *data, size_t n) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(static_cast<const unsigned char *>(data), n, digest);
  static const char *hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string stampModelFile(const std::string &path) {
  std::string bytes, error;
  if (!readInputFile(path, kMaxModelBytes, "a model", bytes, error))
    return error;
  if (checkModelStamp(bytes).empty())
    return ""; // already stamped: a stamp covers everything before it
  unsigned char record[kModelStampBytes] = {};
  SHA256(reinterpret_cast<const unsigned char *>(bytes.data()), bytes.size(),
         record);
  uint64_t n = bytes.size();
  for (int i = 0; i < 8; ++i)
    record[32 + i] = static_cast<unsigned char>(n >> (8 * i));
  std::memcpy(record + 48, kMagic, 16);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return std::strerror(errno);
  bool ok = writeAll(fd, record, sizeof record) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  return ok ? "" : std::strerror(err);
}

std::string checkModelStamp(const std::string &bytes) {
  const std::string unstamped =
      "no integrity record (not built by this rnc's `rnc compile`, or changed "
      "since, e.g. stripped); recompile it";
  if (bytes.size() < kModelStampBytes)
    return "only " + std::to_string(bytes.size()) + " bytes: " + unstamped;
  const unsigned char *record = reinterpret_cast<const unsigned char *>(
      bytes.data() + bytes.size() - kModelStampBytes);
  if (std::memcmp(record + 48, kMagic, 16) != 0)
    return unstamped;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | record[32 + i];
  if (n != bytes.size() - kModelStampBytes)
    return "damaged: " + std::to_string(bytes.size()) +
           " bytes, but its integrity record covers " + std::to_string(n) +
           " (cut short or appended to?); recompile it";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char *>(bytes.data()), n, digest);
  if (std::memcmp(digest, record, SHA256_DIGEST_LENGTH) != 0)
    return "damaged: its SHA-256 does not match the one `rnc compile` "
           "recorded (bytes changed since it was built); recompile it";
  return "";
}

} // namespace rnc
