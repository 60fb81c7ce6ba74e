// Expands the family form of a spec (stem, stages of blocks, head) into the
// explicit graph form, with torchvision's node names (conv1, layer1.0.conv1,
// layer1.0.downsample.0, fc, ...) so weights map 1:1 onto a state_dict.
//
// Block semantics follow torchvision (BasicBlock, Bottleneck v1.5 with the
// stride on the 3x3) and D2L (Residual, ResNeXtBlock); see docs/spec.md.
#include "frontend/Shapes.h"
#include "frontend/Spec.h"

#include <fmt/format.h>

#include <cmath>

namespace rnc::spec {
namespace {

enum class BlockKind { Basic, Bottleneck, PreactBasic, PreactBottleneck };
enum class Shortcut { ConvBn, Conv };

struct BlockConfig {
  BlockKind kind = BlockKind::Basic;
  int64_t expansion = 1;
  bool strideOn1x1 = false;
  // Exactly one of groups / groupWidth and of widthPerGroup / bottleneckMul
  // is set; "paths" remember where each came from for error messages.
  std::optional<int64_t> groups, groupWidth, widthPerGroup;
  std::optional<double> bottleneckMul;
  std::string groupsPath, groupWidthPath, widthPerGroupPath, bottleneckMulPath;
};

bool isPreact(BlockKind k) {
  return k == BlockKind::PreactBasic || k == BlockKind::PreactBottleneck;
}
std::string firstNonEmpty(std::initializer_list<std::string> paths) {
  for (const std::string &p : paths)
    if (!p.empty())
      return p;
  return "block";
}

bool isBottleneck(BlockKind k) {
  return k == BlockKind::Bottleneck || k == BlockKind::PreactBottleneck;
}

const char *const kBlockKeys[] = {"kind", "expansion", "stride_on", "groups",
                                  "group_width", "width_per_group",
                                  "bottleneck_mul"};

// Reads the block fields that may appear in "block" or be overridden per stage.
void readBlockOverrides(const JsonCursor &c, BlockConfig &cfg) {
  if (auto g = c.find("groups")) {
    cfg.groups = g->asInt(1, Limits::kMaxChannels);
    cfg.groupsPath = g->path();
    cfg.groupWidth.reset();
  }
  if (auto g = c.find("group_width")) {
    if (c.has("groups"))
      g->fail("give either 'groups' or 'group_width', not both");
    cfg.groupWidth = g->asInt(1, Limits::kMaxChannels);
    cfg.groupWidthPath = g->path();
    cfg.groups.reset();
  }
  if (auto w = c.find("width_per_group")) {
    cfg.widthPerGroup = w->asInt(1, Limits::kMaxChannels);
    cfg.widthPerGroupPath = w->path();
    cfg.bottleneckMul.reset();
  }
  if (auto m = c.find("bottleneck_mul")) {
    if (c.has("width_per_group"))
      m->fail("give either 'width_per_group' or 'bottleneck_mul', not both");
    cfg.bottleneckMul = m->asNumber(1.0 / 1024, 1024);
    cfg.bottleneckMulPath = m->path();
    cfg.widthPerGroup.reset();
  }
}

BlockConfig readBlock(const JsonCursor &root) {
  BlockConfig cfg;
  auto block = root.find("block");
  if (!block) {
    cfg.groups = 1;
    cfg.widthPerGroup = 64;
    return cfg;
  }
  block->expectOnlyKeys(std::vector<std::string>(std::begin(kBlockKeys),
                                                 std::end(kBlockKeys)));
  std::string kind = block->stringOr("kind", "basic");
  if (kind == "basic")
    cfg.kind = BlockKind::Basic;
  else if (kind == "bottleneck")
    cfg.kind = BlockKind::Bottleneck;
  else if (kind == "preact_basic")
    cfg.kind = BlockKind::PreactBasic;
  else if (kind == "preact_bottleneck")
    cfg.kind = BlockKind::PreactBottleneck;
  else
    block->at("kind").fail(fmt::format(
        "unknown block kind '{}' (expected basic, bottleneck, preact_basic or "
        "preact_bottleneck)",
        kind));
  cfg.expansion =
      block->intOr("expansion", isBottleneck(cfg.kind) ? 4 : 1, 1, 64);
  std::string strideOn = block->stringOr("stride_on", "3x3");
  if (strideOn == "1x1") {
    if (!isBottleneck(cfg.kind))
      block->at("stride_on").fail("'1x1' applies only to bottleneck blocks");
    cfg.strideOn1x1 = true;
  } else if (strideOn != "3x3") {
    block->at("stride_on").fail(
        fmt::format("expected \"3x3\" or \"1x1\", got \"{}\"", strideOn));
  }
  readBlockOverrides(*block, cfg);
  if (!cfg.groups && !cfg.groupWidth)
    cfg.groups = 1;
  if (!cfg.widthPerGroup && !cfg.bottleneckMul)
    cfg.widthPerGroup = 64;
  return cfg;
}

/// Builds nodes, naming them and chaining inputs.
class GraphBuilder {
public:
  GraphBuilder(Graph &g, bool convBias, double eps, double momentum)
      : g_(g), convBias_(convBias), eps_(eps), momentum_(momentum) {}

