// Batch norm per channel over (N, H, W): train/eval forward, backward, stats.
#pragma once

#include <algorithm>
#include <cmath>

#include "common.h"
#include "kernels/shapes.h"
#include "epilogue.h"

namespace rnc::cpu {

// SyncBN: the reduction of per-channel sums over the ranks of a
// data-parallel step, which the training kernels below take as their last
// argument. NoSync (one process, the default) reduces nothing. A sync type
// has: active(); operator()(T *sums, int n), summing n values in place over
// the ranks; batch(N), the global batch of the step. Kernels run exactly
// their one-process arithmetic when active() is false
// (kernels/cpu/collectives.h: BnSync).
struct NoSync {
  bool active() const { return false; }
  template <class T> void operator()(T *, int) const {}
  int batch(int N) const { return N; }
};

// mean[c], var[c] (biased) and inv_std[c] = 1/sqrt(var + eps) from per-channel
// sums over `count` elements (e.g. from conv2d_bn_train_stats). var is clamped
// at 0 against cancellation; it may be null.
template <class T = float>
void batch_norm_stats_from_sums(T *mean, T *inv_std, T *var, const T *sum,
                                const T *sumsq, int channels, long count,
                                std::type_identity_t<T> eps) {
  for (int c = 0; c < channels; ++c) {
    double m = double(sum[c]) / count;
    double v = std::max(0.0, double(sumsq[c]) / count - m * m);
    mean[c] = T(m);
    inv_std[c] = T(1.0 / std::sqrt(v + double(eps)));
    if (var)
      var[c] = T(v);
  }
}

// PyTorch's update, var being the biased batch variance over `count`:
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var = (1 - momentum) * running_var
//                 + momentum * var * count / (count - 1)   (unbiased)
template <class T = float>
void batch_norm_running_update(T *running_mean, T *running_var, const T *mean,
                               const T *var, int channels, long count,
                               std::type_identity_t<T> momentum) {
  T unbias = count > 1 ? T(double(count) / double(count - 1)) : T(1);
  for (int c = 0; c < channels; ++c) {
    running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] =
        (T(1) - momentum) * running_var[c] + momentum * var[c] * unbias;
  }
}

// The same update from the saved inv_std = 1/sqrt(var + eps) of a training
// forward (what rn.batch_norm_running_update carries): var = 1/inv_std^2 - eps.
template <class T = float>
void batch_norm_running_update(T *running_mean, T *running_var, const T *mean,
                               const T *inv_std, int channels, long count,
                               double eps, std::type_identity_t<T> momentum) {
  T *var = scratch<T>(kSlotReduce, channels);
  for (int c = 0; c < channels; ++c) {
    double s = double(inv_std[c]);
    var[c] = T(std::max(0.0, 1.0 / (s * s) - eps));
  }
  batch_norm_running_update(running_mean, running_var, mean, var, channels,
                            count, momentum);
}

// Eval-mode BN as a per-channel affine map for a conv epilogue, from the live
// parameters: scale = gamma / sqrt(var + eps), shift = beta - mean * scale,
// plus bias * scale when the conv has a bias (it is folded in here).
template <class T = float>
void conv2d_bn_eval_fold(T *scale, T *shift, const T *gamma, const T *beta,
                         const T *running_mean, const T *running_var,
                         const T *bias, int channels, double eps) {
  for (int c = 0; c < channels; ++c) {
    double s = double(gamma[c]) / std::sqrt(double(running_var[c]) + eps);
    double b = bias ? double(bias[c]) : 0.0;
    scale[c] = T(s);
    shift[c] = T(double(beta[c]) + (b - double(running_mean[c])) * s);
  }
}

// y = (x - mean[c]) * inv_std[c] * gamma[c] + beta[c], then epi(n, c, idx, y).
template <BatchNormShape S, class T = float, class Epilogue = NoEpilogue>
void batch_norm_apply(T *y, const T *x, const T *mean, const T *inv_std,
                      const T *gamma, const T *beta, int N,
                      const Epilogue &epi = {}) {
  static_assert(S.valid(),
                "rnc::cpu::batch_norm_apply: invalid BatchNormShape");
  constexpr int C = S.channels;
  constexpr long P = S.plane;
#pragma omp parallel for collapse(2)                                           \
    schedule(static) if (long(N) * C * P >= kParallelGrain)
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      T scale = inv_std[c] * gamma[c], shift = beta[c] - mean[c] * scale;
      const T *xp = x + (long(n) * C + c) * P;
      T *yp = y + (long(n) * C + c) * P;
      for (long i = 0; i < P; ++i)
        yp[i] = epi(n, c, i, xp[i] * scale + shift);
    }
}

