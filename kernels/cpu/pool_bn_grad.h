// The backward of max_pool2d(relu(batch_norm_train(x))) in one kernel
// (rn.max_pool2d_bn_relu_grad, from rnc-fuse-pool-bn-grad): the gradient at
// the pool's input, zero but at each window's first maximum, is never
// stored. For 2x2 windows that tile the plane (fashion_resnet's stem pool)
// both passes of the BN backward work on the windows directly: the sums
// read the pooled gradient and, at each window's maximum, x; the input
// gradient writes dx a window row at a time; the sums then run over
// windows, not elements: not the bits of the two kernels one after the
// other, the same math (pool_bn_grad_test.cpp states the tolerance). Other
// windows build each plane of the pool's gradient in a per-thread buffer
// (the same values max_pool2d_grad writes) once per pass: slower than the
// two kernels where windows overlap, so rnc-fuse-pool-bn-grad fuses only
// windows that tile the input.
#pragma once

#include "batchnorm.h"
#include "pool.h"

namespace rnc::cpu {

namespace detail {

template <Pool2DShape PS, class T> constexpr bool pool_bn_grad_windows() {
  return max_pool_2x2_vector<PS, T>() && PS.in_h % 2 == 0 && PS.in_w % 2 == 0;
}

// The BN backward's dy source (DyTensor's contract, batchnorm.h) for dy =
// max_pool2d_grad(pooled_grad, pool_in), pool_in the ReLU's output.
template <Pool2DShape PS, class T> struct PooledDy {
  const T *pooled_grad;
  const T *pool_in;

  const T *grad_plane(int n, int c) const {
    return pooled_grad + (long(n) * PS.channels + c) * PS.out_plane();
  }
  // The pool's gradient for plane (n, c), in this thread's scratch.
  const T *plane(int n, int c) const {
    const long p = long(n) * PS.channels + c;
    T *buf = scratch<T>(kSlotCol, size_t(PS.in_plane()));
    max_pool2d_grad_plane<PS>(buf, grad_plane(n, c),
                              pool_in + p * PS.in_plane());
    return buf;
  }

  // relu_out is pool_in's plane (n, c): the ReLU's output is the pool's
  // input, as rnc-fuse-pool-bn-grad requires.
  void sums(int n, int c, const T *relu_out, const T *x, T mean, T *sum_dy,
            T *sum_dy_dev) const {
    if constexpr (pool_bn_grad_windows<PS, T>()) {
#if RNC_HAVE_VECTOR_EXT
      constexpr int OW = PS.out_w();
      const T *g = grad_plane(n, c);
      Pool8 a = {}, b = {};
      PoolIdx8 lane;
      for (int i = 0; i < 8; ++i)
        lane[i] = i;
      for (int oh = 0; oh < PS.out_h(); ++oh)
        for (int ow = 0, done = 0;; ow = std::min(ow + 8, OW - 8)) {
          Pool8 m, xa;
          PoolIdx8 best;
          max_pool_2x2_chunk<PS>(relu_out, oh, ow, &m, &best);
          window_at<PS>(x, oh, ow, best, &xa);
          // Lanes an overlapping last chunk already counted add nothing.
          PoolIdx8 take = (m > Pool8{}) & (lane >= done - ow);
          Pool8 gv = *(const Pool8 *)(g + oh * OW + ow);
          gv = take ? gv : Pool8{};
          a += gv;
          b += gv * (xa - mean);
          done = ow + 8;
          if (ow == OW - 8)
            break;
        }
      T sa = 0, sb = 0;
      for (int i = 0; i < 8; ++i)
        sa += a[i], sb += b[i];
      *sum_dy = sa;
      *sum_dy_dev = sb;
#endif
    } else {
      bn_grad_plane_sums(plane(n, c), relu_out, x, PS.in_plane(), mean, sum_dy,
                         sum_dy_dev);
    }
  }

  void input_grad(int n, int c, T *dx, const T *relu_out, const T *x,
                  const BnInputGradCoeffs<T> &f) const {
    if constexpr (pool_bn_grad_windows<PS, T>()) {
#if RNC_HAVE_VECTOR_EXT
      constexpr int OW = PS.out_w(), W = PS.in_w;
      const T *g = grad_plane(n, c);
      const Pool8 k = Pool8{} + f.k, mdb = Pool8{} + f.mdb,
                  mean = Pool8{} + f.mean, inv = Pool8{} + f.inv,
                  mdg = Pool8{} + f.mdg;
      for (int oh = 0; oh < PS.out_h(); ++oh)
        for (int ow = 0;; ow = std::min(ow + 8, OW - 8)) {
          Pool8 m;
          PoolIdx8 best;
          max_pool_2x2_chunk<PS>(relu_out, oh, ow, &m, &best);
          const Pool8 gv = *(const Pool8 *)(g + oh * OW + ow), z = {};
          const PoolIdx8 live = m > z;
          Pool8 d[4];
          for (int w = 0; w < 4; ++w)
            d[w] = (best == w) & live ? gv : z;
          const long at = long(2 * oh) * W + 2 * ow;
          Pool8 dy[4];
          max_pool_2x2_rows(d, dy);
          const long off[4] = {at, at + 8, at + W, at + W + 8};
          for (int r = 0; r < 4; ++r) {
            Pool8 xv = *(const Pool8 *)(x + off[r]);
            *(Pool8 *)(dx + off[r]) =
                k * (dy[r] - mdb - (xv - mean) * inv * mdg);
          }
          if (ow == OW - 8)
            break;
        }
#endif
    } else {
      bn_grad_plane_input(dx, plane(n, c), relu_out, x, PS.in_plane(), f);
    }
  }

#if RNC_HAVE_VECTOR_EXT
  // x at each window's first maximum (window element best, 0..3) for
  // outputs [ow, ow + 8) of row oh.
  template <Pool2DShape P>
  static RNC_INLINE void window_at(const T *x, int oh, int ow,
                                   const PoolIdx8 &best, Pool8 *out) {
    Pool8 v[4];
    max_pool_2x2_windows<P>(x, oh, ow, v);
    Pool8 a = v[0];
    for (int k = 1; k < 4; ++k)
      a = best == k ? v[k] : a;
    *out = a;
  }
#endif
};

} // namespace detail

// dx, dgamma, dbeta = batch_norm_relu_grad(max_pool2d_grad(pooled_grad,
// relu_out), relu_out, x, ...): relu_out [N, C, H, W] is the ReLU's output
// and the pool's input; pooled_grad [N, C, OH, OW] the gradient of the
// pool's output.
template <Pool2DShape PS, BatchNormShape S, class T = float,
          class Sync = NoSync>
void max_pool2d_bn_relu_grad(T *dx, T *dgamma, T *dbeta, const T *pooled_grad,
                             const T *relu_out, const T *x, const T *save_mean,
                             const T *save_inv_std, const T *gamma, int N,
                             const Sync &sync = {}) {
  static_assert(PS.valid() && S.valid() && PS.channels == S.channels &&
                    PS.in_plane() == S.plane,
                "rnc::cpu::max_pool2d_bn_relu_grad: the pool's input is not "
                "the batch norm's tensor");
  RNC_CHECK(pooled_grad && relu_out,
            "max_pool2d_bn_relu_grad: N > 0 and non-null pointers");
  detail::batch_norm_backward_impl<S, T>(
      dx, dgamma, dbeta, detail::PooledDy<PS, T>{pooled_grad, relu_out},
      relu_out, x, save_mean, save_inv_std, gamma, N, sync);
}

} // namespace rnc::cpu
