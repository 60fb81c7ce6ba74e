// Reading and writing the explicit graph form, and choosing between forms.
#include "frontend/Spec.h"

#include <fmt/format.h>

#include <cctype>
#include <set>

namespace rnc::spec {

namespace {
struct OpName {
  OpKind kind;
  const char *name;
};
constexpr OpName kOpNames[] = {
    {OpKind::Conv, "conv"},
    {OpKind::BatchNorm, "batch_norm"},
    {OpKind::Relu, "relu"},
    {OpKind::Add, "add"},
    {OpKind::MaxPool, "max_pool"},
    {OpKind::AvgPool, "avg_pool"},
    {OpKind::GlobalAvgPool, "global_avg_pool"},
    {OpKind::Flatten, "flatten"},
    {OpKind::Linear, "linear"},
};
} // namespace

const char *opKindName(OpKind kind) {
  for (const OpName &o : kOpNames)
    if (o.kind == kind)
      return o.name;
  return "?";
}

bool parseOpKind(const std::string &name, OpKind &kind) {
  for (const OpName &o : kOpNames)
    if (name == o.name) {
      kind = o.kind;
      return true;
    }
  return false;
}

std::string readModelName(const JsonCursor &root) {
  std::string name = root.stringOr("name", "model");
  // The name becomes the default output file (<name>.so), the model's
  // identity in checkpoints and text in the generated code: a plain file
  // name, no path, no quotes, no leading '.' or '-'.
  bool ok = !name.empty() && name.size() <= kMaxModelName &&
            (std::isalnum(static_cast<unsigned char>(name[0])) ||
             name[0] == '_');
  for (char ch : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                ch == '_' || ch == '-');
  if (!ok)
    root.at("name").fail(fmt::format(
        "'{}' is not a valid model name: it names the output file and the "
        "generated code, so it must be 1 to {} letters, digits, '.', '_' or "
        "'-', starting with a letter, digit or '_'",
        name, kMaxModelName));
  return name;
}

static Node readNode(const JsonCursor &c) {
  Node n;
  n.origin = c.path();
  n.name = c.at("name").asString();
  if (n.name.empty() || n.name == kInputName)
    c.at("name").fail(fmt::format("'{}' is not a valid node name", n.name));
  for (char ch : n.name)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
          ch == '_' || ch == '-'))
      c.at("name").fail(fmt::format(
          "'{}' may contain only letters, digits, '.', '_' and '-'", n.name));
  std::string op = c.at("op").asString();
  if (!parseOpKind(op, n.op)) {
    std::string list;
    for (const OpName &o : kOpNames)
      list += (list.empty() ? "" : ", ") + std::string(o.name);
    c.at("op").fail(fmt::format("unknown op '{}' (expected one of: {})", op, list));
  }

  std::vector<std::string> keys = {"name", "op"};
  auto allow = [&](std::initializer_list<const char *> ks) {
    for (const char *k : ks)
      keys.push_back(k);
  };
  if (n.op == OpKind::Add) {
    allow({"inputs"});
    auto ins = c.at("inputs").asArray(2, 2);
    for (const JsonCursor &i : ins)
      n.inputs.push_back(i.asString());
  } else {
    allow({"input"});
    n.inputs.push_back(c.at("input").asString());
  }

  const int64_t K = Limits::kMaxKernel;
  switch (n.op) {
  case OpKind::Conv:
    allow({"out_channels", "kernel", "stride", "padding", "dilation", "groups",
           "bias"});
    n.outChannels = c.at("out_channels").asInt(1, Limits::kMaxChannels);
    n.kernel = c.at("kernel").asPair(1, K);
    n.stride = c.pairOr("stride", {1, 1}, 1, K);
    n.padding = c.pairOr("padding", {0, 0}, 0, K);
    n.dilation = c.pairOr("dilation", {1, 1}, 1, K);
    n.groups = c.intOr("groups", 1, 1, Limits::kMaxChannels);
    n.bias = c.boolOr("bias", false);
    if (n.outChannels % n.groups != 0)
      c.at("groups").fail(fmt::format("{} does not divide out_channels {}",
                                      n.groups, n.outChannels));
    break;
  case OpKind::BatchNorm:
    allow({"epsilon", "momentum"});
    n.epsilon = c.numberOr("epsilon", 1e-5, 1e-12, 1.0);
    n.momentum = c.numberOr("momentum", 0.1, 0.0, 1.0);
    break;
  case OpKind::MaxPool:
  case OpKind::AvgPool:
    allow({"kernel", "stride", "padding"});
    if (n.op == OpKind::AvgPool)
      allow({"count_include_pad"});
    n.kernel = c.at("kernel").asPair(1, K);
    n.stride = c.pairOr("stride", n.kernel, 1, K);
    n.padding = c.pairOr("padding", {0, 0}, 0, K);
    for (int d = 0; d < 2; ++d)
      if (2 * n.padding[d] > n.kernel[d])
        c.at("padding").fail(fmt::format(
            "padding {} exceeds half the kernel size {}", n.padding[d],
            n.kernel[d]));
    n.countIncludePad = c.boolOr("count_include_pad", true);
    break;
  case OpKind::Linear:
    allow({"out_features", "bias"});
    n.outChannels = c.at("out_features").asInt(1, Limits::kMaxClasses);
    n.bias = c.boolOr("bias", true);
    break;
  case OpKind::Relu:
  case OpKind::Add:
  case OpKind::GlobalAvgPool:
  case OpKind::Flatten:
    break;
  }
  c.expectOnlyKeys(keys);
  return n;
}

