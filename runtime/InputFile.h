// InputFile: opening a file rnc reads. It must be a regular file of bounded
// size: a FIFO, device or socket could block the open, never end, or grow
// memory until the process dies, so they are refused before any read.
#pragma once

#include <cstdint>
#include <string>

namespace rnc {

/// Opens `path` read-only (the open itself never blocks: O_NONBLOCK, cleared
/// afterwards). Fails unless it is a regular file of at most `maxBytes`.
/// Returns the descriptor (close-on-exec) and sets `size`; on failure -1 with
/// `error` set to the reason, without the path ("not a regular file (a FIFO)",
/// "No such file or directory", "5000000 bytes, more than the 1 MiB a ... may
/// have"). `what` names the kind of file in that last message.
int openInputFile(const std::string &path, uint64_t maxBytes,
                  const std::string &what, uint64_t &size, std::string &error);

/// Reads the whole of `path` under the same checks into `bytes`. Returns
/// false with `error` set (the reason, without the path) on failure.
bool readInputFile(const std::string &path, uint64_t maxBytes,
                   const std::string &what, std::string &bytes,
                   std::string &error);

/// "1.5 GiB", "64 MiB", "300 bytes": a size for messages.
std::string formatBytes(uint64_t bytes);

} // namespace rnc
