// Checkpoints of a training run (see Checkpoint.h).
#include "Checkpoint.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <set>

namespace rnc::run {

namespace {

using json = nlohmann::json;

constexpr const char *kFormat = "rnc-checkpoint";
constexpr const char *kFormatVersion = "1";
constexpr const char *kOptimizerPrefix = "optimizer.";
constexpr const char *kRunningMean = ".running_mean";

bool endsWith(const std::string &s, const std::string &tail) {
  return s.size() >= tail.size() &&
         s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The file's name for a model tensor; "" for tensors not saved (gradients).
std::string fileName(const rnc_tensor_info &t) {
  switch (t.kind) {
  case RNC_PARAM:
  case RNC_BUFFER:
    return t.name;
  case RNC_OPTIMIZER:
    return std::string(kOptimizerPrefix) + t.name;
  default:
    return "";
  }
}

// torchvision's BN counter next to each running mean.
std::string batchesTrackedName(const std::string &runningMean) {
  return runningMean.substr(0, runningMean.size() - std::strlen(kRunningMean)) +
         ".num_batches_tracked";
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

json statsToJson(const EpochStats &s) {
  return {{"epoch", s.epoch},         {"train_loss", s.trainLoss},
          {"train_acc", s.trainAcc},  {"test_acc", s.testAcc},
          {"images_per_sec", s.imagesPerSec},
          {"seconds", s.seconds},     {"lr", s.lr},
          {"data_wait", s.dataWait}};
}

EpochStats statsFromJson(const json &j, int epochs) {
  EpochStats s;
  s.epoch = j.at("epoch").get<int>();
  s.epochs = epochs;
  s.trainLoss = j.at("train_loss").get<double>();
  s.trainAcc = j.at("train_acc").get<double>();
  s.testAcc = j.at("test_acc").get<double>();
  s.imagesPerSec = j.at("images_per_sec").get<double>();
  s.seconds = j.at("seconds").get<double>();
  s.lr = j.at("lr").get<double>();
  s.dataWait = j.value("data_wait", 0.0); // absent before issue 17
  return s;
}

json optionsToJson(const TrainOptions &o, size_t trainLimit,
                   size_t testLimit) {
  return {{"epochs", o.epochs},
          {"batch_size", o.batchSize},
          {"lr", o.lr},
          {"momentum", o.momentum},
          {"weight_decay", o.weightDecay},
          {"lr_schedule", o.schedule},
          {"seed", o.seed},
          {"crop_padding", o.augment.cropPadding},
          {"hflip", o.augment.hflip},
          {"random_erasing", o.augment.erasing},
          {"train_limit", trainLimit},
          {"test_limit", testLimit}};
}

json dataToJson(const TrainState &s) {
  return {{"format", s.dataFormat},
          {"classes", s.classes},
          {"mean", s.mean},
          {"std", s.std}};
}

} // namespace

std::string bestCheckpointPath(const std::string &path) {
  const std::string ext = ".safetensors";
  if (endsWith(path, ext))
    return path.substr(0, path.size() - ext.size()) + ".best" + ext;
  return path + ".best";
}

Checkpoint::Checkpoint(const std::string &path, const Model &model,
                       LoadMode mode)
    : path_(path), mode_(mode), file_(readSafetensors(path)) {
  auto fail = [&](const std::string &what) {
    throw CheckpointError(path + ": " + what);
  };
  const rnc_model_info &info = model.info();
  const auto &meta = file_.metadata;
  auto metaOr = [&](const char *key) {
    auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  const bool ours = metaOr("format") == kFormat;
  if (ours && metaOr("format_version") != kFormatVersion)
    fail("checkpoint format version " + metaOr("format_version") +
         ", this rnc-run reads version " + kFormatVersion);
  if (ours && metaOr("spec_hash") != info.spec_hash)
    fail("checkpoint of model '" + metaOr("model_name") + "' (spec hash " +
         metaOr("spec_hash").substr(0, 12) + "), but " + model.path() +
         " is '" + info.model_name + "' (spec hash " +
         std::string(info.spec_hash).substr(0, 12) +
         "); train or load with the model it was saved from");
  if (mode == LoadMode::Resume && !ours)
    fail("not an rnc checkpoint (no rnc metadata): it can be loaded for eval "
         "or predict, but training cannot resume from it");

  // Every tensor the model keeps must be there with its shape...
  std::set<std::string> known;
  for (const rnc_tensor_info &t : model.tensors()) {
    std::string name = fileName(t);
    if (name.empty())
      continue;
    known.insert(name);
    if (t.kind == RNC_BUFFER && endsWith(name, kRunningMean))
      known.insert(batchesTrackedName(name));
    bool needed = t.kind != RNC_OPTIMIZER || mode == LoadMode::Resume;
    auto it = file_.tensors.find(name);
    if (it == file_.tensors.end()) {
      if (needed)
        fail("has no tensor '" + name + "', which " + model.path() +
             " needs (a checkpoint of another model?)");
      continue;
    }
    std::vector<int64_t> want(t.shape, t.shape + t.rank);
    if (it->second.shape != want || it->second.isInt)
      fail("tensor '" + name + "' has shape " + shapeText(it->second.shape) +
           (it->second.isInt ? " of I64" : "") + ", " + model.path() +
           " expects " + shapeText(want) + " of float (a checkpoint of "
           "another model?)");
  }
  // ...and nothing the model does not know (strict, as PyTorch's
  // load_state_dict): a name typo must not pass silently.
  for (const auto &[name, t] : file_.tensors)
    if (!known.count(name))
      fail("has tensor '" + name + "' that " + model.path() +
           " does not have (a checkpoint of another model?)");

  if (!ours)
    return;
  try {
    json o = json::parse(metaOr("train_options"));
    TrainOptions &to = state_.options;
    to.epochs = o.at("epochs").get<int>();
    to.batchSize = o.at("batch_size").get<int>();
    to.lr = o.at("lr").get<float>();
    to.momentum = o.at("momentum").get<float>();
    to.weightDecay = o.at("weight_decay").get<float>();
    to.schedule = o.at("lr_schedule").get<std::string>();
    to.seed = o.at("seed").get<uint64_t>();
    // Checkpoints from before augmentation existed trained without it.
    to.augment.cropPadding = o.value("crop_padding", 0);
    to.augment.hflip = o.value("hflip", false);
    to.augment.erasing = o.value("random_erasing", 0.0f);
    state_.trainLimit = o.at("train_limit").get<size_t>();
    state_.testLimit = o.at("test_limit").get<size_t>();
    state_.epoch = std::stoi(metaOr("epoch"));
    state_.step = std::stoll(metaOr("step"));
    state_.bestTestAcc = std::stod(metaOr("best_test_acc"));
    for (const json &e : json::parse(metaOr("history")))
      state_.history.push_back(statsFromJson(e, to.epochs));
    if (!metaOr("data").empty()) {
      json d = json::parse(metaOr("data"));
      state_.dataFormat = d.at("format").get<std::string>();
      state_.classes = d.at("classes").get<std::vector<std::string>>();
      state_.mean = d.at("mean").get<std::vector<float>>();
      state_.std = d.at("std").get<std::vector<float>>();
    }
  } catch (const std::exception &e) {
    fail(std::string("corrupt rnc metadata: ") + e.what());
  }
  if (state_.epoch < 0 || state_.step < 0 ||
      state_.history.size() != size_t(state_.epoch))
    fail("corrupt rnc metadata: epoch " + std::to_string(state_.epoch) +
         " with " + std::to_string(state_.history.size()) +
         " epochs of history");
}

void Checkpoint::apply(Model &model) const {
  for (const rnc_tensor_info &t : model.tensors()) {
    std::string name = fileName(t);
    auto it = name.empty() ? file_.tensors.end() : file_.tensors.find(name);
    if (it != file_.tensors.end())
      model.writeTensor(t.name, it->second.values);
  }
}

std::string Checkpoint::describe() const {
  if (file_.metadata.count("format") == 0)
    return "weights only (no rnc metadata)";
  const TrainState &s = state_;
  char buf[160];
  std::snprintf(buf, sizeof buf, "epoch %d of %d of '%s', step %lld",
                s.epoch, s.options.epochs,
                file_.metadata.at("model_name").c_str(),
                static_cast<long long>(s.step));
  std::string text = buf;
  if (!s.history.empty()) {
    std::snprintf(buf, sizeof buf, ", test acc %.2f%%",
                  100 * s.history.back().testAcc);
    text += buf;
  }
  return text;
}

void saveCheckpoint(const std::string &path, Model &model,
                    const TrainState &state) {
  const rnc_model_info &info = model.info();
  SafetensorsFile file;
  for (const rnc_tensor_info &t : model.tensors()) {
    std::string name = fileName(t);
    if (name.empty())
      continue;
    SafeTensor st;
    st.shape.assign(t.shape, t.shape + t.rank);
    st.values = model.readTensor(t.name);
    file.tensors[name] = std::move(st);
    if (t.kind == RNC_BUFFER && endsWith(name, kRunningMean)) {
      SafeTensor count;
      count.isInt = true;
      count.ints = {state.step};
      file.tensors[batchesTrackedName(name)] = std::move(count);
    }
  }
  json history = json::array();
  for (const EpochStats &s : state.history)
    history.push_back(statsToJson(s));
  char best[32];
  std::snprintf(best, sizeof best, "%.17g", state.bestTestAcc);
  file.metadata = {
      {"format", kFormat},
      {"format_version", kFormatVersion},
      {"rnc_version", info.rnc_version},
      {"model_name", info.model_name},
      {"spec_hash", info.spec_hash},
      {"epoch", std::to_string(state.epoch)},
      {"step", std::to_string(state.step)},
      {"train_options", optionsToJson(state.options, state.trainLimit,
                                         state.testLimit)
                               .dump()},
      {"history", history.dump()},
      {"best_test_acc", best},
      {"data", dataToJson(state).dump()},
      // The data order of epoch e is a pure function of (seed, e), and the
      // augmentation of image i in epoch e of (seed, e, i): the seed and
      // the epoch are the whole random state of a run.
      {"rng", "shuffle(seed=" + std::to_string(state.options.seed) +
                  ", next_epoch=" + std::to_string(state.epoch) +
                  "), augment(seed, epoch, image)"},
  };
  writeSafetensors(path, file);
}

} // namespace rnc::run
