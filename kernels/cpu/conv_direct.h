// Direct conv2d for grouped/depthwise layers with few channels per group.
#pragma once

#include <algorithm>

#include "bf16.h"
#include "common.h"
#include "kernels/shapes.h"

namespace rnc::cpu::detail {

// With few output channels per group, a GEMM does a handful of multiply-adds
// per im2col element it packs, and packing dominates. This kernel instead
// copies each input plane of the group once into a zero-padded,
// column-phase-split layout
//   xp[c][phase][ih + pad_h][jw] = x[c][ih][jw * stride_w + phase - pad_w]
// in which, for a fixed (c, kh, kw), consecutive outputs ow read consecutive
// inputs: xp[c][ph][oh*stride_h + kh*dil_h][ow + off] with
// ph = (kw*dil_w) % stride_w and off = (kw*dil_w) / stride_w. Blocks of MB
// output channels x VW vectors of one output row are then accumulated in
// registers: one vector load feeds MB multiply-adds. The weight gradient
// reads the same layout.

#if RNC_HAVE_VECTOR_EXT
// Direct kernel when the group has at most this many output channels.
#ifndef RNC_CONV_DIRECT_MAX_OUT // overridable for tuning runs only
#define RNC_CONV_DIRECT_MAX_OUT 16
#endif
inline constexpr int kDirectMaxOutPerGroup = RNC_CONV_DIRECT_MAX_OUT;

// Accumulates tile[o][i] = sum over (c, kh, kw) of w[o][c][kh][kw] * x, for
// MB channels and VW vectors of outputs starting at xs (xp of channel 0, at
// output row oh and column ow0).
template <Conv2DShape S, int MB, int VW, class T>
RNC_INLINE void direct_block(T *RNC_RESTRICT tile, const T *RNC_RESTRICT xs,
                             long phase_stride, long row_stride,
                             long chan_stride, const T *RNC_RESTRICT w) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  constexpr int Cg = S.in_per_group(), KH = S.kernel_h, KW = S.kernel_w,
                KHW = KH * KW;
  constexpr int SW = S.stride_w, DW = S.dilation_w;
  V acc[MB][VW];
  for (int o = 0; o < MB; ++o)
    for (int v = 0; v < VW; ++v)
      acc[o][v] = V{};
  for (int c = 0; c < Cg; ++c)
    for (int kh = 0; kh < KH; ++kh) {
      const T *xr = xs + c * chan_stride + long(kh) * S.dilation_h * row_stride;
      const T *wk = w + c * KHW + kh * KW;
#pragma GCC unroll 8
      for (int kw = 0; kw < KW; ++kw) {
        const T *xk = xr + ((kw * DW) % SW) * phase_stride + (kw * DW) / SW;
        V xv[VW];
        for (int v = 0; v < VW; ++v)
          xv[v] = vload(xk + v * L);
        for (int o = 0; o < MB; ++o) {
          V wv = vbroadcast(wk[o * Cg * KHW + kw]);
          for (int v = 0; v < VW; ++v)
            acc[o][v] += wv * xv[v];
        }
      }
    }
  for (int o = 0; o < MB; ++o)
    for (int v = 0; v < VW; ++v)
      vstore(tile + (o * VW + v) * L, acc[o][v]);
}

// Geometry of the phase-split copy for scalar type T. Forward works on chunks
// of CW = VW vectors of an output row; a phase row is WPH wide so that every
// load of every chunk stays inside it.
template <Conv2DShape S, class T> struct DirectGeom {
  static constexpr int L = Vec<T>::lanes;
  static constexpr int OH = S.out_h(), OW = S.out_w(), SW = S.stride_w;
  static constexpr int VW = std::min(4, (OW + L - 1) / L);
  static constexpr int CW = VW * L;
  static constexpr int chunks = (OW + CW - 1) / CW;
  static constexpr int HP = S.in_h + 2 * S.pad_h;
  static constexpr int WPH =
      chunks * CW + (S.kernel_w - 1) * S.dilation_w / SW + 1;
  static constexpr long row_stride = WPH, phase_stride = long(HP) * WPH,
                        chan_stride = SW * phase_stride;
};

// ceil(a / b) for b > 0, and 0 for a <= 0.
constexpr int div_up_or_zero(int a, int b) {
  return a <= 0 ? 0 : (a + b - 1) / b;
}

