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

struct StepComm;

// SyncBN as the batch-norm kernels take it (kernels/cpu/batchnorm.h,
// NoSync): active only in a job of several ranks with sync_bn set.
struct BnSync {
  const StepComm *comm;
  bool active() const;
  template <class T> void operator()(T *sums, int n) const;
  int batch(int N) const;
};

struct StepComm {
  const rnc_collectives *c = nullptr; // null: one process
  mutable bool failed = false;
  mutable int ng = 0; // the global batch, once global_batch() ran

  bool active() const { return c && c->world > 1; }
  bool sync_bn() const { return active() && c->sync_bn; }
  BnSync bn() const { return BnSync{this}; }
  // The batch the BN statistics run over: NG under SyncBN, else N.
  int bn_batch(int N) const { return sync_bn() ? ng : N; }
  // The per-channel sums of the fused BN statistics, summed over the ranks
  // under SyncBN.
  void bn_sum(float *sums, long n) const {
    if (sync_bn())
      sum(sums, n);
  }

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
    ng = N;
    if (!active())
      return N;
    float n = float(N);
    sum(&n, 1);
    ng = failed ? N : int(n);
    return ng;
  }
};

inline bool BnSync::active() const { return comm->sync_bn(); }
template <class T> void BnSync::operator()(T *sums, int n) const {
  static_assert(sizeof(T) == sizeof(float), "SyncBN sums are float");
  comm->sum(sums, n);
}
inline int BnSync::batch(int N) const { return comm->bn_batch(N); }

} // namespace rnc::cpu
