// conv2d forward (+ BN statistics) and backward, NHWC activations, KCRS
// weights, as implicit GEMMs on the engine of igemm.cuh.
//
// Per group g (Cg = in_channels/groups, Mg = out_channels/groups, RS =
// kernel_h*kernel_w, P = out_h*out_w):
//   forward      y[M=N*P, Mg]      = im2col(x)[M, K=RS*Cg] * W_g^T[K, Mg]
//   backward dx  dx[M=N*H*W, Cg]   = gather(dy)[M, K=RS*Mg] * W_g[K, Cg]
//   backward dw  dw_g[Mg, RS*Cg]   = dy^T[Mg, K=N*P] * im2col(x)[K, RS*Cg]
// The reduction index k runs over (tap rs = r*KW + s, channel c) with
// consecutive k on consecutive channels of one NHWC pixel (see tap_channel).
#pragma once

#include "common.cuh"
#include "epilogue.cuh"
#include "igemm.cuh"
#include "reduce.cuh"

namespace rnc::cuda {

namespace detail {

// ----------------------------------------------------------------------------
// Kernels: the three problems (accessors for igemm_kernel).

template <Conv2DShape S> struct ConvDims {
  static constexpr int Cin = S.in_channels, Cout = S.out_channels;
  static constexpr int H = S.in_h, W = S.in_w, OH = S.out_h(), OW = S.out_w();
  static constexpr int P = OH * OW, HW = H * W;
  static constexpr int KH = S.kernel_h, KW = S.kernel_w, RS = KH * KW;
  static constexpr int Cg = S.in_per_group(), Mg = S.out_per_group();
  static constexpr int SH = S.stride_h, SW = S.stride_w;
  static constexpr int PH = S.pad_h, PW = S.pad_w;
  static constexpr int DH = S.dilation_h, DW = S.dilation_w;

  // The (tap, channel) of reduction index k over C channels per tap. When C
  // is a multiple of the slice depth BK, chunks of BK channels are
  // outermost and the taps of a chunk take consecutive slices, so slice
  // after slice reads the same cache lines of x and of the KCRS weights
  // (whose taps are innermost); otherwise k = rs*C + c.
  template <int C>
  __host__ __device__ static void tap_channel(int k, int &rs, int &c) {
    if constexpr (C % kTileK == 0) {
      const int slice = k / kTileK, lane = k - slice * kTileK;
      const int chunk = slice / RS;
      rs = slice - chunk * RS;
      c = chunk * kTileK + lane;
    } else {
      rs = k / C;
      c = k - rs * C;
    }
  }

  // NHWC offset of input channel g*Cg + c at the pixel tap (r, s) of output
  // pixel q = oh*OW + ow of image n reads, or -1 in the padding.
  __host__ __device__ static long input_offset(int n, int q, int rs, int g,
                                               int c) {
    if constexpr (S.pointwise()) // 1x1, stride 1, no padding: same pixel
      return (long(n) * P + q) * Cin + g * Cg + c;
    const int oh = q / OW, ow = q - oh * OW;
    const int r = rs / KW, s = rs - r * KW;
    const int ih = oh * SH - PH + r * DH, iw = ow * SW - PW + s * DW;
    if (ih < 0 || ih >= H || iw < 0 || iw >= W)
      return -1;
    return ((long(n) * H + ih) * W + iw) * Cin + g * Cg + c;
  }

  // The output pixel whose tap (r, s) reads input pixel (ih, iw), as its
  // NHWC offset (channel 0 of image n), or -1 if there is none.
  __host__ __device__ static long output_pixel_of_tap(int n, int ih, int iw,
                                                      int rs) {
    if constexpr (S.pointwise())
      return ((long(n) * OH + ih) * OW + iw) * Cout;
    const int r = rs / KW, s = rs - r * KW;
    const int th = ih + PH - r * DH, tw = iw + PW - s * DW;
    if (th < 0 || tw < 0 || th % SH != 0 || tw % SW != 0)
      return -1;
    const int oh = th / SH, ow = tw / SW;
    if (oh >= OH || ow >= OW)
      return -1;
    return ((long(n) * OH + oh) * OW + ow) * Cout;
  }

  // KCRS offset of w[g*Mg + o][c][rs].
  __host__ __device__ static long weight_offset(int g, int o, int c, int rs) {
    return (long(g * Mg + o) * Cg + c) * RS + rs;
  }
};

__host__ __device__ __forceinline__ float4 load4(const float *p) {
  return ldg(reinterpret_cast<const float4 *>(p));
}
__host__ __device__ __forceinline__ float4 zero4() {
  return make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

// Forward: row m = n*P + q (output pixel), column j (output channel g*Mg+j),
// k = rs*Cg + c.
template <Conv2DShape S, class Epi, bool Stats> struct ConvFwdOp {
  using D = ConvDims<S>;
  static constexpr int kGroups = S.groups, kN = D::Mg, kK = D::RS * D::Cg;
  static constexpr bool kAAlongK = true, kBAlongK = true;
  static constexpr bool kAVec = D::Cg % 4 == 0;
  static constexpr bool kBVec = D::RS == 1 && D::Cg % 4 == 0;
  static constexpr bool kStats = Stats;

  float *y;
  const float *x, *w, *bias;
  float *sum, *sumsq;
  Epi epi;

  __host__ __device__ __forceinline__ long a_offset(int g, int m, int k) const {
    const int n = m / D::P, q = m - n * D::P;
    int rs, c;
    D::template tap_channel<D::Cg>(k, rs, c);
    return D::input_offset(n, q, rs, g, c);
  }
  __host__ __device__ __forceinline__ float a(int g, int m, int k) const {
    const long i = a_offset(g, m, k);
    return i < 0 ? 0.0f : ldg(x + i);
  }
  // k % 4 == 0 and Cg % 4 == 0: the 4 channels share the pixel.
  __host__ __device__ __forceinline__ float4 a4(int g, int m, int k) const {
    const long i = a_offset(g, m, k);
    return i < 0 ? zero4() : load4(x + i);
  }
  __host__ __device__ __forceinline__ float b(int g, int k, int j) const {
    int rs, c;
    D::template tap_channel<D::Cg>(k, rs, c);
    return ldg(w + D::weight_offset(g, j, c, rs));
  }
  // RS == 1: k is the input channel, contiguous in KCRS.
  __host__ __device__ __forceinline__ float4 b4(int g, int k, int j) const {
    return load4(w + D::weight_offset(g, j, k, 0));
  }
  __host__ __device__ __forceinline__ float store(int g, int m, int j,
                                                  float v) const {
    const int co = g * D::Mg + j;
    if (bias)
      v += ldg(bias + co);
    const int n = m / D::P, q = m - n * D::P;
    v = epi(n, co, long(q), v);
    y[long(m) * D::Cout + co] = v;
    return v;
  }
  __host__ __device__ __forceinline__ float second_stat(int, int, int,
                                                        float v) const {
    return v * v;
  }
  __host__ __device__ __forceinline__ void add_stats(int g, int j, float s,
                                                     float ss) const {
    atomic_add(sum + g * D::Mg + j, s);
    atomic_add(sumsq + g * D::Mg + j, ss);
  }
};

// Backward data: row m = n*H*W + ih*W + iw (input pixel), column c (input
// channel g*Cg + c), k = rs*Mg + o. A is dy gathered through the taps (zero
// where no output pixel uses tap rs at this input pixel: padding and the
// stride's holes), B is the weight read as [K, Cg] -- no flip needed.
// With Sums (rn.conv2d_grad_input_bn_reduce), the stored values v are also
// reduced per input channel: sum v and sum v * (bn_x - bn_mean[c]).
template <Conv2DShape S, class Epi, bool Sums = false> struct ConvBwdDataOp {
  using D = ConvDims<S>;
  static constexpr int kGroups = S.groups, kN = D::Cg, kK = D::RS * D::Mg;
  static constexpr bool kAAlongK = true, kBAlongK = false;
  static constexpr bool kAVec = D::Mg % 4 == 0;
  static constexpr bool kBVec = D::RS == 1 && D::Cg % 4 == 0;
  static constexpr bool kStats = Sums;

  float *dx;
  const float *dy, *w;
  Epi epi;
  const float *bn_x = nullptr, *bn_mean = nullptr; // only with Sums
  float *sum = nullptr, *dev_sum = nullptr;

  __host__ __device__ __forceinline__ long a_offset(int g, int m, int k) const {
    const int n = m / D::HW, q = m - n * D::HW;
    const int ih = q / D::W, iw = q - ih * D::W;
    int rs, o;
    D::template tap_channel<D::Mg>(k, rs, o);
    const long pixel = D::output_pixel_of_tap(n, ih, iw, rs);
    return pixel < 0 ? -1 : pixel + g * D::Mg + o;
  }
  __host__ __device__ __forceinline__ float a(int g, int m, int k) const {
    const long i = a_offset(g, m, k);
    return i < 0 ? 0.0f : ldg(dy + i);
  }
  __host__ __device__ __forceinline__ float4 a4(int g, int m, int k) const {
    const long i = a_offset(g, m, k);
    return i < 0 ? zero4() : load4(dy + i);
  }
  __host__ __device__ __forceinline__ float b(int g, int k, int c) const {
    int rs, o;
    D::template tap_channel<D::Mg>(k, rs, o);
    return ldg(w + D::weight_offset(g, o, c, rs));
  }
  // RS == 1: 4 consecutive input channels of one output channel.
  __host__ __device__ __forceinline__ float4 b4(int g, int k, int c) const {
    return load4(w + D::weight_offset(g, k, c, 0));
  }
  __host__ __device__ __forceinline__ float store(int g, int m, int c,
                                                  float v) const {
    const int ci = g * D::Cg + c;
    const int n = m / D::HW, q = m - n * D::HW;
    v = epi(n, ci, long(q), v);
    dx[long(m) * D::Cin + ci] = v;
    return v;
  }
  __host__ __device__ __forceinline__ float second_stat(int g, int m, int c,
                                                        float v) const {
    const int ci = g * D::Cg + c;
    return v * (ldg(bn_x + long(m) * D::Cin + ci) - ldg(bn_mean + ci));
  }
  __host__ __device__ __forceinline__ void add_stats(int g, int c, float s,
                                                     float sd) const {
    if constexpr (Sums) {
      atomic_add(sum + g * D::Cg + c, s);
      atomic_add(dev_sum + g * D::Cg + c, sd);
    }
  }
};

// Backward weight: row o (output channel g*Mg + o), column j = rs*Cg + c,
// k = n*P + q (output pixel). Partial sums of a K split are added into dw
// (zeroed first) with atomics.
template <Conv2DShape S> struct ConvBwdWeightOp {
  using D = ConvDims<S>;
  static constexpr int kGroups = S.groups, kM = D::Mg, kN = D::RS * D::Cg;
  static constexpr bool kAAlongK = false, kBAlongK = false;
  static constexpr bool kAVec = D::Mg % 4 == 0;
  static constexpr bool kBVec = D::Cg % 4 == 0;
  static constexpr bool kStats = false;

  float *dw;
  const float *dy, *x;

  __host__ __device__ __forceinline__ float a(int g, int o, int k) const {
    return ldg(dy + long(k) * D::Cout + g * D::Mg + o);
  }
  // o % 4 == 0 and Mg % 4 == 0: 4 consecutive output channels.
  __host__ __device__ __forceinline__ float4 a4(int g, int o, int k) const {
    return load4(dy + long(k) * D::Cout + g * D::Mg + o);
  }
  __host__ __device__ __forceinline__ long b_offset(int g, int k, int j) const {
    const int n = k / D::P, q = k - n * D::P;
    const int rs = j / D::Cg, c = j - rs * D::Cg;
    return D::input_offset(n, q, rs, g, c);
  }
  __host__ __device__ __forceinline__ float b(int g, int k, int j) const {
    const long i = b_offset(g, k, j);
    return i < 0 ? 0.0f : ldg(x + i);
  }
  // j % 4 == 0 and Cg % 4 == 0: 4 channels of one tap.
  __host__ __device__ __forceinline__ float4 b4(int g, int k, int j) const {
    const long i = b_offset(g, k, j);
    return i < 0 ? zero4() : load4(x + i);
  }
  __host__ __device__ __forceinline__ float store(int g, int o, int j,
                                                  float v) const {
    const int rs = j / D::Cg, c = j - rs * D::Cg;
    atomic_add(dw + D::weight_offset(g, o, c, rs), v);
    return v;
  }
  __host__ __device__ __forceinline__ void add_stats(int, int, float,
                                                     float) const {}
};

// Number of K slices of a weight gradient: enough blocks to fill the GPU,
// at least 4 BK slices each. Returns the split count; *k_split its length (a
// multiple of BK).
__host__ __device__ constexpr int
weight_grad_splits(long K, long tiles, int groups, int bk, int *k_split) {
  long want = ceil_div(kTargetBlocks, tiles > 0 ? tiles : 1);
  long most = min_l(ceil_div(K, 4L * bk), 65535L / groups);
  long splits = max_l(1, min_l(want, most));
  long len = ceil_div(ceil_div(K, splits), bk) * bk;
  *k_split = int(len);
  return int(ceil_div(K, len));
}

template <Conv2DShape S, class Epi, bool Stats>
void conv_forward_launch(float *y, const float *x, const float *w,
                         const float *bias, float *sum, float *sumsq, int N,
                         const Epi &epi) {
  using Op = ConvFwdOp<S, Epi, Stats>;
  const long M = long(N) * S.out_plane();
  if (!check_args(M < (1L << 31)) ||
      !check_aligned((!Op::kAVec || aligned16(x)) &&
                     (!Op::kBVec || aligned16(w))))
    return;
  if constexpr (Stats) {
    record(cudaMemsetAsync(sum, 0, sizeof(float) * S.out_channels,
                           current_stream()));
    record(cudaMemsetAsync(sumsq, 0, sizeof(float) * S.out_channels,
                           current_stream()));
  }
  launch_igemm<Op, ColsCfg<Op::kN, Op::kK>>(Op{y, x, w, bias, sum, sumsq, epi},
                                            int(M), Op::kK, 1, Op::kK);
}

} // namespace detail

// ----------------------------------------------------------------------------
// Launchers. Every pointer is a device pointer; activations NHWC, weights
// KCRS [out_channels, in_channels/groups, kernel_h, kernel_w].

// y [N, OH, OW, out_channels] = conv(x [N, H, W, in_channels], w) + bias
// (bias may be null), then epi(n, c, oh*OW + ow, v) on every output.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d(T *y, const T *x, const T *w, const std::type_identity_t<T> *bias,
            int N, const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cuda::conv2d: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d");
  if (!detail::check_args(N > 0 && y && x && w))
    return;
  detail::conv_forward_launch<S, Epilogue, false>(y, x, w, bias, nullptr,
                                                  nullptr, N, epi);
}

// The same, plus per output channel the sum and sum of squares of the stored
// y over N, OH, OW (fp32; block partial sums added with atomics, so the last
// bits depend on timing). The sums are zeroed here first.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_bn_train_stats(T *y, T *channel_sum, T *channel_sumsq, const T *x,
                           const T *w, const std::type_identity_t<T> *bias,
                           int N, const Epilogue &epi = {}) {
  static_assert(S.valid(),
                "rnc::cuda::conv2d_bn_train_stats: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_bn_train_stats");
  if (!detail::check_args(N > 0 && y && x && w && channel_sum && channel_sumsq))
    return;
  detail::conv_forward_launch<S, Epilogue, true>(y, x, w, bias, channel_sum,
                                                 channel_sumsq, N, epi);
}

