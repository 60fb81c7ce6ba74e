// Softmax cross-entropy with int32 labels: loss, accuracy, gradient. One warp
// per row, in double like the CPU kernel.
#pragma once

#include <cstdint>

#include "common.cuh"

namespace rnc::cuda {

namespace detail {

// ----------------------------------------------------------------------------
// Kernels

// Row statistics computed by a whole warp: the first argmax (ties to the
// lowest index) and log(sum_j exp(z_j - max)) + max in double.
template <int Classes>
__device__ void row_log_sum_exp(const float *z, double *lse, int *argmax) {
  const int lane = int(threadIdx.x) % 32;
  float best = -__int_as_float(0x7f800000); // -inf
  int at = Classes;                         // "none yet"
  for (int j = lane; j < Classes; j += 32) {
    const float v = z[j];
    if (at == Classes || v > best) {
      best = v;
      at = j;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ob = __shfl_xor_sync(0xffffffffu, best, o);
    const int oa = __shfl_xor_sync(0xffffffffu, at, o);
    if (oa < Classes &&
        (at == Classes || ob > best || (ob == best && oa < at))) {
      best = ob;
      at = oa;
    }
  }
  const double m = double(best);
  double s = 0.0;
  for (int j = lane; j < Classes; j += 32)
    s += exp(double(z[j]) - m);
  s = warp_sum(s);
  *lse = log(s) + m;
  *argmax = at;
}

// One block of 8 warps; warp w takes rows w, w + 8, ... (a fixed assignment,
// so the sum is deterministic). A label outside [0, Classes) makes the loss
// NaN (the CPU kernel aborts instead).
template <int Classes>
__global__ void __launch_bounds__(256)
    softmax_xent_forward_kernel(float *loss, int *correct, const float *logits,
                                const int32_t *labels, int N) {
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  double total = 0.0;
  int hits = 0;
  for (int n = warp; n < N; n += 8) {
    const float *z = logits + long(n) * Classes;
    double lse;
    int am;
    row_log_sum_exp<Classes>(z, &lse, &am);
    const int y = labels[n];
    if (lane == 0) {
      if (y < 0 || y >= Classes) {
        total = __longlong_as_double(0x7ff8000000000000LL); // NaN
      } else {
        total += lse - double(z[y]);
        hits += am == y;
      }
    }
  }
  __shared__ double totals[8];
  __shared__ int counts[8];
  if (lane == 0) {
    totals[warp] = total;
    counts[warp] = hits;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0.0;
    int h = 0;
    for (int w = 0; w < 8; ++w) {
      t += totals[w];
      h += counts[w];
    }
    if (loss)
      *loss = float(t / N);
    if (correct)
      *correct = h;
  }
}

// dlogits = dloss (softmax - onehot) / N; one warp per row.
template <int Classes>
__global__ void __launch_bounds__(256)
    softmax_xent_backward_kernel(float *dlogits, const float *logits,
                                 const int32_t *labels, int N, double scale) {
  const int lane = int(threadIdx.x) % 32;
  const int n = int(blockIdx.x) * 8 + int(threadIdx.x) / 32;
  if (n >= N)
    return;
  const float *z = logits + long(n) * Classes;
  double lse;
  int am;
  row_log_sum_exp<Classes>(z, &lse, &am);
  const int y = labels[n];
  const bool bad = y < 0 || y >= Classes;
  for (int j = lane; j < Classes; j += 32)
    dlogits[long(n) * Classes + j] =
        bad ? __int_as_float(0x7fc00000)
            : float((exp(double(z[j]) - lse) - (j == y ? 1.0 : 0.0)) * scale);
}

} // namespace detail

// ----------------------------------------------------------------------------
// Launchers. logits [N, Classes] fp32, labels [N] int32 (device pointers).

// loss = mean over rows of -log softmax(logits)[label]; correct = number of
// rows whose first argmax is the label. Either output may be null; both are
// written, not accumulated.
template <int Classes, class T = float>
void softmax_cross_entropy(T *loss, int *correct, const T *logits,
                           const int32_t *labels, int N) {
  static_assert(Classes > 0, "rnc::cuda::softmax_cross_entropy: Classes > 0");
  RNC_CUDA_FLOAT_ONLY(T, "softmax_cross_entropy");
  if (!detail::check_args(N > 0 && logits && labels))
    return;
  if (!loss && !correct)
    return;
  detail::softmax_xent_forward_kernel<Classes>
      <<<1, 256, 0, current_stream()>>>(loss, correct, logits, labels, N);
  detail::after_launch();
}

// rn.count_correct: correct = number of rows whose first argmax is the label.
template <int Classes>
void count_correct(int *correct, const float *logits, const int32_t *labels,
                   int N) {
  softmax_cross_entropy<Classes, float>(nullptr, correct, logits, labels, N);
}

// dlogits [N, Classes] = dloss * (softmax(logits) - onehot(labels)) / NG,
// NG = `global_batch` (0: N). Data parallelism passes the global batch of
// the step, the sum of every rank's N (kernels/cuda/collectives.cuh).
template <int Classes, class T = float>
void softmax_cross_entropy_grad(T *dlogits, const T *logits,
                                const int32_t *labels, int N,
                                std::type_identity_t<T> dloss = T(1),
                                int global_batch = 0) {
  static_assert(Classes > 0,
                "rnc::cuda::softmax_cross_entropy_grad: Classes > 0");
  RNC_CUDA_FLOAT_ONLY(T, "softmax_cross_entropy_grad");
  if (!detail::check_args(N > 0 && dlogits && logits && labels &&
                          global_batch >= 0))
    return;
  detail::softmax_xent_backward_kernel<Classes>
      <<<unsigned(detail::ceil_div(N, 8)), 256, 0, current_stream()>>>(
          dlogits, logits, labels, N,
          double(dloss) / (global_batch > 0 ? global_batch : N));
  detail::after_launch();
}

} // namespace rnc::cuda
