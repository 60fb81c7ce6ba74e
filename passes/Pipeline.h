// The pass pipelines rnc runs, in one place (rnc compile, rnc-opt).
#ifndef RNC_PASSES_PIPELINE_H
#define RNC_PASSES_PIPELINE_H

#include "mlir/Pass/PassManager.h"

namespace mlir::rn {

/// @forward -> @train_step (loss, gradients, SGD update) and @eval:
/// rnc-build-training-step, rnc-autodiff, rnc-attach-optimizer,
/// rnc-build-inference.
void buildTrainingPipeline(OpPassManager &pm);

/// Registers buildTrainingPipeline as `rnc-training-pipeline` for rnc-opt.
void registerRncPipelines();

} // namespace mlir::rn

#endif // RNC_PASSES_PIPELINE_H
