// rnc-run: trains a model compiled by `rnc compile` on a data set (Fashion-MNIST by default).
//   rnc-run train MODEL.so [flags]   train a compiled model
//   rnc-run train [--model NAME]     the main job: compile (cached) and train
//   rnc-run                          the same as `rnc-run train`
//   rnc-run eval [MODEL.so] --checkpoint FILE          test accuracy per class
//   rnc-run predict [MODEL.so] --checkpoint FILE IMG.. top classes of images
#include "Checkpoint.h"
#include "Comm.h"
#include "Evaluate.h"
#include "Images.h"
#include "LocalGpu.h"
#include "MainJob.h"
#include "OptionRules.h"
#include "ModelCache.h"
#include "Train.h"

#include "Plot.h"

#include "runtime/Device.h"
#include "runtime/Model.h"
#include "runtime/OneLine.h"
#include "runtime/data/Augment.h"
#include "runtime/OutputFile.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/Formats.h"
#include "runtime/data/Resample.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <iostream>
#include <new>
#include <sstream>

namespace {

using rnc::run::MainJob;
using rnc::run::TrainOptions;

template <class T> std::string show(const T &v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// The check of a flag: its rule in OptionRules.h, which also checks the
// values a checkpoint brings back on --resume. (CLI11's own Range prints
// DBL_MAX in full and lets nan through.)
CLI::Validator rule(const std::string &flag) {
  const rnc::run::OptionRule &r = rnc::run::ruleOf(flag);
  return CLI::Validator(
      [&r](std::string &s) { return rnc::run::checkOption(r, s); }, "");
}

// A hyperparameter whose default depends on whether a MODEL.so is given:
// TrainOptions{} for a model, MainJob().train for the main job. Only the
// flags actually given override the chosen defaults.
struct Tuned {
  CLI::Option *option;
  std::function<void(TrainOptions &to, const TrainOptions &from)> copy;
};

template <class T>
CLI::Option *addTuned(CLI::App *cmd, std::vector<Tuned> &tuned,
                      TrainOptions &given, const std::string &flag,
                      T TrainOptions::*field, const std::string &help) {
  const TrainOptions run;
  const TrainOptions job = MainJob().train;
  CLI::Option *opt = cmd->add_option(flag, given.*field, help);
  opt->default_str(show(run.*field) + "; main job " + show(job.*field));
  tuned.push_back({opt, [field](TrainOptions &to, const TrainOptions &from) {
                     to.*field = from.*field;
                   }});
  return opt;
}

struct TrainCommand {
  std::string modelSo;   // positional MODEL.so
  std::string modelName; // --model
  TrainOptions given;
  std::vector<Tuned> tuned;
  rnc::run::RunOptions run;
  std::string resume;               // --resume
  std::string device = "auto";      // --device
  CLI::Option *trainLimit = nullptr; // to tell whether they were given
  CLI::Option *testLimit = nullptr;
};

// --device: the target a model runs on. cpu and cuda insist; auto takes the
// GPU when one is present (and MODEL.so's own target when one is given).
std::string deviceTarget(const std::string &device, const std::string &so) {
  const rnc::GpuProbe &gpu = rnc::probeGpu();
  if (device == "cuda" && !gpu.present)
    throw std::runtime_error("rnc-run: error: --device cuda: no CUDA GPU "
                             "here (" + gpu.reason + ")");
  if (device != "auto" || !so.empty())
    return device;
  if (gpu.present)
    std::printf("rnc-run: device: cuda (%s)\n", gpu.name.c_str());
  return gpu.present ? "cuda" : "cpu";
}

// Refuses a MODEL.so built for another target than --device asks for.
void checkDevice(const rnc::Model &model, const std::string &device) {
  const std::string target = model.info().target;
  if (device != "auto" && device != target)
    throw std::runtime_error(
        model.path() + ": compiled for " + target + ", but --device " +
        device + " was asked for (compile it with `rnc compile --target " +
        device + "`)");
  if (target == "cuda" && !rnc::probeGpu().present)
    throw std::runtime_error(model.path() + ": compiled for cuda, but there "
                             "is no CUDA GPU here (" +
                             rnc::probeGpu().reason + ")");
}

// The .so to run: MODEL.so when given, else the main job's model (or
// --model) compiled once for the device's target and cached.
std::string modelFile(const std::string &so, const std::string &name,
                      int maxBatch, const std::string &device) {
  const MainJob job;
  if (!so.empty() && !name.empty())
    throw std::runtime_error("rnc-run: give MODEL.so or --model, not both");
  std::string target = deviceTarget(device, so);
  if (!so.empty())
    return so;
  rnc::run::CompileRequest req;
  req.model = name.empty() ? job.model : name;
  req.input = job.input;
  req.maxBatch = std::max(job.maxBatch, maxBatch);
  req.target = target;
  return rnc::run::compiledModel(req);
}

// --device, for every command that runs a model.
void addDeviceOption(CLI::App *cmd, std::string &device) {
  cmd->add_option("--device", device,
                  "Where to run: cuda (an NVIDIA GPU; the model is compiled "
                  "with --target cuda), cpu, or auto (the GPU when there is "
                  "one). With MODEL.so, its target decides and --device "
                  "checks it")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
}

// --model: the main job's model to use when no MODEL.so is given.
void addModelOption(CLI::App *cmd, std::string &name) {
  cmd->add_option("--model", name,
                  "Without MODEL.so: the spec to compile (cached), a file or "
                  "a model name from models/")
      ->type_name("NAME")
      ->default_str(MainJob().model);
}

// --data and the flags of how it is read, for train and eval.
void addDataOptions(CLI::App *cmd, rnc::run::DataFlags &f) {
  f.dir = rnc::data::FashionMnist::kDebianDir;
  cmd->add_option("--data", f.dir,
                  "Folder of the data set: IDX files (Fashion-MNIST, MNIST), "
                  "CIFAR-10 or CIFAR-100 binary batches, or an image folder "
                  "tree train/<class>/*.jpg|png with val/ or test/ "
                  "(docs/data.md)")
      ->type_name("DIR")
      ->envname("RNC_DATA")
      ->capture_default_str();
  cmd->add_option("--data-format", f.format,
                  "The format of --data; auto detects it from the files")
      ->check(CLI::IsMember({"auto", "idx", "cifar10", "cifar100", "folder"}))
      ->capture_default_str();
  cmd->add_flag("--skip-bad-images", f.skipBad,
                "Skip (and report) corrupt, truncated or non-image files, "
                "bad records and empty or unreadable class folders; without "
                "it the first one stops the run");
  cmd->add_option("--threads", f.threads,
                  "Loader threads that decode, augment and normalize images "
                  "(the model's own threads follow OMP_NUM_THREADS); the "
                  "data does not depend on it")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--prefetch", f.prefetch,
                  "Batches the loader prepares ahead of the model")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--cache-mb", f.cacheMb,
                  "Keep decoded images in memory up to this many MB (a data "
                  "set that needs more is decoded from disk every epoch)")
      ->check(rule("--cache-mb"))
      ->capture_default_str();
  cmd->add_option("--mean", f.mean,
                  "Per-channel mean of x/255 to normalize by (1 value, or one "
                  "per channel, comma-separated); default: the training "
                  "set's, or the checkpoint's")
      ->delimiter(',')
      ->type_name("LIST")
      ->check(rule("--mean"));
  cmd->add_option("--std", f.std,
                  "Per-channel standard deviation to normalize by; default: "
                  "the training set's, or the checkpoint's")
      ->delimiter(',')
      ->type_name("LIST")
      ->check(rule("--std"));
}

