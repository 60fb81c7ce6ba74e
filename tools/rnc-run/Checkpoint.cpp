// Checkpoints of a training run (see Checkpoint.h).
#include "Checkpoint.h"
#include "OptionRules.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
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

std::string shortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// The index of the first value that is nan or inf, or -1.
int64_t firstNonFinite(const std::vector<float> &values) {
  for (size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      return int64_t(i);
  return -1;
}

std::string valueName(float v) {
  return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

// The largest checkpoint of `model` this reader accepts: its tensors at 8
// bytes a value (F64, the widest dtype) plus the header. Anything larger
// holds tensors the model does not have, so it is refused unread.
uint64_t maxCheckpointBytes(const Model &model) {
  uint64_t bytes = 8 + (uint64_t(100) << 20);
  for (const rnc_tensor_info &t : model.tensors())
    bytes += uint64_t(t.numel) * 8 + 8; // + num_batches_tracked
  return bytes;
}

json statsToJson(const EpochStats &s) {
  return {{"epoch", s.epoch},         {"train_loss", s.trainLoss},
          {"train_acc", s.trainAcc},  {"test_acc", s.testAcc},
          {"images_per_sec", s.imagesPerSec},
          {"seconds", s.seconds},     {"lr", s.lr},
          {"data_wait", s.dataWait}};
}

// A field of the metadata: `where` ("history[2].lr") names it in errors.
[[noreturn]] void badField(const std::string &where, const std::string &why) {
  throw CheckpointError("__metadata__." + where + ": " + why);
}

json parseField(const std::string &text, const std::string &where) {
  try {
    return json::parse(text);
  } catch (const json::parse_error &e) {
    badField(where, "not valid JSON (parse error at byte " +
                        std::to_string(e.byte) + ")");
  }
}

double finiteNumber(const json &j, const std::string &where, double min,
                    double max) {
  if (!j.is_number())
    badField(where, "expected a number, got " + j.dump());
  double v = j.get<double>();
  if (!std::isfinite(v) || v < min || v > max)
    badField(where, "expected a number in [" + shortNumber(min) + ", " +
                        shortNumber(max) + "], got " + j.dump());
  return v;
}

// A whole number in [min, max] from a metadata string ("epoch": "3").
int64_t wholeNumber(const std::string &text, const std::string &where,
                    int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      v < min || v > max)
    badField(where, "expected a whole number in [" + std::to_string(min) +
                        ", " + std::to_string(max) + "], got '" + text + "'");
  return v;
}

EpochStats statsFromJson(const json &j, int epochs, const std::string &where) {
  if (!j.is_object())
    badField(where, "expected an object, got " + j.dump());
  auto field = [&](const char *key, double min, double max) {
    if (!j.contains(key))
      badField(where + "." + key, "missing");
    return finiteNumber(j.at(key), where + "." + key, min, max);
  };
  const double big = 1e300;
  EpochStats s;
  s.epoch = int(field("epoch", 1, 1000000));
  s.epochs = epochs;
  s.trainLoss = field("train_loss", 0, big);
  s.trainAcc = field("train_acc", 0, 1);
  s.testAcc = field("test_acc", 0, 1);
  s.imagesPerSec = field("images_per_sec", 0, big);
  s.seconds = field("seconds", 0, big);
  s.lr = field("lr", 0, big);
  // Absent from checkpoints written before the loader measured it.
  s.dataWait = j.contains("data_wait")
                   ? finiteNumber(j.at("data_wait"), where + ".data_wait", 0, 1)
                   : 0.0;
  return s;
}

// The options a checkpoint was trained with, checked by the rules of the
// flags (OptionRules.h): a value refused as a flag is refused here.
void readOptions(const std::string &text, TrainState &state) {
  json o = parseField(text, "train_options");
  if (!o.is_object())
    badField("train_options", "expected a JSON object, got " + o.dump());
  std::map<std::string, std::string> values;
  for (const OptionRule *r = rulesBegin(); r != rulesEnd(); ++r) {
    if (!r->key)
      continue;
    const std::string where = std::string("train_options.") + r->key;
    if (!o.contains(r->key)) {
      if (r->mayBeAbsent)
        continue;
      badField(where, "missing");
    }
    const json &v = o.at(r->key);
    std::string value = v.is_string() ? v.get<std::string>() : v.dump();
    // A JSON string where a number belongs is refused, and the reverse.
    bool typeOk = r->kind == OptionRule::Choice ? v.is_string() : v.is_number();
    std::string why = typeOk ? checkOption(*r, value)
                             : "must be " + std::string(r->kind ==
                                   OptionRule::Choice ? "a string" : "a number") +
                                   ", got " + v.dump();
    if (!why.empty())
      badField(where, why + " (the rule of " + r->flag + ")");
    values[r->key] = value;
  }
  TrainOptions &to = state.options;
  to.epochs = std::stoi(values["epochs"]);
  to.batchSize = std::stoi(values["batch_size"]);
  to.lr = std::stof(values["lr"]);
  to.momentum = std::stof(values["momentum"]);
  to.weightDecay = std::stof(values["weight_decay"]);
  to.schedule = values["lr_schedule"];
  to.seed = std::stoull(values["seed"]);
  state.trainLimit = std::stoull(values["train_limit"]);
  state.testLimit = std::stoull(values["test_limit"]);
  // Checkpoints from before augmentation existed trained without it.
  to.augment.cropPadding = std::stoi(values.count("crop_padding")
                                         ? values["crop_padding"] : "0");
  to.augment.erasing = std::stof(values.count("random_erasing")
                                     ? values["random_erasing"] : "0");
  to.augment.hflip = false;
  if (o.contains("hflip")) {
    if (!o.at("hflip").is_boolean())
      badField("train_options.hflip",
               "expected true or false, got " + o.at("hflip").dump());
    to.augment.hflip = o.at("hflip").get<bool>();
  }
}

// The data set a checkpoint was trained on (absent before image folders and
// CIFAR): its format, class names and normalization, checked like the rest.
void readData(const std::string &text, TrainState &state) {
  if (text.empty())
    return;
  json d = parseField(text, "data");
  if (!d.is_object())
    badField("data", "expected a JSON object, got " + d.dump());
  for (const char *key : {"format", "classes", "mean", "std"})
    if (!d.contains(key))
      badField(std::string("data.") + key, "missing");
  if (!d.at("format").is_string())
    badField("data.format", "expected a string, got " + d.at("format").dump());
  state.dataFormat = d.at("format").get<std::string>();
  const json &classes = d.at("classes");
  if (!classes.is_array() || classes.size() > 100000)
    badField("data.classes", "expected an array of at most 100000 names");
  for (size_t i = 0; i < classes.size(); ++i) {
    if (!classes[i].is_string())
      badField("data.classes[" + std::to_string(i) + "]",
               "expected a string, got " + classes[i].dump());
    state.classes.push_back(classes[i].get<std::string>());
  }
  for (const char *key : {"mean", "std"}) {
    const json &v = d.at(key);
    const std::string where = std::string("data.") + key;
    if (!v.is_array() || v.empty() || v.size() > 4)
      badField(where, "expected 1 to 4 numbers, got " + v.dump());
    std::vector<float> &out = key[0] == 'm' ? state.mean : state.std;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string at = where + "[" + std::to_string(i) + "]";
      double x = key[0] == 'm' ? finiteNumber(v[i], at, -1e6, 1e6)
                               : finiteNumber(v[i], at, 0, 1e6);
      if (key[0] == 's' && x == 0)
        badField(at, "expected a positive number, got 0");
      out.push_back(float(x));
    }
  }
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
    : path_(path), mode_(mode),
      file_(readSafetensors(path, maxCheckpointBytes(model))) {
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

  // A tensor that is not finite would go on silently as garbage (eval at
  // chance, a resumed run at nan).
  for (const auto &[name, t] : file_.tensors)
    if (int64_t at = firstNonFinite(t.values); at >= 0)
      fail("tensor '" + name + "' holds " + valueName(t.values[at]) +
           " (at index " + std::to_string(at) +
           "); the run had diverged when this was saved: use an earlier "
           "checkpoint");

  if (!ours)
    return;
  // Every field is checked and named when it is wrong: the file may have
  // been edited or damaged.
  try {
    readOptions(metaOr("train_options"), state_);
    state_.epoch = int(wholeNumber(metaOr("epoch"), "epoch", 0, 1000000));
    state_.step = wholeNumber(metaOr("step"), "step", 0, INT64_MAX);
    char *end = nullptr;
    const std::string best = metaOr("best_test_acc");
    state_.bestTestAcc = std::strtod(best.c_str(), &end);
    if (best.empty() || *end || !(state_.bestTestAcc >= -1) ||
        state_.bestTestAcc > 1)
      badField("best_test_acc", "expected a number in [-1, 1], got '" + best +
                                    "'");
    json history = parseField(metaOr("history"), "history");
    if (!history.is_array())
      badField("history", "expected a JSON array, got " + history.dump());
    for (size_t i = 0; i < history.size(); ++i) {
      std::string where = "history[" + std::to_string(i) + "]";
      state_.history.push_back(
          statsFromJson(history[i], state_.options.epochs, where));
      if (state_.history.back().epoch != int(i) + 1)
        badField(where + ".epoch", "expected " + std::to_string(i + 1) +
                                       ", got " +
                                       std::to_string(state_.history.back().epoch));
    }
    readData(metaOr("data"), state_);
    if (state_.history.size() != size_t(state_.epoch))
      badField("epoch", std::to_string(state_.epoch) + " but the history has " +
                            std::to_string(state_.history.size()) +
                            " epochs");
  } catch (const CheckpointError &e) {
    fail(std::string("corrupt rnc metadata: ") + e.what());
  } catch (const json::exception &e) {
    fail(std::string("corrupt rnc metadata: ") + e.what());
  }
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
  auto name = file_.metadata.find("model_name");
  std::snprintf(buf, sizeof buf, "epoch %d of %d of '%s', step %lld",
                s.epoch, s.options.epochs,
                name == file_.metadata.end() ? "?" : name->second.c_str(),
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
    // The file on disk stays the last finite one.
    if (int64_t at = firstNonFinite(st.values); at >= 0)
      throw CheckpointError(path + ": not saved: tensor '" + name + "' holds " +
                            valueName(st.values[at]) + " (at index " +
                            std::to_string(at) + ")");
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

namespace rnc::run {

std::string nonFiniteTensor(Model &model) {
  for (const rnc_tensor_info &t : model.tensors()) {
    if (t.kind != RNC_PARAM && t.kind != RNC_BUFFER && t.kind != RNC_OPTIMIZER)
      continue;
    std::vector<float> values = model.readTensor(t.name);
    if (int64_t at = firstNonFinite(values); at >= 0)
      return std::string("tensor '") + t.name + "' holds " +
             valueName(values[at]) + " (at index " + std::to_string(at) + ")";
  }
  return "";
}

} // namespace rnc::run
