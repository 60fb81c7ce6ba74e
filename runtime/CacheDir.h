// CacheDir: the folder rnc keeps cached builds and data set scans in.
#pragma once

#include <string>

namespace rnc {

/// `$XDG_CACHE_HOME/rnc` when XDG_CACHE_HOME is an absolute path, else
/// `$HOME/.cache/rnc`; "" when neither is set. Not created here.
std::string cacheDir();

} // namespace rnc
