// The pass pipelines rnc runs, in one place: `rnc compile` builds exactly
// what `rnc-opt --rnc-compile-pipeline` runs, so every stage of a compile can
// be reproduced and bisected with rnc-opt.
#ifndef RNC_PASSES_PIPELINE_H
#define RNC_PASSES_PIPELINE_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir::rn {

/// @forward -> @train_step (loss, gradients, SGD update) and @eval:
/// rnc-build-training-step, rnc-autodiff, rnc-attach-optimizer,
/// rnc-build-inference.
void buildTrainingPipeline(OpPassManager &pm);

/// The options of the whole compile pipeline (the `rnc compile` flags that
/// change the IR).
struct CompilePipelineOptions
    : public PassPipelineOptions<CompilePipelineOptions> {
  Option<bool> fusion{*this, "fusion",
                      llvm::cl::desc("Run the fusion passes"),
                      llvm::cl::init(true)};
  Option<bool> explainFusion{
      *this, "explain-fusion",
      llvm::cl::desc("Remark on every fused kernel and every BN, ReLU and "
                     "add left alone"),
      llvm::cl::init(false)};
  Option<bool> memoryPlan{*this, "memory-plan",
                          llvm::cl::desc("Run rnc-plan-memory"),
                          llvm::cl::init(true)};
  Option<std::string> target{
      *this, "target",
      llvm::cl::desc("The code-generation target (cpu or cuda): fusions "
                     "whose kernel only one target has run for it alone"),
      llvm::cl::init("cpu")};
  Option<int64_t> maxBatch{
      *this, "max-batch",
      llvm::cl::desc("Largest batch a step accepts (sizes the memory plan)"),
      llvm::cl::init(128)};
};

/// @forward -> the final IR code generation takes: the training pipeline,
/// then (if enabled) the fusion passes, then the memory plan.
void buildCompilePipeline(OpPassManager &pm,
                          const CompilePipelineOptions &options);

/// Registers `rnc-training-pipeline` and `rnc-compile-pipeline` for rnc-opt.
void registerRncPipelines();

} // namespace mlir::rn

#endif // RNC_PASSES_PIPELINE_H
