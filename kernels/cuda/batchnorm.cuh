// Batch norm per channel over (N, H, W) of NHWC tensors: statistics, the
// fused-path pieces, train/eval forward and backward.
#pragma once

#include <cmath>

#include "channel_rows.cuh"
#include "common.cuh"
#include "epilogue.cuh"
#include "reduce.cuh"

namespace rnc::cuda {

// SyncBN: the reduction of per-channel sums over the ranks of a
// data-parallel job, the last argument of the BN training launchers, as on
// the CPU (kernels/cpu/batchnorm.h). NoSync (one process, the default)
// reduces nothing. A sync type has active(), operator()(float *sums, int n)
// (enqueues the sum of n floats of device memory over the ranks, in place,
// on the current stream), batch(N) (the global batch) and scratch(), device
// memory for 2 x channels floats that the backward may overwrite
// (kernels/cuda/collectives.cuh: BnSync).
struct NoSync {
  bool active() const { return false; }
  void operator()(float *, int) const {}
  int batch(int N) const { return N; }
  float *scratch() const { return nullptr; }
};

namespace detail {

// ----------------------------------------------------------------------------
// Kernels

// Per-channel kernels: one thread per channel.
template <class T>
__global__ void bn_stats_from_sums_kernel(float *mean, float *inv_std,
                                          float *var, const float *sum,
                                          const float *sumsq, int channels,
                                          long count, float eps) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= channels)
    return;
  const double m = double(sum[c]) / double(count);
  const double v = fmax(0.0, double(sumsq[c]) / double(count) - m * m);
  mean[c] = float(m);
  inv_std[c] = float(1.0 / sqrt(v + double(eps)));
  if (var)
    var[c] = float(v);
}

// PyTorch's running update with the biased batch variance `var`:
//   rm = (1 - momentum) rm + momentum mean
//   rv = (1 - momentum) rv + momentum var count / (count - 1)
__device__ __forceinline__ void
bn_running_update(float *running_mean, float *running_var, int c, float mean,
                  float var, float unbias, float momentum) {
  running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
  running_var[c] = (1.0f - momentum) * running_var[c] + momentum * var * unbias;
}

template <class T>
__global__ void
bn_running_update_from_inv_std_kernel(float *running_mean, float *running_var,
                                      const float *mean, const float *inv_std,
                                      int channels, float unbias, double eps,
                                      float momentum) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= channels)
    return;
  const double s = double(inv_std[c]);
  const float var = float(fmax(0.0, 1.0 / (s * s) - eps));
  bn_running_update(running_mean, running_var, c, mean[c], var, unbias,
                    momentum);
}

template <class T>
__global__ void bn_fold_eval_kernel(float *scale, float *shift,
                                    const float *gamma, const float *beta,
                                    const float *running_mean,
                                    const float *running_var, const float *bias,
                                    int channels, double eps) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= channels)
    return;
  const double s = double(gamma[c]) / sqrt(double(running_var[c]) + eps);
  const double b = bias ? double(bias[c]) : 0.0;
  scale[c] = float(s);
  shift[c] = float(double(beta[c]) + (b - double(running_mean[c])) * s);
}

// Training forward, after the sums: mean = sum / count.
template <class T>
__global__ void bn_mean_finalize_kernel(float *mean, int channels,
                                        float count) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c < channels)
    mean[c] = mean[c] / count;
}

// Training forward, after the squared deviations (accumulated in inv_std):
// var = ssd / count, inv_std = 1/sqrt(var + eps), running update if asked.
template <class T>
__global__ void bn_var_finalize_kernel(float *inv_std, const float *mean,
                                       float *running_mean, float *running_var,
                                       int channels, float count, float eps,
                                       float unbias, float momentum) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= channels)
    return;
  const float var = inv_std[c] / count;
  inv_std[c] = 1.0f / sqrtf(var + eps);
  if (running_mean && running_var)
    bn_running_update(running_mean, running_var, c, mean[c], var, unbias,
                      momentum);
}

// Backward, after the sums: dgamma = sum dy (x - mean) * inv_std.
template <class T>
__global__ void bn_dgamma_finalize_kernel(float *dgamma, const float *inv_std,
                                          int channels) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c < channels)
    dgamma[c] = dgamma[c] * inv_std[c];
}

