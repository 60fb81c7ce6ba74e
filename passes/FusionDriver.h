// Runs the rewrite patterns of one fusion pass over a function, once per op
// in program order (ops the rewrites create are not revisited, so a fused op
// is never fused again), and turns every pattern's notifyMatchFailure
// reason into a FusionRemarks entry for --explain-fusion.
#ifndef RNC_PASSES_FUSIONDRIVER_H
#define RNC_PASSES_FUSIONDRIVER_H

#include "passes/FusionRemarks.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Rewrite/FrozenRewritePatternSet.h"

namespace mlir::rn {

/// Applies `patterns` to the ops of `func`'s body. A root op no pattern
/// matched is recorded with remarks.skipped(op, reason).
void applyFusionPatterns(func::FuncOp func,
                         const FrozenRewritePatternSet &patterns,
                         FusionRemarks &remarks);

} // namespace mlir::rn

#endif // RNC_PASSES_FUSIONDRIVER_H