// Augmentation flags: TrainOptions::augment, restored from a checkpoint on
// --resume unless given.
void addAugmentOptions(CLI::App *cmd, std::vector<Tuned> &tuned,
                       TrainOptions &given) {
  auto keep = [&](CLI::Option *opt, auto copy) { tuned.push_back({opt, copy}); };
  keep(cmd->add_option("--crop-padding", given.augment.cropPadding,
                       "Random crop with this much zero padding on each side "
                       "(torchvision's RandomCrop(size, padding); 4 is the "
                       "common choice for 32x32 images); 0: off")
           ->check(rule("--crop-padding"))
           ->capture_default_str(),
       [](TrainOptions &to, const TrainOptions &from) {
         to.augment.cropPadding = from.augment.cropPadding;
       });
  keep(cmd->add_flag("--hflip", given.augment.hflip,
                     "Random horizontal flip with probability 0.5"),
       [](TrainOptions &to, const TrainOptions &from) {
         to.augment.hflip = from.augment.hflip;
       });
  keep(cmd->add_option("--random-erasing", given.augment.erasing,
                       "Random erasing with this probability (torchvision's "
                       "RandomErasing: area 2-33%, aspect 0.3-3.3, value 0 "
                       "after normalization; 0.5 is the common choice); 0: off")
           ->check(rule("--random-erasing"))
           ->capture_default_str(),
       [](TrainOptions &to, const TrainOptions &from) {
         to.augment.erasing = from.augment.erasing;
       });
}