// y = epi(n, c, q, x * scale + shift) for the V channels [c, c + V) of
// every row the thread walks (channel_rows.cuh), scale = inv_std[c] *
// gamma[c], shift = beta[c] - mean[c] * scale; row r = n*P + q. With FromVar,
// `inv` holds running variances and inv_std = 1/sqrt(var + eps).
template <int C, long P, bool FromVar, int V, class Epi>
__host__ __device__ inline void
bn_apply_thread(const ThreadIndex &t, float *y, const float *x,
                const float *mean, const float *inv, const float *gamma,
                const float *beta, int rows, float eps, const Epi &epi) {
  using R = ChannelRows<C, V>;
  const typename R::Walk w = R::walk(t);
  if (!w.active)
    return;
  const int c = w.group * V;
  float scale[V], shift[V];
#pragma unroll
  for (int i = 0; i < V; ++i) {
    const float inv_std =
        FromVar ? 1.0f / sqrtf(ldg(inv + c + i) + eps) : ldg(inv + c + i);
    scale[i] = inv_std * ldg(gamma + c + i);
    shift[i] = ldg(beta + c + i) - ldg(mean + c + i) * scale[i];
  }
  for (int r = w.row; r < rows; r += w.stride) {
    const int n = r / int(P), q = r - n * int(P);
    const long at = long(r) * C + c;
    float v[V];
    load_group<V>(x + at, v);
#pragma unroll
    for (int i = 0; i < V; ++i)
      v[i] = v[i] * scale[i] + shift[i];
    apply_epilogue_group<V>(epi, n, c, q, v);
    store_group<V>(y + at, v);
  }
}

template <int C, long P, bool FromVar, int V, class Epi>
__global__ void __launch_bounds__(ChannelRows<C, V>::kThreads)
    bn_apply_kernel(float *y, const float *x, const float *mean,
                    const float *inv, const float *gamma, const float *beta,
                    int rows, float eps, Epi epi) {
  bn_apply_thread<C, P, FromVar, V>(this_thread(), y, x, mean, inv, gamma, beta,
                                    rows, eps, epi);
}

// The per-channel sums of the backward: {g, g * (x - mean)} with g = dy, or
// dy masked by relu_out > 0.
template <int C, bool Relu> struct BnBackwardSums {
  const float *dy, *relu_out, *x, *mean;
  __device__ void operator()(long r, int c, float (&acc)[2]) const {
    const long i = r * C + c;
    const float g = Relu && !(relu_out[i] > 0.0f) ? 0.0f : dy[i];
    acc[0] += g;
    acc[1] += g * (x[i] - mean[c]);
  }
};

// Sum of x, then of (x - mean)^2, per channel.
template <int C> struct BnSum {
  const float *x;
  __device__ void operator()(long r, int c, float (&acc)[1]) const {
    acc[0] += x[r * C + c];
  }
};
template <int C> struct BnSquaredDeviation {
  const float *x, *mean;
  __device__ void operator()(long r, int c, float (&acc)[1]) const {
    const float d = x[r * C + c] - mean[c];
    acc[0] += d * d;
  }
};

// dx = gamma inv_std (g - dbeta/count - (x - mean) inv_std dgamma/count),
// g = dy, or dy masked by relu_out > 0, for the V channels [c, c + V) of
// every row the thread walks (channel_rows.cuh).
template <int C, bool Relu, int V>
__host__ __device__ inline void bn_backward_dx_thread(
    const ThreadIndex &t, float *dx, const float *dy, const float *relu_out,
    const float *x, const float *mean, const float *inv_std, const float *gamma,
    const float *dgamma, const float *dbeta, int rows, float count) {
  using R = ChannelRows<C, V>;
  const typename R::Walk w = R::walk(t);
  if (!w.active)
    return;
  const int c = w.group * V;
  float inv[V], mu[V], k[V], mdb[V], mdg[V];
#pragma unroll
  for (int i = 0; i < V; ++i) {
    inv[i] = ldg(inv_std + c + i);
    mu[i] = ldg(mean + c + i);
    k[i] = ldg(gamma + c + i) * inv[i];
    mdb[i] = ldg(dbeta + c + i) / count;
    mdg[i] = ldg(dgamma + c + i) / count;
  }
  for (int r = w.row; r < rows; r += w.stride) {
    const long at = long(r) * C + c;
    float g[V], xv[V];
    load_group<V>(dy + at, g);
    load_group<V>(x + at, xv);
    if constexpr (Relu) {
      float m[V];
      load_group<V>(relu_out + at, m);
#pragma unroll
      for (int i = 0; i < V; ++i)
        g[i] = m[i] > 0.0f ? g[i] : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < V; ++i)
      g[i] = k[i] * (g[i] - mdb[i] - (xv[i] - mu[i]) * inv[i] * mdg[i]);
    store_group<V>(dx + at, g);
  }
}

