// AtomicFile: replace a file so that a reader, a crash or a kill sees either
// the old or the new contents whole, never a mix.
#pragma once

#include <functional>
#include <string>

namespace rnc {

/// `write(fd)` fills `path + ".partial"` (returning false on a failed write,
/// errno set); the file is fsync'ed, renamed over `path`, and the folder is
/// fsync'ed. On failure the partial file is removed and std::runtime_error
/// is thrown: "<path>: cannot write <what>: <strerror>".
void writeFileAtomically(const std::string &path, const std::string &what,
                         const std::function<bool(int fd)> &write);

/// Writes all of [data, data + n) to fd, retrying short writes.
bool writeAll(int fd, const void *data, size_t n);

} // namespace rnc
