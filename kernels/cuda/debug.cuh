// Op-by-op debugging and profiling of a generated CUDA model: with
// RNC_CUDA_SYNC=1 (or RNC_PROFILE=1) the glue runs a step without graph
// capture, and the scope the generated code opens around each op's launches
// synchronizes the stream before and after them, keeps the first error with
// the op it happened in, and (RNC_PROFILE) adds the op's wall time.
//
// The generated code names the scope `OpTimer`, as on the CPU target
// (kernels/cpu/profile.h): `{ OpTimer timer_(7); conv2d<...>(...); }`
// with kOpNames[7] = "rn.conv2d (layer1.0.conv1)". Off (the default, and
// always while a graph is captured) the scope does nothing.
#pragma once

#include <chrono>

#include <cuda_runtime.h>

#include "stream.cuh"

namespace rnc::cuda {

struct OpDebug {
  bool sync = false;    // RNC_CUDA_SYNC: synchronize and check around each op
  bool profile = false; // RNC_PROFILE: time each op (synchronized as well)
  // The first failure of the current step: the index (into kOpNames) of the
  // op it was found at, whether it was already pending when that op began
  // (then it came from the code before it: the batch upload, a copy), and
  // the error. failed_op < 0: none.
  int failed_op = -1;
  bool before = false;
  cudaError_t error = cudaSuccess;

  bool on() const { return sync || profile; }
  void reset() {
    failed_op = -1;
    before = false;
    error = cudaSuccess;
  }
};

// One per model .so (the generated code has hidden visibility).
inline OpDebug &op_debug() {
  static OpDebug d;
  return d;
}

namespace detail {

// Waits for the current stream; the first of: a launcher that refused its
// arguments or failed to launch, a kernel that faulted.
inline cudaError_t settle() {
  cudaError_t synced = cudaStreamSynchronize(current_stream());
  cudaError_t launched = last_launch_error();
  return launched != cudaSuccess ? launched : synced;
}

inline void note_failure(int op, bool before, cudaError_t e) {
  OpDebug &d = op_debug();
  if (e == cudaSuccess || d.failed_op >= 0)
    return;
  d.failed_op = op;
  d.before = before;
  d.error = e;
}

} // namespace detail

template <double *Seconds, long *Calls> class OpTimer {
public:
  explicit OpTimer(int index) : index_(index) {
    if (!op_debug().on())
      return;
    detail::note_failure(index_, /*before=*/true, detail::settle());
    start_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    OpDebug &d = op_debug();
    if (!d.on())
      return;
    detail::note_failure(index_, /*before=*/false, detail::settle());
    if (!d.profile)
      return;
    Seconds[index_] += std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start_)
                           .count();
    ++Calls[index_];
  }
  OpTimer(const OpTimer &) = delete;
  OpTimer &operator=(const OpTimer &) = delete;

private:
  int index_;
  std::chrono::steady_clock::time_point start_;
};

} // namespace rnc::cuda