template <int C, bool Relu, int V>
__global__ void __launch_bounds__(ChannelRows<C, V>::kThreads)
    bn_backward_dx_kernel(float *dx, const float *dy, const float *relu_out,
                          const float *x, const float *mean,
                          const float *inv_std, const float *gamma,
                          const float *dgamma, const float *dbeta, int rows,
                          float count) {
  bn_backward_dx_thread<C, Relu, V>(this_thread(), dx, dy, relu_out, x, mean,
                                    inv_std, gamma, dgamma, dbeta, rows, count);
}

// Launches a per-channel pass over `rows` rows of C channels:
// launch(V, grid, threads) with V a std::integral_constant, the group width
// channel_group_width<C> chose.
template <int C, class Launch>
void launch_channel_rows(long rows, bool vector_ok, const Launch &launch) {
  if (!check_args(channel_rows_fit(rows)))
    return;
  if constexpr (C % 4 == 0) {
    if (channel_group_width<C>(vector_ok) == 4) {
      using R = ChannelRows<C, 4>;
      launch(std::integral_constant<int, 4>{}, R::grid(rows), R::kThreads);
      return;
    }
  }
  using R = ChannelRows<C, 1>;
  launch(std::integral_constant<int, 1>{}, R::grid(rows), R::kThreads);
}

inline unsigned channel_blocks(int channels) {
  return unsigned(ceil_div(channels > 0 ? channels : 1, 128));
}

inline float unbias_factor(long count) {
  return count > 1 ? float(double(count) / double(count - 1)) : 1.0f;
}

// batch_norm_apply (FromVar false) and the eval batch_norm (true).
template <BatchNormShape S, bool FromVar, class Epi>
void bn_apply_launch(float *y, const float *x, const float *mean,
                     const float *inv, const float *gamma, const float *beta,
                     int N, float eps, const Epi &epi) {
  constexpr int C = S.channels;
  const long rows = long(N) * S.plane;
  const bool vec = aligned16(y) && aligned16(x) && epilogue_vector_ok(epi);
  launch_channel_rows<C>(rows, vec, [&](auto v, dim3 grid, int threads) {
    bn_apply_kernel<C, S.plane, FromVar, decltype(v)::value, Epi>
        <<<grid, threads, 0, current_stream()>>>(y, x, mean, inv, gamma, beta,
                                                 int(rows), eps, epi);
    after_launch();
  });
}

// The dx pass of every BN backward, once dgamma and dbeta are final.
// dgamma and dbeta are this rank's (they are summed over the ranks with the
// other gradients); under SyncBN dx takes their sums over the ranks (a copy
// in sync.scratch()) and the global count.
template <BatchNormShape S, bool Relu, class Sync>
void bn_backward_dx_launch(float *dx, const float *dy, const float *relu_out,
                           const float *x, const float *mean,
                           const float *inv_std, const float *gamma,
                           const float *dgamma, const float *dbeta, int N,
                           const Sync &sync) {
  constexpr int C = S.channels;
  const long rows = long(N) * S.plane;
  float count = float(rows);
  if (sync.active()) {
    float *global = sync.scratch();
    if (!check_args(global != nullptr))
      return;
    record(cudaMemcpyAsync(global, dgamma, sizeof(float) * C,
                           cudaMemcpyDeviceToDevice, current_stream()));
    record(cudaMemcpyAsync(global + C, dbeta, sizeof(float) * C,
                           cudaMemcpyDeviceToDevice, current_stream()));
    sync(global, 2 * C);
    dgamma = global;
    dbeta = global + C;
    count = float(long(sync.batch(N)) * S.plane);
  }
  const bool vec = aligned16(dx) && aligned16(dy) &&
                   (!Relu || aligned16(relu_out)) && aligned16(x);
  launch_channel_rows<C>(rows, vec, [&](auto v, dim3 grid, int threads) {
    bn_backward_dx_kernel<C, Relu, decltype(v)::value>
        <<<grid, threads, 0, current_stream()>>>(dx, dy, relu_out, x, mean,
                                                 inv_std, gamma, dgamma, dbeta,
                                                 int(rows), count);
    after_launch();
  });
}

