// ScanCache: scan results of image folders kept on disk, so that a data set is decoded once for its statistics.
#include "runtime/data/ScanCache.h"

#include "runtime/OutputFile.h"
#include "runtime/CacheDir.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace rnc::data {

namespace {

using json = nlohmann::json;
constexpr int kVersion = 1;

} // namespace

std::string scanCacheDir() {
  std::string base = cacheDir();
  return base.empty() ? "" : base + "/data";
}

std::string scanCachePath(const std::string &fingerprint) {
  CacheKey key;
  key.add(fingerprint);
  return scanCacheDir() + "/scan-" + key.hex() + ".json";
}

std::optional<ScanResult> readScanCache(const std::string &fingerprint) {
  if (scanCacheDir().empty())
    return std::nullopt;
  std::ifstream in(scanCachePath(fingerprint));
  if (!in)
    return std::nullopt;
  try {
    json j = json::parse(in);
    if (j.at("version").get<int>() != kVersion ||
        j.at("fingerprint").get<std::string>() != fingerprint)
      return std::nullopt;
    ScanResult r;
    r.images = j.at("images").get<size_t>();
    r.channels = j.at("channels").get<int>();
    r.mean = j.at("mean").get<std::vector<double>>();
    r.std = j.at("std").get<std::vector<double>>();
    r.bad = j.at("bad").get<std::vector<size_t>>();
    r.reasons = j.at("reasons").get<std::vector<std::string>>();
    if (r.bad.size() != r.reasons.size() ||
        r.mean.size() != static_cast<size_t>(r.channels) ||
        r.std.size() != r.mean.size())
      return std::nullopt;
    return r;
  } catch (const std::exception &) {
    return std::nullopt;
  }
}

std::string writeScanCache(const std::string &fingerprint,
                           const ScanResult &r) {
  json j = {{"version", kVersion},  {"fingerprint", fingerprint},
            {"images", r.images},   {"channels", r.channels},
            {"mean", r.mean},       {"std", r.std},
            {"bad", r.bad},         {"reasons", r.reasons}};
  std::string text = j.dump() + "\n";
  if (scanCacheDir().empty())
    return "no cache folder (set XDG_CACHE_HOME or HOME)";
  std::string path = scanCachePath(fingerprint);
  try {
    std::error_code ec;
    std::filesystem::create_directories(scanCacheDir(), ec);
    if (ec)
      return scanCacheDir() + ": cannot create: " + ec.message();
    writeFileAtomically(path, "the scan cache", [&](int fd) {
      return writeAll(fd, text.data(), text.size());
    });
  } catch (const std::exception &e) {
    return e.what();
  }
  return "";
}

} // namespace rnc::data
