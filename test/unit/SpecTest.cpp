// Unit tests for the spec reader: family expansion, the D2L variants, shape
// inference, the graph-form round trip and the --input flag.
#include "frontend/Shapes.h"
#include "frontend/Spec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace rnc::spec;

namespace {

Graph loadModel(const std::string &name,
                const std::optional<Shape> &input = std::nullopt) {
  std::ifstream f(std::string(RNC_MODELS_DIR) + "/" + name + ".json");
  std::stringstream ss;
  ss << f.rdbuf();
  return readSpecText(ss.str(), input);
}

const Node *find(const Graph &g, const std::string &name) {
  for (const Node &n : g.nodes)
    if (n.name == name)
      return &n;
  return nullptr;
}

TEST(Family, Resnet50ProjectsOnlyWhereShapesChange) {
  Graph g = loadModel("resnet50");
  // 64 -> 256 channels in layer1.0 needs a projection even at stride 1.
  ASSERT_NE(find(g, "layer1.0.downsample.0"), nullptr);
  EXPECT_EQ(find(g, "layer1.0.downsample.0")->stride[0], 1);
  EXPECT_NE(find(g, "layer1.0.downsample.1"), nullptr);
  EXPECT_EQ(find(g, "layer1.1.downsample.0"), nullptr);
  // v1.5: the stride sits on the 3x3.
  EXPECT_EQ(find(g, "layer2.0.conv1")->stride[0], 1);
  EXPECT_EQ(find(g, "layer2.0.conv2")->stride[0], 2);
  EXPECT_FALSE(find(g, "conv1")->bias);
  EXPECT_EQ(g.output, "fc");
}

TEST(Family, StrideOn1x1MovesTheStride) {
  std::string text = R"({"input":[3,64,64],"num_classes":5,
    "block":{"kind":"bottleneck","stride_on":"1x1"},
    "stages":[{"blocks":1,"width":8},{"blocks":1,"width":16}]})";
  Graph g = readSpecText(text);
  EXPECT_EQ(find(g, "layer2.0.conv1")->stride[0], 2);
  EXPECT_EQ(find(g, "layer2.0.conv2")->stride[0], 1);
}

TEST(Family, D2lResnet18MatchesTheBook) {
  Graph g = loadModel("d2l_resnet18");
  EXPECT_TRUE(find(g, "conv1")->bias);
  // First stage: no 1x1 (first_block=True); later stages: 1x1 conv, no BN.
  EXPECT_EQ(find(g, "layer1.0.downsample.0"), nullptr);
  ASSERT_NE(find(g, "layer2.0.downsample.0"), nullptr);
  EXPECT_TRUE(find(g, "layer2.0.downsample.0")->bias);
  EXPECT_EQ(find(g, "layer2.0.downsample.1"), nullptr);
  EXPECT_EQ(find(g, "layer2.0.add")->inputs[1], "layer2.0.downsample.0");
}

TEST(Family, D2lResnet18StageShapesAt224) {
  // The seeds (Gluon edition) print these shapes for a 1x1x224x224 input.
  Graph g = loadModel("d2l_resnet18", Shape{1, 224, 224});
  auto s = inferShapes(g);
  EXPECT_EQ(s.at("maxpool"), (Shape{64, 56, 56}));
  EXPECT_EQ(s.at("layer1.1.relu"), (Shape{64, 56, 56}));
  EXPECT_EQ(s.at("layer2.1.relu"), (Shape{128, 28, 28}));
  EXPECT_EQ(s.at("layer3.1.relu"), (Shape{256, 14, 14}));
  EXPECT_EQ(s.at("layer4.1.relu"), (Shape{512, 7, 7}));
  EXPECT_EQ(s.at("fc"), (Shape{10}));
}

TEST(Family, D2lResnextGroupWidthIsChannelsPerGroup) {
  // ResNeXtBlock(c, groups=16, bot_mul=1): conv2 has c/16 groups.
  Graph g = loadModel("d2l_resnext18");
  EXPECT_EQ(find(g, "layer1.0.conv2")->groups, 64 / 16);
  EXPECT_EQ(find(g, "layer4.0.conv2")->groups, 512 / 16);
  EXPECT_EQ(find(g, "layer4.0.conv2")->outChannels, 512);
  EXPECT_NE(find(g, "layer2.0.downsample.1"), nullptr); // projection has BN
}

