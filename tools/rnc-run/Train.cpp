// The training loop of `rnc-run train` (see Train.h).
#include "Train.h"

#include "Checkpoint.h"
#include "Comm.h"
#include "Evaluate.h"
#include "Plot.h"
#include "Report.h"

#include "runtime/data/Loader.h"
#include "runtime/data/Resample.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <thread>
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

// Refuses a batch size above the model's compiled maximum, or one that the
// ranks of a job cannot share equally. (Channels and classes are checked
// against the data by openData.)
void checkFits(const Model &model, const TrainOptions &o, const Comm &comm) {
  const rnc_model_info &info = model.info();
  const int ranks = comm.world();
  if (o.batchSize % ranks != 0)
    throw JobError("rnc-run: --batch-size " + std::to_string(o.batchSize) +
                   " is not divisible by the " + std::to_string(ranks) +
                   " ranks of this job (each takes an equal share of every "
                   "batch); give a multiple of " + std::to_string(ranks));
  if (ranks > 1 && o.batchSize / ranks > info.max_batch)
    throw JobError("rnc-run: --batch-size " + std::to_string(o.batchSize) +
                   " puts " + std::to_string(o.batchSize / ranks) +
                   " images on each of the " + std::to_string(ranks) +
                   " ranks, above the maximum batch " +
                   std::to_string(info.max_batch) + " that " + model.path() +
                   " was compiled for; lower --batch-size or recompile with "
                   "--max-batch " + std::to_string(o.batchSize / ranks));
  if (ranks == 1 && o.batchSize > info.max_batch)
    throw std::runtime_error(
        "rnc-run: --batch-size " + std::to_string(o.batchSize) +
        " is above the maximum batch " + std::to_string(info.max_batch) +
        " that " + model.path() + " was compiled for; lower --batch-size or "
        "recompile with --max-batch " + std::to_string(o.batchSize));
}

[[noreturn]] void tooLarge(size_t images, size_t bytesPerImage) {
  char gb[32];
  std::snprintf(gb, sizeof gb, "%.1f", images * bytesPerImage / 1e9);
  throw std::runtime_error(
      "rnc-run: --data-on-device: the " + std::to_string(images) +
      " training images take " + gb +
      " GB at the model's input size, more than this machine can hold; "
      "leave the flag off (or use --train-limit)");
}

