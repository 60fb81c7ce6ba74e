// Epilogue functors fused into the stores of conv, linear and batch norm.
#pragma once

#include "common.h"

namespace rnc::cpu {

// Contract: an epilogue is a copyable functor with
//   T operator()(int n, int c, long idx, T v) const
// called exactly once per output element after the kernel's own math (conv:
// after the bias is added), with the image n, channel c (a linear layer's
// output feature) and spatial index idx = oh*OW + ow (0 for rank-2 outputs).
// The returned value is stored. Host-side parameters (pointers, strides) are
// plain members filled in by the caller; operator() only reads them.

struct NoEpilogue {
  template <class T> T operator()(int, int, long, T v) const { return v; }
};

struct ReluEpilogue {
  template <class T> T operator()(int, int, long, T v) const {
    return v > T(0) ? v : T(0);
  }
};

// v * scale[c] + shift[c] (batch norm in eval mode folded into a conv).
template <class T> struct ChannelAffineEpilogue {
  const T *scale;
  const T *shift;
  T operator()(int, int c, long, T v) const { return v * scale[c] + shift[c]; }
};

// v + residual[(n*channels + c)*plane + idx]: a residual block's shortcut.
template <class T> struct ResidualAddEpilogue {
  const T *residual;
  int channels;
  long plane;
  T operator()(int n, int c, long idx, T v) const {
    return v + residual[(long(n) * channels + c) * plane + idx];
  }
};

// v where relu_result[(n*channels + c)*plane + idx] > 0, else 0: the
// gradient of a ReLU given its output (rn.relu_grad as an epilogue).
template <class T> struct ReluMaskEpilogue {
  const T *relu_result;
  int channels;
  long plane;
  T operator()(int n, int c, long idx, T v) const {
    return relu_result[(long(n) * channels + c) * plane + idx] > T(0) ? v
                                                                      : T(0);
  }
};

// second(first(v)), e.g. Compose<ResidualAddEpilogue<float>, ReluEpilogue>.
template <class First, class Second> struct Compose {
  First first;
  Second second;
  template <class T> T operator()(int n, int c, long idx, T v) const {
    return second(n, c, idx, first(n, c, idx, v));
  }
};

// dst[q] = epi(n, c, q, src[q] + bias[c]) for q in [0, len) (no bias
// added when bias is null; dst may be src): one channel's row of a
// convolution's output, where n and c are fixed and the loop vectorizes.
template <class T, class Epi>
void apply_row_epilogue(T *dst, const T *src, long len, int n, int c,
                        const T *bias, const Epi &epi) {
  if (bias == nullptr)
    for (long q = 0; q < len; ++q)
      dst[q] = epi(n, c, q, src[q]);
  else
    for (long q = 0; q < len; ++q)
      dst[q] = epi(n, c, q, src[q] + bias[c]);
}

} // namespace rnc::cpu
