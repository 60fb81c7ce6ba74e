// Direct (unpacked) conv2d forward for grouped and depthwise layers with few output channels per group.
#pragma once

#include <algorithm>

#include "common.h"
#include "conv_shape.h"

namespace rnc::cpu::detail {

// With few output channels per group, a GEMM does a handful of multiply-adds
// per im2col element it packs, and packing dominates. This kernel instead
// copies each input plane of the group once into a zero-padded,
// column-phase-split layout
//   xp[c][phase][ih + pad_h][jw] = x[c][ih][jw * stride_w + phase - pad_w]
// where, for a fixed (c, kh, kw), the inputs of consecutive outputs ow are
// consecutive: xp[c][(kw*dil_w) % stride_w][oh*stride_h + kh*dil_h][ow + (kw*dil_w) / stride_w].
// Blocks of MB output channels x VW vectors of one output row are then
// accumulated in registers: one vector load feeds MB multiply-adds.

#if RNC_HAVE_VECTOR_EXT
// Direct kernel when the group has at most this many output channels.
inline constexpr int kDirectMaxOutPerGroup = 8;

// Accumulates tile[o][i] = sum over (c, kh, kw) of w[o][c][kh][kw] * x, for
// MB channels and VW vectors of outputs starting at xs (xp of channel 0, at
// output row oh and column ow0).
template <Conv2DShape S, int MB, int VW, class T>
RNC_INLINE void direct_block(T* RNC_RESTRICT tile, const T* RNC_RESTRICT xs, long phase_stride, long row_stride,
                             long chan_stride, const T* RNC_RESTRICT w) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  constexpr int Cg = S.in_per_group(), KH = S.kernel_h, KW = S.kernel_w, KHW = KH * KW;
  constexpr int SW = S.stride_w, DW = S.dilation_w;
  V acc[MB][VW];
  for (int o = 0; o < MB; ++o)
    for (int v = 0; v < VW; ++v) acc[o][v] = V{};
  for (int c = 0; c < Cg; ++c)
    for (int kh = 0; kh < KH; ++kh) {
      const T* xr = xs + c * chan_stride + long(kh) * S.dilation_h * row_stride;
      const T* wk = w + c * KHW + kh * KW;
#pragma GCC unroll 8
      for (int kw = 0; kw < KW; ++kw) {
        const T* xk = xr + ((kw * DW) % SW) * phase_stride + (kw * DW) / SW;
        V xv[VW];
        for (int v = 0; v < VW; ++v) xv[v] = vload(xk + v * L);
        for (int o = 0; o < MB; ++o) {
          V wv = vbroadcast(wk[o * Cg * KHW + kw]);
          for (int v = 0; v < VW; ++v) acc[o][v] += wv * xv[v];
        }
      }
    }
  for (int o = 0; o < MB; ++o)
    for (int v = 0; v < VW; ++v) vstore(tile + (o * VW + v) * L, acc[o][v]);
}

// Image n, group g: y_ng = conv(x_ng, w_g) (+ bias), then epi(n, c, idx, v).
template <Conv2DShape S, class T, class Epi>
void conv2d_direct_task(T* y, const T* x, const T* w, const T* bias, int n, int g, const Epi& epi) {
  constexpr int L = Vec<T>::lanes;
  constexpr int OH = S.out_h(), OW = S.out_w(), H = S.in_h, W = S.in_w, SW = S.stride_w;
  constexpr int Cg = S.in_per_group(), Mg = S.out_per_group(), KHW = S.kernel_h * S.kernel_w;
  constexpr int VW = std::min(4, (OW + L - 1) / L);  // vectors per chunk of an output row
  constexpr int CW = VW * L;                         // outputs per chunk
  constexpr int MB = std::max(1, std::min(Mg, 24 / VW));  // MB * VW accumulators
  constexpr int chunks = (OW + CW - 1) / CW;
  constexpr int HP = S.in_h + 2 * S.pad_h;
  constexpr int WPH = chunks * CW + (S.kernel_w - 1) * S.dilation_w / SW + 1;  // phase row: covers every load
  constexpr long row_stride = WPH, phase_stride = long(HP) * WPH, chan_stride = SW * phase_stride;

  // The padded, phase-split copy of the group's input planes.
  T* xp = scratch<T>(kSlotCol, size_t(Cg) * chan_stride);
  const T* xg = x + (long(n) * S.in_channels + long(g) * Cg) * S.in_plane();
  for (int c = 0; c < Cg; ++c)
    for (int ph = 0; ph < SW; ++ph)
      for (int r = 0; r < HP; ++r) {
        T* d = xp + c * chan_stride + ph * phase_stride + r * row_stride;
        int ih = r - S.pad_h;
        if (ih < 0 || ih >= H) {
          std::fill(d, d + WPH, T(0));
          continue;
        }
        const T* src = xg + (long(c) * H + ih) * W;
        for (int jw = 0; jw < WPH; ++jw) {
          int iw = jw * SW + ph - S.pad_w;
          d[jw] = iw >= 0 && iw < W ? src[iw] : T(0);
        }
      }

  const T* wg = w + long(g) * Mg * Cg * KHW;
  const int c0 = g * Mg;
  T* yn = y + long(n) * S.out_channels * OH * OW;
  alignas(64) T tile[MB * CW];
  auto emit = [&](int o0, int mb, int oh, int ow0) {
    int cols = std::min(CW, OW - ow0);
    for (int o = 0; o < mb; ++o) {
      int c = c0 + o0 + o;
      T* yr = yn + (long(c) * OH + oh) * OW + ow0;
      const T* tr = tile + o * CW;
      T b = bias ? bias[c] : T(0);
      for (int i = 0; i < cols; ++i) yr[i] = epi(n, c, long(oh) * OW + ow0 + i, tr[i] + b);
    }
  };
  for (int oh = 0; oh < OH; ++oh)
    for (int ch = 0; ch < chunks; ++ch) {
      int ow0 = ch * CW;
      const T* xs = xp + long(oh) * S.stride_h * row_stride + ow0;
      int o0 = 0;
      for (; o0 + MB <= Mg; o0 += MB) {
        direct_block<S, MB, VW>(tile, xs, phase_stride, row_stride, chan_stride, wg + long(o0) * Cg * KHW);
        emit(o0, MB, oh, ow0);
      }
      if constexpr (Mg % MB != 0) {
        direct_block<S, Mg % MB, VW>(tile, xs, phase_stride, row_stride, chan_stride, wg + long(o0) * Cg * KHW);
        emit(o0, Mg % MB, oh, ow0);
      }
    }
}

template <Conv2DShape S>
constexpr bool use_direct_conv() {
  return S.groups > 1 && S.out_per_group() <= kDirectMaxOutPerGroup;
}
#else
template <Conv2DShape S>
constexpr bool use_direct_conv() {
  return false;
}
template <Conv2DShape S, class T, class Epi>
void conv2d_direct_task(T*, const T*, const T*, const T*, int, int, const Epi&) {}
#endif

}  // namespace rnc::cpu::detail
