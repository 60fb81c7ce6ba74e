// The fusion passes' pattern driver (FusionDriver.h).
#include "passes/FusionDriver.h"

#include "mlir/Rewrite/PatternApplicator.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::rn {

namespace {

/// A rewriter that remembers erased ops and the last match-failure reason.
class FusionRewriter final : public PatternRewriter,
                             public RewriterBase::Listener {
public:
  explicit FusionRewriter(MLIRContext *ctx) : PatternRewriter(ctx) {
    setListener(this);
  }
  llvm::DenseSet<Operation *> erased;
  std::string reason;

  void notifyOperationErased(Operation *op) override { erased.insert(op); }
  void notifyMatchFailure(
      Location, function_ref<void(Diagnostic &)> reasonCallback) override {
    Diagnostic diag(UnknownLoc::get(getContext()), DiagnosticSeverity::Remark);
    reasonCallback(diag);
    reason = diag.str();
  }
};

} // namespace

void applyFusionPatterns(func::FuncOp func,
                         const FrozenRewritePatternSet &patterns,
                         FusionRemarks &remarks) {
  PatternApplicator applicator(patterns);
  applicator.applyDefaultCostModel();
  FusionRewriter rewriter(func.getContext());
  SmallVector<Operation *> ops;
  for (Operation &op : func.getBody().front())
    ops.push_back(&op);
  for (Operation *op : ops) {
    if (rewriter.erased.contains(op))
      continue;
    rewriter.reason.clear();
    rewriter.setInsertionPoint(op);
    if (failed(applicator.matchAndRewrite(op, rewriter)) &&
        !rewriter.reason.empty())
      remarks.skipped(op, rewriter.reason);
  }
}

} // namespace mlir::rn
