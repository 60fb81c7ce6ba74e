// CacheDir: the folder rnc keeps cached builds and data set scans in.
#include "runtime/CacheDir.h"

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

} // namespace rnc