static Shape readInputShape(const JsonCursor &root) {
  auto in = root.at("input").asArray(3, 3);
  return {in[0].asInt(1, Limits::kMaxChannels),
          in[1].asInt(1, Limits::kMaxSpatial),
          in[2].asInt(1, Limits::kMaxSpatial)};
}

Graph readGraph(const JsonCursor &root) {
  root.expectOnlyKeys({"name", "description", "input", "nodes", "output"});
  Graph g;
  g.name = readModelName(root);
  g.description = root.stringOr("description", "");
  g.input = readInputShape(root);
  auto nodes = root.at("nodes").asArray(1, Limits::kMaxNodes);
  std::set<std::string> seen;
  for (const JsonCursor &c : nodes) {
    Node n = readNode(c);
    if (!seen.insert(n.name).second)
      c.at("name").fail(fmt::format("duplicate node name '{}'", n.name));
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (n.inputs[i] != kInputName && !seen.count(n.inputs[i]))
        (n.op == OpKind::Add ? c.at("inputs").asArray(2, 2)[i] : c.at("input"))
            .fail(fmt::format("'{}' is not the model input or an earlier node",
                              n.inputs[i]));
    g.nodes.push_back(std::move(n));
  }
  g.output = root.stringOr("output", g.nodes.back().name);
  return g;
}

static nlohmann::ordered_json pairJson(const Pair &p) {
  if (p[0] == p[1])
    return p[0];
  return nlohmann::ordered_json::array({p[0], p[1]});
}

nlohmann::ordered_json writeGraph(const Graph &graph) {
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const Node &n : graph.nodes) {
    nlohmann::ordered_json j;
    j["name"] = n.name;
    j["op"] = opKindName(n.op);
    if (n.op == OpKind::Add)
      j["inputs"] = n.inputs;
    else
      j["input"] = n.inputs.at(0);
    switch (n.op) {
    case OpKind::Conv:
      j["out_channels"] = n.outChannels;
      j["kernel"] = pairJson(n.kernel);
      j["stride"] = pairJson(n.stride);
      j["padding"] = pairJson(n.padding);
      if (n.dilation != Pair{1, 1})
        j["dilation"] = pairJson(n.dilation);
      if (n.groups != 1)
        j["groups"] = n.groups;
      j["bias"] = n.bias;
      break;
    case OpKind::BatchNorm:
      j["epsilon"] = n.epsilon;
      j["momentum"] = n.momentum;
      break;
    case OpKind::MaxPool:
    case OpKind::AvgPool:
      j["kernel"] = pairJson(n.kernel);
      j["stride"] = pairJson(n.stride);
      j["padding"] = pairJson(n.padding);
      if (n.op == OpKind::AvgPool)
        j["count_include_pad"] = n.countIncludePad;
      break;
    case OpKind::Linear:
      j["out_features"] = n.outChannels;
      j["bias"] = n.bias;
      break;
    default:
      break;
    }
    nodes.push_back(std::move(j));
  }
  nlohmann::ordered_json doc;
  doc["name"] = graph.name;
  if (!graph.description.empty())
    doc["description"] = graph.description;
  doc["input"] = graph.input;
  doc["nodes"] = std::move(nodes);
  doc["output"] = graph.output;
  return doc;
}

Graph readSpec(const nlohmann::json &doc, const std::optional<Shape> &inputOverride) {
  JsonCursor root(doc, "");
  if (!doc.is_object())
    throw SpecError("", fmt::format("expected a JSON object at the top level, "
                                    "got {}",
                                    doc.type_name()));
  bool family = doc.contains("stages"), graph = doc.contains("nodes");
  if (family && graph)
    throw SpecError("", "a spec has either 'stages' (family form) or 'nodes' "
                        "(graph form), not both");
  if (!family && !graph)
    throw SpecError("", "a spec needs 'stages' (family form) or 'nodes' (graph "
                        "form); see docs/spec.md");
  Graph g = family ? expandFamily(root) : readGraph(root);
  if (inputOverride) {
    if (inputOverride->size() != 3)
      throw SpecError("input", "--input must be CxHxW");
    g.input = *inputOverride;
  }
  return g;
}

Graph readSpecText(const std::string &text, const std::optional<Shape> &inputOverride) {
  return readSpec(parseJsonText(text), inputOverride);
}

Shape parseShapeFlag(const std::string &text, const std::string &what) {
  Shape dims;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t x = text.find('x', pos);
    std::string part = text.substr(pos, x == std::string::npos ? std::string::npos
                                                               : x - pos);
    bool ok = !part.empty() && part.size() <= 6;
    for (char ch : part)
      ok = ok && std::isdigit(static_cast<unsigned char>(ch));
    int64_t v = ok ? std::stoll(part) : 0;
    if (!ok || v < 1)
      throw SpecError("", fmt::format("{} '{}': expected CxHxW with positive "
                                      "integers, e.g. 3x224x224",
                                      what, text));
    dims.push_back(v);
    if (x == std::string::npos)
      break;
    pos = x + 1;
  }
  if (dims.size() != 3 || dims[0] > Limits::kMaxChannels ||
      dims[1] > Limits::kMaxSpatial || dims[2] > Limits::kMaxSpatial)
    throw SpecError("", fmt::format("{} '{}': expected CxHxW with C <= {} and "
                                    "H, W <= {}",
                                    what, text, Limits::kMaxChannels,
                                    Limits::kMaxSpatial));
  return dims;
}

} // namespace rnc::spec
