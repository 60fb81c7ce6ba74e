// CacheDir: the folder rnc keeps cached builds and data set scans in, and the hash of their keys.
#include "runtime/CacheDir.h"

#include <cstdio>
#include <cstdlib>

namespace rnc {

std::string cacheDir() {
  const char *xdg = std::getenv("XDG_CACHE_HOME");
  const char *home = std::getenv("HOME");
  if (xdg && *xdg == '/')
    return std::string(xdg) + "/rnc";
  if (home && *home)
    return std::string(home) + "/.cache/rnc";
  return "";
}

void CacheKey::add(const std::string &s) {
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001b3ull;
  h *= 0x100000001b3ull; // the zero byte after it: h ^ 0 == h
}

std::string CacheKey::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

} // namespace rnc