// Training forward: per-channel batch mean and biased variance over N*plane
// (two passes: mean, then squared deviations), y normalized with them.
// Writes save_mean and save_inv_std (for backward). If running_mean and
// running_var are non-null they are updated as in PyTorch.
// x, y [N, C, plane]; gamma, beta, save_*, running_* [C].
//
// With an active `sync` (SyncBN) the statistics are those of the global
// batch: the per-channel sums, then the sums of squared deviations from the
// global mean, are summed over the ranks, over sync.batch(N) * plane values.
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
                "rnc::cpu::batch_norm_train: invalid BatchNormShape");
  RNC_CHECK(N > 0 && y && save_mean && save_inv_std && x && gamma && beta,
            "batch_norm_train: N > 0 and non-null pointers");
  constexpr int C = S.channels;
  constexpr long P = S.plane;
  long count = long(N) * P;
  T *var = scratch<T>(kSlotReduce, C);
  if (sync.active()) {
    // The two passes split over the channels, with a sum over the ranks
    // after each.
    count = long(sync.batch(N)) * P;
    for (int c = 0; c < C; ++c) {
      T s = 0;
      for (int n = 0; n < N; ++n)
        s += reduce_sum(x + (long(n) * C + c) * P, P);
      save_mean[c] = s;
    }
    sync(save_mean, C);
    for (int c = 0; c < C; ++c) {
      save_mean[c] /= T(count);
      T ss = 0;
      for (int n = 0; n < N; ++n)
        ss += reduce_sq_dev(x + (long(n) * C + c) * P, P, save_mean[c]);
      var[c] = ss;
    }
    sync(var, C);
    for (int c = 0; c < C; ++c)
      var[c] /= T(count);
  } else if constexpr (P == 1) {
    // Rank 2: a channel is strided by C; sweep the batch, vectorized across
    // channels.
    for (int c = 0; c < C; ++c)
      save_mean[c] = T(0), var[c] = T(0);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c)
        save_mean[c] += x[long(n) * C + c];
    for (int c = 0; c < C; ++c)
      save_mean[c] /= T(count);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        T d = x[long(n) * C + c] - save_mean[c];
        var[c] += d * d;
      }
    for (int c = 0; c < C; ++c)
      var[c] /= T(count);
  } else {
#pragma omp parallel for schedule(static) if (count * C >= kParallelGrain)
    for (int c = 0; c < C; ++c) {
      T s = 0;
      for (int n = 0; n < N; ++n)
        s += reduce_sum(x + (long(n) * C + c) * P, P);
      T mean = s / T(count);
      T ss = 0;
      for (int n = 0; n < N; ++n)
        ss += reduce_sq_dev(x + (long(n) * C + c) * P, P, mean);
      save_mean[c] = mean;
      var[c] = ss / T(count);
    }
  }
  for (int c = 0; c < C; ++c)
    save_inv_std[c] = T(1) / std::sqrt(var[c] + eps);
  if (running_mean && running_var)
    batch_norm_running_update(running_mean, running_var, save_mean, var, C,
                              count, momentum);
  batch_norm_apply<S>(y, x, save_mean, save_inv_std, gamma, beta, N, epi);
}

// Eval forward: y = (x - running_mean) / sqrt(running_var + eps) * gamma +
// beta, then epi.
template <BatchNormShape S, class T = float, class Epilogue = NoEpilogue>
void batch_norm(T *y, const T *x, const T *gamma, const T *beta,
                const T *running_mean, const T *running_var, int N,
                std::type_identity_t<T> eps = T(1e-5),
                const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cpu::batch_norm: invalid BatchNormShape");
  RNC_CHECK(N > 0 && y && x && gamma && beta && running_mean && running_var,
            "batch_norm: N > 0 and non-null pointers");
  T *inv_std = scratch<T>(kSlotReduce, S.channels);
  for (int c = 0; c < S.channels; ++c)
    inv_std[c] = T(1) / std::sqrt(running_var[c] + eps);
  batch_norm_apply<S>(y, x, running_mean, inv_std, gamma, beta, N, epi);
}