// dx [N, H, W, in_channels] = the gradient of the input given dy [N, OH, OW,
// out_channels], then epi(n, c, ih*W + iw, v) on every element. Tensors the
// epilogue reads must not alias dx. Writes dx (never accumulates).
namespace detail {
template <Conv2DShape S, bool Sums, class Epilogue>
void conv_backward_data_launch(float *dx, const float *dy, const float *w,
                               int N, const Epilogue &epi, const float *bn_x,
                               const float *bn_mean, float *sum,
                               float *dev_sum) {
  using Op = ConvBwdDataOp<S, Epilogue, Sums>;
  const long M = long(N) * S.in_plane();
  if (!check_args(M < (1L << 31)) ||
      !check_aligned((!Op::kAVec || aligned16(dy)) &&
                     (!Op::kBVec || aligned16(w))))
    return;
  if constexpr (Sums) {
    record(cudaMemsetAsync(sum, 0, sizeof(float) * S.in_channels,
                           current_stream()));
    record(cudaMemsetAsync(dev_sum, 0, sizeof(float) * S.in_channels,
                           current_stream()));
  }
  launch_igemm<Op, ColsCfg<Op::kN, Op::kK>>(
      Op{dx, dy, w, epi, bn_x, bn_mean, sum, dev_sum}, int(M), Op::kK, 1,
      Op::kK);
}
} // namespace detail