void addTrain(CLI::App *cmd, TrainCommand &t) {
  const MainJob job;
  cmd->add_option("MODEL.so", t.modelSo,
                  "A model compiled by `rnc compile`. Without it, the main job: "
                  "compile " + std::string(job.model) + " (or --model) once, "
                  "cache it under ${XDG_CACHE_HOME:-~/.cache}/rnc/ and train it "
                  "with the main job's defaults")
      ->type_name("");
  auto &r = t.run;
  addModelOption(cmd, t.modelName);
  addDeviceOption(cmd, t.device);
  addDataOptions(cmd, r.data);
  auto &g = t.given;
  addTuned(cmd, t.tuned, g, "--epochs", &TrainOptions::epochs, "Epochs to train")
      ->check(rule("--epochs"));
  addTuned(cmd, t.tuned, g, "--batch-size", &TrainOptions::batchSize,
           "Images per step, at most the model's compiled max batch")
      ->check(rule("--batch-size"));
  addTuned(cmd, t.tuned, g, "--lr", &TrainOptions::lr, "SGD learning rate")
      ->check(rule("--lr"));
  addTuned(cmd, t.tuned, g, "--momentum", &TrainOptions::momentum,
           "SGD momentum (PyTorch semantics, no Nesterov)")
      ->check(rule("--momentum"));
  addTuned(cmd, t.tuned, g, "--weight-decay", &TrainOptions::weightDecay,
           "L2 weight decay added to every parameter's gradient")
      ->check(rule("--weight-decay"));
  addTuned(cmd, t.tuned, g, "--lr-schedule", &TrainOptions::schedule,
           "constant, or cosine annealing to 0 over all steps (per step)")
      ->check(rule("--lr-schedule"));
  addTuned(cmd, t.tuned, g, "--seed", &TrainOptions::seed,
           "Seed of the initial weights, of every epoch's shuffle and of "
           "the augmentation")
      ->check(rule("--seed"));
  t.trainLimit = cmd->add_option("--train-limit", r.trainLimit,
                                 "Train on the first N training images only "
                                 "(0: all)")
                     ->check(rule("--train-limit"))
                     ->capture_default_str();
  t.testLimit = cmd->add_option("--test-limit", r.testLimit,
                  "Evaluate on the first N test images only (0: all)")
      ->check(rule("--test-limit"))
      ->capture_default_str();
  addAugmentOptions(cmd, t.tuned, t.given);
  cmd->add_option("--metrics", r.metricsFile,
                  "Write one JSON object per epoch and line to FILE: epoch, "
                  "train_loss, train_acc, test_acc, images_per_sec, seconds, "
                  "lr, data_wait (the share of the training time spent "
                  "waiting for the loader)")
      ->type_name("FILE");
  cmd->add_option("--checkpoint", r.checkpointFile,
                  "Save a checkpoint (safetensors: weights with torchvision's "
                  "names, optimizer, BN statistics, epoch, RNG) to FILE after "
                  "every epoch, atomically, and the best by test accuracy to "
                  "FILE with .best before .safetensors")
      ->type_name("FILE");
  cmd->add_option("--resume", t.resume,
                  "Go on from a checkpoint with its hyperparameters and limits (flags "
                  "given override them) and its next epoch: the same losses "
                  "and weights as an uninterrupted run. Keeps saving to it "
                  "unless --checkpoint is given")
      ->type_name("FILE");
  cmd->add_option("--stop-after", r.stopAfter,
                  "Stop after this epoch as if interrupted (resume later)")
      ->type_name("EPOCH")
      ->check(rule("--stop-after"));
  cmd->add_flag(
      "--data-on-device", r.dataOnDevice,
      "Copy the training set into the model once (its 8-bit pixels, at "
      "their stored size where that is smaller; the model resizes, "
      "augments and normalizes them as it gathers a batch) and train each "
      "step on the indices of its images and the loader's augmentation "
      "draws: on a GPU no image crosses the bus after that copy. The same "
      "weights and losses as without; needs the set in device memory (on "
      "the cpu target it only costs host memory)");
  cmd->add_flag("--sync-bn", r.syncBn,
                "Under mpirun: batch-norm statistics over the whole global "
                "batch, summed over the ranks inside each step (without it "
                "each rank normalizes over its own share, as PyTorch DDP); "
                "one process needs no sync");
}

