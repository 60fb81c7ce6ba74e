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

void buildCompilePipeline(OpPassManager &pm,
                          const CompilePipelineOptions &options) {
  buildTrainingPipeline(pm);
  if (options.fusion) {
    // Forward fusions first (they decide which BN statistics come from a
    // conv epilogue), then the backward ones, each reading the last's IR.
    bool explain = options.explainFusion;
    OpPassManager &funcs = pm.nest<func::FuncOp>();
    funcs.addPass(createFuseConvBnTrain({explain}));
    funcs.addPass(createFuseConvBnEval({explain}));
    funcs.addPass(createFuseGradFanIn({explain}));
    funcs.addPass(createFuseReluBnGrad({explain}));
    // The fused pool + BN backward has a cpu kernel only (kernels/cpu/
    // pool_bn_grad.h).
    if (options.target == "cpu")
      funcs.addPass(createFusePoolBnGrad({explain}));
    funcs.addPass(createFuseBnGradReduce({explain}));
  }
  if (options.memoryPlan)
    pm.addPass(createPlanMemory({options.maxBatch}));
}

void registerRncPipelines() {
  PassPipelineRegistration<>(
      "rnc-training-pipeline",
      "@forward -> @train_step (loss, autodiff, SGD) and @eval",
      buildTrainingPipeline);
  PassPipelineRegistration<CompilePipelineOptions>(
      "rnc-compile-pipeline",
      "What `rnc compile` runs: the training pipeline, the fusion passes "
      "and the memory plan",
      buildCompilePipeline);
}

} // namespace mlir::rn
