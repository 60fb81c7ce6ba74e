// The CPU target: translates the final `rn` module (@train_step after
// rnc-attach-optimizer, @eval) into one C++ file that instantiates the
// kernel templates of codegen/cpu/ with constant shapes and exports the C ABI
// of runtime/rnc_abi.h (through codegen/cpu/model_abi.h).
#ifndef RNC_CODEGEN_EMITCPU_H
#define RNC_CODEGEN_EMITCPU_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace rnc::codegen {

struct ModelMeta {
  std::string name;       // spec name
  std::string rncVersion; // rnc release
  std::string specHash;   // hex SHA-256 of the canonical graph form
  std::string target = "cpu";
  int64_t maxBatch = 128; // largest batch a step accepts
};

/// What the generated code does, for reports and benchmarks.
struct CpuModelStats {
  int trainKernels = 0;   // kernel calls in one training step
  int evalKernels = 0;    // kernel calls in one eval batch
  int64_t workspaceFloats = 0;
  int64_t stateFloats = 0;
};

/// Writes the C++ translation unit of `module` to `os`. Fails with a
/// diagnostic (on the op) if the module is not in the expected final form:
/// functions @train_step(x, labels, lr, momentum, weight_decay) -> (loss,
/// correct) and @eval(x) -> logits, every activation with a dynamic batch.
mlir::LogicalResult emitCpuModel(mlir::ModuleOp module, const ModelMeta &meta,
                                 llvm::raw_ostream &os,
                                 CpuModelStats *stats = nullptr);

} // namespace rnc::codegen

#endif // RNC_CODEGEN_EMITCPU_H