// Every file train reads and writes, checked against each other and locked
// before any work (runtime/OutputFile.h): no output may be an input or
// another output, a link, a device or a file another run is writing.
// In a data-parallel job rank 0 alone writes and claims the outputs.
void claimOutputs(rnc::OutputSet &files, const std::string &so,
                  const TrainCommand &t) {
  const rnc::run::RunOptions &r = t.run;
  files.addInput(so, "the model");
  files.addInput(t.resume, "--resume");
  files.addInput(r.data.dir, "the data folder (--data)");
  if (!rnc::run::Comm::job().root()) {
    files.claimOrThrow();
    return;
  }
  const std::string &ck = r.checkpointFile.empty() ? t.resume : r.checkpointFile;
  if (!ck.empty()) {
    files.addOutput(ck, "--checkpoint", t.resume);
    files.addOutput(rnc::run::bestCheckpointPath(ck), "the best checkpoint");
  }
  if (!r.metricsFile.empty()) {
    files.addOutput(r.metricsFile, "--metrics");
    files.addOutput(rnc::run::plotPathFor(r.metricsFile), "the plot of --metrics");
  }
  files.claimOrThrow();
}

int runTrain(TrainCommand &t) {
  const MainJob job;
  TrainOptions o = t.modelSo.empty() ? job.train : TrainOptions{};
  for (const Tuned &k : t.tuned)
    if (k.option->count() > 0)
      k.copy(o, t.given);
  // With MODEL.so the files are claimed before anything else; the main job
  // compiles (cached) first, since its model is one of them.
  rnc::OutputSet files;
  if (!t.modelSo.empty())
    claimOutputs(files, t.modelSo, t);
  // In a job, rank 0 compiles the main job's model into the cache first and
  // the other ranks find it there (a broadcast is the barrier).
  rnc::run::Comm &comm = rnc::run::Comm::job();
  std::string so;
  if (comm.root())
    so = modelFile(t.modelSo, t.modelName, o.batchSize, t.device);
  char compiled = 1;
  comm.broadcast(&compiled, 1);
  if (!comm.root())
    so = modelFile(t.modelSo, t.modelName, o.batchSize, t.device);
  rnc::Model model(so);
  if (t.modelSo.empty())
    claimOutputs(files, model.path(), t);
  comm.agree("model .so (SHA-256)", model.digest());
  checkDevice(model, t.device);
  if (t.resume.empty()) {
    rnc::run::train(model, o, t.run);
    return 0;
  }
  // Everything is checked before anything is written.
  rnc::run::Checkpoint ck(t.resume, model, rnc::run::LoadMode::Resume);
  o = ck.state().options;
  for (const Tuned &k : t.tuned)
    if (k.option->count() > 0)
      k.copy(o, t.given);
  if (t.trainLimit->count() == 0)
    t.run.trainLimit = ck.state().trainLimit;
  if (t.testLimit->count() == 0)
    t.run.testLimit = ck.state().testLimit;
  if (t.run.checkpointFile.empty())
    t.run.checkpointFile = t.resume;
  rnc::run::train(model, o, t.run, &ck);
  return 0;
}

struct EvalCommand {
  std::string modelSo, modelName, checkpoint, device = "auto";
  rnc::run::DataFlags data;
  size_t testLimit = 0;
};

