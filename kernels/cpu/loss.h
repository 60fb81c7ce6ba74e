// Softmax cross-entropy with int32 labels: loss, accuracy, gradient.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace rnc::cpu {

namespace detail {

// log(sum_j exp(z_j - max)) + max for one row, and the first argmax.
template <int Classes, class T>
RNC_INLINE double log_sum_exp(const T *z, int *argmax) {
  int am = 0;
  for (int j = 1; j < Classes; ++j)
    if (z[j] > z[am])
      am = j;
  double m = double(z[am]), s = 0;
  for (int j = 0; j < Classes; ++j)
    s += std::exp(double(z[j]) - m);
  if (argmax)
    *argmax = am;
  return std::log(s) + m;
}

} // namespace detail

// loss = mean over n of -log softmax(logits[n])[labels[n]] (max-shifted, in
// double); correct = number of rows whose first argmax equals the label.
// Either output may be null. A label outside [0, Classes) is a fatal error.
template <int Classes, class T = float>
void softmax_cross_entropy(T *loss, int *correct, const T *logits,
                           const int32_t *labels, int N) {
  static_assert(Classes > 0, "rnc::cpu::softmax_cross_entropy: Classes > 0");
  RNC_CHECK(N > 0 && logits && labels,
            "softmax_cross_entropy: N > 0 and non-null pointers");
  double total = 0;
  int hits = 0;
  for (int n = 0; n < N; ++n) {
    int y = labels[n];
    RNC_CHECK(y >= 0 && y < Classes,
              "softmax_cross_entropy: label out of range");
    const T *z = logits + long(n) * Classes;
    int am;
    total += detail::log_sum_exp<Classes>(z, &am) - double(z[y]);
    hits += am == y;
  }
  if (loss)
    *loss = T(total / N);
  if (correct)
    *correct = hits;
}

// rn.count_correct: correct = number of rows whose first argmax equals the
// label (the accuracy half of softmax_cross_entropy).
template <int Classes>
void count_correct(int *correct, const float *logits, const int32_t *labels,
                   int N) {
  softmax_cross_entropy<Classes, float>(nullptr, correct, logits, labels, N);
}

// dlogits [N, classes] = dloss * (softmax(logits) - onehot(labels)) / NG,
// NG = `global_batch` (0: N). Data parallelism passes the global batch of
// the step, the sum of every rank's N: the gradient is then this rank's
// share of the gradient of the global mean loss.
template <int Classes, class T = float>
void softmax_cross_entropy_grad(T *dlogits, const T *logits,
                                const int32_t *labels, int N,
                                std::type_identity_t<T> dloss = T(1),
                                int global_batch = 0) {
  static_assert(Classes > 0,
                "rnc::cpu::softmax_cross_entropy_grad: Classes > 0");
  RNC_CHECK(N > 0 && dlogits && logits && labels && global_batch >= 0,
            "softmax_cross_entropy_grad: N > 0 and non-null pointers");
  double scale = double(dloss) / (global_batch > 0 ? global_batch : N);
  for (int n = 0; n < N; ++n) {
    int y = labels[n];
    RNC_CHECK(y >= 0 && y < Classes,
              "softmax_cross_entropy_grad: label out of range");
    const T *z = logits + long(n) * Classes;
    T *d = dlogits + long(n) * Classes;
    double lse = detail::log_sum_exp<Classes>(z, nullptr);
    for (int j = 0; j < Classes; ++j)
      d[j] = T((std::exp(double(z[j]) - lse) - (j == y ? 1.0 : 0.0)) * scale);
  }
}

} // namespace rnc::cpu
