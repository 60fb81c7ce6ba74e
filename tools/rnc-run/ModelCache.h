// Compiling a model spec with the rnc next to rnc-run, cached across runs.
#pragma once

#include <string>

namespace rnc::run {

struct CompileRequest {
  std::string model; // a spec path, or a model name found in models/
  std::string input; // `rnc compile --input`, "" for none
  int maxBatch = 0;  // `rnc compile --max-batch`
  std::string target = "cpu"; // `rnc compile --target` (cuda: bf16)
};

/// The path of a model .so built from `req`: taken from the cache
/// ${XDG_CACHE_HOME:-$HOME/.cache}/rnc/<name>-<key>.so when there, else
/// compiled with `rnc compile SPEC -o TMP --max-batch N [--input CxHxW]` and
/// renamed into place. The key hashes the spec's bytes, the rnc version, the
/// rnc binary's size and mtime (a rebuilt compiler is a different compiler)
/// and the flags. The compiler is $RNC_COMPILER if set, else the `rnc` in
/// rnc-run's own folder. Throws std::runtime_error with one line.
std::string compiledModel(const CompileRequest &req);

} // namespace rnc::run
