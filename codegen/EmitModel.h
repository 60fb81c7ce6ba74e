// Code generation for both targets: translates the final `rn` module
// (@train_step after rnc-attach-optimizer, @eval) into one source file that
// instantiates kernel templates with constant shapes and exports the C ABI
// of runtime/rnc_abi.h.
// - cpu: C++ over kernels/cpu/ (glue kernels/cpu/model_abi.h);
// - cuda: CUDA C++ over kernels/cuda/ (glue kernels/cuda/model_abi.cuh):
//   the same op-by-op calls on device pointers, activations NHWC, every
//   optimizer update in one launch; the glue captures each step as a graph.
#ifndef RNC_CODEGEN_EMITMODEL_H
#define RNC_CODEGEN_EMITMODEL_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace rnc::codegen {

struct ModelMeta {
  std::string name;       // spec name
  std::string rncVersion; // rnc release
  std::string specHash;   // hex SHA-256 of the canonical graph form
  std::string target = "cpu";    // cpu | cuda
  std::string precision = "bf16"; // cuda: fp32 | tf32 | bf16; cpu: fp32 | bf16
  int64_t maxBatch = 128; // largest batch a step accepts
  /// Targets that overlap the gradient sum with the backward pass: the
  /// floats of one bucket (GradientBuckets.h; 1M floats = 4 MiB).
  int64_t bucketFloats = int64_t(1) << 20;
};

/// What the generated code does, for reports and benchmarks.
struct ModelStats {
  int trainKernels = 0;   // kernel calls in one training step
  int evalKernels = 0;    // kernel calls in one eval batch
  int64_t workspaceFloats = 0;
  int64_t stateFloats = 0;
};

/// Writes the C++ translation unit of `module` to `os`. Fails with a
/// diagnostic (on the op) if the module is not in the expected final form:
/// functions @train_step(x, labels, lr, momentum, weight_decay) -> (loss,
/// correct) and @eval(x) -> logits, every activation with a dynamic batch.
mlir::LogicalResult emitModel(mlir::ModuleOp module, const ModelMeta &meta,
                              llvm::raw_ostream &os,
                              ModelStats *stats = nullptr);

} // namespace rnc::codegen

#endif // RNC_CODEGEN_EMITMODEL_H