// A checkpoint trained on other classes than the data has would be scored
// against the wrong labels.
void checkClasses(const rnc::run::Checkpoint &ck,
                  const std::vector<std::string> &classes,
                  const std::string &dir) {
  const std::vector<std::string> &saved = ck.state().classes;
  if (saved.empty() || saved == classes)
    return;
  size_t i = 0;
  while (i < saved.size() && i < classes.size() && saved[i] == classes[i])
    ++i;
  throw std::runtime_error(
      ck.path() + ": trained on " + std::to_string(saved.size()) +
      " classes that differ from the " + std::to_string(classes.size()) +
      " of " + dir + " (class " + std::to_string(i) + ": '" +
      (i < saved.size() ? saved[i] : "") + "' vs '" +
      (i < classes.size() ? classes[i] : "") + "')");
}

int runEval(const EvalCommand &e) {
  rnc::Model model(modelFile(e.modelSo, e.modelName, 0, e.device));
  checkDevice(model, e.device);
  rnc::run::Checkpoint ck(e.checkpoint, model, rnc::run::LoadMode::Weights);
  rnc::run::RunData d =
      rnc::run::openData(e.data, model, rnc::run::Need::Test,
                         ck.state().mean, ck.state().std);
  checkClasses(ck, d.classes, e.data.dir);
  model.create();
  ck.apply(model);
  const rnc_model_info &info = model.info();
  rnc::data::LoaderOptions lo;
  lo.limit = e.testLimit;
  lo.threads = e.data.threads;
  lo.prefetch = e.data.prefetch;
  lo.mean = d.mean;
  lo.std = d.std;
  rnc::run::Accuracy a = rnc::run::evaluate(model, *d.test, lo);
  std::printf("model       %s (%s)\ncheckpoint  %s: %s\n", info.model_name,
              model.path().c_str(), e.checkpoint.c_str(),
              ck.describe().c_str());
  std::printf("data        %s (%s), normalized by mean %s, std %s (%s)\n",
              e.data.dir.c_str(), d.formatName.c_str(),
              rnc::run::listText(d.mean).c_str(),
              rnc::run::listText(d.std).c_str(), d.normalizedBy.c_str());
  std::printf("test accuracy %.2f%% (%zu / %zu)\n\n%s", 100 * a.fraction(),
              a.correct, a.total, a.table().c_str());
  return 0;
}

struct PredictCommand {
  std::vector<std::string> files; // [MODEL.so] INPUT...
  std::string modelName, checkpoint, device = "auto";
  std::vector<float> mean, std;
  int top = 3;
  size_t limit = 10;
};

// The class names and normalization predict uses: the checkpoint's (rnc
// checkpoints carry both), else --mean/--std and, for a 1-channel 10-class
// model, Fashion-MNIST's.
void predictSettings(const PredictCommand &p, const rnc::run::Checkpoint &ck,
                     const rnc_model_info &info,
                     std::vector<std::string> &names, std::vector<float> &mean,
                     std::vector<float> &std) {
  const rnc::run::TrainState &s = ck.state();
  names = s.classes;
  if (names.empty() && info.input_c == 1 &&
      info.num_classes == rnc::data::FashionMnist::kClasses)
    for (const char *n : rnc::data::FashionMnist::classNames())
      names.push_back(n);
  while (static_cast<int>(names.size()) < info.num_classes)
    names.push_back("class " + std::to_string(names.size()));
  mean = !p.mean.empty() ? p.mean : s.mean;
  std = !p.std.empty() ? p.std : s.std;
  if (info.input_c == 1 && mean.empty() && std.empty()) {
    mean = {rnc::data::kFashionMnistMean};
    std = {rnc::data::kFashionMnistStd};
  }
  if (mean.empty() || std.empty())
    throw std::runtime_error(ck.path() + ": has no normalization (not an rnc "
                             "checkpoint); give --mean and --std");
  const size_t c = static_cast<size_t>(info.input_c);
  if (mean.size() == 1)
    mean.resize(c, mean[0]);
  if (std.size() == 1)
    std.resize(c, std[0]);
  if (mean.size() != c || std.size() != c)
    throw std::runtime_error("rnc-run: --mean and --std need 1 or " +
                             std::to_string(c) + " values each");
}

