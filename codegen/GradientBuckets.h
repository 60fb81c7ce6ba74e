// The sum of the gradients over the ranks, overlapped with the backward pass
// (targets with Target::overlapsGradientSum: cuda). The gradient region of
// the state block (StateLayout: every gradient, contiguous, at its end) is
// cut into buckets of neighbouring gradients; each bucket is summed as soon
// as the backward pass has written its last gradient, while the pass goes
// on (kernels/cuda/collectives.cuh: sum_async on a communication stream),
// and the step waits for the sums (join) before its first update.
//
// The backward pass finishes the gradients roughly from the last layer to
// the first, so a bucket grows while the next gradient to finish is a
// neighbour in the region; it is closed when it reaches `bucketFloats` or
// when the next gradient is not a neighbour. Every float of the region
// (padding included: zeros on every rank) is in exactly one bucket, and
// every rank sums the same buckets in the same order (one program).
#ifndef RNC_CODEGEN_GRADIENTBUCKETS_H
#define RNC_CODEGEN_GRADIENTBUCKETS_H

#include "codegen/StateLayout.h"
#include "dialect/RnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <vector>

namespace rnc::codegen {

struct GradientBucket {
  int64_t offset = 0; // floats of the state block
  int64_t count = 0;
  mlir::Operation *after = nullptr; // summed right after this op's calls
};

struct GradientBuckets {
  /// In the order the step sums them.
  std::vector<GradientBucket> buckets;
  /// The updates whose gradient is not computed into its slot (e.g. one
  /// gradient feeding two updates), by the op that computes it: copied into
  /// the slot right after that op, before its bucket is summed.
  llvm::DenseMap<mlir::Operation *, llvm::SmallVector<mlir::rn::SgdUpdateOp>>
      copiesAfter;
};

/// The buckets of @train_step `step` (empty if it updates nothing).
GradientBuckets planGradientBuckets(mlir::func::FuncOp step,
                                    const StateLayout &state,
                                    int64_t bucketFloats);

} // namespace rnc::codegen

#endif // RNC_CODEGEN_GRADIENTBUCKETS_H