TEST(Family, TorchvisionResnextWidth) {
  Graph g = loadModel("resnext50_32x4d");
  // width = int(planes * 4 / 64) * 32: 128 for planes 64.
  EXPECT_EQ(find(g, "layer1.0.conv2")->outChannels, 128);
  EXPECT_EQ(find(g, "layer1.0.conv2")->groups, 32);
  EXPECT_EQ(find(g, "layer4.0.conv3")->outChannels, 2048);
}

TEST(Family, PreactOrderingAndHead) {
  Graph g = loadModel("preact_resnet18");
  EXPECT_EQ(find(g, "layer1.0.relu"), nullptr); // no ReLU after the add
  EXPECT_EQ(find(g, "layer1.0.conv1")->inputs[0], "layer1.0.relu1");
  // A projection reads the pre-activated input.
  EXPECT_EQ(find(g, "layer2.0.downsample.0")->inputs[0], "layer2.0.relu1");
  // An identity shortcut reads the raw block input.
  EXPECT_EQ(find(g, "layer1.1.add")->inputs[1], "layer1.0.add");
  ASSERT_NE(find(g, "final_bn"), nullptr);
  EXPECT_EQ(find(g, "avgpool")->inputs[0], "final_relu");
}

TEST(Graph, EveryShippedModelRoundTrips) {
  for (const char *name :
       {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2",
        "d2l_resnet18", "d2l_resnext18", "preact_resnet18", "tiny"}) {
    SCOPED_TRACE(name);
    Graph g = loadModel(name);
    auto shapes = inferShapes(g);
    Graph again = readSpecText(writeGraph(g).dump());
    EXPECT_EQ(inferShapes(again), shapes);
    ASSERT_EQ(again.nodes.size(), g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      EXPECT_EQ(again.nodes[i].name, g.nodes[i].name);
      EXPECT_EQ(again.nodes[i].inputs, g.nodes[i].inputs);
      EXPECT_EQ(again.nodes[i].bias, g.nodes[i].bias);
      EXPECT_EQ(again.nodes[i].groups, g.nodes[i].groups);
    }
  }
}

TEST(Graph, AsymmetricKernelsAndDilation) {
  std::string text = R"({"input":[2,10,20],"nodes":[
    {"name":"c","op":"conv","input":"input","out_channels":4,
     "kernel":[3,5],"stride":[1,2],"padding":[1,0],"dilation":[2,1]},
    {"name":"p","op":"avg_pool","input":"c","kernel":2},
    {"name":"f","op":"flatten","input":"p"},
    {"name":"fc","op":"linear","input":"f","out_features":3}]})";
  auto s = inferShapes(readSpecText(text));
  // h: (10 + 2 - 2*2 - 1)/1 + 1 = 8; w: (20 - 5)/2 + 1 = 8; pool halves.
  EXPECT_EQ(s.at("c"), (Shape{4, 8, 8}));
  EXPECT_EQ(s.at("p"), (Shape{4, 4, 4}));
  EXPECT_EQ(s.at("f"), (Shape{64}));
}

TEST(Errors, PathAndMessage) {
  try {
    readSpecText(R"({"input":[1,8,8],"num_classes":2,
      "block":{"kind":"bottleneck","expansion":1,"bottleneck_mul":1},
      "stages":[{"blocks":1,"width":64},{"blocks":1,"width":256,"groups":48}]})");
    FAIL() << "expected a SpecError";
  } catch (const SpecError &e) {
    EXPECT_EQ(formatSpecError("x.json", e),
              "x.json: stages[1].groups: 48 does not divide width 256");
  }
}

TEST(Flags, InputShape) {
  EXPECT_EQ(parseShapeFlag("3x224x224", "--input"), (Shape{3, 224, 224}));
  for (const char *bad : {"", "3x224", "3x224x224x1", "ax2x2", "3x0x2", "3x-1x2",
                          "3xx2", "1x99999999999x2", "3x224x224x"})
    EXPECT_THROW(parseShapeFlag(bad, "--input"), SpecError) << bad;
}

} // namespace