// Backward of the training forward (batch statistics), writing all three:
//   xhat = (x - mean) * inv_std,   m = N * plane
//   dbeta[c] = sum dy,   dgamma[c] = sum dy * xhat
//   dx = gamma * inv_std * (dy - dbeta / m - xhat * dgamma / m)
namespace detail {

// One plane (image n, channel c; P values) of each pass, given its dy: the
// two sums, and the input gradient (relu_out null: no mask).
template <class T>
RNC_INLINE void bn_grad_plane_sums(const T *dy, const T *relu_out,
                                   const T *x, long P, T mean, T *sum_dy,
                                   T *sum_dy_dev) {
  if (relu_out)
    reduce_sum_dot_dev_masked(dy, relu_out, x, P, mean, sum_dy, sum_dy_dev);
  else
    reduce_sum_dot_dev(dy, x, P, mean, sum_dy, sum_dy_dev);
}

// dx = k * (g - mdb - (x - mean) * inv * mdg), g = dy masked by relu_out.
template <class T> struct BnInputGradCoeffs {
  T k, mdb, mean, inv, mdg;
};
template <class T>
RNC_INLINE void bn_grad_plane_input(T *RNC_RESTRICT dx, const T *dy,
                                    const T *relu_out, const T *x, long P,
                                    const BnInputGradCoeffs<T> &f) {
  if (relu_out) {
    for (long i = 0; i < P; ++i) {
      T g = relu_out[i] > T(0) ? dy[i] : T(0);
      dx[i] = f.k * (g - f.mdb - (x[i] - f.mean) * f.inv * f.mdg);
    }
  } else {
    for (long i = 0; i < P; ++i)
      dx[i] = f.k * (dy[i] - f.mdb - (x[i] - f.mean) * f.inv * f.mdg);
  }
}

// Where the BN backward's dy comes from. DyTensor: a tensor. A source has
// plane(n, c) -> const T * (P values of dy) and the two per-plane passes,
// sums() and input_grad(), which a source may run without building the
// plane (max_pool2d_bn_relu_grad routes dy from a pooled gradient:
// kernels/cpu/pool_bn_grad.h).
template <BatchNormShape S, class T> struct DyTensor {
  const T *dy;
  const T *plane(int n, int c) const {
    return dy + (long(n) * S.channels + c) * S.plane;
  }
  void sums(int n, int c, const T *relu_out, const T *x, T mean, T *sum_dy,
            T *sum_dy_dev) const {
    bn_grad_plane_sums(plane(n, c), relu_out, x, S.plane, mean, sum_dy,
                       sum_dy_dev);
  }
  void input_grad(int n, int c, T *dx, const T *relu_out, const T *x,
                  const BnInputGradCoeffs<T> &f) const {
    bn_grad_plane_input(dx, plane(n, c), relu_out, x, S.plane, f);
  }
};

// The input-gradient pass of the backward, from dgamma and dbeta: one read
// of dy (masked where relu_out <= 0 if relu_out is non-null) and x.
// `count`: the values each channel's sums ran over (N * plane; the global
// batch's under SyncBN).
template <BatchNormShape S, class T, class DySource>
void batch_norm_backward_input(T *dx, const DySource &dy, const T *relu_out,
                               const T *x, const T *save_mean,
                               const T *save_inv_std, const T *gamma,
                               const T *dgamma, const T *dbeta, int N,
                               long count) {
  constexpr int C = S.channels;
  constexpr long P = S.plane;
#pragma omp parallel for collapse(2)                                           \
    schedule(static) if (count * C >= kParallelGrain)
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      T inv = save_inv_std[c];
      BnInputGradCoeffs<T> f{gamma[c] * inv, dbeta[c] / T(count),
                             save_mean[c], inv, dgamma[c] / T(count)};
      long off = (long(n) * C + c) * P;
      dy.input_grad(n, c, dx + off, relu_out ? relu_out + off : nullptr,
                    x + off, f);
    }
}

// dgamma and dbeta are this rank's (they are summed over the ranks with the
// other gradients); under SyncBN dx takes their sums over the ranks and the
// global count.
template <BatchNormShape S, class T, class DySource, class Sync>
void batch_norm_input_grad_synced(T *dx, const DySource &dy, const T *relu_out,
                                  const T *x, const T *save_mean,
                                  const T *save_inv_std, const T *gamma,
                                  const T *dgamma, const T *dbeta, int N,
                                  const Sync &sync) {
  constexpr int C = S.channels;
  constexpr long P = S.plane;
  if (!sync.active()) {
    batch_norm_backward_input<S>(dx, dy, relu_out, x, save_mean,
                                 save_inv_std, gamma, dgamma, dbeta, N,
                                 long(N) * P);
    return;
  }
  T *global = scratch<T>(kSlotReduce, 2 * C);
  for (int c = 0; c < C; ++c)
    global[c] = dgamma[c], global[C + c] = dbeta[c];
  sync(global, 2 * C);
  batch_norm_backward_input<S>(dx, dy, relu_out, x, save_mean, save_inv_std,
                               gamma, global, global + C, N,
                               long(sync.batch(N)) * P);
}

