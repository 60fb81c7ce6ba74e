// Runs the rewrite patterns of one fusion pass over a function, once per op
// in program order (ops the rewrites create are not revisited, so a fused op
// is never fused again), and turns every pattern's notifyMatchFailure
// reason into a FusionRemarks entry for --explain-fusion.
#ifndef RNC_PASSES_FUSIONDRIVER_H
#define RNC_PASSES_FUSIONDRIVER_H

#include "dialect/FunctionRoles.h"
#include "passes/FusionRemarks.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Rewrite/FrozenRewritePatternSet.h"

namespace mlir::rn {

/// Applies `patterns` to the ops of `func`'s body. A root op no pattern
/// matched is recorded with remarks.skipped(op, reason).
void applyFusionPatterns(func::FuncOp func,
                         const FrozenRewritePatternSet &patterns,
                         FusionRemarks &remarks);

/// A fusion pass's runOnOperation: `Pattern`, constructed with (context,
/// remarks), over `func` if it has `role` and a body. Backward passes remark
/// as they go (`immediate`); forward ones at the end (FusionRemarks::finish,
/// which also names the ops left unfused).
template <class Pattern>
void runFusionPass(func::FuncOp func, FunctionRole role, bool explain,
                   bool immediate) {
  if (!hasRole(func, role) || func.isExternal())
    return;
  FusionRemarks remarks(explain, immediate);
  RewritePatternSet patterns(func.getContext());
  patterns.add<Pattern>(func.getContext(), remarks);
  applyFusionPatterns(func, FrozenRewritePatternSet(std::move(patterns)),
                      remarks);
  if (!immediate)
    remarks.finish(func);
}

} // namespace mlir::rn

#endif // RNC_PASSES_FUSIONDRIVER_H
