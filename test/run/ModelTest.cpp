// Tests of rnc::Model (runtime/Model.h) against the fake models of fake_model.cpp.
#include "runtime/Model.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace rnc {
namespace {

const std::string kDir = FAKE_MODEL_DIR;
const std::string kFake = kDir + "/fake_model.so";

// The message of the ModelError that `fn` throws, or "" when it throws none.
template <class Fn> std::string errorOf(Fn fn) {
  try {
    fn();
  } catch (const ModelError &e) {
    return e.what();
  }
  return "";
}

TEST(Model, ReadsTheDescriptionAndTensorTable) {
  Model m(kFake);
  EXPECT_EQ(m.info().abi_version, RNC_ABI_VERSION);
  EXPECT_EQ(m.info().input_h, 12);
  EXPECT_EQ(m.info().num_classes, 10);
  EXPECT_EQ(m.info().max_batch, 128);
  ASSERT_EQ(m.tensors().size(), 6u);
  const rnc_tensor_info *w = m.tensor("fc.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->kind, RNC_PARAM);
  EXPECT_EQ(w->numel, 1440);
  EXPECT_EQ(m.tensor("fc.weight.grad")->kind, RNC_GRADIENT);
  EXPECT_EQ(m.tensor("nope"), nullptr);
}

TEST(Model, TrainsAndRoundTripsTensors) {
  Model m(kFake);
  m.create();
  m.init(1);
  std::vector<float> w = m.readTensor("fc.weight");
  std::vector<float> ones(w.size(), 1.0f);
  m.writeTensor("fc.weight", ones);
  EXPECT_EQ(m.readTensor("fc.weight"), ones);

  std::vector<float> x(2 * 144, 0.5f), logits(2 * 10);
  std::vector<int32_t> y = {3, 4};
  rnc_step_result r = m.trainStep(x.data(), y.data(), 2, rnc_sgd{0.1f, 0.9f, 0});
  EXPECT_GT(r.loss, 0.0f);
  m.eval(x.data(), 2, logits.data());
  // The step moved the bias towards classes 3 and 4.
  std::vector<float> bias = m.readTensor("fc.bias");
  EXPECT_GT(bias[3], bias[0]);
  EXPECT_NE(m.readTensor("fc.bias.grad")[3], 0.0f);
}

TEST(Model, ErrorsCarryTheModelsMessage) {
  Model m(kFake);
  EXPECT_EQ(errorOf([&] { m.init(0); }),
            kFake + ": rnc_init called before rnc_create");
  m.create();
  std::vector<float> x(144);
  std::vector<int32_t> y = {0};
  EXPECT_EQ(errorOf([&] { m.trainStep(x.data(), y.data(), 129, rnc_sgd{}); }),
            kFake + ": rnc_train_step failed: rnc_train_step: batch 129 is "
                    "outside [1, 128]");
  EXPECT_EQ(errorOf([&] { m.readTensor("nope"); }),
            kFake + ": no tensor named 'nope'");
  EXPECT_EQ(errorOf([&] { m.writeTensor("fc.bias", {1.0f}); }),
            kFake + ": tensor 'fc.bias' holds 10 values, got 1");
}

TEST(Model, RefusesAnotherAbiVersion) {
  std::string path = kDir + "/fake_model_abi99.so";
  EXPECT_EQ(errorOf([&] { Model m(path); }),
            path + ": built for rnc ABI version 99, this rnc-run expects 1; "
                   "recompile it with this rnc");
}

TEST(Model, RefusesMissingSymbolsAndOtherFiles) {
  std::string noEval = kDir + "/fake_model_noeval.so";
  EXPECT_EQ(errorOf([&] { Model m(noEval); }),
            noEval + ": missing symbol rnc_eval (not a model compiled by rnc?)");
  std::string text = testing::TempDir() + "/not_a_model.so";
  std::ofstream(text) << "hello\n";
  EXPECT_EQ(errorOf([&] { Model m(text); }).rfind(
                text + ": cannot load as a shared object: ", 0),
            0u);
  EXPECT_EQ(errorOf([&] { Model m(kDir + "/missing.so"); }),
            kDir + "/missing.so: cannot open: No such file or directory");
  // A shared object that is no model: the C library.
  EXPECT_EQ(errorOf([&] { Model m("/lib/x86_64-linux-gnu/libc.so.6"); }),
            "/lib/x86_64-linux-gnu/libc.so.6: missing symbol rnc_abi_version "
            "(not a model compiled by rnc?)");
}

} // namespace
} // namespace rnc