  std::string conv(const std::string &name, const std::string &in,
                   int64_t out, int64_t kernel, int64_t stride,
                   int64_t padding, int64_t groups, const std::string &origin) {
    Node n = make(name, OpKind::Conv, {in}, origin);
    n.outChannels = out;
    n.kernel = {kernel, kernel};
    n.stride = {stride, stride};
    n.padding = {padding, padding};
    n.groups = groups;
    n.bias = convBias_;
    return push(std::move(n));
  }
  std::string bn(const std::string &name, const std::string &in,
                 const std::string &origin) {
    Node n = make(name, OpKind::BatchNorm, {in}, origin);
    n.epsilon = eps_;
    n.momentum = momentum_;
    return push(std::move(n));
  }
  std::string unary(const std::string &name, OpKind op, const std::string &in,
                    const std::string &origin) {
    return push(make(name, op, {in}, origin));
  }
  std::string add(const std::string &name, const std::string &a,
                  const std::string &b, const std::string &origin) {
    return push(make(name, OpKind::Add, {a, b}, origin));
  }
  std::string pool(const std::string &name, OpKind op, const std::string &in,
                   int64_t kernel, int64_t stride, int64_t padding,
                   const std::string &origin) {
    Node n = make(name, op, {in}, origin);
    n.kernel = {kernel, kernel};
    n.stride = {stride, stride};
    n.padding = {padding, padding};
    return push(std::move(n));
  }
  std::string linear(const std::string &name, const std::string &in,
                     int64_t out, const std::string &origin) {
    Node n = make(name, OpKind::Linear, {in}, origin);
    n.outChannels = out;
    n.bias = true;
    return push(std::move(n));
  }

private:
  Node make(const std::string &name, OpKind op, std::vector<std::string> ins,
            const std::string &origin) {
    Node n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(ins);
    n.origin = origin;
    return n;
  }
  std::string push(Node n) {
    if (g_.nodes.size() >= Limits::kMaxNodes)
      throw SpecError(n.origin, fmt::format("the model has more than {} nodes",
                                            Limits::kMaxNodes));
    g_.nodes.push_back(std::move(n));
    return g_.nodes.back().name;
  }

