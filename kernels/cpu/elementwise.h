// Elementwise kernels: ReLU forward/backward, add, add+ReLU, accumulate.
#pragma once

#include "common.h"

namespace rnc::cpu {

namespace detail {

// f(i) for i in [0, n): split into contiguous per-thread ranges when large.
template <class F> RNC_INLINE void for_range(long n, const F &f) {
  if (n >= 4 * kParallelGrain && max_threads() > 1) {
#pragma omp parallel
    {
      long lo, hi;
      split_range(n, num_threads(), thread_id(), &lo, &hi);
      f(lo, hi);
    }
  } else {
    f(0L, n);
  }
}

} // namespace detail

// y[i] = max(x[i], 0); y may alias x.
template <class T = float> void relu(T *y, const T *x, long n) {
  detail::for_range(n, [&](long lo, long hi) {
    for (long i = lo; i < hi; ++i)
      y[i] = x[i] > T(0) ? x[i] : T(0);
  });
}

// dx[i] = dy[i] * (y[i] > 0). `y` is the forward output, or equally its input
// (the same elements are positive). dx may alias dy. Writes dx.
template <class T = float>
void relu_grad(T *dx, const T *dy, const T *y, long n) {
  detail::for_range(n, [&](long lo, long hi) {
    for (long i = lo; i < hi; ++i)
      dx[i] = y[i] > T(0) ? dy[i] : T(0);
  });
}

// y[i] = a[i] + b[i]; y may alias a or b. (Backward of add is a fan-out: the
// caller hands dy to both inputs, summing with accumulate() where they meet.)
template <class T = float> void add(T *y, const T *a, const T *b, long n) {
  detail::for_range(n, [&](long lo, long hi) {
    for (long i = lo; i < hi; ++i)
      y[i] = a[i] + b[i];
  });
}

// y[i] = max(a[i] + b[i], 0): the end of a residual block.
template <class T = float> void add_relu(T *y, const T *a, const T *b, long n) {
  detail::for_range(n, [&](long lo, long hi) {
    for (long i = lo; i < hi; ++i) {
      T v = a[i] + b[i];
      y[i] = v > T(0) ? v : T(0);
    }
  });
}

// dst[i] += src[i].
template <class T = float> void accumulate(T *dst, const T *src, long n) {
  detail::for_range(n, [&](long lo, long hi) {
    for (long i = lo; i < hi; ++i)
      dst[i] += src[i];
  });
}

} // namespace rnc::cpu
