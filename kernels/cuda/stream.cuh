// The stream every rnc::cuda launcher enqueues on, the three scratch buffers
// of the kernels (weight copies, the convolutions' partial sums, the channel
// sums' block partials) and the record of launch errors: host code only, so
// the ABI glue (model_abi.cuh) and its host tests use it without the kernels.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace rnc::cuda {

// ----------------------------------------------------------------------------
// The stream every launcher enqueues on (default: the legacy stream 0). The
// glue sets it once, e.g. to the stream it captures a CUDA graph from.

inline cudaStream_t &current_stream() {
  static cudaStream_t stream = nullptr;
  return stream;
}

inline void set_stream(cudaStream_t stream) { current_stream() = stream; }

// ----------------------------------------------------------------------------
// The kernels' scratch buffers: device memory the glue gives once, with the
// stream (model_abi.cuh's bind_scratch), each reused by every launcher that
// needs it in stream order.

struct DeviceScratch {
  float *data = nullptr;
  long floats = 0;
};

enum class Scratch { kWeights, kSplit, kReduce };

template <Scratch Which> DeviceScratch &scratch_buffer() {
  static DeviceScratch scratch;
  return scratch;
}
template <Scratch Which> void set_scratch_buffer(float *data, long floats) {
  scratch_buffer<Which>() = DeviceScratch{data, data ? floats : 0};
}

// The device buffer the convolutions with more than one tap copy their
// weights into before each GEMM, channels innermost (KRSC, conv.cuh's
// krsc_weights), so that the GEMMs load them as float4. It must hold the
// largest such weight. Unset, those launchers record cudaErrorInvalidValue
// and skip.
inline DeviceScratch &weight_scratch() {
  return scratch_buffer<Scratch::kWeights>();
}
inline void set_weight_scratch(float *data, long floats) {
  set_scratch_buffer<Scratch::kWeights>(data, floats);
}

// The device buffer of the convolutions' partial sums, summed afterwards in
// a fixed order (no atomics, the same bits every run): a weight gradient
// split over K writes one weight per split (conv2d_grad_weight; the split
// count is capped to what fits, and without the buffer a weight gradient
// runs unsplit: right, but one block per tile), and a GEMM with BN
// statistics one row of column sums per block (conv2d_bn_train_stats,
// conv2d_grad_input_bn_reduce: they need stat_partial_floats(S, N) floats,
// conv.cuh, and without them record cudaErrorInvalidValue and skip). The
// glue gives kSplitScratchFloats, twice the largest split x weight the
// weight gradients ask for (kTargetBlocks tiles of 64 x 64), or the largest
// stat_partial_floats of its convolutions at its largest batch if that is
// more (ResNet-50 at batch 256: 3.2 M floats).
inline constexpr long kSplitScratchFloats = 8L << 20;

inline DeviceScratch &split_scratch() {
  return scratch_buffer<Scratch::kSplit>();
}
inline void set_split_scratch(float *data, long floats) {
  set_scratch_buffer<Scratch::kSplit>(data, floats);
}

// The device buffer of the channel sums' block partial sums (reduce.cuh,
// summed in block order: BN statistics and backward sums, bias gradients,
// the convolutions' statistics). kReduceScratchFloats holds any sum's; a
// sum of more than one block of rows without it records
// cudaErrorInvalidValue and skips.
inline constexpr long kReduceScratchFloats = 64L << 10;

inline DeviceScratch &reduce_scratch() {
  return scratch_buffer<Scratch::kReduce>();
}
inline void set_reduce_scratch(float *data, long floats) {
  set_scratch_buffer<Scratch::kReduce>(data, floats);
}

// ----------------------------------------------------------------------------
// Errors. Launchers never abort and never synchronize: a bad argument (N <= 0,
// a null pointer, a misaligned pointer where a kernel loads float4) skips the
// launch and is recorded; a failed launch is recorded too. The first error
// since the last call is returned (and cleared) by last_launch_error(), which
// also clears the runtime's own last error.

namespace detail {

inline cudaError_t &recorded_error() {
  static cudaError_t error = cudaSuccess;
  return error;
}

inline void record(cudaError_t e) {
  if (e != cudaSuccess && recorded_error() == cudaSuccess)
    recorded_error() = e;
}

// After every kernel launch: a launch error stays visible to
// cudaGetLastError() as well (peek does not clear it).
inline void after_launch() { record(cudaPeekAtLastError()); }

// Argument check of a launcher; false (and recorded) when it fails.
inline bool check_args(bool ok) {
  if (!ok)
    record(cudaErrorInvalidValue);
  return ok;
}

inline bool aligned16(const void *p) {
  return (reinterpret_cast<std::uintptr_t>(p) & 15) == 0;
}

// Pointers a kernel reads or writes as float4 must be 16-byte aligned (every
// tensor of the state block and the workspace is 64-byte aligned).
inline bool check_aligned(bool ok) {
  if (!ok)
    record(cudaErrorMisalignedAddress);
  return ok;
}

} // namespace detail

inline cudaError_t last_launch_error() {
  cudaError_t mine = detail::recorded_error();
  detail::recorded_error() = cudaSuccess;
  cudaError_t runtime = cudaGetLastError();
  return mine != cudaSuccess ? mine : runtime;
}

} // namespace rnc::cuda
