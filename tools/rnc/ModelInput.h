// Finding, reading and checking the model spec named on the command line.
#pragma once

#include "frontend/Graph.h"

#include "runtime/OneLine.h" // oneLine(), for every error rnc prints

#include <optional>
#include <string>

namespace rnc {

class OutputSet;

/// A spec that read and shape-checked cleanly.
struct LoadedModel {
  std::string file;   // the path actually read
  spec::Graph graph;
};

/// `arg` is a path, or the name of a shipped model ("resnet50" finds
/// models/resnet50.json). `inputFlag` is the --input value ("" if unset).
/// On any error prints one line `<file>: <json path>: <reason>` to stderr and
/// returns std::nullopt.
std::optional<LoadedModel> loadModel(const std::string &arg,
                                     const std::string &inputFlag);

/// Adds the file `path` (not "" or "-", stdout) as the output `flag` of a
/// command that reads `specFile` to `files` and claims them
/// (runtime/OutputFile.h: not the spec, not a link or device, not being
/// written by another process). Prints a one-line error and returns false
/// when refused.
bool claimOutput(OutputSet &files, const std::string &path,
                 const std::string &flag, const std::string &specFile);

/// Writes `text` to `path` atomically (unique temporary file, fsync, then
/// rename), or to stdout when path is "" or "-". Prints a one-line error and
/// returns false on failure.
bool writeOutput(const std::string &path, const std::string &text);

} // namespace rnc
