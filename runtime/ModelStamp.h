// ModelStamp: the integrity record of a model .so. `rnc compile` appends it;
// rnc-run checks it with plain file I/O before dlopen, so that a damaged
// model (cut short, bytes flipped) is refused with one line instead of
// crashing the process (docs/promises.md says why a trailer).
//
// The record is the last 64 bytes of the file:
//   SHA-256 of the bytes before it (32) | their count, u64 little-endian (8) |
//   8 zero bytes | the magic "rnc-model-stamp1" (16)
// ELF loaders ignore bytes past the sections, so the .so loads as before.
#pragma once

#include <string>

namespace rnc {

constexpr size_t kModelStampBytes = 64;

/// Appends the record to the finished .so at `path`. Returns "" or the
/// reason it could not (without the path).
std::string stampModelFile(const std::string &path);

/// Checks the record at the end of `bytes`, a whole model file: "" when the
/// digest matches, else the reason (without the path).
std::string checkModelStamp(const std::string &bytes);

/// The SHA-256 of [data, data + n) as 64 lowercase hex digits.
std::string sha256Hex(const void *data, size_t n);

} // namespace rnc
