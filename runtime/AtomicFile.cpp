// AtomicFile: write-to-partial, fsync, rename (see AtomicFile.h).
#include "runtime/AtomicFile.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

namespace rnc {

namespace {

std::string folderOf(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

bool writeAll(int fd, const void *data, size_t n) {
  const char *p = static_cast<const char *>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

void writeFileAtomically(const std::string &path, const std::string &what,
                         const std::function<bool(int fd)> &write) {
  const std::string partial = path + ".partial";
  auto fail = [&](int err) {
    ::unlink(partial.c_str());
    throw std::runtime_error(path + ": cannot write " + what + ": " +
                             std::strerror(err));
  };
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0644);
  if (fd < 0)
    fail(errno);
  int err = 0;
  if (!write(fd) || ::fsync(fd) != 0)
    err = errno ? errno : EIO;
  if (::close(fd) != 0 && !err)
    err = errno;
  if (!err && ::rename(partial.c_str(), path.c_str()) != 0)
    err = errno;
  if (err)
    fail(err);
  // The rename itself reaches the disk with the folder's metadata.
  int dir = ::open(folderOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

} // namespace rnc