  Graph &g_;
  bool convBias_;
  double eps_, momentum_;
};

struct StageSpec {
  int64_t blocks, width, stride;
  BlockConfig block;
  std::string path;
};

// Channels of the 3x3 convolution inside a bottleneck, and its group count.
void bottleneckWidth(const StageSpec &s, int64_t &inner, int64_t &groups) {
  const BlockConfig &b = s.block;
  if (b.widthPerGroup) {
    // torchvision: width = int(planes * (base_width / 64.)) * groups
    if (!b.groups)
      throw SpecError(b.groupWidthPath,
                      "'group_width' needs 'bottleneck_mul' (with "
                      "'width_per_group' give 'groups')");
    int64_t perGroup = s.width * *b.widthPerGroup / 64;
    if (perGroup < 1)
      throw SpecError(b.widthPerGroupPath,
                      fmt::format("{} gives less than one channel per group at "
                                  "width {}",
                                  *b.widthPerGroup, s.width));
    groups = *b.groups;
    inner = perGroup * groups;
  } else {
    // D2L ResNeXtBlock: bot_channels = int(round(num_channels * bot_mul))
    inner = static_cast<int64_t>(std::nearbyint(s.width * *b.bottleneckMul));
    if (inner < 1)
      throw SpecError(b.bottleneckMulPath,
                      fmt::format("{} gives a bottleneck of {} channels at "
                                  "width {}",
                                  *b.bottleneckMul, inner, s.width));
    if (b.groupWidth) {
      // D2L's quirk: its `groups` argument is the number of channels per group.
      if (inner % *b.groupWidth != 0)
        throw SpecError(b.groupWidthPath,
                        fmt::format("{} does not divide width {}",
                                    *b.groupWidth, inner));
      groups = inner / *b.groupWidth;
    } else {
      if (inner % *b.groups != 0)
        throw SpecError(b.groupsPath, fmt::format("{} does not divide width {}",
                                                  *b.groups, inner));
      groups = *b.groups;
    }
  }
  if (inner > Limits::kMaxChannels)
    throw SpecError(s.path, fmt::format("bottleneck width {} exceeds {}", inner,
                                        Limits::kMaxChannels));
}

} // namespace

Graph expandFamily(const JsonCursor &root) {
  root.expectOnlyKeys({"name", "description", "input", "num_classes",
                       "conv_bias", "batch_norm", "stem", "block", "shortcut",
                       "stages"});
  Graph g;
  g.name = readModelName(root);
  g.description = root.stringOr("description", "");
  {
    auto in = root.at("input").asArray(3, 3);
    g.input = {in[0].asInt(1, Limits::kMaxChannels),
               in[1].asInt(1, Limits::kMaxSpatial),
               in[2].asInt(1, Limits::kMaxSpatial)};
  }
  int64_t numClasses = root.at("num_classes").asInt(1, Limits::kMaxClasses);
  bool convBias = root.boolOr("conv_bias", false);
  double eps = 1e-5, momentum = 0.1;
  if (auto bn = root.find("batch_norm")) {
    bn->expectOnlyKeys({"epsilon", "momentum"});
    eps = bn->numberOr("epsilon", eps, 1e-12, 1.0);
    momentum = bn->numberOr("momentum", momentum, 0.0, 1.0);
  }
  BlockConfig blockCfg = readBlock(root);

  Shortcut shortcut = isPreact(blockCfg.kind) ? Shortcut::Conv : Shortcut::ConvBn;
  if (auto sc = root.find("shortcut")) {
    std::string s = sc->asString();
    if (s == "conv_bn")
      shortcut = Shortcut::ConvBn;
    else if (s == "conv")
      shortcut = Shortcut::Conv;
    else
      sc->fail(fmt::format("unknown shortcut '{}' (expected \"conv_bn\" or "
                           "\"conv\")",
                           s));
  }

  GraphBuilder b(g, convBias, eps, momentum);
  std::string x = kInputName;

  // --- stem: conv1, bn1, relu, maxpool ---
  {
    int64_t width = 64, kernel = 7, stride = 2;
    int64_t padding = -1;
    bool bn = true, relu = true;
    bool pool = true;
    int64_t poolK = 3, poolS = 2, poolP = 1;
    if (auto stem = root.find("stem")) {
      stem->expectOnlyKeys(
          {"width", "kernel", "stride", "padding", "bn", "relu", "pool"});
      width = stem->intOr("width", width, 1, Limits::kMaxChannels);
      kernel = stem->intOr("kernel", kernel, 1, Limits::kMaxKernel);
      stride = stem->intOr("stride", stride, 1, Limits::kMaxKernel);
      padding = stem->intOr("padding", -1, 0, Limits::kMaxKernel);
      bn = stem->boolOr("bn", true);
      relu = stem->boolOr("relu", true);
      if (auto p = stem->find("pool")) {
        if (p->isString()) {
          if (p->asString() != "none")
            p->fail(fmt::format("expected an object or \"none\", got \"{}\"",
                                p->asString()));
          pool = false;
        } else {
          p->expectOnlyKeys({"kernel", "stride", "padding"});
          poolK = p->intOr("kernel", 3, 1, Limits::kMaxKernel);
          poolS = p->intOr("stride", 2, 1, Limits::kMaxKernel);
          poolP = p->intOr("padding", 1, 0, Limits::kMaxKernel);
          if (2 * poolP > poolK)
            p->fail(fmt::format("padding {} exceeds half the kernel size {}",
                                poolP, poolK));
        }
      }
    }
    if (padding < 0)
      padding = kernel / 2;
    x = b.conv("conv1", x, width, kernel, stride, padding, 1, "stem");
    if (bn)
      x = b.bn("bn1", x, "stem");
    if (relu)
      x = b.unary("relu", OpKind::Relu, x, "stem");
    if (pool)
      x = b.pool("maxpool", OpKind::MaxPool, x, poolK, poolS, poolP, "stem.pool");
    // Track channels for projection decisions.
  }
  int64_t channels = -1;
  for (const Node &n : g.nodes)
    if (n.op == OpKind::Conv)
      channels = n.outChannels;

  // --- stages ---
  auto stages = root.at("stages").asArray(1, Limits::kMaxStages);
  for (size_t si = 0; si < stages.size(); ++si) {
    const JsonCursor &sc = stages[si];
    std::vector<std::string> keys = {"blocks", "width", "stride"};
    for (const char *k : {"groups", "group_width", "width_per_group",
                          "bottleneck_mul"})
      keys.push_back(k);
    sc.expectOnlyKeys(keys);
    StageSpec st;
    st.path = sc.path();
    st.blocks = sc.at("blocks").asInt(1, Limits::kMaxBlocks);
    st.width = sc.at("width").asInt(1, Limits::kMaxChannels);
    st.stride = sc.intOr("stride", si == 0 ? 1 : 2, 1, 64);
    st.block = blockCfg;
    readBlockOverrides(sc, st.block);
    if (st.block.groupWidth && st.block.widthPerGroup)
      throw SpecError(st.block.groupWidthPath,
                      "'group_width' needs 'bottleneck_mul' (with "
                      "'width_per_group' give 'groups')");

    const BlockKind kind = st.block.kind;
    int64_t out = st.width * st.block.expansion;
    if (out > Limits::kMaxChannels)
      sc.fail(fmt::format("width {} x expansion {} exceeds {} channels",
                          st.width, st.block.expansion, Limits::kMaxChannels));
    int64_t inner = st.width, groups = 1;
    if (isBottleneck(kind)) {
      bottleneckWidth(st, inner, groups);
    } else {
      // torchvision: "BasicBlock only supports groups=1 and base_width=64".
      if (st.block.groups && *st.block.groups != 1)
        throw SpecError(st.block.groupsPath,
                        "basic blocks support only 1 group (use a bottleneck "
                        "block for ResNeXt)");
      if (st.block.groupWidth || st.block.bottleneckMul ||
          (st.block.widthPerGroup && *st.block.widthPerGroup != 64))
        throw SpecError(firstNonEmpty({st.block.groupWidthPath,
                                       st.block.bottleneckMulPath,
                                       st.block.widthPerGroupPath}),
                        "basic blocks have no bottleneck width to set");
    }

    for (int64_t bi = 0; bi < st.blocks; ++bi) {
      const std::string p = fmt::format("layer{}.{}.", si + 1, bi);
      const std::string origin = sc.path();
      const int64_t stride = bi == 0 ? st.stride : 1;
      const bool project = stride != 1 || channels != out;
      const std::string in = x;
      std::string y;
      std::string shortcutIn = in;

      if (!isPreact(kind)) {
        if (!isBottleneck(kind)) {
          y = b.conv(p + "conv1", in, out, 3, stride, 1, 1, origin);
          y = b.bn(p + "bn1", y, origin);
          y = b.unary(p + "relu1", OpKind::Relu, y, origin);
          y = b.conv(p + "conv2", y, out, 3, 1, 1, 1, origin);
          y = b.bn(p + "bn2", y, origin);
        } else {
          const int64_t s1 = st.block.strideOn1x1 ? stride : 1;
          const int64_t s3 = st.block.strideOn1x1 ? 1 : stride;
          y = b.conv(p + "conv1", in, inner, 1, s1, 0, 1, origin);
          y = b.bn(p + "bn1", y, origin);
          y = b.unary(p + "relu1", OpKind::Relu, y, origin);
          y = b.conv(p + "conv2", y, inner, 3, s3, 1, groups, origin);
          y = b.bn(p + "bn2", y, origin);
          y = b.unary(p + "relu2", OpKind::Relu, y, origin);
          y = b.conv(p + "conv3", y, out, 1, 1, 0, 1, origin);
          y = b.bn(p + "bn3", y, origin);
        }
      } else {
        // Pre-activation (He et al. 2016, "Identity Mappings"): BN, ReLU, conv.
        std::string a = b.bn(p + "bn1", in, origin);
        a = b.unary(p + "relu1", OpKind::Relu, a, origin);
        // A projection reads the pre-activated input, as in the paper's code.
        if (project)
          shortcutIn = a;
        if (!isBottleneck(kind)) {
          y = b.conv(p + "conv1", a, out, 3, stride, 1, 1, origin);
          y = b.bn(p + "bn2", y, origin);
          y = b.unary(p + "relu2", OpKind::Relu, y, origin);
          y = b.conv(p + "conv2", y, out, 3, 1, 1, 1, origin);
        } else {
          const int64_t s1 = st.block.strideOn1x1 ? stride : 1;
          const int64_t s3 = st.block.strideOn1x1 ? 1 : stride;
          y = b.conv(p + "conv1", a, inner, 1, s1, 0, 1, origin);
          y = b.bn(p + "bn2", y, origin);
          y = b.unary(p + "relu2", OpKind::Relu, y, origin);
          y = b.conv(p + "conv2", y, inner, 3, s3, 1, groups, origin);
          y = b.bn(p + "bn3", y, origin);
          y = b.unary(p + "relu3", OpKind::Relu, y, origin);
          y = b.conv(p + "conv3", y, out, 1, 1, 0, 1, origin);
        }
      }

      std::string skip = shortcutIn;
      if (project) {
        skip = b.conv(p + "downsample.0", shortcutIn, out, 1, stride, 0, 1, origin);
        if (shortcut == Shortcut::ConvBn)
          skip = b.bn(p + "downsample.1", skip, origin);
      }
      x = b.add(p + "add", y, skip, origin);
      if (!isPreact(kind))
        x = b.unary(p + "relu", OpKind::Relu, x, origin);
      channels = out;
    }
  }

  // --- head ---
  if (isPreact(blockCfg.kind)) {
    x = b.bn("final_bn", x, "block.kind");
    x = b.unary("final_relu", OpKind::Relu, x, "block.kind");
  }
  x = b.unary("avgpool", OpKind::GlobalAvgPool, x, "");
  x = b.unary("flatten", OpKind::Flatten, x, "");
  x = b.linear("fc", x, numClasses, "num_classes");
  g.output = x;
  return g;
}

} // namespace rnc::spec
