// The training loop of `rnc-run train`: epochs over a data set, evaluation, reporting.
#pragma once

#include "Data.h"

#include "runtime/Model.h"
#include "runtime/data/Augment.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace rnc::run {

/// The hyperparameters. The defaults are those of `rnc-run train MODEL.so`;
/// the main job (MainJob.h) has its own.
struct TrainOptions {
  int epochs = 10;
  int batchSize = 128;
  float lr = 0.05f;
  float momentum = 0.9f;
  float weightDecay = 5e-4f;
  std::string schedule = "constant"; // or "cosine", per step (learningRate)
  uint64_t seed = 0;
  data::Augment augment; // training augmentation (off)
};

/// Where data comes from and where results go; nothing here changes the
/// trained weights except the limits.
struct RunOptions {
  DataFlags data;
  size_t trainLimit = 0; // 0: the whole split
  size_t testLimit = 0;
  std::string metricsFile; // "" for none; the plot goes next to it
  std::string checkpointFile; // "" for none: saved every epoch, and the best
                              // by test accuracy to bestCheckpointPath()
  int stopAfter = 0;          // stop after this epoch (0: train all epochs)
  bool syncBn = false;        // --sync-bn: BN statistics over all ranks
  bool dataOnDevice = false;  // --data-on-device: the set inside the model
};

class Checkpoint;

/// The lr of global step `step` (0-based) out of `totalSteps`: constant, or
/// cosine annealing to 0 as torch's CosineAnnealingLR(T_max=totalSteps,
/// eta_min=0) stepped once per batch.
float learningRate(const TrainOptions &o, int64_t step, int64_t totalSteps);

/// Creates and initializes the model (or loads `resume`, a checkpoint read
/// in Resume mode, and goes on after its epoch), trains it up to o.epochs
/// epochs and evaluates it on the test split after each. Throws ModelError,
/// DataError, CheckpointError or std::runtime_error (one line each) on
/// failure, including a non-finite loss.
///
/// In a data-parallel job (Comm.h) every rank calls it with the same flags:
/// each trains on its share of every global batch of o.batchSize, the model
/// sums the gradients over the ranks, and rank 0 alone evaluates, prints,
/// and writes metrics and checkpoints, with figures for the whole job.
void train(Model &model, const TrainOptions &o, const RunOptions &r,
           const Checkpoint *resume = nullptr);

} // namespace rnc::run