template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_grad_input(T *dx, const T *dy, const T *w, int N,
                       const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cuda::conv2d_grad_input: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_grad_input");
  if (!detail::check_args(N > 0 && dx && dy && w))
    return;
  detail::conv_backward_data_launch<S, false>(dx, dy, w, N, epi, nullptr,
                                              nullptr, nullptr, nullptr);
}

// conv2d_grad_input that also writes, per input channel c over N, H, W,
//   grad_sum[c] = sum g,   grad_dev_sum[c] = sum g * (x - mean[c])
// of the stored (epilogue-applied) values g, for the batch norm whose output
// gradient g is (rn.conv2d_grad_input_bn_reduce). Block partial sums are
// added with atomics (zeroed here first), so the last bits depend on timing.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_grad_input_bn_reduce(T *dx, T *grad_sum, T *grad_dev_sum,
                                 const T *dy, const T *w, const T *x,
                                 const T *mean, int N,
                                 const Epilogue &epi = {}) {
  static_assert(S.valid(),
                "rnc::cuda::conv2d_grad_input_bn_reduce: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_grad_input_bn_reduce");
  if (!detail::check_args(N > 0 && dx && dy && w && x && mean && grad_sum &&
                          grad_dev_sum))
    return;
  detail::conv_backward_data_launch<S, true>(dx, dy, w, N, epi, x, mean,
                                             grad_sum, grad_dev_sum);
}