// The first `n` images of `set` as 8-bit pixels [n, H, W, C], loaded by
// `threads` threads (each image is a copy from the memory cache, or a
// decode and resize where the set is not cached); with `stored`, at their
// stored size instead (ImageSet::loadStoredInto).
std::vector<uint8_t> loadPixels(const data::ImageSet &set, size_t n,
                                int threads, bool stored) {
  const data::Shape st = set.storedShape();
  const size_t values = stored ? st.values() : set.shape().values();
  std::vector<uint8_t> pixels;
  try {
    pixels.resize(n * values);
  } catch (const std::bad_alloc &) {
    tooLarge(n, values);
  }
  const size_t T = size_t(std::max(1, threads));
  std::vector<std::exception_ptr> errors(T);
  std::vector<std::thread> workers;
  for (size_t t = 0; t < T; ++t)
    workers.emplace_back([&, t] {
      try {
        for (size_t i = n * t / T; i < n * (t + 1) / T; ++i)
          if (stored)
            set.loadStoredInto(i, pixels.data() + i * values);
          else
            set.load(i, pixels.data() + i * values);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  for (std::thread &w : workers)
    w.join();
  for (const std::exception_ptr &e : errors) // the first image's error first
    if (e)
      std::rethrow_exception(e);
  return pixels;
}

// A loader's draw as the model applies it (runtime/rnc_abi.h): the crop's
// offset into the image padded by `padding` as a shift of the image.
rnc_augment augmentOf(const data::Draw &d, int padding) {
  rnc_augment a{};
  a.shift_y = d.top - padding;
  a.shift_x = d.left - padding;
  a.flip = d.flip ? 1 : 0;
  if (d.erase) {
    a.erase_top = d.eraseTop;
    a.erase_left = d.eraseLeft;
    a.erase_height = d.eraseHeight;
    a.erase_width = d.eraseWidth;
  }
  return a;
}

// What copySetIntoModel copied.
struct ModelSetCopy {
  size_t bytes = 0;
  std::string form; // "8-bit pixels at 28x28, resized in the model", ...
};

// --data-on-device: the first `limit` images of the training split (all:
// 0) copied into the model once, as the loader would give them before any
// augmentation (the model applies the loader's draws): as 8-bit pixels with the
// loader's normalization table where the model takes them (rnc_set_dataset_u8:
// a quarter of the memory; rnc_set_dataset_u8_resized: at their stored size
// where that is smaller, resized by the model as the loader would, bit for
// bit), else normalized floats.
ModelSetCopy copySetIntoModel(Model &model, const data::ImageSet &set,
                              const data::LoaderOptions &lo) {
  if (!model.hasDataset())
    throw std::runtime_error("rnc-run: --data-on-device: " + model.path() +
                             " has no dataset functions (compiled by an "
                             "older rnc; recompile it)");
  const size_t n =
      lo.limit > 0 ? std::min(set.size(), size_t(lo.limit)) : set.size();
  std::vector<int32_t> labels(n);
  for (size_t i = 0; i < n; ++i)
    labels[i] = set.label(i);
  const data::Shape shape = set.shape();
  const std::string size =
      std::to_string(shape.height) + "x" + std::to_string(shape.width);
  if (model.hasDatasetU8Resized() && set.keepStoredInModel()) {
    const data::Shape st = set.storedShape();
    const std::vector<uint8_t> pixels = loadPixels(set, n, lo.threads, true);
    const data::Normalizer norm(lo.mean, lo.std, shape.channels);
    const data::FitTaps t =
        data::fitTaps(st.height, st.width, shape.height, shape.width);
    const rnc_resize r{t.inHeight,        t.inWidth,       t.tapsY,
                       t.tapsX,           t.firstY.data(), t.countY.data(),
                       t.weightsY.data(), t.firstX.data(), t.countX.data(),
                       t.weightsX.data()};
    model.setDatasetU8Resized(pixels, r, norm.table, labels,
                              static_cast<int64_t>(n));
    return {pixels.size() + norm.table.size() * sizeof(float) +
                labels.size() * sizeof(int32_t) +
                sizeof(int32_t) * (t.firstY.size() * 2 + t.weightsY.size() +
                                   t.firstX.size() * 2 + t.weightsX.size()),
            "8-bit pixels at " + std::to_string(st.height) + "x" +
                std::to_string(st.width) + ", resized to " + size +
                " in the model"};
  }
  if (model.hasDatasetU8()) {
    const std::vector<uint8_t> pixels = loadPixels(set, n, lo.threads, false);
    const data::Normalizer norm(lo.mean, lo.std, shape.channels);
    model.setDatasetU8(pixels, norm.table, labels, static_cast<int64_t>(n));
    return {pixels.size() + norm.table.size() * sizeof(float) +
                labels.size() * sizeof(int32_t),
            "8-bit pixels at " + size};
  }
  data::LoaderOptions all = lo;
  all.indicesOnly = false;
  all.shuffle = false;
  all.shards = 1;
  all.shard = 0;
  data::Loader loader(set, all);
  const size_t perImage = static_cast<size_t>(model.imageFloats());
  std::vector<float> images;
  try {
    images.resize(loader.size() * perImage);
  } catch (const std::bad_alloc &) {
    tooLarge(loader.size(), perImage * sizeof(float));
  }
  size_t at = 0;
  while (size_t b =
             loader.next(images.data() + at * perImage, labels.data() + at))
    at += b;
  model.setDataset(images, labels, static_cast<int64_t>(at));
  return {images.size() * sizeof(float) + labels.size() * sizeof(int32_t),
          "floats at " + size};
}

std::string joined(const std::vector<std::string> &names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 5; ++i)
    s += (i ? ", " : "") + names[i];
  return s + (names.size() > 5 ? ", ..." : "");
}

std::string baseName(const std::string &dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/')
    d.pop_back();
  size_t slash = d.find_last_of('/');
  return slash == std::string::npos ? d : d.substr(slash + 1);
}

} // namespace

float learningRate(const TrainOptions &o, int64_t step, int64_t totalSteps) {
  if (o.schedule != "cosine" || totalSteps <= 0)
    return o.lr;
  const double pi = 3.14159265358979323846;
  return static_cast<float>(0.5 * o.lr *
                            (1.0 + std::cos(pi * step / totalSteps)));
}

namespace {

// The settings every rank of a job must share, as text (Comm::agree).
std::string jobSettings(const TrainOptions &o, const RunOptions &r) {
  return "--batch-size " + std::to_string(o.batchSize) + " --epochs " +
         std::to_string(o.epochs) + " --lr " + shortNumber(o.lr) + " (" +
         o.schedule + ") --momentum " + shortNumber(o.momentum) +
         " --weight-decay " + shortNumber(o.weightDecay) + " --seed " +
         std::to_string(o.seed) + " --train-limit " +
         std::to_string(r.trainLimit) + " augment " + o.augment.text() +
         " --stop-after " + std::to_string(r.stopAfter) +
         (r.syncBn ? " --sync-bn" : "");
}

// Every tensor of the model (parameters, buffers, optimizer state) as rank
// 0 has it: the ranks start from the same weights even where their libm
// would round the init rules differently, and a resumed job from the
// checkpoint rank 0 read.
void broadcastState(Model &model, Comm &comm) {
  for (const rnc_tensor_info &t : model.tensors()) {
    if (t.kind == RNC_GRADIENT)
      continue;
    std::vector<float> v = model.readTensor(t.name);
    comm.broadcast(v.data(), v.size() * sizeof(float));
    if (!comm.root())
      model.writeTensor(t.name, v);
  }
}

} // namespace

void train(Model &model, const TrainOptions &o, const RunOptions &rIn,
           const Checkpoint *resume) {
  Comm &comm = Comm::job();
  comm.agree("set of training flags", jobSettings(o, rIn));
  // Rank 0 alone writes files.
  RunOptions r = rIn;
  if (!comm.root()) {
    r.metricsFile.clear();
    r.checkpointFile.clear();
  }
  checkFits(model, o, comm);
  const rnc_model_info &info = model.info();
  TrainState state;
  if (resume) {
    state = resume->state();
    if (state.epoch >= o.epochs)
      throw std::runtime_error(
          "rnc-run: the checkpoint has already trained " +
          std::to_string(state.epoch) + " of " + std::to_string(o.epochs) +
          " epochs; give --epochs above " + std::to_string(state.epoch) +
          " to train on");
  }
  state.options = o;
  state.trainLimit = r.trainLimit;
  state.testLimit = r.testLimit;
  // A resumed run rewrites the epochs it already has (at the end of its
  // first epoch: nothing is written before).
  MetricsFile metrics(r.metricsFile);
  for (EpochStats s : state.history) {
    s.epochs = o.epochs;
    metrics.add(s);
  }

  RunData d = openData(r.data, model, Need::TrainAndTest, state.mean,
                       state.std);
  if (resume && !state.classes.empty() && state.classes != d.classes)
    throw std::runtime_error(
        resume->path() + ": trained on the classes " + joined(state.classes) +
        " (" + std::to_string(state.classes.size()) + "), but " +
        r.data.dir + " has " + joined(d.classes) + " (" +
        std::to_string(d.classes.size()) + ")");
  state.classes = d.classes;
  state.mean = d.mean;
  state.std = d.std;
  state.dataFormat = d.format;
  data::LoaderOptions lo;
  lo.batchSize = o.batchSize;
  lo.seed = o.seed;
  lo.limit = r.trainLimit;
  lo.threads = r.data.threads;
  lo.prefetch = r.data.prefetch;
  lo.augment = o.augment;
  lo.mean = d.mean;
  lo.std = d.std;
  lo.shards = comm.world();
  lo.shard = comm.rank();
  // --data-on-device with augmentation: the loader draws, the model applies
  // the draws to its 8-bit set (rnc_train_step_augmented).
  const bool augmentInModel = r.dataOnDevice && o.augment.any();
  if (augmentInModel && !(model.hasAugmentedStep() && model.hasDatasetU8()))
    throw std::runtime_error(
        "rnc-run: --data-on-device: " + model.path() +
        " cannot apply the augmentation (" + o.augment.text() +
        ") itself (compiled by an older rnc; recompile it, or leave the "
        "augmentation or the flag off)");
  lo.indicesOnly = r.dataOnDevice;
  data::Loader loader(*d.train, lo);
  data::LoaderOptions testOptions = lo;
  testOptions.limit = r.testLimit;
  testOptions.augment = {};
  testOptions.indicesOnly = false;
  testOptions.shards = 1;
  testOptions.shard = 0;
  const size_t testImages =
      r.testLimit ? std::min(r.testLimit, d.test->size()) : d.test->size();

  const int64_t steps = static_cast<int64_t>(loader.batchesPerEpoch());
  const int64_t totalSteps = steps * o.epochs;
  std::printf("model  %s (%s): input %dx%dx%d, %d classes, max batch %d\n",
              info.model_name, model.path().c_str(), info.input_c,
              info.input_h, info.input_w, info.num_classes, info.max_batch);
  std::printf("data   %zu train / %zu test images from %s (%s, %zu "
              "classes%s); batch %d, %lld steps per epoch\n",
              loader.size(), testImages, r.data.dir.c_str(),
              d.formatName.c_str(), d.classes.size(),
              d.skipped.empty()
                  ? ""
                  : (", " + std::to_string(d.skipped.size()) +
                     " bad files skipped")
                        .c_str(),
              o.batchSize, static_cast<long long>(steps));
  if (comm.distributed())
    std::printf("ranks  %d processes (mpirun), %d images of every batch on "
                "each; gradients summed over the ranks before every update; "
                "batch-norm statistics %s; rank 0 evaluates and saves\n",
                comm.world(), o.batchSize / comm.world(),
                r.syncBn ? "over the global batch (--sync-bn)" : "per rank");
  std::printf("input  mean %s, std %s (%s); augment: %s; %d loader "
              "thread%s%s%s\n",
              listText(d.mean).c_str(), listText(d.std).c_str(),
              d.normalizedBy.c_str(), o.augment.text().c_str(),
              r.data.threads, r.data.threads == 1 ? "" : "s",
              d.cacheNote.empty() ? "" : "; ", d.cacheNote.c_str());
  std::printf("sgd    lr %g (%s), momentum %g, weight decay %g, seed %llu\n",
              o.lr, o.schedule.c_str(), o.momentum, o.weightDecay,
              static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);

  model.create();
  if (comm.distributed()) {
    rnc_collectives c =
        comm.collectives(r.syncBn, std::string(info.target) == "cuda");
    model.setCollectives(&c);
    if (comm.root() && !comm.ncclText().empty())
      std::printf("nccl   %s: the gradients summed on the GPUs inside the "
                  "step's graph\n", comm.ncclText().c_str());
  }
  model.init(o.seed);
  std::string lastGood; // the newest checkpoint on disk, for error messages
  if (resume) {
    resume->apply(model);
    lastGood = "the checkpoint " + resume->path() + " (epoch " +
               std::to_string(state.epoch) + ") is kept";
    std::printf("resume %s: %s\n", resume->path().c_str(),
                resume->describe().c_str());
  }
  if (comm.distributed())
    broadcastState(model, comm);
  if (r.dataOnDevice) {
    const Clock::time_point t0 = Clock::now();
    const ModelSetCopy copy = copySetIntoModel(model, *d.train, lo);
    std::printf("data   the %zu training images copied into the model once "
                "(%s: %.1f MB%s, %.1f s): each step sends only indices "
                "(--data-on-device)\n",
                loader.size(), copy.form.c_str(), copy.bytes / 1e6,
                std::string(info.target) == "cuda" ? " of device memory" : "",
                secondsSince(t0));
    std::fflush(stdout);
  }
  std::vector<float> x(r.dataOnDevice ? 0 : loader.batchFloats());
  std::vector<int32_t> y(static_cast<size_t>(o.batchSize));
  std::vector<data::Draw> draws(augmentInModel ? y.size() : 0);
  std::vector<rnc_augment> aug(draws.size());
  Progress progress(comm.distributed());
  int64_t &globalStep = state.step;
  double trainingSeconds = 0; // every epoch's, without the evaluations
  const double sumSecondsBefore = comm.stepSumSeconds();
  for (int epoch = state.epoch + 1; epoch <= o.epochs; ++epoch) {
    const Clock::time_point start = Clock::now();
    EpochStats s;
    s.epoch = epoch;
    s.epochs = o.epochs;
    s.lr = learningRate(o, globalStep, totalSteps);
    double lossSum = 0;
    size_t correct = 0, seen = 0;
    int64_t step = 0;
    loader.startEpoch(static_cast<uint64_t>(epoch - 1));
    auto next = [&] {
      return r.dataOnDevice
                 ? loader.nextIndices(y.data(),
                                      augmentInModel ? draws.data() : nullptr)
                 : loader.next(x.data(), y.data());
    };
    while (size_t b = next()) {
      rnc_sgd sgd{learningRate(o, globalStep, totalSteps), o.momentum,
                  o.weightDecay};
      rnc_step_result res{};
      try {
        // y holds the batch's labels, or with --data-on-device its indices.
        const int32_t batch = static_cast<int32_t>(b);
        if (augmentInModel) {
          for (size_t i = 0; i < b; ++i)
            aug[i] = augmentOf(draws[i], o.augment.cropPadding);
          res = model.trainStepAugmented(y, aug, batch, sgd);
        } else {
          res = r.dataOnDevice ? model.trainStepIndexed(y, batch, sgd)
                               : model.trainStep(x, y, batch, sgd);
        }
      } catch (const StepTimedOut &e) { // a cuda step in a job of several
        comm.checkAfterTimedOutStep(e.what());
      }
      ++step;
      ++globalStep;
      // The whole job's figures: every rank's loss weighed by its images.
      double sums[3] = {static_cast<double>(res.loss) * b,
                        static_cast<double>(res.correct),
                        static_cast<double>(b)};
      comm.sum(sums, 3);
      if (!std::isfinite(sums[0]))
        throw std::runtime_error(
            "rnc-run: step " + std::to_string(globalStep) + " (epoch " +
            std::to_string(epoch) + "): loss is " +
            (std::isnan(sums[0]) ? "nan" : "inf") + "; lower --lr (now " +
            shortNumber(sgd.lr) + ") or check the model" +
            (lastGood.empty() ? "" : "; " + lastGood));
      lossSum += sums[0];
      correct += static_cast<size_t>(sums[1]);
      seen += static_cast<size_t>(sums[2]);
      const double elapsed = secondsSince(start);
      progress.step(epoch, o.epochs, step, steps, lossSum / seen,
                    static_cast<double>(correct) / seen, seen / elapsed,
                    elapsed > 0 ? loader.waitSeconds() / elapsed : 0.0,
                    // training time left at this epoch's pace so far
                    secondsSince(start) / step * (totalSteps - globalStep));
    }
    // The loss can stay finite for a step after the weights have gone to
    // inf or nan; nothing of such an epoch is kept.
    if (std::string bad = nonFiniteTensor(model); !bad.empty())
      throw std::runtime_error(
          "rnc-run: epoch " + std::to_string(epoch) + ": " + bad +
          " after step " + std::to_string(globalStep) +
          " although the loss stayed finite; lower --lr (now " +
          shortNumber(learningRate(o, globalStep - 1, totalSteps)) +
          ") or check the model" + (lastGood.empty() ? "" : "; " + lastGood));
    const double trainSeconds = secondsSince(start);
    trainingSeconds += trainSeconds;
    s.trainLoss = seen ? lossSum / seen : 0.0;
    s.trainAcc = seen ? static_cast<double>(correct) / seen : 0.0;
    s.imagesPerSec = trainSeconds > 0 ? seen / trainSeconds : 0.0;
    s.dataWait = trainSeconds > 0 ? loader.waitSeconds() / trainSeconds : 0.0;
    // Rank 0 evaluates alone (its BN running statistics are the ones it
    // saves); the others go on and wait for it in the next step.
    s.testAcc = comm.root()
                    ? evaluate(model, *d.test, testOptions).fraction()
                    : 0.0;
    s.seconds = secondsSince(start);
    progress.endEpoch();
    std::printf("%s\n", formatEpoch(s).c_str());
    std::fflush(stdout);
    metrics.write(s);
    state.epoch = epoch;
    state.history.push_back(s);
    if (!r.checkpointFile.empty()) {
      bool best = s.testAcc > state.bestTestAcc;
      if (best)
        state.bestTestAcc = s.testAcc;
      saveCheckpoint(r.checkpointFile, model, state);
      lastGood = "the checkpoint " + r.checkpointFile + " (epoch " +
                 std::to_string(epoch) + ") is kept";
      std::string line = "saved  " + r.checkpointFile;
      if (best) {
        std::string bestPath = bestCheckpointPath(r.checkpointFile);
        saveCheckpoint(bestPath, model, state);
        line += " and " + bestPath + " (best test acc so far)";
      }
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
    if (epoch == r.stopAfter && epoch < o.epochs) {
      std::printf("stopped after epoch %d (--stop-after)%s\n", epoch,
                  r.checkpointFile.empty()
                      ? ""
                      : ("; go on with --resume " + r.checkpointFile).c_str());
      break;
    }
  }
  // What the sums over MPI cost (on NCCL they are inside the graph).
  if (comm.distributed() && comm.ncclText().empty() && trainingSeconds > 0) {
    const double sums = comm.stepSumSeconds() - sumSecondsBefore;
    std::printf("ranks  rank 0 waited %.2f s of its %.2f s of training in the "
                "sums over the ranks inside the steps (%.1f%%)\n", sums,
                trainingSeconds, 100.0 * sums / trainingSeconds);
  }
  if (!r.metricsFile.empty()) {
    std::vector<PlotPoint> points;
    for (const EpochStats &s : state.history)
      points.push_back({s.epoch, s.trainLoss, s.trainAcc, s.testAcc});
    std::string plot = plotPathFor(r.metricsFile);
    writeTrainingPlot(plot, points,
                      std::string(info.model_name) + " on " +
                          baseName(r.data.dir));
    std::printf("plot   %s\n", plot.c_str());
  }
}

} // namespace rnc::run
