// Tests of rnc::Model (runtime/Model.h) against the fake models of fake_model.cpp.
#include "runtime/Model.h"
#include "runtime/ModelStamp.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <unistd.h>
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

// A fresh folder of this test process (tests of other builds may share
// TempDir()).
std::string scratch() {
  static std::string dir = [] {
    std::string t = testing::TempDir() + "/rnc-model-test-XXXXXX";
    return std::string(::mkdtemp(t.data()));
  }();
  return dir;
}

std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeAll(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
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
  rnc_step_result r = m.trainStep(x, y, 2, rnc_sgd{0.1f, 0.9f, 0});
  EXPECT_GT(r.loss, 0.0f);
  m.eval(x, 2, logits);
  // The step moved the bias towards classes 3 and 4.
  std::vector<float> bias = m.readTensor("fc.bias");
  EXPECT_GT(bias[3], bias[0]);
  EXPECT_NE(m.readTensor("fc.bias.grad")[3], 0.0f);
}

// rnc_set_dataset and rnc_train_step_indexed are optional (the fake model,
// like models compiled before them, lacks them): the model loads, says so,
// and refuses them in one line.
TEST(Model, DatasetFunctionsAreOptional) {
  Model m(kFake);
  EXPECT_FALSE(m.hasDataset());
  m.create();
  std::vector<float> x(144);
  std::vector<int32_t> y = {0};
  EXPECT_EQ(errorOf([&] { m.setDataset(x, y, 1); }),
            kFake + ": rnc_set_dataset: this model has no dataset functions "
                    "(compiled by an older rnc; recompile it)");
  EXPECT_EQ(errorOf([&] { m.trainStepIndexed(y, 1, rnc_sgd{}); }),
            kFake + ": rnc_train_step_indexed: this model has no dataset "
                    "functions (compiled by an older rnc; recompile it)");
  EXPECT_FALSE(m.hasDatasetU8());
  std::vector<uint8_t> pixels(144);
  std::vector<float> lut(256);
  EXPECT_EQ(errorOf([&] { m.setDatasetU8(pixels, lut, y, 1); }),
            kFake + ": rnc_set_dataset_u8: this model has no 8-bit dataset "
                    "function (compiled by an older rnc; recompile it)");
  EXPECT_FALSE(m.hasDatasetU8Resized());
  const rnc_resize r{2,       2,       1,       1,       nullptr,
                     nullptr, nullptr, nullptr, nullptr, nullptr};
  EXPECT_EQ(errorOf([&] { m.setDatasetU8Resized(pixels, r, lut, y, 1); }),
            kFake + ": rnc_set_dataset_u8_resized: this model has no function "
                    "to resize a dataset (compiled by an older rnc; recompile "
                    "it)");
  EXPECT_FALSE(m.hasAugmentedStep());
  EXPECT_EQ(
      errorOf([&] { m.trainStepAugmented(y, {rnc_augment{}}, 1, rnc_sgd{}); }),
      kFake + ": rnc_train_step_augmented: this model has no augmented "
              "step (compiled by an older rnc; recompile it)");
}

TEST(Model, ErrorsCarryTheModelsMessage) {
  Model m(kFake);
  EXPECT_EQ(errorOf([&] { m.init(0); }),
            kFake + ": rnc_init called before rnc_create");
  m.create();
  std::vector<float> x(144);
  std::vector<int32_t> y = {0};
  EXPECT_EQ(errorOf([&] { m.trainStep(x, y, 129, rnc_sgd{}); }),
            kFake + ": rnc_train_step: batch 129 is outside [1, 128]");
  // Buffers too small for the batch are refused before the model reads
  // past them.
  EXPECT_EQ(errorOf([&] { m.trainStep(x, y, 2, rnc_sgd{}); }),
            kFake + ": rnc_train_step: the images hold 144 values; a batch "
                    "of 2 needs 288");
  std::vector<float> x2(288), logits(10);
  EXPECT_EQ(errorOf([&] { m.trainStep(x2, y, 2, rnc_sgd{}); }),
            kFake + ": rnc_train_step: the labels hold 1 values; a batch of "
                    "2 needs 2");
  EXPECT_EQ(errorOf([&] { m.eval(x2, 2, logits); }),
            kFake + ": rnc_eval: the logits hold 10 values; a batch of 2 "
                    "needs 20");
  EXPECT_EQ(errorOf([&] { m.readTensor("nope"); }),
            kFake + ": no tensor named 'nope'");
  EXPECT_EQ(errorOf([&] { m.writeTensor("fc.bias", {1.0f}); }),
            kFake + ": tensor 'fc.bias' holds 10 values, got 1");
}

