// Linear layer y = x W^T + b: forward, backward data/weight/bias.
#pragma once

#include "common.h"
#include "kernels/shapes.h"
#include "epilogue.h"
#include "gemm.h"

namespace rnc::cpu {

// y [N, out] = x [N, in] * w[out, in]^T + b [out] (b may be null), then
// epi(n, o, 0, v) on every output.
template <LinearShape S, class T = float, class Epilogue = NoEpilogue>
void linear(T *y, const T *x, const T *w, const std::type_identity_t<T> *b,
            int N, const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cpu::linear: invalid LinearShape");
  RNC_CHECK(N > 0 && y && x && w, "linear: N > 0 and non-null y, x, w");
  constexpr int K = S.in_features, M = S.out_features;
  if (b == nullptr && std::is_same_v<Epilogue, NoEpilogue>)
    gemm<T>(false, true, N, M, K, T(1), x, K, w, K, T(0), y, M);
  else if (b == nullptr)
    gemm<T>(false, true, N, M, K, T(1), x, K, w, K, T(0), y, M,
            [&](int n, long o, T v) { return epi(n, int(o), 0L, v); });
  else
    gemm<T>(false, true, N, M, K, T(1), x, K, w, K, T(0), y, M,
            [&](int n, long o, T v) { return epi(n, int(o), 0L, v + b[o]); });
}

// dx [N, in] = dy [N, out] * w [out, in]. Writes dx.
template <LinearShape S, class T = float>
void linear_grad_input(T *dx, const T *dy, const T *w, int N) {
  static_assert(S.valid(), "rnc::cpu::linear_grad_input: invalid LinearShape");
  RNC_CHECK(N > 0 && dx && dy && w,
            "linear_grad_input: N > 0 and non-null pointers");
  constexpr int K = S.in_features, M = S.out_features;
  gemm<T>(false, false, N, K, M, T(1), dy, M, w, K, T(0), dx, K);
}

// dw [out, in] = dy^T [out, N] * x [N, in]. Writes dw.
template <LinearShape S, class T = float>
void linear_grad_weight(T *dw, const T *dy, const T *x, int N) {
  static_assert(S.valid(), "rnc::cpu::linear_grad_weight: invalid LinearShape");
  RNC_CHECK(N > 0 && dw && dy && x,
            "linear_grad_weight: N > 0 and non-null pointers");
  constexpr int K = S.in_features, M = S.out_features;
  gemm<T>(true, false, M, K, N, T(1), dy, M, x, K, T(0), dw, K);
}

// db [out] = sum over the batch of dy [N, out]. Writes db.
template <LinearShape S, class T = float>
void linear_bias_grad(T *db, const T *dy, int N) {
  static_assert(S.valid(), "rnc::cpu::linear_bias_grad: invalid LinearShape");
  RNC_CHECK(N > 0 && db && dy, "linear_bias_grad: N > 0 and non-null pointers");
  constexpr int M = S.out_features;
  for (int o = 0; o < M; ++o)
    db[o] = T(0);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < M; ++o)
      db[o] += dy[long(n) * M + o];
}

} // namespace rnc::cpu