int runPredict(const PredictCommand &p) {
  std::vector<std::string> inputs = p.files;
  std::string so;
  if (!inputs.empty() && inputs[0].size() > 3 &&
      inputs[0].compare(inputs[0].size() - 3, 3, ".so") == 0) {
    so = inputs[0];
    inputs.erase(inputs.begin());
  }
  if (inputs.empty())
    throw std::runtime_error("rnc-run predict: no image given (a JPEG, a PNG "
                             "or an IDX images file; see --help)");
  rnc::Model model(modelFile(so, p.modelName, 0, p.device));
  checkDevice(model, p.device);
  rnc::run::Checkpoint ck(p.checkpoint, model, rnc::run::LoadMode::Weights);
  const rnc_model_info &info = model.info();
  std::vector<std::string> names;
  std::vector<float> mean, std;
  predictSettings(p, ck, info, names, mean, std);
  std::vector<rnc::run::NamedImage> images;
  for (const std::string &in : inputs)
    for (auto &img : rnc::run::readImages(in, p.limit))
      images.push_back(std::move(img));
  model.create();
  ck.apply(model);
  const rnc::data::Shape shape{info.input_c, info.input_h, info.input_w};
  const rnc::data::Normalizer normalizer(mean, std, info.input_c);
  std::vector<float> x(shape.values());
  std::vector<float> logits(info.num_classes);
  for (const rnc::run::NamedImage &img : images) {
    // The evaluation pipeline: to the model's channels (Pillow's convert),
    // resize to cover and center-crop, normalize.
    rnc::data::Image fitted = rnc::data::fitTo(
        rnc::data::convertChannels(img.image, info.input_c), info.input_h,
        info.input_w);
    rnc::data::toTensor(fitted.pixels.data(), shape, 0, rnc::data::Draw{},
                        normalizer, x.data());
    model.eval(x, 1, logits);
    // Softmax, then the top classes.
    float peak = *std::max_element(logits.begin(), logits.end());
    std::vector<std::pair<double, int>> prob;
    double sum = 0;
    for (int c = 0; c < info.num_classes; ++c)
      sum += std::exp(double(logits[c]) - peak);
    for (int c = 0; c < info.num_classes; ++c)
      prob.push_back({std::exp(double(logits[c]) - peak) / sum, c});
    std::sort(prob.begin(), prob.end(),
              [](auto a, auto b) { return a.first > b.first; });
    std::printf("%s:", img.name.c_str());
    for (int k = 0; k < std::min(p.top, info.num_classes); ++k)
      std::printf("%s %s %.1f%%", k ? "," : "",
                  names[static_cast<size_t>(prob[k].second)].c_str(),
                  100 * prob[k].first);
    std::printf("\n");
  }
  return 0;
}

