// The cuda step's view of a data-parallel job (runtime/rnc_abi.h,
// rnc_collectives), the counterpart of kernels/cpu/collectives.h.
//
// The generated train_step takes one StepComm. Every collective of a step
// runs on one communication stream beside the model's stream (the current
// stream), so all of them are issued to NCCL in one order on every rank
// (two NCCL kernels of one communicator on two streams could run in either
// order and wait for each other across the ranks). sum_async() forks the
// communication stream off the current one (an event), enqueues one
// allreduce_sum there (NCCL's ncclAllReduce through rnc-run's plugin) and
// returns: the kernels enqueued next on the current stream run beside it.
// join() makes the current stream wait for every sum enqueued so far. In a
// graph capture the fork and the join are edges of the step's one CUDA
// graph. sum() is sum_async() then join().
//
// The generated step sums the gradients in buckets (codegen/
// GradientBuckets.cpp): each bucket as soon as the backward pass has
// written its last gradient, so the sums overlap the rest of the backward
// pass; join() before the first update. With no collectives (one process)
// nothing is enqueued and the step is the single-process one. Without a
// communication stream (its creation failed) the sums run on the current
// stream, in order and without overlap. The global batch NG is not summed
// here: the glue sums it on the host before the step (model_abi.cuh), so it
// is a plain kernel argument.
//
// SyncBN (--sync-bn): bn(NG, scratch) is the sync argument of the BN
// launchers (kernels/cuda/batchnorm.cuh), bn_sum() sums the fused path's
// per-channel statistics, and bn_batch() is the batch the statistics run
// over; without sync they do nothing and return N. Their sums queue behind
// the gradient buckets enqueued before them.
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
  // The communication stream and the events that fork it off and join it
  // to the current stream (owned by the glue; null: sums on the current
  // stream).
  cudaStream_t side = nullptr;
  cudaEvent_t fork_event = nullptr, join_event = nullptr;
  mutable bool failed = false;  // an enqueue was refused
  mutable bool pending = false; // sums on `side` the current stream has not joined

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

  // Enqueues the sum of `count` floats of device memory at `data` over the
  // ranks, in place, after the work enqueued so far on the current stream;
  // the current stream does not wait for it (join()).
  void sum_async(float *data, long count) const {
    if (!active() || failed || count <= 0)
      return;
    cudaStream_t stream = current_stream();
    if (side) {
      if (cudaEventRecord(fork_event, stream) != cudaSuccess ||
          cudaStreamWaitEvent(side, fork_event, 0) != cudaSuccess) {
        failed = true;
        return;
      }
      stream = side;
      pending = true;
    }
    failed = c->allreduce_sum(c->ctx, data, int64_t(count),
                              static_cast<void *>(stream)) != 0;
  }

  // The current stream waits for every sum enqueued so far.
  void join() const {
    if (!pending)
      return;
    pending = false;
    if (cudaEventRecord(join_event, side) != cudaSuccess ||
        cudaStreamWaitEvent(current_stream(), join_event, 0) != cudaSuccess)
      failed = true;
  }

  // Sums in place, in stream order: the current stream's next work sees
  // the sum.
  void sum(float *data, long count) const {
    sum_async(data, count);
    join();
  }
};

inline bool BnSync::active() const { return comm->sync_bn(); }
inline void BnSync::operator()(float *sums, int n) const { comm->sum(sums, n); }

} // namespace rnc::cuda