// xp = the padded, phase-split copy of xg [in_per_group, H, W].
template <Conv2DShape S, class T>
void direct_pack_input(T *RNC_RESTRICT xp, const T *RNC_RESTRICT xg) {
  using G = DirectGeom<S, T>;
  constexpr int H = S.in_h, W = S.in_w, SW = S.stride_w;
  for (int c = 0; c < S.in_per_group(); ++c)
    for (int ph = 0; ph < SW; ++ph)
      for (int r = 0; r < G::HP; ++r) {
        T *d =
            xp + c * G::chan_stride + ph * G::phase_stride + r * G::row_stride;
        int ih = r - S.pad_h;
        if (ih < 0 || ih >= H) {
          std::fill(d, d + G::WPH, T(0));
          continue;
        }
        // Columns jw in [lo, hi) read x (iw = jw * SW + ph - pad_w in
        // [0, W)); the rest are padding. Three loops without a test per
        // element (one per element was as much work as the multiply-adds
        // of a 4-channel group).
        const T *src = xg + (long(c) * H + ih) * W;
        const int lo = std::min(G::WPH, div_up_or_zero(S.pad_w - ph, SW));
        const int hi = std::max(
            lo, std::min(G::WPH, div_up_or_zero(W + S.pad_w - ph, SW)));
        std::fill(d, d + lo, T(0));
        for (int jw = lo; jw < hi; ++jw)
          d[jw] = conv_operand(src[jw * SW + ph - S.pad_w]);
        std::fill(d + hi, d + G::WPH, T(0));
      }
}

// Image n, group g: y_ng = conv(x_ng, w_g) (+ bias), then epi(n, c, idx, v).
template <Conv2DShape S, class T, class Epi>
void conv2d_direct_task(T *y, const T *x, const T *w, const T *bias, int n,
                        int g, const Epi &epi) {
  using G = DirectGeom<S, T>;
  constexpr int OH = G::OH, OW = G::OW, VW = G::VW, CW = G::CW;
  constexpr int Cg = S.in_per_group(), Mg = S.out_per_group(),
                KHW = S.kernel_h * S.kernel_w;
  constexpr int MB = std::max(1, std::min(Mg, 24 / VW)); // MB * VW accumulators

  T *xp = scratch<T>(kSlotCol, size_t(Cg) * G::chan_stride);
  direct_pack_input<S>(xp, x + (long(n) * S.in_channels + long(g) * Cg) *
                                   S.in_plane());

  const T *wg = w + long(g) * Mg * Cg * KHW;
  const int c0 = g * Mg;
  T *yn = y + long(n) * S.out_channels * OH * OW;
  alignas(64) T tile[MB * CW];
  auto emit = [&](int o0, int mb, int oh, int ow0) {
    int cols = std::min(CW, OW - ow0);
    for (int o = 0; o < mb; ++o) {
      int c = c0 + o0 + o;
      T *yr = yn + (long(c) * OH + oh) * OW + ow0;
      const T *tr = tile + o * CW;
      T b = bias ? bias[c] : T(0);
      for (int i = 0; i < cols; ++i)
        yr[i] = epi(n, c, long(oh) * OW + ow0 + i, tr[i] + b);
    }
  };
  for (int oh = 0; oh < OH; ++oh)
    for (int ch = 0; ch < G::chunks; ++ch) {
      int ow0 = ch * CW;
      const T *xs = xp + long(oh) * S.stride_h * G::row_stride + ow0;
      int o0 = 0;
      for (; o0 + MB <= Mg; o0 += MB) {
        direct_block<S, MB, VW>(tile, xs, G::phase_stride, G::row_stride,
                                G::chan_stride, wg + long(o0) * Cg * KHW);
        emit(o0, MB, oh, ow0);
      }
      if constexpr (Mg % MB != 0) {
        direct_block<S, Mg % MB, VW>(tile, xs, G::phase_stride, G::row_stride,
                                     G::chan_stride, wg + long(o0) * Cg * KHW);
        emit(o0, Mg % MB, oh, ow0);
      }
    }
}

// Weight gradient of MB output channels x one (c, kh) x all kw, accumulated
// lane-wise into part[o][kw] (vectors; o stride o_stride): over every output
// row and column of one image, dy rows padded with zeros to whole vectors.
template <Conv2DShape S, int MB, class T>
RNC_INLINE void
direct_dw_block(T *RNC_RESTRICT part, long o_stride, const T *RNC_RESTRICT dyp,
                const T *RNC_RESTRICT xs /* xp at (c, row kh*dil_h) */) {
  using V = typename Vec<T>::type;
  using G = DirectGeom<S, T>;
  constexpr int L = G::L, KW = S.kernel_w, SW = S.stride_w, DW = S.dilation_w;
  constexpr int OWV = (G::OW + L - 1) / L;
  V acc[MB][KW];
  for (int o = 0; o < MB; ++o)
    for (int kw = 0; kw < KW; ++kw)
      acc[o][kw] = vload(part + o * o_stride + kw * L);
  for (int oh = 0; oh < G::OH; ++oh) {
    const T *xr = xs + long(oh) * S.stride_h * G::row_stride;
    const T *dr = dyp + long(oh) * OWV * L;
    // Four vectors of the row a pass (kFmaLoopUnroll's reason; resnet50's stem:
    // 17.3 -> 16.0-16.3 ms against two, kernel-conv-bench).
#pragma GCC unroll 4
    for (int v = 0; v < OWV; ++v) {
      V d[MB];
      for (int o = 0; o < MB; ++o)
        d[o] = vload(dr + long(o) * G::OH * OWV * L + v * L);
#pragma GCC unroll 8
      for (int kw = 0; kw < KW; ++kw) {
        V xv = vload(xr + ((kw * DW) % SW) * G::phase_stride + (kw * DW) / SW +
                     v * L);
        for (int o = 0; o < MB; ++o)
          acc[o][kw] += d[o] * xv;
      }
    }
  }
  for (int o = 0; o < MB; ++o)
    for (int kw = 0; kw < KW; ++kw)
      vstore(part + o * o_stride + kw * L, acc[o][kw]);
}