// dw [out_channels, in_channels/groups, KH, KW] = sum over the batch of
// dy_g^T im2col(x_g). Zeroes dw, then adds the partial products of K slices
// with atomics (the last bits depend on timing). Writes dw.
template <Conv2DShape S, class T = float>
void conv2d_grad_weight(T *dw, const T *dy, const T *x, int N) {
  static_assert(S.valid(),
                "rnc::cuda::conv2d_grad_weight: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_grad_weight");
  using Op = detail::ConvBwdWeightOp<S>;
  using Cfg = detail::RowsCfg<Op::kM>;
  const long K = long(N) * S.out_plane();
  if (!detail::check_args(N > 0 && dw && dy && x && K < (1L << 31)) ||
      !detail::check_aligned((!Op::kAVec || detail::aligned16(dy)) &&
                             (!Op::kBVec || detail::aligned16(x))))
    return;
  detail::record(cudaMemsetAsync(dw, 0, sizeof(float) * S.weight_size(),
                                 current_stream()));
  const long tiles = detail::ceil_div(Op::kM, Cfg::BM) *
                     detail::ceil_div(Op::kN, Cfg::BN) * S.groups;
  int k_split = 0;
  const int splits =
      detail::weight_grad_splits(K, tiles, S.groups, Cfg::BK, &k_split);
  detail::launch_igemm<Op, Cfg>(Op{dw, dy, x}, Op::kM, int(K), splits, k_split);
}

// db [out_channels] = sum of dy over N, OH, OW. Writes db.
template <Conv2DShape S, class T = float>
void conv2d_bias_grad(T *db, const T *dy, int N) {
  static_assert(S.valid(), "rnc::cuda::conv2d_bias_grad: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_bias_grad");
  if (!detail::check_args(N > 0 && db && dy))
    return;
  detail::launch_channel_sums<S.out_channels, 1>(
      detail::PlainSum{dy, S.out_channels}, db, nullptr,
      long(N) * S.out_plane());
}

} // namespace rnc::cuda
