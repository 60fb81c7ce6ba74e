// The explicit graph form of a model: named nodes in topological order.
//
// Both spec forms end here: the family form (stages of blocks) is expanded to
// a Graph by Family.cpp, the graph form is read directly by GraphJson.cpp.
// Everything downstream (shape inference, MLIR emission, summary) reads only
// this structure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace rnc::spec {

enum class OpKind {
  Conv,
  BatchNorm,
  Relu,
  Add,
  MaxPool,
  AvgPool,
  GlobalAvgPool,
  Flatten,
  Linear,
};

/// The spelling of an op in the graph form ("conv", "batch_norm", ...).
const char *opKindName(OpKind kind);
/// Parses a graph-form op name; returns false if unknown.
bool parseOpKind(const std::string &name, OpKind &kind);

using Pair = std::array<int64_t, 2>; // (height, width)

struct Node {
  std::string name;                // unique, e.g. "layer1.0.conv1"
  OpKind op = OpKind::Relu;
  std::vector<std::string> inputs; // node names, or "input" for the model input

  // conv: out_channels; linear: out_features.
  int64_t outChannels = 0;
  // conv and pools.
  Pair kernel = {1, 1};
  Pair stride = {1, 1};
  Pair padding = {0, 0};
  Pair dilation = {1, 1};
  int64_t groups = 1;
  bool bias = false;             // conv, linear
  double epsilon = 1e-5;         // batch_norm
  double momentum = 0.1;         // batch_norm
  bool countIncludePad = true;   // avg_pool

  // JSON path of the spec element this node came from ("nodes[3]",
  // "stages[1]"), so that later errors point back into the user's file.
  std::string origin;
};

/// Shape of one sample (no batch dim): {C, H, W} or {F}.
using Shape = std::vector<int64_t>;

struct Graph {
  std::string name;
  std::string description;
  Shape input;                  // {C, H, W}
  std::vector<Node> nodes;      // topological order
  std::string output;           // name of the node whose value is the logits
};

/// Name of the graph input in `Node::inputs`.
inline constexpr const char *kInputName = "input";

} // namespace rnc::spec
