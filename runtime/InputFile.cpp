// InputFile: regular files of bounded size only (see InputFile.h).
#include "runtime/InputFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rnc {

std::string formatBytes(uint64_t bytes) {
  const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024)
    return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
  double v = double(bytes);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v == double(uint64_t(v)) ? "%.0f %s" : "%.1f %s",
                v, units[u]);
  return buf;
}

int openInputFile(const std::string &path, uint64_t maxBytes,
                  const std::string &what, uint64_t &size, std::string &error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = std::strerror(errno);
    return -1;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    error = S_ISDIR(st.st_mode)    ? "is a directory, not a file"
            : S_ISCHR(st.st_mode)  ? "not a regular file (a character device)"
            : S_ISBLK(st.st_mode)  ? "not a regular file (a block device)"
            : S_ISFIFO(st.st_mode) ? "not a regular file (a FIFO)"
            : S_ISSOCK(st.st_mode) ? "not a regular file (a socket)"
                                   : "not a regular file";
    ::close(fd);
    return -1;
  }
  if (uint64_t(st.st_size) > maxBytes) {
    error = formatBytes(uint64_t(st.st_size)) + ", more than the " +
            formatBytes(maxBytes) + " " + what + " may have";
    ::close(fd);
    return -1;
  }
  // Reads block as usual from here on.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  size = uint64_t(st.st_size);
  return fd;
}

bool readInputFile(const std::string &path, uint64_t maxBytes,
                   const std::string &what, std::string &bytes,
                   std::string &error) {
  uint64_t size = 0;
  int fd = openInputFile(path, maxBytes, what, size, error);
  if (fd < 0)
    return false;
  bytes.assign(size_t(size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, &bytes[done], bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      error = std::string("read error: ") + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0)
      break; // the file shrank while being read
    done += size_t(n);
  }
  ::close(fd);
  if (done != bytes.size()) {
    error = "the file changed while it was read (" + std::to_string(done) +
            " of " + std::to_string(bytes.size()) + " bytes)";
    return false;
  }
  return true;
}

} // namespace rnc
