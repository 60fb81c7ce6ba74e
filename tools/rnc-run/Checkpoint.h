// Checkpoints of a training run: a model's tensors and the loop's state in
// one safetensors file (runtime/Safetensors.h).
//
// Tensor names (docs/checkpoints.md): parameters and BN running statistics
// under their state_dict names, which are torchvision's for the
// torchvision-equivalent models ("conv1.weight", "layer1.0.bn1.running_mean",
// "fc.bias"), plus "<bn>.num_batches_tracked" (I64, the steps trained) as
// torchvision has it; SGD momentum under "optimizer.<param>.momentum_buffer".
// `{k: v for k, v in load_file(f).items() if not k.startswith("optimizer.")}`
// is then a torchvision state_dict. The loop's state (epoch, step, seed,
// hyperparameters and augmentation, per-epoch history, spec hash) and the
// data's class names and normalization are in __metadata__.
#pragma once

#include "Report.h"
#include "Train.h"

#include "runtime/Model.h"
#include "runtime/Safetensors.h"

#include <string>
#include <vector>

namespace rnc::run {

/// Where a training run stands after a finished epoch.
struct TrainState {
  int epoch = 0;     // finished epochs
  int64_t step = 0;  // finished steps over all epochs
  TrainOptions options;
  size_t trainLimit = 0, testLimit = 0;
  std::vector<EpochStats> history; // one per finished epoch
  double bestTestAcc = -1;
  // The data the weights were trained on: its class names and the
  // normalization of the input (eval and predict reuse both).
  std::string dataFormat;
  std::vector<std::string> classes;
  std::vector<float> mean, std;
};

/// What a load needs: the weights only (eval, predict: a file written by
/// PyTorch's safetensors works too) or everything to resume training.
enum class LoadMode { Weights, Resume };

/// A checkpoint read and checked against a model; nothing is written into
/// the model until apply().
class Checkpoint {
public:
  /// Reads `path` and checks it fits `model`: the same spec hash (when the
  /// file records one), every tensor the model needs present with its shape,
  /// no tensor the model does not know, every value finite; for Resume also
  /// the optimizer state and rnc's metadata, each field checked (the
  /// options by the rules of their flags). Throws CheckpointError naming the
  /// file and, for metadata, the field.
  Checkpoint(const std::string &path, const Model &model, LoadMode mode);

  const std::string &path() const { return path_; }
  /// Writes the tensors into the model (created beforehand).
  void apply(Model &model) const;
  /// The loop's state (Resume mode; epoch 0 for a weights-only file).
  const TrainState &state() const { return state_; }
  /// "epoch 3 of fashion_resnet (test acc 91.2%)" or "weights".
  std::string describe() const;

private:
  std::string path_;
  LoadMode mode_;
  SafetensorsFile file_;
  TrainState state_;
};

/// Saves the model's tensors and `state` to `path` atomically. Refuses
/// (CheckpointError, nothing written) when a tensor is not finite, so the
/// file on disk stays the last finite checkpoint.
void saveCheckpoint(const std::string &path, Model &model,
                    const TrainState &state);

/// "tensor 'fc.weight' holds nan (at index 3)" for the first saved tensor
/// (parameter, buffer, optimizer state) that is not finite; "" when all are.
std::string nonFiniteTensor(Model &model);

/// "run.safetensors" -> "run.best.safetensors"; "run" -> "run.best".
std::string bestCheckpointPath(const std::string &path);

} // namespace rnc::run
