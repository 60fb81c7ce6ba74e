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
#pragma once

#include <cstdint>

#include "runtime/rnc_abi.h"
#include "stream.cuh"

namespace rnc::cuda {

struct StepComm {
  const rnc_collectives *c = nullptr; // null: one process
  mutable bool failed = false;        // an enqueue was refused

  bool active() const { return c && c->world > 1; }

  // Sums `count` floats of device memory at `data` over the ranks, in place,
  // in stream order.
  void sum(float *data, long count) const {
    if (!active() || failed || count <= 0)
      return;
    failed = c->allreduce_sum(c->ctx, data, int64_t(count),
                              static_cast<void *>(current_stream())) != 0;
  }
};

} // namespace rnc::cuda
