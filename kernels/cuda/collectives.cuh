// The cuda step's view of a data-parallel job (runtime/rnc_abi.h,
// rnc_collectives), the counterpart of kernels/cpu/collectives.h.
//
// The generated train_step takes one StepComm. sum() enqueues one
// allreduce_sum of a device region on the current stream (NCCL's
// ncclAllReduce through rnc-run's plugin), so the sum is captured into the
// step's CUDA graph like any kernel. With no collectives (one process) it
// enqueues nothing and the step is the single-process one. The global batch
// NG is not summed here: the glue sums it on the host before the step
// (kernels/cuda/model_abi.cuh), so that it is a plain kernel argument.
// One allreduce covers the whole gradient region: NCCL splits a large
// message itself, and more calls only add launches to the graph.
//
// SyncBN (--sync-bn): bn(NG, scratch) is the sync argument of the BN
// launchers (kernels/cuda/batchnorm.cuh), bn_sum() sums the fused path's
// per-channel statistics, and bn_batch() is the batch the statistics run
// over; without sync they do nothing and return N.
#pragma once

#include <cstdint>

#include "runtime/rnc_abi.h"
#include "stream.cuh"

namespace rnc::cuda {

struct StepComm;

// SyncBN as the BN launchers take it: active only in a job of several
// ranks with sync_bn set. `scratch`: 2 x channels floats of device memory
// the backward may overwrite (the model's g_sum and g_sumsq, contiguous).
struct BnSync {
  const StepComm *comm;
  int ng;
  float *scratch_;
  bool active() const;
  void operator()(float *sums, int n) const;
  int batch(int N) const { return active() ? ng : N; }
  float *scratch() const { return scratch_; }
};

struct StepComm {
  const rnc_collectives *c = nullptr; // null: one process
  mutable bool failed = false;        // an enqueue was refused

  bool active() const { return c && c->world > 1; }
  bool sync_bn() const { return active() && c->sync_bn; }
  BnSync bn(int NG, float *scratch) const { return BnSync{this, NG, scratch}; }
  int bn_batch(int N, int NG) const { return sync_bn() ? NG : N; }
  // The per-channel sums of the fused BN statistics, over the ranks under
  // SyncBN.
  void bn_sum(float *sums, long n) const {
    if (sync_bn())
      sum(sums, n);
  }

  // Sums `count` floats of device memory at `data` over the ranks, in place,
  // in stream order.
  void sum(float *data, long count) const {
    if (!active() || failed || count <= 0)
      return;
    failed = c->allreduce_sum(c->ctx, data, int64_t(count),
                              static_cast<void *>(current_stream())) != 0;
  }
};

inline bool BnSync::active() const { return comm->sync_bn(); }
inline void BnSync::operator()(float *sums, int n) const { comm->sum(sums, n); }

} // namespace rnc::cuda
