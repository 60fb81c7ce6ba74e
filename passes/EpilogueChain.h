// The `[-> add residual] [-> relu]` tail the conv + BN fusions absorb into
// an epilogue; shared by rnc-fuse-conv-bn-train and rnc-fuse-conv-bn-eval.
#ifndef RNC_PASSES_EPILOGUECHAIN_H
#define RNC_PASSES_EPILOGUECHAIN_H

#include "dialect/RnOps.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::rn {

struct EpilogueChain {
  AddOp add;      // null if no add is absorbed
  Value residual; // the add's other operand
  ReluOp relu;    // null if no ReLU is absorbed
  Operation *head = nullptr; // the op whose result starts the chain
  /// The last op absorbed (where the fused op goes).
  Operation *last() const {
    if (relu)
      return relu->getOpResult(0).getOwner();
    if (add)
      return add->getOpResult(0).getOwner();
    return head;
  }
  /// The value the fused op replaces.
  Value out() const { return last()->getResult(0); }
  /// "add + relu", "relu", "add" or "": what the epilogue does.
  std::string describe() const;
  /// Why the chain stops where it does, for --explain-fusion ("" if it
  /// absorbed both an add and a ReLU).
  std::string stopReason;
};

class FusionRemarks;

/// Finishes a fusion: `fusedOut` replaces the chain's output, users of it
/// that are a ReLU or an add get a "kept" remark, and the absorbed ops
/// (`c`'s add and ReLU, then `bn` and `conv`) are erased through `rewriter`.
void replaceChain(RewriterBase &rewriter, const EpilogueChain &c,
                  Value fusedOut, Operation *bn, Operation *conv,
                  FusionRemarks &remarks);

/// Follows `value` (a BN output, result 0 of `head`) through an add and a
/// ReLU, absorbing each only if the value before it has that op as its only
/// user.
EpilogueChain matchEpilogue(Operation *head, Value value);

} // namespace mlir::rn

#endif // RNC_PASSES_EPILOGUECHAIN_H
