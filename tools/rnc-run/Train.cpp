// The training loop of `rnc-run train` (see Train.h).
#include "Train.h"

#include "Report.h"

#include "runtime/data/Dataset.h"
#include "runtime/data/Loader.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace rnc::run {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string shortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Refuses a model that cannot take Fashion-MNIST batches of this size.
void checkFits(const Model &model, const TrainOptions &o) {
  const rnc_model_info &info = model.info();
  const int classes = data::FashionMnist::kClasses;
  if (info.input_c != 1)
    throw std::runtime_error(
        model.path() + ": takes " + std::to_string(info.input_c) +
        "-channel input but Fashion-MNIST has 1 channel; compile it with "
        "--input 1x" + std::to_string(info.input_h) + "x" +
        std::to_string(info.input_w));
  if (info.num_classes < classes)
    throw std::runtime_error(model.path() + ": has " +
                             std::to_string(info.num_classes) +
                             " classes, Fashion-MNIST needs " +
                             std::to_string(classes));
  if (o.batchSize > info.max_batch)
    throw std::runtime_error(
        "rnc-run: --batch-size " + std::to_string(o.batchSize) +
        " is above the maximum batch " + std::to_string(info.max_batch) +
        " that " + model.path() + " was compiled for; lower --batch-size or "
        "recompile with --max-batch " + std::to_string(o.batchSize));
}

// Test accuracy: argmax of the logits, in batches of max_batch.
double evaluate(Model &model, const data::FashionMnist &test,
                data::LoaderOptions lo, std::vector<float> &x,
                std::vector<int32_t> &y) {
  const rnc_model_info &info = model.info();
  lo.batchSize = info.max_batch;
  lo.shuffle = false;
  data::Loader loader(test, lo);
  x.resize(loader.batchFloats());
  y.resize(static_cast<size_t>(lo.batchSize));
  std::vector<float> logits(static_cast<size_t>(info.max_batch) *
                            info.num_classes);
  size_t correct = 0;
  while (size_t b = loader.next(x.data(), y.data())) {
    model.eval(x.data(), static_cast<int32_t>(b), logits.data());
    for (size_t i = 0; i < b; ++i) {
      const float *row = logits.data() + i * info.num_classes;
      correct += std::max_element(row, row + info.num_classes) - row == y[i];
    }
  }
  return loader.size() ? static_cast<double>(correct) / loader.size() : 0.0;
}

} // namespace

float learningRate(const TrainOptions &o, int64_t step, int64_t totalSteps) {
  if (o.schedule != "cosine" || totalSteps <= 0)
    return o.lr;
  const double pi = 3.14159265358979323846;
  return static_cast<float>(0.5 * o.lr *
                            (1.0 + std::cos(pi * step / totalSteps)));
}

void train(Model &model, const TrainOptions &o, const RunOptions &r) {
  checkFits(model, o);
  MetricsFile metrics(r.metricsFile); // fail on a bad path before any work
  const rnc_model_info &info = model.info();

  data::FashionMnist trainSet = data::FashionMnist::load(r.dataDir, data::Split::Train);
  data::FashionMnist testSet = data::FashionMnist::load(r.dataDir, data::Split::Test);
  data::LoaderOptions lo;
  lo.batchSize = o.batchSize;
  lo.height = info.input_h;
  lo.width = info.input_w;
  lo.seed = o.seed;
  lo.limit = r.trainLimit;
  lo.threads = r.threads;
  data::Loader loader(trainSet, lo);
  data::LoaderOptions testOptions = lo;
  testOptions.limit = r.testLimit;

  const int64_t steps = static_cast<int64_t>(loader.batchesPerEpoch());
  const int64_t totalSteps = steps * o.epochs;
  std::printf("model  %s (%s): input %dx%dx%d, %d classes, max batch %d\n",
              info.model_name, model.path().c_str(), info.input_c,
              info.input_h, info.input_w, info.num_classes, info.max_batch);
  std::printf("data   %zu train / %zu test images from %s; batch %d, %lld "
              "steps per epoch\n",
              loader.size(),
              r.testLimit ? std::min(r.testLimit, testSet.size()) : testSet.size(),
              r.dataDir.c_str(), o.batchSize, static_cast<long long>(steps));
  std::printf("sgd    lr %g (%s), momentum %g, weight decay %g, seed %llu\n",
              o.lr, o.schedule.c_str(), o.momentum, o.weightDecay,
              static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);

  model.create();
  model.init(o.seed);
  std::vector<float> x(loader.batchFloats());
  std::vector<int32_t> y(static_cast<size_t>(o.batchSize));
  Progress progress;
  int64_t globalStep = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const Clock::time_point start = Clock::now();
    EpochStats s;
    s.epoch = epoch;
    s.epochs = o.epochs;
    s.lr = learningRate(o, globalStep, totalSteps);
    double lossSum = 0;
    size_t correct = 0, seen = 0;
    int64_t step = 0;
    loader.startEpoch(static_cast<uint64_t>(epoch - 1));
    while (size_t b = loader.next(x.data(), y.data())) {
      rnc_sgd sgd{learningRate(o, globalStep, totalSteps), o.momentum,
                  o.weightDecay};
      rnc_step_result res = model.trainStep(x.data(), y.data(),
                                            static_cast<int32_t>(b), sgd);
      ++step;
      ++globalStep;
      if (!std::isfinite(res.loss))
        throw std::runtime_error(
            "rnc-run: step " + std::to_string(globalStep) + " (epoch " +
            std::to_string(epoch) + "): loss is " +
            (std::isnan(res.loss) ? "nan" : "inf") + "; lower --lr (now " + shortNumber(sgd.lr) +
            ") or check the model");
      lossSum += static_cast<double>(res.loss) * b;
      correct += static_cast<size_t>(res.correct);
      seen += b;
      progress.step(epoch, o.epochs, step, steps, lossSum / seen,
                    static_cast<double>(correct) / seen,
                    seen / secondsSince(start));
    }
    const double trainSeconds = secondsSince(start);
    s.trainLoss = seen ? lossSum / seen : 0.0;
    s.trainAcc = seen ? static_cast<double>(correct) / seen : 0.0;
    s.imagesPerSec = trainSeconds > 0 ? seen / trainSeconds : 0.0;
    s.testAcc = evaluate(model, testSet, testOptions, x, y);
    s.seconds = secondsSince(start);
    progress.endEpoch();
    std::printf("%s\n", formatEpoch(s).c_str());
    std::fflush(stdout);
    metrics.write(s);
  }
}

} // namespace rnc::run