template <BatchNormShape S, bool Relu, class Sync>
void bn_backward_launch(float *dx, float *dgamma, float *dbeta, const float *dy,
                        const float *relu_out, const float *x,
                        const float *mean, const float *inv_std,
                        const float *gamma, int N, const Sync &sync) {
  constexpr int C = S.channels;
  const long rows = long(N) * S.plane;
  cudaStream_t stream = current_stream();
  launch_channel_sums<C, 2>(BnBackwardSums<C, Relu>{dy, relu_out, x, mean},
                            dbeta, dgamma, rows);
  bn_dgamma_finalize_kernel<float>
      <<<channel_blocks(C), 128, 0, stream>>>(dgamma, inv_std, C);
  after_launch();
  bn_backward_dx_launch<S, Relu>(dx, dy, relu_out, x, mean, inv_std, gamma,
                                 dgamma, dbeta, N, sync);
}

// dbeta = grad_sum, dgamma = grad_dev_sum * inv_std (one thread per channel).
template <int C>
__global__ void bn_grads_from_sums_kernel(float *dgamma, float *dbeta,
                                          const float *grad_sum,
                                          const float *grad_dev_sum,
                                          const float *inv_std) {
  const int c = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (c < C) {
    const float s = grad_sum[c], sd = grad_dev_sum[c];
    dbeta[c] = s;
    dgamma[c] = sd * inv_std[c];
  }
}

} // namespace detail

// ----------------------------------------------------------------------------
// Launchers. Activations x, y, dx, dy are NHWC [N, plane, channels] (rank 2:
// [N, channels], plane 1); every per-channel array has `channels` floats.

// mean[c], inv_std[c] = 1/sqrt(var + eps) and var[c] (biased; may be null)
// from per-channel sums over `count` elements, in double; var clamped at 0.
template <class T = float>
void batch_norm_stats_from_sums(T *mean, T *inv_std, T *var, const T *sum,
                                const T *sumsq, int channels, long count,
                                std::type_identity_t<T> eps) {
  RNC_CUDA_FLOAT_ONLY(T, "batch_norm_stats_from_sums");
  if (!detail::check_args(mean && inv_std && sum && sumsq && channels > 0 &&
                          count > 0))
    return;
  detail::bn_stats_from_sums_kernel<float>
      <<<detail::channel_blocks(channels), 128, 0, current_stream()>>>(
          mean, inv_std, var, sum, sumsq, channels, count, eps);
  detail::after_launch();
}

// PyTorch's running-statistics update from the saved inv_std of a training
// forward: var = max(0, 1/inv_std^2 - eps) (double), unbiased by
// count/(count-1).
template <class T = float>
void batch_norm_running_update(T *running_mean, T *running_var, const T *mean,
                               const T *inv_std, int channels, long count,
                               double eps, std::type_identity_t<T> momentum) {
  RNC_CUDA_FLOAT_ONLY(T, "batch_norm_running_update");
  if (!detail::check_args(running_mean && running_var && mean && inv_std &&
                          channels > 0 && count > 0))
    return;
  detail::bn_running_update_from_inv_std_kernel<float>
      <<<detail::channel_blocks(channels), 128, 0, current_stream()>>>(
          running_mean, running_var, mean, inv_std, channels,
          detail::unbias_factor(count), eps, momentum);
  detail::after_launch();
}

