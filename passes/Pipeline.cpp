// The pass pipelines rnc runs (Pipeline.h).
#include "passes/Pipeline.h"

#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"

namespace mlir::rn {

void buildTrainingPipeline(OpPassManager &pm) {
  pm.addPass(createBuildTrainingStep());
  pm.addPass(createAutodiff());
  pm.addPass(createAttachOptimizer());
  pm.addPass(createBuildInference());
}

void registerRncPipelines() {
  PassPipelineRegistration<>(
      "rnc-training-pipeline",
      "@forward -> @train_step (loss, autodiff, SGD) and @eval",
      buildTrainingPipeline);
}

} // namespace mlir::rn
