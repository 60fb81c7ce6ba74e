// CacheDir: the folder rnc keeps cached builds and data set scans in, and the hash of their keys.
#pragma once

#include <cstdint>
#include <string>

namespace rnc {

/// `$XDG_CACHE_HOME/rnc` when XDG_CACHE_HOME is an absolute path, else
/// `$HOME/.cache/rnc`; "" when neither is set. Not created here.
std::string cacheDir();

/// FNV-1a, 64 bits, over strings each followed by a zero byte: a cache key,
/// not a defence against collisions made on purpose.
struct CacheKey {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const std::string &s);
  /// 16 hex digits.
  std::string hex() const;
};

} // namespace rnc
