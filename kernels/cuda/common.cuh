// Shared plumbing of the CUDA kernels: precision selection, index helpers
// and warp/block reductions (the stream and error recording: stream.cuh).
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_runtime.h>

#include "stream.cuh"
#include "kernels/shapes.h"

// Operand precision of the convolution and linear GEMMs (activations stay
// fp32 in memory; operands are converted while staged into shared memory and
// accumulated in fp32):
//   0: fp32, SIMT FMA (no tensor cores)
//   1: tf32 tensor cores (wmma m16n16k8)
//   2: bf16 tensor cores (wmma m16n16k16), the default
#ifndef RNC_CUDA_PRECISION
#define RNC_CUDA_PRECISION 2
#endif
#if RNC_CUDA_PRECISION < 0 || RNC_CUDA_PRECISION > 2
#error "RNC_CUDA_PRECISION must be 0 (fp32), 1 (tf32) or 2 (bf16)"
#endif

namespace rnc::cuda {

namespace detail {

// ----------------------------------------------------------------------------
// Index helpers (host and device, so they can be checked on the host).

__host__ __device__ constexpr long ceil_div(long a, long b) {
  return (a + b - 1) / b;
}
__host__ __device__ constexpr long min_l(long a, long b) {
  return a < b ? a : b;
}
__host__ __device__ constexpr long max_l(long a, long b) {
  return a > b ? a : b;
}

// Blocks the launchers aim for when they split a reduction: enough to fill
// an A100 (108 SMs) or an H100 (132 SMs) several times over. A constant, so
// no launcher queries the device (nothing but enqueues happens under graph
// capture).
inline constexpr long kTargetBlocks = 1024;

// Threads and grid of an elementwise kernel over n items (grid-stride loop).
inline constexpr int kElementThreads = 256;
inline unsigned element_blocks(long n) {
  long b = ceil_div(n > 0 ? n : 1, kElementThreads);
  return unsigned(min_l(b, 65536L));
}

// Read-only load through the texture path on the device; a plain load on
// the host (problem accessors are __host__ __device__ so the host can
// emulate a kernel's index math: test/cuda/igemm_emulation_test.cu).
template <class T> __host__ __device__ __forceinline__ T ldg(const T *p) {
#ifdef __CUDA_ARCH__
  return __ldg(p);
#else
  return *p;
#endif
}

// V consecutive floats: a float4 load or store when V is 4 (p 16-byte
// aligned), else one float. The per-channel passes move channel groups with
// them (channel_rows.cuh).
template <int V>
__host__ __device__ __forceinline__ void load_group(const float *p,
                                                    float (&v)[V]) {
  static_assert(V == 1 || V == 4, "groups of 1 or 4 floats");
  if constexpr (V == 4) {
    const float4 t = *reinterpret_cast<const float4 *>(p);
    v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
  } else {
    v[0] = *p;
  }
}
template <int V>
__host__ __device__ __forceinline__ void store_group(float *p,
                                                     const float (&v)[V]) {
  static_assert(V == 1 || V == 4, "groups of 1 or 4 floats");
  if constexpr (V == 4)
    *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
  else
    *p = v[0];
}

// ----------------------------------------------------------------------------
// Reductions.

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ int warp_sum(int v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// A value as a type. nvcc cannot generate host stubs for __global__
// templates whose template argument is an object of class type (a shape
// struct): kernels take the shape wrapped in a type instead, e.g.
// kernel<ShapeOf<S>>, and read it back as Shape::value.
template <auto V> struct ShapeOf { static constexpr auto value = V; };

} // namespace detail

// Every kernel computes in float: T is accepted only for source
// compatibility with the CPU library's signatures (`<S, float>`).
#define RNC_CUDA_FLOAT_ONLY(T, name)                                           \
  static_assert(std::is_same_v<T, float>,                                      \
                "rnc::cuda::" name ": only float is supported")

} // namespace rnc::cuda
