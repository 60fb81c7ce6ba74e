// The step's view of a data-parallel job (runtime/rnc_abi.h, rnc_collectives).
//
// The generated train_step takes one StepComm. With no collectives (one
// process) global_batch(N) is N and sum() does nothing, so the step runs
// exactly the arithmetic of a single process. With collectives, global_batch
// sums the local batch sizes over the ranks and sum() adds a float region
// over the ranks in place, in buckets; a failed call is remembered, and the
// glue reports it after the step.
#pragma once

#include <cstdint>

#include "runtime/rnc_abi.h"

namespace rnc::cpu {

struct StepComm {
  const rnc_collectives *c = nullptr; // null: one process
  mutable bool failed = false;

  bool active() const { return c && c->world > 1; }

  // Sums `count` floats at `data` over the ranks, in buckets of at most
  // kBucketFloats (4 MiB) so that a large model does not ask the transport
  // for one huge message.
  void sum(float *data, long count) const {
    if (!active() || failed)
      return;
    constexpr long kBucketFloats = long(1) << 20;
    for (long at = 0; at < count && !failed; at += kBucketFloats) {
      long n = count - at < kBucketFloats ? count - at : kBucketFloats;
      failed = c->allreduce_sum(c->ctx, data + at, int64_t(n), nullptr) != 0;
    }
  }

  // The global batch of this step: the sum over the ranks of their N. Exact
  // as a float sum (integers below 2^24).
  int global_batch(int N) const {
    if (!active())
      return N;
    float n = float(N);
    sum(&n, 1);
    return failed ? N : int(n);
  }
};

} // namespace rnc::cpu
