// rnc-run: trains a model compiled by `rnc compile` on Fashion-MNIST.
//   rnc-run train MODEL.so [flags]   train a compiled model
//   rnc-run train [--model NAME]     the main job: compile (cached) and train
//   rnc-run                          the same as `rnc-run train`
#include "MainJob.h"
#include "ModelCache.h"
#include "Train.h"

#include "runtime/Model.h"
#include "runtime/data/Dataset.h"

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

// Control characters escaped, so that every error stays on one line.
std::string oneLine(const std::string &text) {
  std::string out;
  for (unsigned char ch : text) {
    if (ch == '\n' || ch == '\r' || ch == '\t')
      out += ' ';
    else if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    } else
      out += static_cast<char>(ch);
  }
  return out;
}

template <class T> std::string show(const T &v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// A check of a numeric flag with a readable message. CLI11's own Range
// prints DBL_MAX in full and lets nan through.
CLI::Validator number(bool (*ok)(double), const std::string &what) {
  return CLI::Validator(
      [ok, what](std::string &s) {
        char *end = nullptr;
        double v = std::strtod(s.c_str(), &end);
        bool parsed = end != s.c_str() && *end == '\0';
        return parsed && std::isfinite(v) && ok(v)
                   ? std::string()
                   : "must be " + what + ", got '" + s + "'";
      },
      "");
}
const CLI::Validator Positive =
    number([](double v) { return v > 0; }, "a positive number");
const CLI::Validator NonNegative =
    number([](double v) { return v >= 0; }, "a number >= 0");
const CLI::Validator Count = number(
    [](double v) { return v >= 0 && v == std::floor(v); }, "an integer >= 0");
const CLI::Validator Fraction =
    number([](double v) { return v >= 0 && v <= 1; }, "a number in [0, 1]");

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
};

void addTrain(CLI::App *cmd, TrainCommand &t) {
  const MainJob job;
  cmd->add_option("MODEL.so", t.modelSo,
                  "A model compiled by `rnc compile`. Without it, the main job: "
                  "compile " + std::string(job.model) + " (or --model) once, "
                  "cache it under ${XDG_CACHE_HOME:-~/.cache}/rnc/ and train it "
                  "with the main job's defaults")
      ->type_name("");
  cmd->add_option("--model", t.modelName,
                  "Without MODEL.so: the spec to compile and train, a file or "
                  "a model name from models/")
      ->type_name("NAME")
      ->default_str(job.model);
  auto &g = t.given;
  addTuned(cmd, t.tuned, g, "--epochs", &TrainOptions::epochs, "Epochs to train")
      ->check(CLI::Range(1, 1000000));
  addTuned(cmd, t.tuned, g, "--batch-size", &TrainOptions::batchSize,
           "Images per step, at most the model's compiled max batch")
      ->check(CLI::Range(1, 1 << 20));
  addTuned(cmd, t.tuned, g, "--lr", &TrainOptions::lr, "SGD learning rate")
      ->check(Positive);
  addTuned(cmd, t.tuned, g, "--momentum", &TrainOptions::momentum,
           "SGD momentum (PyTorch semantics, no Nesterov)")
      ->check(Fraction);
  addTuned(cmd, t.tuned, g, "--weight-decay", &TrainOptions::weightDecay,
           "L2 weight decay added to every parameter's gradient")
      ->check(NonNegative);
  addTuned(cmd, t.tuned, g, "--lr-schedule", &TrainOptions::schedule,
           "constant, or cosine annealing to 0 over all steps (per step)")
      ->check(CLI::IsMember({"constant", "cosine"}));
  addTuned(cmd, t.tuned, g, "--seed", &TrainOptions::seed,
           "Seed of the initial weights and of every epoch's shuffle")
      ->check(Count);
  auto &r = t.run;
  r.dataDir = rnc::data::FashionMnist::kDebianDir;
  cmd->add_option("--data", r.dataDir,
                  "Folder of the Fashion-MNIST IDX files")
      ->type_name("DIR")
      ->envname("RNC_DATA")
      ->capture_default_str();
  cmd->add_option("--train-limit", r.trainLimit,
                  "Train on the first N training images only (0: all)")
      ->check(Count)
      ->capture_default_str();
  cmd->add_option("--test-limit", r.testLimit,
                  "Evaluate on the first N test images only (0: all)")
      ->check(Count)
      ->capture_default_str();
  cmd->add_option("--metrics", r.metricsFile,
                  "Write one JSON object per epoch and line to FILE: epoch, "
                  "train_loss, train_acc, test_acc, images_per_sec, seconds, lr")
      ->type_name("FILE");
  cmd->add_option("--threads", r.threads,
                  "Threads preprocessing data (the model's own threads follow "
                  "OMP_NUM_THREADS)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

int runTrain(TrainCommand &t) {
  const MainJob job;
  if (!t.modelSo.empty() && !t.modelName.empty())
    throw std::runtime_error("rnc-run: give MODEL.so or --model, not both");
  TrainOptions o = t.modelSo.empty() ? job.train : TrainOptions{};
  for (const Tuned &k : t.tuned)
    if (k.option->count() > 0)
      k.copy(o, t.given);
  std::string so = t.modelSo;
  if (so.empty()) {
    rnc::run::CompileRequest req;
    req.model = t.modelName.empty() ? job.model : t.modelName;
    req.input = job.input;
    req.maxBatch = std::max(job.maxBatch, o.batchSize);
    so = rnc::run::compiledModel(req);
  }
  rnc::Model model(so);
  rnc::run::train(model, o, t.run);
  return 0;
}

int run(int argc, char **argv) {
  CLI::App app{"rnc-run: trains a model compiled by `rnc compile` on "
               "Fashion-MNIST.\nWith no arguments, runs `rnc-run train`: "
               "compiles the default model (cached) and trains it."};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("rnc-run ") + RNC_VERSION);
  app.failure_message([](const CLI::App *, const CLI::Error &e) {
    return oneLine(std::string("rnc-run: error: ") + e.what() +
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e);
  }
  return runTrain(t); // `train`, or no subcommand at all
}

} // namespace

int main(int argc, char **argv) {
  // Every failure is one line on stderr and exit status 1: no stack trace,
  // no abort.
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    std::cerr << "rnc-run: out of memory\n";
  } catch (const std::exception &e) {
    std::cerr << oneLine(e.what()) << "\n";
  } catch (...) {
    std::cerr << "rnc-run: unexpected error\n";
  }
  return 1;
}
