// --explain-fusion: one remark per fused op, and one per BN, ReLU and add
// a fusion pass left alone, with the reason.
#ifndef RNC_PASSES_FUSIONREMARKS_H
#define RNC_PASSES_FUSIONREMARKS_H

#include "dialect/RnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/DenseMap.h"

#include <string>

namespace mlir::rn {

class FusionRemarks {
public:
  explicit FusionRemarks(bool enabled) : enabled(enabled) {}
  /// Records why `op` (a BN, ReLU or add) was not fused.
  void skipped(Operation *op, const std::string &why) {
    if (enabled && !reasons.count(op))
      reasons[op] = why;
  }
  void fused(Operation *fusedOp, const std::string &what) {
    if (enabled)
      fusedOp->emitRemark() << "fused: " << what;
  }
  /// Emits a remark for every BN, ReLU and add left in `func`.
  void finish(func::FuncOp func);

private:
  bool enabled;
  llvm::DenseMap<Operation *, std::string> reasons;
};

} // namespace mlir::rn

#endif // RNC_PASSES_FUSIONREMARKS_H
