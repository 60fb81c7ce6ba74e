// Shape inference and structural checks for the graph form (see Shapes.h).
#include "frontend/Shapes.h"
#include "frontend/Spec.h"

#include <fmt/format.h>

#include <initializer_list>
#include <set>

namespace rnc::spec {

std::string shapeString(const Shape &shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

namespace {

[[noreturn]] void nodeError(const Node &n, const std::string &msg) {
  throw SpecError(n.origin, fmt::format("{} '{}': {}", opKindName(n.op), n.name, msg));
}

// PyTorch's output size for conv and pooling (floor mode).
int64_t windowOut(const Node &n, int64_t in, int dim, const char *what) {
  int64_t eff = n.dilation[dim] * (n.kernel[dim] - 1) + 1;
  int64_t span = in + 2 * n.padding[dim] - eff;
  if (span < 0)
    nodeError(n, fmt::format("{} {} (padded {}) is smaller than the {} window "
                             "{}; the input is too small for this model",
                             what, in, in + 2 * n.padding[dim],
                             dim == 0 ? "height" : "width", eff));
  return span / n.stride[dim] + 1;
}

Shape inferNode(const Node &n, const std::vector<const Shape *> &ins) {
  auto needRank = [&](const Shape &s, size_t rank, const char *what) {
    if (s.size() != rank)
      nodeError(n, fmt::format("expected {} input, got shape {}", what,
                               shapeString(s)));
  };
  const Shape &x = *ins[0];
  switch (n.op) {
  case OpKind::Conv: {
    needRank(x, 3, "a CxHxW");
    // groups | out_channels is a rule of the spec, checked where it is read
    // (GraphJson: nodes[i].groups; Family: stages[i].groups against the
    // width); groups | in_channels needs the inferred input, so it is here.
    // The rn.conv2d verifier guards both behind the front end.
    if (x[0] % n.groups != 0)
      nodeError(n, fmt::format("groups {} does not divide {} input channels",
                               n.groups, x[0]));
    return {n.outChannels, windowOut(n, x[1], 0, "input height"),
            windowOut(n, x[2], 1, "input width")};
  }
  case OpKind::MaxPool:
  case OpKind::AvgPool:
    needRank(x, 3, "a CxHxW");
    return {x[0], windowOut(n, x[1], 0, "input height"),
            windowOut(n, x[2], 1, "input width")};
  case OpKind::BatchNorm:
    if (x.size() != 3 && x.size() != 1)
      nodeError(n, fmt::format("expected a CxHxW or C input, got shape {}",
                               shapeString(x)));
    return x;
  case OpKind::Relu:
    return x;
  case OpKind::Add:
    if (*ins[0] != *ins[1])
      nodeError(n, fmt::format("inputs '{}' ({}) and '{}' ({}) differ in shape",
                               n.inputs[0], shapeString(*ins[0]), n.inputs[1],
                               shapeString(*ins[1])));
    return x;
  case OpKind::GlobalAvgPool:
    needRank(x, 3, "a CxHxW");
    return {x[0], 1, 1};
  case OpKind::Flatten: {
    int64_t prod = 1;
    for (int64_t d : x)
      if (__builtin_mul_overflow(prod, d, &prod))
        nodeError(n, fmt::format("input {} has more than 2^63 elements",
                                 shapeString(x)));
    return {prod};
  }
  case OpKind::Linear:
    needRank(x, 1, "a flat (use 'flatten' first)");
    return {n.outChannels};
  }
  nodeError(n, "unknown op");
}

size_t arity(OpKind op) { return op == OpKind::Add ? 2 : 1; }

// The product of `dims`, or -1 when it exceeds Limits::kMaxTensorElements
// (checked: the product of a few large dims wraps around 64 bits).
int64_t elements(std::initializer_list<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (__builtin_mul_overflow(n, d, &n) || n > Limits::kMaxTensorElements)
      return -1;
  return n;
}

// Every tensor of a node, its output per image and its weight, must stay
// within Limits::kMaxTensorElements, so that the sizes computed from them
// later (times the batch, summed in the memory plan) stay far from
// overflowing.
void checkSizes(const Node &n, const Shape &in, const Shape &out) {
  auto check = [&](int64_t count, const std::string &what) {
    if (count < 0)
      nodeError(n, fmt::format("{} has more than {} elements, the most rnc "
                               "compiles in one tensor",
                               what, Limits::kMaxTensorElements));
  };
  int64_t outElems = 1;
  for (int64_t d : out)
    if (__builtin_mul_overflow(outElems, d, &outElems) ||
        outElems > Limits::kMaxTensorElements) {
      outElems = -1;
      break;
    }
  check(outElems, "its output " + shapeString(out) + " (per image)");
  if (n.op == OpKind::Conv && in.size() == 3)
    check(elements({n.outChannels, in[0] / n.groups, n.kernel[0], n.kernel[1]}),
          "its weight");
  if (n.op == OpKind::Linear && in.size() == 1)
    check(elements({n.outChannels, in[0]}), "its weight");
}

} // namespace

std::map<std::string, Shape> inferShapes(const Graph &graph) {
  std::map<std::string, Shape> shapes;
  shapes[kInputName] = graph.input;
  int64_t inputElems = 1;
  for (int64_t d : graph.input)
    if (__builtin_mul_overflow(inputElems, d, &inputElems) ||
        inputElems > Limits::kMaxTensorElements)
      throw SpecError("input",
                      fmt::format("{} has more than {} elements, the most rnc "
                                  "compiles in one tensor",
                                  shapeString(graph.input),
                                  Limits::kMaxTensorElements));
  std::set<std::string> used;
  for (const Node &n : graph.nodes) {
    if (n.name.empty() || n.name == kInputName)
      throw SpecError(n.origin, fmt::format("invalid node name '{}'", n.name));
    if (shapes.count(n.name))
      throw SpecError(n.origin, fmt::format("duplicate node name '{}'", n.name));
    if (n.inputs.size() != arity(n.op))
      nodeError(n, fmt::format("expected {} input(s), got {}", arity(n.op),
                               n.inputs.size()));
    std::vector<const Shape *> ins;
    for (const std::string &in : n.inputs) {
      auto it = shapes.find(in);
      if (it == shapes.end())
        nodeError(n, fmt::format("input '{}' is not the model input or an "
                                 "earlier node",
                                 in));
      ins.push_back(&it->second);
      used.insert(in);
    }
    shapes[n.name] = inferNode(n, ins);
    checkSizes(n, *ins[0], shapes[n.name]);
  }
  if (graph.nodes.empty())
    throw SpecError("nodes", "the graph has no nodes");
  auto out = shapes.find(graph.output);
  if (graph.output == kInputName || out == shapes.end())
    throw SpecError("output", fmt::format("'{}' is not a node", graph.output));
  if (out->second.size() != 1)
    throw SpecError("output",
                    fmt::format("'{}' has shape {}; the output must be a flat "
                                "vector of logits (end with 'linear')",
                                graph.output, shapeString(out->second)));
  for (const Node &n : graph.nodes)
    if (n.name != graph.output && !used.count(n.name))
      throw SpecError(n.origin, fmt::format("node '{}' is not used by the "
                                            "output '{}'",
                                            n.name, graph.output));
  return shapes;
}

} // namespace rnc::spec
