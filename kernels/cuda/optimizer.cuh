// SGD with momentum and weight decay (PyTorch semantics), every parameter
// tensor of a model in one launch.
#pragma once

#include "common.cuh"

namespace rnc::cuda {

// One parameter tensor of the state block S: offsets (in floats from S) of
// the parameter, its momentum buffer and its gradient, and its size.
struct SgdTensor {
  long param, momentum, grad, numel;
};

template <int Count> struct SgdTable { SgdTensor t[Count]; };

namespace detail {

// Blocks of 256 threads, each thread stepping up to 8 elements of one tensor.
inline constexpr int kSgdThreads = 256;
inline constexpr long kSgdPerBlock = 8L * kSgdThreads;
// Tensors per launch: 36 bytes of kernel parameters each (CUDA 12.1+ allows
// 32,764 bytes of parameters on Volta and newer; 768 * 36 + 16 = 27,664).
inline constexpr int kSgdChunk = 768;

// The table plus the first block of every tensor: tensor i owns blocks
// [first_block[i], first_block[i + 1]).
template <int Count> struct SgdLaunchTable {
  SgdTensor t[Count];
  int first_block[Count + 1];
};

// The PyTorch update of element i (dampening 0, no Nesterov):
//   g = grad + weight_decay * param
//   buf = momentum * buf + g        (buf starts at 0: the first step sets g)
//   param -= lr * buf
__device__ __forceinline__ void sgd_update_element(float *param, float *buf,
                                                   const float *grad, long i,
                                                   float lr, float momentum,
                                                   float decay) {
  const float g = grad[i] + decay * param[i];
  const float b = momentum * buf[i] + g;
  buf[i] = b;
  param[i] -= lr * b;
}

// ----------------------------------------------------------------------------
// Kernels

// hyper = {lr, momentum, weight_decay} is read from device memory at run
// time, so a replayed CUDA graph sees the values of the current step.
template <int Count>
__global__ void __launch_bounds__(kSgdThreads)
    sgd_step_all_kernel(float *S,
                        const __grid_constant__ SgdLaunchTable<Count> table,
                        const float *hyper) {
  const int b = int(blockIdx.x);
  // The tensor owning block b: the last i with first_block[i] <= b.
  int lo = 0, hi = Count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (table.first_block[mid] <= b)
      lo = mid;
    else
      hi = mid - 1;
  }
  const SgdTensor &t = table.t[lo];
  const float lr = hyper[0], momentum = hyper[1], decay = hyper[2];
  const long base = long(b - table.first_block[lo]) * kSgdPerBlock;
  const long end = min_l(t.numel, base + kSgdPerBlock);
  for (long i = base + threadIdx.x; i < end; i += kSgdThreads)
    sgd_update_element(S + t.param, S + t.momentum, S + t.grad, i, lr, momentum,
                       decay);
}

template <class T>
__global__ void sgd_step_kernel(T *param, T *buf, const T *grad, long n,
                                float lr, float momentum, float decay) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    sgd_update_element(param, buf, grad, i, lr, momentum, decay);
}

} // namespace detail

// ----------------------------------------------------------------------------
// Launchers

// Steps every tensor of `table` (offsets into the state block S) in one
// launch (one per 768 tensors beyond that). hyper: device pointer to
// {lr, momentum, weight_decay}.
template <int Count>
void sgd_update_all(float *S, const SgdTable<Count> &table,
                    const float *hyper) {
  static_assert(Count > 0, "rnc::cuda::sgd_update_all: empty table");
  if (!detail::check_args(S && hyper))
    return;
  constexpr int kPer = Count < detail::kSgdChunk ? Count : detail::kSgdChunk;
  for (int first = 0; first < Count; first += kPer) {
    detail::SgdLaunchTable<kPer> launch{};
    long blocks = 0;
    for (int i = 0; i < kPer; ++i) {
      const bool real = first + i < Count;
      launch.t[i] = real ? table.t[first + i] : SgdTensor{0, 0, 0, 0};
      launch.first_block[i] = int(blocks);
      blocks += detail::ceil_div(launch.t[i].numel, detail::kSgdPerBlock);
    }
    launch.first_block[kPer] = int(blocks);
    if (!detail::check_args(blocks < (1L << 31)))
      return;
    if (blocks == 0)
      continue;
    detail::sgd_step_all_kernel<kPer>
        <<<unsigned(blocks), detail::kSgdThreads, 0, current_stream()>>>(
            S, launch, hyper);
    detail::after_launch();
  }
}

// One tensor with host scalars (the CPU library's signature): the values are
// baked into a captured graph.
template <class T = float>
void sgd_update(T *param, T *momentum_buf, const T *grad, long n,
                std::type_identity_t<T> lr, std::type_identity_t<T> momentum,
                std::type_identity_t<T> weight_decay) {
  RNC_CUDA_FLOAT_ONLY(T, "sgd_update");
  if (n <= 0 || !detail::check_args(param && momentum_buf && grad))
    return;
  detail::sgd_step_kernel<T><<<detail::element_blocks(n),
                               detail::kElementThreads, 0, current_stream()>>>(
      param, momentum_buf, grad, n, lr, momentum, weight_decay);
  detail::after_launch();
}

} // namespace rnc::cuda