// Eval BN as a per-channel affine map (for ChannelAffineEpilogue):
// scale = gamma / sqrt(running_var + eps), shift = beta + (bias - mean) scale
// (bias may be null), in double.
template <class T = float>
void conv2d_bn_eval_fold(T *scale, T *shift, const T *gamma, const T *beta,
                         const T *running_mean, const T *running_var,
                         const T *bias, int channels, double eps) {
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_bn_eval_fold");
  if (!detail::check_args(scale && shift && gamma && beta && running_mean &&
                          running_var && channels > 0))
    return;
  detail::bn_fold_eval_kernel<float>
      <<<detail::channel_blocks(channels), 128, 0, current_stream()>>>(
          scale, shift, gamma, beta, running_mean, running_var, bias, channels,
          eps);
  detail::after_launch();
}

// y = (x - mean[c]) * inv_std[c] * gamma[c] + beta[c], then epi(n, c, idx, y).
template <BatchNormShape S, class T = float, class Epilogue = NoEpilogue>
void batch_norm_apply(T *y, const T *x, const T *mean, const T *inv_std,
                      const T *gamma, const T *beta, int N,
                      const Epilogue &epi = {}) {
  static_assert(S.valid(),
                "rnc::cuda::batch_norm_apply: invalid BatchNormShape");
  RNC_CUDA_FLOAT_ONLY(T, "batch_norm_apply");
  if (!detail::check_args(N > 0 && y && x && mean && inv_std && gamma && beta))
    return;
  detail::bn_apply_launch<S, false>(y, x, mean, inv_std, gamma, beta, N, 0.0f,
                                    epi);
}

// Training forward: batch mean, then biased variance from squared deviations
// (two passes, as on the CPU); writes save_mean and save_inv_std, updates the
// running statistics when both are non-null, then normalizes. Under an
// active `sync` (SyncBN) each pass's sums are summed over the ranks and the
// statistics are those of the global batch.
template <BatchNormShape S, class T = float, class Epilogue = NoEpilogue,
          class Sync = NoSync>
void batch_norm_train(T *y, T *save_mean, T *save_inv_std,
                      std::type_identity_t<T> *running_mean,
                      std::type_identity_t<T> *running_var, const T *x,
                      const T *gamma, const T *beta, int N,
                      std::type_identity_t<T> eps = T(1e-5),
                      std::type_identity_t<T> momentum = T(0.1),
                      const Epilogue &epi = {}, const Sync &sync = {}) {
  static_assert(S.valid(),
                "rnc::cuda::batch_norm_train: invalid BatchNormShape");
  RNC_CUDA_FLOAT_ONLY(T, "batch_norm_train");
  if (!detail::check_args(N > 0 && y && save_mean && save_inv_std && x &&
                          gamma && beta))
    return;
  constexpr int C = S.channels;
  const long rows = long(N) * S.plane;
  const long global_rows = long(sync.batch(N)) * S.plane;
  cudaStream_t stream = current_stream();
  // save_mean and save_inv_std hold the running sums in between.
  detail::launch_channel_sums<C, 1>(detail::BnSum<C>{x}, save_mean, nullptr,
                                    rows);
  if (sync.active())
    sync(save_mean, C);
  detail::bn_mean_finalize_kernel<float>
      <<<detail::channel_blocks(C), 128, 0, stream>>>(save_mean, C,
                                                      float(global_rows));
  detail::after_launch();
  detail::launch_channel_sums<C, 1>(detail::BnSquaredDeviation<C>{x, save_mean},
                                    save_inv_std, nullptr, rows);
  if (sync.active())
    sync(save_inv_std, C);
  detail::bn_var_finalize_kernel<float>
      <<<detail::channel_blocks(C), 128, 0, stream>>>(
          save_inv_std, save_mean, running_mean, running_var, C,
          float(global_rows), eps, detail::unbias_factor(global_rows),
          momentum);
  detail::after_launch();
  batch_norm_apply<S>(y, x, save_mean, save_inv_std, gamma, beta, N, epi);
}