TEST(Model, RefusesAnotherAbiVersion) {
  std::string path = kDir + "/fake_model_abi99.so";
  EXPECT_EQ(errorOf([&] { Model m(path); }),
            path + ": built for rnc ABI version 99, this rnc-run expects 2; "
                   "recompile it with this rnc");
  // A model of ABI 1 (before rnc_set_collectives) is refused the same way.
  std::string old = kDir + "/fake_model_abi1.so";
  EXPECT_EQ(errorOf([&] { Model m(old); }),
            old + ": built for rnc ABI version 1, this rnc-run expects 2; "
                  "recompile it with this rnc");
}

// The collectives reach the model (the fake model checks rank and world);
// NULL is one process; a refusal is one line naming the model.
TEST(Model, SetsCollectives) {
  Model m(kFake);
  m.create();
  m.setCollectives(nullptr);
  rnc_collectives c{};
  c.rank = 0;
  c.world = 1;
  m.setCollectives(&c);
  c.rank = 3;
  c.world = 2;
  EXPECT_EQ(errorOf([&] { m.setCollectives(&c); }),
            kFake + ": rnc_set_collectives failed: rnc_set_collectives: bad "
                    "rank or world");
}

TEST(Model, RefusesMissingSymbolsAndOtherFiles) {
  std::string noEval = kDir + "/fake_model_noeval.so";
  EXPECT_EQ(errorOf([&] { Model m(noEval); }),
            noEval + ": missing symbol rnc_eval (not a model compiled by rnc?)");
  // A stamped file that is no shared object.
  std::string text = scratch() + "/not_a_model.so";
  std::ofstream(text) << "hello\n";
  ASSERT_EQ(stampModelFile(text), "");
  EXPECT_EQ(errorOf([&] { Model m(text); }).rfind(
                text + ": cannot load as a shared object: ", 0),
            0u);
  EXPECT_EQ(errorOf([&] { Model m(kDir + "/missing.so"); }),
            kDir + "/missing.so: cannot open: No such file or directory");
  // A shared object that rnc compile did not build: the C library.
  EXPECT_EQ(errorOf([&] { Model m("/lib/x86_64-linux-gnu/libc.so.6"); }),
            "/lib/x86_64-linux-gnu/libc.so.6: no integrity record (not built "
            "by this rnc's `rnc compile`, or changed since, e.g. stripped); "
            "recompile it");
}

// A damaged model must be refused before dlopen: loading it would crash
// the process (SIGBUS, SIGSEGV), which this test would not survive.
TEST(Model, RefusesDamagedModelsBeforeLoadingThem) {
  const std::string good = readAll(kFake);
  const std::string dir = scratch();
  std::string cut = dir + "/cut.so";
  writeAll(cut, good.substr(0, good.size() / 2));
  EXPECT_NE(errorOf([&] { Model m(cut); }).find("no integrity record"),
            std::string::npos);
  // Cut just before the record: its length no longer matches.
  std::string shortened = good;
  shortened.erase(100, 1);
  writeAll(cut, shortened);
  EXPECT_EQ(errorOf([&] { Model m(cut); }),
            cut + ": damaged: " + std::to_string(good.size() - 1) +
                " bytes, but its integrity record covers " +
                std::to_string(good.size() - kModelStampBytes) +
                " (cut short or appended to?); recompile it");
  for (size_t at : {size_t(0), size_t(17), good.size() / 3, good.size() - 70}) {
    std::string flipped = good;
    flipped[at] ^= 0x5a;
    std::string path = dir + "/flipped.so";
    writeAll(path, flipped);
    EXPECT_EQ(errorOf([&] { Model m(path); }),
              path + ": damaged: its SHA-256 does not match the one `rnc "
                     "compile` recorded (bytes changed since it was built); "
                     "recompile it")
        << "byte " << at;
  }
}

TEST(Model, RefusesFilesThatAreNotRegular) {
  EXPECT_EQ(errorOf([&] { Model m("/dev/zero"); }),
            "/dev/zero: cannot open: not a regular file (a character device)");
  std::string fifo = scratch() + "/model.fifo";
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opening a FIFO without a writer would block for ever.
  EXPECT_EQ(errorOf([&] { Model m(fifo); }),
            fifo + ": cannot open: not a regular file (a FIFO)");
  ::unlink(fifo.c_str());
  EXPECT_EQ(errorOf([&] { Model m(scratch()); }),
            scratch() + ": cannot open: is a directory, not a file");
}

// The checked copy is what runs: rewriting the file in place afterwards
// (cp over a model that is training) does not reach the loaded code.
TEST(Model, RunsTheCheckedCopyNotTheFile) {
  std::string path = scratch() + "/copy.so";
  writeAll(path, readAll(kFake));
  Model m(path);
  writeAll(path, std::string(100, 'x')); // truncates in place
  m.create();
  m.init(1);
  std::vector<float> x(144, 0.5f), logits(10);
  m.eval(x, 1, logits);
  EXPECT_EQ(m.info().num_classes, 10);
}

} // namespace
} // namespace rnc
