// Linear layer y = x W^T + b as the 1x1 convolution of a 1x1 image: the same
// implicit GEMMs (x [N, in] is NHWC [N, 1, 1, in]; w [out, in] is KCRS
// [out, in, 1, 1]).
#pragma once

#include "common.cuh"
#include "conv.cuh"
#include "epilogue.cuh"
#include "reduce.cuh"

namespace rnc::cuda {

namespace detail {

constexpr Conv2DShape linear_as_conv(LinearShape s) {
  return Conv2DShape{.in_channels = s.in_features,
                     .out_channels = s.out_features,
                     .in_h = 1,
                     .in_w = 1};
}

} // namespace detail

// ----------------------------------------------------------------------------
// Launchers

// y [N, out] = x [N, in] w[out, in]^T + b (b may be null), then
// epi(n, o, 0, v) on every output.
template <LinearShape S, class T = float, class Epilogue = NoEpilogue>
void linear(T *y, const T *x, const T *w, const std::type_identity_t<T> *b,
            int N, const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cuda::linear: invalid LinearShape");
  constexpr Conv2DShape kConv = detail::linear_as_conv(S);
  conv2d<kConv, T>(y, x, w, b, N, epi);
}

// dx [N, in] = dy [N, out] w [out, in]. Writes dx.
template <LinearShape S, class T = float>
void linear_grad_input(T *dx, const T *dy, const T *w, int N) {
  static_assert(S.valid(), "rnc::cuda::linear_grad_input: invalid LinearShape");
  constexpr Conv2DShape kConv = detail::linear_as_conv(S);
  conv2d_grad_input<kConv, T>(dx, dy, w, N);
}

// dw [out, in] = dy^T [out, N] x [N, in]. Writes dw.
template <LinearShape S, class T = float>
void linear_grad_weight(T *dw, const T *dy, const T *x, int N) {
  static_assert(S.valid(),
                "rnc::cuda::linear_grad_weight: invalid LinearShape");
  constexpr Conv2DShape kConv = detail::linear_as_conv(S);
  conv2d_grad_weight<kConv, T>(dw, dy, x, N);
}

// db [out] = sum over the batch of dy [N, out]. Writes db.
template <LinearShape S, class T = float>
void linear_bias_grad(T *db, const T *dy, int N) {
  static_assert(S.valid(), "rnc::cuda::linear_bias_grad: invalid LinearShape");
  RNC_CUDA_FLOAT_ONLY(T, "linear_bias_grad");
  if (!detail::check_args(N > 0 && db && dy))
    return;
  detail::launch_channel_sums<S.out_features, 1>(
      detail::PlainSum{dy, S.out_features}, db, nullptr, long(N));
}

} // namespace rnc::cuda