// Eval forward: y = (x - running_mean) / sqrt(running_var + eps) * gamma +
// beta, then epi.
template <BatchNormShape S, class T = float, class Epilogue = NoEpilogue>
void batch_norm(T *y, const T *x, const T *gamma, const T *beta,
                const T *running_mean, const T *running_var, int N,
                std::type_identity_t<T> eps = T(1e-5),
                const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cuda::batch_norm: invalid BatchNormShape");
  RNC_CUDA_FLOAT_ONLY(T, "batch_norm");
  if (!detail::check_args(N > 0 && y && x && gamma && beta && running_mean &&
                          running_var))
    return;
  detail::bn_apply_launch<S, true>(y, x, running_mean, running_var, gamma, beta,
                                   N, eps, epi);
}

// Backward of the training forward (batch statistics), writing all three:
//   dbeta = sum dy, dgamma = sum dy (x - mean) inv_std,
//   dx = gamma inv_std (dy - dbeta/m - (x - mean) inv_std dgamma/m), m =
//   N*plane.
template <BatchNormShape S, class T = float, class Sync = NoSync>
void batch_norm_grad(T *dx, T *dgamma, T *dbeta, const T *dy, const T *x,
                     const T *save_mean, const T *save_inv_std, const T *gamma,
                     int N, const Sync &sync = {}) {
  static_assert(S.valid(),
                "rnc::cuda::batch_norm_grad: invalid BatchNormShape");
  RNC_CUDA_FLOAT_ONLY(T, "batch_norm_grad");
  if (!detail::check_args(N > 0 && dx && dgamma && dbeta && dy && x &&
                          save_mean && save_inv_std && gamma))
    return;
  detail::bn_backward_launch<S, false>(dx, dgamma, dbeta, dy, nullptr, x,
                                       save_mean, save_inv_std, gamma, N,
                                       sync);
}

// The backward of relu(batch_norm_train(x)) given the gradient dy of the
// ReLU's output relu_out: batch_norm_grad of dy masked by relu_out > 0.
template <BatchNormShape S, class T = float, class Sync = NoSync>
void batch_norm_relu_grad(T *dx, T *dgamma, T *dbeta, const T *dy,
                          const T *relu_out, const T *x, const T *save_mean,
                          const T *save_inv_std, const T *gamma, int N,
                          const Sync &sync = {}) {
  static_assert(S.valid(),
                "rnc::cuda::batch_norm_relu_grad: invalid BatchNormShape");
  RNC_CUDA_FLOAT_ONLY(T, "batch_norm_relu_grad");
  if (!detail::check_args(N > 0 && dx && dgamma && dbeta && dy && relu_out &&
                          x && save_mean && save_inv_std && gamma))
    return;
  detail::bn_backward_launch<S, true>(dx, dgamma, dbeta, dy, relu_out, x,
                                      save_mean, save_inv_std, gamma, N, sync);
}

// batch_norm_grad given the sums conv2d_grad_input_bn_reduce took while
// it wrote dy (rn.batch_norm_grad_from_sums): dbeta = grad_sum, dgamma =
// grad_dev_sum * inv_std, then dx in one pass over dy and x. dbeta and dgamma
// may alias grad_sum and grad_dev_sum.
template <BatchNormShape S, class T = float, class Sync = NoSync>
void batch_norm_grad_from_sums(T *dx, T *dgamma, T *dbeta, const T *dy,
                               const T *x, const T *save_mean,
                               const T *save_inv_std, const T *gamma,
                               const T *grad_sum, const T *grad_dev_sum,
                               int N, const Sync &sync = {}) {
  static_assert(S.valid(), "rnc::cuda::batch_norm_grad_from_sums: "
                           "invalid BatchNormShape");
  RNC_CUDA_FLOAT_ONLY(T, "batch_norm_grad_from_sums");
  if (!detail::check_args(N > 0 && dx && dgamma && dbeta && dy && x &&
                          save_mean && save_inv_std && gamma && grad_sum &&
                          grad_dev_sum))
    return;
  detail::bn_grads_from_sums_kernel<S.channels>
      <<<detail::channel_blocks(S.channels), 128, 0, current_stream()>>>(
          dgamma, dbeta, grad_sum, grad_dev_sum, save_inv_std);
  detail::after_launch();
  detail::bn_backward_dx_launch<S, false>(dx, dy, nullptr, x, save_mean,
                                          save_inv_std, gamma, dgamma, dbeta,
                                          N, sync);
}

} // namespace rnc::cuda
