// The main job: what `rnc-run train` compiles and trains when given no MODEL.so.
// Tune the default model and its hyperparameters here, and only here.
#pragma once

#include "Train.h"

namespace rnc::run {

struct MainJob {
  /// A model name (models/<name>.json) or a spec path.
  const char *model = "fashion_resnet";
  /// Passed to `rnc compile --input`; "" keeps the spec's own input size.
  const char *input = "";
  /// Passed to `rnc compile --max-batch` (raised to --batch-size if larger).
  int maxBatch = 128;
  TrainOptions train = [] {
    TrainOptions t;
    t.epochs = 4;
    t.batchSize = 128;
    t.lr = 0.1f;
    t.momentum = 0.9f;
    t.weightDecay = 5e-4f;
    t.schedule = "cosine";
    t.seed = 0;
    return t;
  }();
};

} // namespace rnc::run
