// What a compiled model owns: the table of named state tensors (parameters,
// BN buffers, optimizer state, gradients) and where each lives in one state
// block. Shared by every target's code generator.
#ifndef RNC_CODEGEN_STATELAYOUT_H
#define RNC_CODEGEN_STATELAYOUT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace rnc::codegen {

/// Matches enum rnc_tensor_kind in runtime/rnc_abi.h.
enum class TensorKind { Param = 0, Buffer = 1, Optimizer = 2, Gradient = 3 };

struct StateTensor {
  std::string name;
  TensorKind kind;
  llvm::SmallVector<int64_t, 4> shape;
  int64_t numel = 0;
  int64_t offset = 0;   // in floats, from the start of the state block
  std::string init;     // rn.param init rule ("" for gradients)
  int64_t fanIn = 0;    // PyTorch's fans, for the init rule
  int64_t fanOut = 0;
};

struct StateLayout {
  std::vector<StateTensor> tensors; // ABI order: params and buffers as they
                                    // appear, then optimizer, then gradients
  llvm::StringMap<unsigned> index;  // name -> position in `tensors`
  int64_t totalFloats = 0;

  const StateTensor *lookup(llvm::StringRef name) const {
    auto it = index.find(name);
    return it == index.end() ? nullptr : &tensors[it->second];
  }
};

/// Collects every rn.param of the module's functions (one entry per name;
/// the same name must have the same type everywhere) and a gradient
/// "<param>.grad" for each parameter an rn.sgd_update steps. Offsets are
/// 64-byte aligned. Fails with a diagnostic on the offending op.
mlir::FailureOr<StateLayout> planState(mlir::ModuleOp module);

} // namespace rnc::codegen

#endif // RNC_CODEGEN_STATELAYOUT_H
