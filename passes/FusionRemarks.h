// --explain-fusion: one remark per fused op, and one per BN, ReLU, add or
// gradient op a fusion pass left alone, with the reason (the patterns'
// notifyMatchFailure text, through FusionDriver).
#ifndef RNC_PASSES_FUSIONREMARKS_H
#define RNC_PASSES_FUSIONREMARKS_H

#include "dialect/RnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/DenseMap.h"

#include <string>

namespace mlir::rn {

class FusionRemarks {
public:
  /// `immediate`: a skipped op is reported at once ("not fused: why");
  /// otherwise reasons are kept for finish(), which reports every BN, ReLU
  /// and add left in the forward pass.
  FusionRemarks(bool enabled, bool immediate)
      : enabled(enabled), immediate(immediate) {}
  /// Records why `op` was not fused (the first reason counts).
  void skipped(Operation *op, const std::string &why) {
    if (!enabled)
      return;
    if (immediate)
      op->emitRemark() << "not fused: " << why;
    else if (!reasons.count(op))
      reasons[op] = why;
  }
  void fused(Operation *fusedOp, const std::string &what) {
    if (enabled)
      fusedOp->emitRemark() << "fused: " << what;
  }
  bool explaining() const { return enabled; }
  /// Emits a remark for every BN, ReLU and add left in `func`'s forward
  /// part.
  void finish(func::FuncOp func);

private:
  bool enabled, immediate;
  llvm::DenseMap<Operation *, std::string> reasons;
};

} // namespace mlir::rn

#endif // RNC_PASSES_FUSIONREMARKS_H
