// libFuzzer target for the spec reader. Any input must either be accepted or
// rejected with a SpecError; a crash, hang, sanitizer report or other
// exception is a bug. Accepted specs must also round-trip: the expanded graph
// form, read back, gives the same nodes and shapes.
#include "frontend/Shapes.h"
#include "frontend/Spec.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace rnc::spec;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  Graph graph;
  std::map<std::string, Shape> shapes;
  try {
    graph = readSpecText(text);
    shapes = inferShapes(graph);
  } catch (const SpecError &) {
    return 0;
  }
  // Round trip through the graph form.
  Graph again;
  std::map<std::string, Shape> againShapes;
  try {
    again = readSpecText(writeGraph(graph).dump());
    againShapes = inferShapes(again);
  } catch (const SpecError &) {
    __builtin_trap(); // the graph form of an accepted spec must be accepted
  }
  if (again.nodes.size() != graph.nodes.size() || againShapes != shapes)
    __builtin_trap();
  return 0;
}
