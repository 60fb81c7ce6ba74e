// Shape inference on the graph form, per sample (no batch dim), with errors
// that name the node and the spec element it came from.
#pragma once

#include "frontend/Graph.h"

#include <map>
#include <string>

namespace rnc::spec {

/// Output shape of every node (and of "input"). Also checks the graph:
/// names unique, inputs defined earlier, op arities, channel/shape agreement,
/// every node used by the output. Throws SpecError.
std::map<std::string, Shape> inferShapes(const Graph &graph);

/// "64x56x56"
std::string shapeString(const Shape &shape);

} // namespace rnc::spec
