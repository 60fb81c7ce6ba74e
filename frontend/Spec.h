// Reading model specs (family or graph form) into a Graph, and writing the
// graph form back out. The JSON schema is documented in docs/spec.md.
#pragma once

#include "frontend/Graph.h"
#include "frontend/JsonCursor.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace rnc::spec {

/// Limits that keep every accepted spec small enough to compile in memory.
/// Specs beyond them are rejected with an error, never a hang.
struct Limits {
  static constexpr int64_t kMaxChannels = 1 << 16;
  static constexpr int64_t kMaxSpatial = 1 << 14;
  static constexpr int64_t kMaxKernel = 1 << 10;
  static constexpr int64_t kMaxBlocks = 512;   // per stage
  static constexpr int64_t kMaxStages = 64;
  static constexpr size_t kMaxNodes = 100000;
  static constexpr int64_t kMaxClasses = 1 << 20;
  /// Elements of one tensor (an activation per image, a weight): 2^40, 4 TiB
  /// of floats. Keeps every size computed from shapes inside 64 bits.
  static constexpr int64_t kMaxTensorElements = int64_t(1) << 40;
};

/// Reads a spec document of either form. `inputOverride` replaces the spec's
/// input shape (the `--input CxHxW` flag). Throws SpecError.
Graph readSpec(const nlohmann::json &doc,
               const std::optional<Shape> &inputOverride = std::nullopt);

/// Reads a spec file (JSON text). Throws SpecError (path "" for I/O and
/// syntax errors); callers format it with formatSpecError(file, err).
Graph readSpecText(const std::string &text,
                   const std::optional<Shape> &inputOverride = std::nullopt);

/// The "name" of a spec ("model" when absent), checked: it becomes a file
/// name and text in generated code, so only 1 to kMaxModelName letters,
/// digits, '.', '_' and '-', starting with a letter, digit or '_'. Throws
/// SpecError at the "name" path otherwise.
constexpr size_t kMaxModelName = 64;
std::string readModelName(const JsonCursor &root);

/// Expands a family-form document (one that has "stages") to a graph.
Graph expandFamily(const JsonCursor &root);
/// Reads a graph-form document (one that has "nodes").
Graph readGraph(const JsonCursor &root);
/// Writes the graph form (what `rnc expand` prints); readGraph reads it back.
nlohmann::ordered_json writeGraph(const Graph &graph);

/// Parses "CxHxW" (e.g. "3x224x224"); throws SpecError(path="", ...) naming
/// `what` (the flag) on a malformed value.
Shape parseShapeFlag(const std::string &text, const std::string &what);

} // namespace rnc::spec