int run(int argc, char **argv) {
  CLI::App app{"rnc-run: trains a model compiled by `rnc compile` on a data "
               "set (Fashion-MNIST by default; also CIFAR-10/100 and JPEG/PNG "
               "folder trees).\nWith no arguments, runs `rnc-run train`: "
               "compiles the default model (cached) and trains it."};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("rnc-run ") + RNC_VERSION);
  app.failure_message([](const CLI::App *, const CLI::Error &e) {
    return rnc::oneLine(std::string("rnc-run: error: ") + e.what() +
                   " (see --help)") +
           "\n";
  });
  TrainCommand t;
  CLI::App *train = app.add_subcommand(
      "train", "Train a model (or the main job) and test it after each epoch");
  addTrain(train, t);
  train->footer("Defaults shown as `A; main job B`: A with a MODEL.so, B for "
                "the main job.\nErrors: one line on stderr, exit status 1 "
                "(or CLI11's status for a bad flag).");

  EvalCommand e;
  CLI::App *eval = app.add_subcommand(
      "eval", "Test accuracy of a checkpoint, overall and per class");
  eval->add_option("MODEL.so", e.modelSo,
                   "The compiled model (default: the main job's, cached)")
      ->type_name("");
  addModelOption(eval, e.modelName);
  addDeviceOption(eval, e.device);
  addDataOptions(eval, e.data);
  eval->add_option("--checkpoint", e.checkpoint,
                   "Weights to test: an rnc checkpoint, or a safetensors file "
                   "of the same tensor names (e.g. from PyTorch)")
      ->type_name("FILE")
      ->required();
  eval->add_option("--test-limit", e.testLimit,
                   "Test on the first N test images only (0: all)")
      ->check(rule("--test-limit"))
      ->capture_default_str();

  PredictCommand p;
  CLI::App *predict = app.add_subcommand(
      "predict", "Classify images: the top classes with probabilities");
  predict
      ->add_option("FILES", p.files,
                   "[MODEL.so] then images: JPEG or PNG files (any size, gray "
                   "or color: converted to the model's channels, resized and "
                   "center-cropped as in training; Fashion-MNIST is a light "
                   "object on black) or IDX image files such as "
                   "t10k-images-idx3-ubyte.gz")
      ->type_name("")
      ->required();
  addModelOption(predict, p.modelName);
  addDeviceOption(predict, p.device);
  predict->add_option("--checkpoint", p.checkpoint, "Weights to use")
      ->type_name("FILE")
      ->required();
  predict->add_option("--top", p.top, "Classes to show per image")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  predict->add_option("--limit", p.limit,
                      "Images to classify from each IDX file (0: all)")
      ->check(rule("--test-limit"))
      ->capture_default_str();
  predict->add_option("--mean", p.mean,
                      "Normalization mean (default: the checkpoint's)")
      ->delimiter(',')
      ->type_name("LIST")
      ->check(rule("--mean"));
  predict->add_option("--std", p.std,
                      "Normalization std (default: the checkpoint's)")
      ->delimiter(',')
      ->type_name("LIST")
      ->check(rule("--std"));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    // Every rank of a job parses the same flags: rank 0 tells.
    if (!rnc::run::Comm::job().root())
      return e.get_exit_code();
    return app.exit(e);
  }
  if (eval->parsed())
    return runEval(e);
  if (predict->parsed())
    return runPredict(p);
  return runTrain(t); // `train`, or no subcommand at all
}

// Under mpirun, ranks other than 0 print nothing on stdout (rank 0 reports
// for the whole job); errors go to stderr from every rank.
rnc::run::Comm *joinJob() {
  // One GPU per rank of a machine, before anything initializes CUDA.
  rnc::run::pinLocalGpu();
  try {
    rnc::run::Comm &comm = rnc::run::Comm::job();
    if (!comm.root() && !std::freopen("/dev/null", "w", stdout))
      std::fclose(stdout);
    return &comm;
  } catch (const std::exception &e) {
    std::cerr << rnc::oneLine(e.what()) << "\n";
    return nullptr;
  }
}

// The end of a process of a job after `status`: an error on one rank ends
// every rank at once (the others may be waiting for it in a collective).
int leaveJob(rnc::run::Comm &comm, int status, bool jobWide) {
  if (status != 0 && comm.distributed() && !jobWide)
    comm.abortJob(status);
  comm.finalize();
  return status;
}

} // namespace

int main(int argc, char **argv) {
  rnc::run::Comm *comm = joinJob();
  if (!comm)
    return 1;
  // Every failure is one line on stderr and exit status 1: no stack trace,
  // no abort. In a job of several ranks it names the rank; an error every
  // rank meets alike (JobError) is told by rank 0 alone.
  const std::string rank = comm->prefix();
  // "rnc-run: rank 1 of 2: <what>" in a job, the message as it is alone.
  auto withRank = [&rank](std::string what) {
    if (rank.empty())
      return what;
    const std::string tool = "rnc-run: ";
    if (what.compare(0, tool.size(), tool) == 0)
      what.erase(0, tool.size());
    return tool + rank + what;
  };
  try {
    return leaveJob(*comm, run(argc, argv), true);
  } catch (const rnc::run::JobError &e) {
    if (comm->root())
      std::cerr << rnc::oneLine(e.what()) << "\n";
    return leaveJob(*comm, 1, true);
  } catch (const std::bad_alloc &) {
    std::cerr << "rnc-run: " << rank << "out of memory\n";
  } catch (const std::exception &e) {
    std::cerr << rnc::oneLine(withRank(e.what())) << "\n";
  } catch (...) {
    std::cerr << "rnc-run: " << rank << "unexpected error\n";
  }
  return leaveJob(*comm, 1, false);
}
