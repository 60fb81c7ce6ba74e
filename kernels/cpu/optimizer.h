// SGD with momentum and weight decay (PyTorch semantics).
#pragma once

#include "common.h"

namespace rnc::cpu {

// For each i:  g = grad[i] + weight_decay * param[i]
//              momentum_buf[i] = momentum * momentum_buf[i] + g
//              param[i] -= lr * momentum_buf[i]
// momentum_buf starts at zero, which equals PyTorch's first step (buf = g).
// With momentum = 0 this is plain SGD. All parameters can live in one
// allocation and be stepped by one call.
template <class T = float>
void sgd_update(T *param, T *momentum_buf, const T *grad, long n,
                std::type_identity_t<T> lr, std::type_identity_t<T> momentum,
                std::type_identity_t<T> weight_decay) {
  RNC_CHECK(n >= 0 && param && momentum_buf && grad,
            "sgd_update: non-null pointers");
  auto step = [&](long lo, long hi) {
    for (long i = lo; i < hi; ++i) {
      T g = grad[i] + weight_decay * param[i];
      T b = momentum * momentum_buf[i] + g;
      momentum_buf[i] = b;
      param[i] -= lr * b;
    }
  };
  if (n >= 4 * kParallelGrain && max_threads() > 1) {
#pragma omp parallel
    {
      long lo, hi;
      split_range(n, num_threads(), thread_id(), &lo, &hi);
      step(lo, hi);
    }
  } else {
    step(0, n);
  }
}

} // namespace rnc::cpu