// dw_g [out_per_group, in_per_group, KH, KW] = sum over images, output rows
// and columns of dy * x, for group g. Images in order, lanes combined in a
// fixed order: deterministic.
template <Conv2DShape S, class T>
void conv2d_direct_backward_weight_group(T *dw, const T *dy, const T *x, int N,
                                         int g) {
  using G = DirectGeom<S, T>;
  constexpr int L = G::L, OH = G::OH, OW = G::OW, OWV = (OW + L - 1) / L;
  constexpr int Cg = S.in_per_group(), Mg = S.out_per_group(), KH = S.kernel_h,
                KW = S.kernel_w, KHW = KH * KW;
  constexpr int MB = std::max(1, std::min(Mg, 24 / KW)); // MB * KW accumulators
  constexpr long o_stride = long(Cg) * KHW * L; // part is [Mg][Cg][KH][KW][L]
  T *xp = scratch<T>(kSlotCol, size_t(Cg) * G::chan_stride);
  T *dyp = scratch<T>(kSlotPackB, size_t(Mg) * OH * OWV * L);
  T *part = scratch<T>(kSlotPackA, size_t(Mg) * o_stride);
  std::fill(part, part + Mg * o_stride, T(0));
  for (int n = 0; n < N; ++n) {
    direct_pack_input<S>(xp, x + (long(n) * S.in_channels + long(g) * Cg) *
                                     S.in_plane());
    const T *dyg = dy + (long(n) * S.out_channels + long(g) * Mg) * OH * OW;
    for (int o = 0; o < Mg; ++o)
      for (int oh = 0; oh < OH; ++oh) {
        T *d = dyp + (long(o) * OH + oh) * OWV * L;
        const T *src = dyg + (long(o) * OH + oh) * OW;
        for (int ow = 0; ow < OW; ++ow)
          d[ow] = conv_operand(src[ow]); // bf16.h
        std::fill(d + OW, d + OWV * L, T(0));
      }
    // A block of MB output channels at a time over every (c, kh): its dy
    // rows (150 KB for resnet50's stem) stay in L2 while the packed input
    // is read again for each block. The other order read all of the packed
    // dy (3.2 MB an image there, more than L2) Cg * KH = 21 times: resnet50's
    // stem at batch 8 23.4 -> 18.6-19.1 ms (kernel-conv-bench, one thread).
    // Each accumulator sees the same additions in the same order: the same
    // bits.
    auto block = [&](int o0, auto mb) {
      for (int c = 0; c < Cg; ++c)
        for (int kh = 0; kh < KH; ++kh) {
          const T *xs = xp + c * G::chan_stride +
                        long(kh) * S.dilation_h * G::row_stride;
          T *pc = part + (long(c) * KHW + kh * KW) * L;
          direct_dw_block<S, decltype(mb)::value>(
              pc + o0 * o_stride, o_stride, dyp + long(o0) * OH * OWV * L, xs);
        }
    };
    int o0 = 0;
    for (; o0 + MB <= Mg; o0 += MB)
      block(o0, std::integral_constant<int, MB>{});
    if constexpr (Mg % MB != 0)
      block(o0, std::integral_constant<int, Mg % MB>{});
  }
  T *dwg = dw + long(g) * Mg * Cg * KHW;
  T lanes[L];
  for (long i = 0; i < long(Mg) * Cg * KHW; ++i) {
    std::copy(part + i * L, part + (i + 1) * L, lanes);
    dwg[i] = combine_lanes(lanes, L);
  }
}

template <Conv2DShape S> constexpr bool use_direct_conv() {
  return S.groups > 1 && S.out_per_group() <= kDirectMaxOutPerGroup;
}
#else
template <Conv2DShape S> constexpr bool use_direct_conv() { return false; }
template <Conv2DShape S, class T, class Epi>
void conv2d_direct_task(T *, const T *, const T *, const T *, int, int,
                        const Epi &) {}
template <Conv2DShape S, class T>
void conv2d_direct_backward_weight_group(T *, const T *, const T *, int, int) {}
#endif

} // namespace rnc::cpu::detail
