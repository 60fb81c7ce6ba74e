// ScanCache: scan results of image folders kept on disk, so that a data set is decoded once for its statistics.
#pragma once

#include "runtime/data/Scan.h"

#include <optional>
#include <string>

namespace rnc::data {

/// `<rnc::cacheDir()>/data` (`~/.cache/rnc/data`); "" when there is none.
std::string scanCacheDir();

/// The file that holds the scan of the split with this fingerprint
/// (ImageSet::fingerprint()): `<scanCacheDir()>/scan-<hash>.json`.
std::string scanCachePath(const std::string &fingerprint);

/// The cached scan of a split with this fingerprint, if any. A file that
/// cannot be read, is corrupt or is for another fingerprint is ignored.
std::optional<ScanResult> readScanCache(const std::string &fingerprint);

/// Stores a complete scan (atomically). Failures to write are returned as
/// a message ("" on success): the cache is an optimization only.
std::string writeScanCache(const std::string &fingerprint,
                           const ScanResult &result);

} // namespace rnc::data