template <BatchNormShape S, class T, class DySource, class Sync>
void batch_norm_backward_impl(T *dx, T *dgamma, T *dbeta, const DySource &dy,
                              const T *relu_out, const T *x,
                              const T *save_mean, const T *save_inv_std,
                              const T *gamma, int N, const Sync &sync) {
  static_assert(S.valid(), "rnc::cpu::batch_norm_grad: invalid BatchNormShape");
  RNC_CHECK(N > 0 && dx && dgamma && dbeta && x && save_mean &&
                save_inv_std && gamma,
            "batch_norm_grad: N > 0 and non-null pointers");
  constexpr int C = S.channels;
  constexpr long P = S.plane;
  const long count = long(N) * P;
  if constexpr (P == 1) {
    for (int c = 0; c < C; ++c)
      dbeta[c] = T(0), dgamma[c] = T(0);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        long i = long(n) * C + c;
        T g = relu_out && !(relu_out[i] > T(0)) ? T(0) : dy.plane(n, c)[0];
        dbeta[c] += g;
        dgamma[c] += g * (x[i] - save_mean[c]);
      }
    for (int c = 0; c < C; ++c)
      dgamma[c] *= save_inv_std[c];
  } else {
#pragma omp parallel for schedule(static) if (count * C >= kParallelGrain)
    for (int c = 0; c < C; ++c) {
      T sdy = 0, sdyd = 0;
      for (int n = 0; n < N; ++n) {
        T a, b;
        long off = (long(n) * C + c) * P;
        dy.sums(n, c, relu_out ? relu_out + off : nullptr, x + off,
                save_mean[c], &a, &b);
        sdy += a;
        sdyd += b;
      }
      dbeta[c] = sdy;
      dgamma[c] = sdyd * save_inv_std[c];
    }
  }
  batch_norm_input_grad_synced<S>(dx, dy, relu_out, x, save_mean,
                                  save_inv_std, gamma, dgamma, dbeta, N, sync);
}

} // namespace detail

template <BatchNormShape S, class T = float, class Sync = NoSync>
void batch_norm_grad(T *dx, T *dgamma, T *dbeta, const T *dy, const T *x,
                     const T *save_mean, const T *save_inv_std, const T *gamma,
                     int N, const Sync &sync = {}) {
  RNC_CHECK(dy != nullptr, "batch_norm_grad: dy is null");
  detail::batch_norm_backward_impl<S, T>(dx, dgamma, dbeta,
                                         detail::DyTensor<S, T>{dy}, nullptr,
                                         x, save_mean, save_inv_std, gamma, N,
                                         sync);
}

// The backward of relu(batch_norm_train(x)) given the gradient dy of the
// ReLU's output `relu_out`: batch_norm_grad of relu_grad(dy,
// relu_out), without storing the masked gradient.
template <BatchNormShape S, class T = float, class Sync = NoSync>
void batch_norm_relu_grad(T *dx, T *dgamma, T *dbeta, const T *dy,
                          const T *relu_out, const T *x, const T *save_mean,
                          const T *save_inv_std, const T *gamma, int N,
                          const Sync &sync = {}) {
  RNC_CHECK(relu_out != nullptr && dy != nullptr,
            "batch_norm_relu_grad: relu_out or dy is null");
  detail::batch_norm_backward_impl<S, T>(dx, dgamma, dbeta,
                                         detail::DyTensor<S, T>{dy}, relu_out,
                                         x, save_mean, save_inv_std, gamma, N,
                                         sync);
}

// The backward of the training forward when the reductions are done
// (rn.batch_norm_grad_from_sums): grad_sum[c] = sum dy and grad_dev_sum[c] =
// sum dy * (x - mean[c]) over N * plane, e.g. from
// conv2d_grad_input_bn_reduce while it wrote dy (already masked by the ReLU,
// if one followed the BN). Writes dbeta = grad_sum, dgamma = grad_dev_sum *
// inv_std and dx as batch_norm_grad does, in one pass over dy and x: for
// sums reduced in batch_norm_grad's order the results are the same bits.
// dbeta and dgamma may alias grad_sum and grad_dev_sum.
template <BatchNormShape S, class T = float, class Sync = NoSync>
void batch_norm_grad_from_sums(T *dx, T *dgamma, T *dbeta, const T *dy,
                               const T *x, const T *save_mean,
                               const T *save_inv_std, const T *gamma,
                               const T *grad_sum, const T *grad_dev_sum,
                               int N, const Sync &sync = {}) {
  static_assert(S.valid(), "rnc::cpu::batch_norm_grad_from_sums: invalid "
                           "BatchNormShape");
  RNC_CHECK(N > 0 && dx && dgamma && dbeta && dy && x && save_mean &&
                save_inv_std && gamma && grad_sum && grad_dev_sum,
            "batch_norm_grad_from_sums: N > 0 and non-null pointers");
  for (int c = 0; c < S.channels; ++c) {
    T s = grad_sum[c], sd = grad_dev_sum[c];
    dbeta[c] = s;
    dgamma[c] = sd * save_inv_std[c];
  }
  detail::batch_norm_input_grad_synced<S, T>(
      dx, detail::DyTensor<S, T>{dy}, static_cast<const T *>(nullptr), x,
      save_mean, save_inv_std,
      gamma, dgamma, dbeta, N, sync);
}

} // namespace rnc::cpu
