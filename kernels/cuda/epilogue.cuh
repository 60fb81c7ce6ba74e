// Epilogue functors fused into the stores of conv, linear and batch norm
// (the CUDA twins of kernels/cpu/epilogue.h, indexing NHWC).
#pragma once

#include <type_traits>

#include "common.cuh"

namespace rnc::cuda {

// Contract (as on the CPU): an epilogue is a trivially copyable aggregate
// with
//   T operator()(int n, int c, long idx, T v) const   (__host__ __device__)
// called exactly once per output element after the kernel's own math (conv,
// linear: after the bias), with image n, channel c (a linear layer's output
// feature) and spatial index idx = oh*OW + ow (0 for rank-2 outputs). The
// returned value is stored. Activations are NHWC: element (n, c, idx) of a
// tensor with `channels` channels and `plane` = H*W positions is at
//   (n*plane + idx)*channels + c.
// Epilogues are passed to kernels by value; their pointers are device
// pointers.

struct NoEpilogue {
  template <class T>
  __host__ __device__ T operator()(int, int, long, T v) const {
    return v;
  }
};

struct ReluEpilogue {
  template <class T>
  __host__ __device__ T operator()(int, int, long, T v) const {
    return v > T(0) ? v : T(0);
  }
};

// v * scale[c] + shift[c] (batch norm in eval mode folded into a conv).
template <class T> struct ChannelAffineEpilogue {
  const T *scale;
  const T *shift;
  __host__ __device__ T operator()(int, int c, long, T v) const {
    return v * scale[c] + shift[c];
  }
};

// v + residual[(n*plane + idx)*channels + c]: a residual block's shortcut.
template <class T> struct ResidualAddEpilogue {
  const T *residual;
  int channels;
  long plane;
  __host__ __device__ T operator()(int n, int c, long idx, T v) const {
    return v + residual[(long(n) * plane + idx) * channels + c];
  }
  template <int V>
  __host__ __device__ void group(int n, int c, long idx, float (&v)[V]) const {
    float r[V];
    detail::load_group<V>(residual + (long(n) * plane + idx) * channels + c, r);
#pragma unroll
    for (int i = 0; i < V; ++i)
      v[i] = v[i] + r[i];
  }
  bool vector_ok() const {
    return channels % 4 == 0 && detail::aligned16(residual);
  }
};

// v where relu_result[(n*plane + idx)*channels + c] > 0, else 0: the gradient
// of a ReLU given its output (rn.relu_grad as an epilogue).
template <class T> struct ReluMaskEpilogue {
  const T *relu_result;
  int channels;
  long plane;
  __host__ __device__ T operator()(int n, int c, long idx, T v) const {
    return relu_result[(long(n) * plane + idx) * channels + c] > T(0) ? v
                                                                      : T(0);
  }
  template <int V>
  __host__ __device__ void group(int n, int c, long idx, float (&v)[V]) const {
    float r[V];
    detail::load_group<V>(relu_result + (long(n) * plane + idx) * channels + c,
                          r);
#pragma unroll
    for (int i = 0; i < V; ++i)
      v[i] = r[i] > 0.0f ? v[i] : 0.0f;
  }
  bool vector_ok() const {
    return channels % 4 == 0 && detail::aligned16(relu_result);
  }
};

// second(first(v)).
template <class First, class Second> struct Compose {
  First first;
  Second second;
  template <class T>
  __host__ __device__ T operator()(int n, int c, long idx, T v) const {
    return second(n, c, idx, first(n, c, idx, v));
  }
};

// The epilogue on the V channels [c, c + V) of one position, in place: one
// vector load of the operand where the epilogue has a `group<V>` member
// (ResidualAdd, ReluMask), else V calls of operator(). Same values as the
// scalar calls.
template <int V, class E>
__host__ __device__ __forceinline__ void
apply_epilogue_group(const E &epi, int n, int c, long idx, float (&v)[V]) {
  if constexpr (requires { epi.template group<V>(n, c, idx, v); }) {
    epi.template group<V>(n, c, idx, v);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i)
      v[i] = epi(n, c + i, idx, v[i]);
  }
}
template <int V, class First, class Second>
__host__ __device__ __forceinline__ void
apply_epilogue_group(const Compose<First, Second> &epi, int n, int c, long idx,
                     float (&v)[V]) {
  apply_epilogue_group<V>(epi.first, n, c, idx, v);
  apply_epilogue_group<V>(epi.second, n, c, idx, v);
}

// Whether an epilogue's operands allow 4-float groups (16-byte aligned, a
// channel count divisible by 4): its `vector_ok()` where it has one (a
// Compose: both parts'), else true.
template <class E> bool epilogue_vector_ok(const E &epi) {
  if constexpr (requires { epi.vector_ok(); })
    return epi.vector_ok();
  else
    return true;
}
template <class First, class Second>
bool epilogue_vector_ok(const Compose<First, Second> &epi) {
  return epilogue_vector_ok(epi.first) && epilogue_vector_ok(epi.second);
}

// C++20 deduces aggregates without it; spelled out so
// `Compose{ResidualAddEpilogue<float>{...}, ReluMaskEpilogue<float>{...}}`
// also works where a front end lacks aggregate deduction.
template <class First, class Second>
Compose(First, Second) -> Compose<First, Second>;

template <class E>
inline constexpr bool is_no_epilogue_v = std::is_same_v<E, NoEpilogue>;

} // namespace rnc::cuda
