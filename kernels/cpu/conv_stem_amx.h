// The stems (a few input channels, stride 2: resnet50's 3->64 7x7 @224,
// d2l_resnet18's 1->64 7x7) with bf16 operands on AMX, by folding the kernel
// rows and the column parity into channels (stem_folded_conv; conv.h runs
// the forward and the weight gradient of the folded layer on the rows
// kernels, conv_fwd_amx_rows.h and conv_wgrad_amx_rows.h).
//
// Why: the rows kernels reduce over 32 input channels a tile; with 3 of
// them a tile would be 29 zeros, so the stems ran the fp32 kernels on
// rounded copies, slower in bf16 than in fp32 (resnet50's stem at batch 8:
// forward 16 ms, weight gradient 19). Folded, with SD = 2 and kernel rows
// KH, columns KW:
//
//   xf[n, (c * KH + kh) * SD + b, oh, j] = x[n, c, SD oh + kh - PH, SD j + b -
//   PW] wf[co, (c * KH + kh) * SD + b, 0, s] = w[co, c, kh, SD s + b]
//
// (zero outside x, and where SD s + b >= KW), the layer is a stride-1
// 1 x ceil(KW / SD) convolution of xf without padding, with the same
// output: y[n, co, oh, ow] = sum over (c, kh, b), s of
// wf[co, ., 0, s] * xf[n, ., oh, ow + s], since SD (ow + s) + b = SD ow + kw.
// Its Cin * KH * SD channels are in pairs for the forward (a pair: the two
// column parities of a kernel row, adjacent elements of an input row) and
// rounded up to 32 for the weight gradient's tiles (resnet50's stem 42 ->
// 64, 256 products a position for 147). Each is packed straight from x
// into the rows kernel's bf16 operand (stem_pack_pairs, stem_pack_rows).
#pragma once

#include <algorithm>
#include <cstring>

#include <immintrin.h>

#include "bf16.h"
#include "conv_wgrad_amx_rows.h"

namespace rnc::cpu::detail {

// The layers folded: stride 2 in both directions, no groups or dilation,
// under 16 input channels (the rows kernels take 16 or more as they are),
// and at most 64 folded channels.
template <Conv2DShape S> constexpr bool amx_stem_fold_shape() {
  return S.groups == 1 && S.stride_h == 2 && S.stride_w == 2 &&
         S.dilation_h == 1 && S.dilation_w == 1 && S.in_channels < 16 &&
         S.kernel_w > 1 && S.in_channels * S.kernel_h * 2 <= 64;
}

// The folded layer (the header's xf and wf), its channels rounded up to
// kAlign, at least 16 (the rows kernels' least): the same output plane.
template <Conv2DShape S, int kAlign> constexpr Conv2DShape stem_folded_conv() {
  constexpr int KWF = (S.kernel_w + 1) / 2;
  constexpr int CF = (S.in_channels * S.kernel_h * 2 + kAlign - 1) / kAlign;
  return Conv2DShape{.in_channels = std::max(16, CF * kAlign),
                     .out_channels = S.out_channels,
                     .in_h = S.out_h(),
                     .in_w = S.out_w() + KWF - 1,
                     .kernel_h = 1,
                     .kernel_w = KWF};
}
// The forward's (channel pairs: a pair is both column parities of one
// kernel row) and the weight gradient's (whole 32-channel tiles).
template <Conv2DShape S> constexpr Conv2DShape stem_forward_conv() {
  return stem_folded_conv<S, 2>();
}
template <Conv2DShape S> constexpr Conv2DShape stem_wgrad_conv() {
  return stem_folded_conv<S, 32>();
}

// Lanes [lo, hi) of 16.
RNC_INLINE __mmask16 stem_lanes(int lo, int hi) {
  lo = std::clamp(lo, 0, 16);
  hi = std::clamp(hi, lo, 16);
  return __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1));
}

// xf as the forward rows kernel's bf16 pairs, xq [N][CPS][LN] (its pack_x,
// inside the parallel region): pair (c, kh) of position (oh, j) is x[n, c,
// ih, SD j - PW] and the next column, ih = SD oh + kh - PH: two adjacent
// elements of one input row, so a row of pairs is that input row rounded
// as it lies.
template <Conv2DShape S>
void stem_pack_pairs(uint32_t *xq, const float *x, int N) {
  constexpr Conv2DShape F = stem_forward_conv<S>();
  using G = AmxRowsGeometry<F>;
  constexpr int KH = S.kernel_h, CPS = bf16_pair_stride(F.in_channels);
  constexpr int used = S.in_channels * KH, IW = S.in_w;
#pragma omp for schedule(static)
  for (long np = 0; np < long(N) * CPS; ++np) {
    const long n = np / CPS;
    const int p = int(np % CPS);
    uint32_t *d = xq + np * G::LN;
    std::memset(d, 0, G::LN * sizeof(uint32_t));
    if (p >= used)
      continue;
    const int c = p / KH, kh = p % KH;
    const float *s = x + (n * S.in_channels + c) * S.in_plane();
    for (int oh = 0; oh < F.in_h; ++oh) {
      const int ih = 2 * oh + kh - S.pad_h;
      if (ih < 0 || ih >= S.in_h)
        continue;
      const float *row = s + long(ih) * IW;
      for (int j = 0; j < F.in_w; j += 16) {
        const int e = 2 * j - S.pad_w; // the first element's column
        __m512 lo = _mm512_maskz_loadu_ps(stem_lanes(-e, IW - e), row + e);
        __m512 hi = _mm512_maskz_loadu_ps(stem_lanes(-e - 16, IW - e - 16),
                                          row + e + 16);
        _mm512_mask_storeu_epi32(d + long(oh) * G::WP + j,
                                 stem_lanes(0, F.in_w - j),
                                 (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      }
    }
  }
}

// xf as the weight gradient rows kernel's bf16 rows, xq [N][CF][LN] (its
// pack_x): channel (c, kh, b) of row oh is x[n, c, SD oh + kh - PH] every
// SD elements from column b - PW; zeros past the folded channels.
template <Conv2DShape S>
void stem_pack_rows(uint16_t *xq, const float *x, int N) {
  constexpr Conv2DShape F = stem_wgrad_conv<S>();
  using G = AmxRowsGeometry<F>;
  constexpr int KH = S.kernel_h, CF = F.in_channels;
  constexpr int used = S.in_channels * KH * 2;
#pragma omp for schedule(static)
  for (long t = 0; t < long(N) * CF; ++t) {
    const long n = t / CF;
    const int ch = int(t % CF);
    uint16_t *d = xq + t * G::LN;
    std::memset(d, 0, G::LN * sizeof(uint16_t));
    if (ch >= used)
      continue;
    const int c = ch / (KH * 2), kh = ch / 2 % KH, b = ch % 2;
    const float *s = x + (n * S.in_channels + c) * S.in_plane();
    // Columns j with SD j + b - PW inside the row.
    const int jlo = std::max(0, (S.pad_w - b + 1) / 2);
    const int jhi = std::min(F.in_w, (S.in_w - 1 + S.pad_w - b) / 2 + 1);
    for (int oh = 0; oh < F.in_h; ++oh) {
      const int ih = 2 * oh + kh - S.pad_h;
      if (ih < 0 || ih >= S.in_h)
        continue;
      const float *row = s + long(ih) * S.in_w;
      for (int j = jlo; j < jhi; j += 16) {
        const int cnt = std::min(16, jhi - j);
        __m256bh h = _mm512_cvtneps_pbh(
            amx_rows_load(row + 2 * j + b - S.pad_w, cnt, 2));
        _mm256_mask_storeu_epi16(d + long(oh) * G::WP + j,
                                 __mmask16((1u << cnt) - 1), (__m256i)h);
      }
    }
  }
}

// f(i, j) for each weight of S: i its index in w ([co][c][kh][kw]), j in
// the folded layer F's ([co][(c KH + kh) 2 + kw % 2][kw / 2]).
template <Conv2DShape S, Conv2DShape F, class Fn>
void stem_weight_pairs(const Fn &f) {
  constexpr int KH = S.kernel_h, KW = S.kernel_w;
  for (int co = 0; co < S.out_channels; ++co)
    for (int c = 0; c < S.in_channels; ++c)
      for (int kh = 0; kh < KH; ++kh)
        for (int kw = 0; kw < KW; ++kw)
          f(((long(co) * S.in_channels + c) * KH + kh) * KW + kw,
            (long(co) * F.in_channels + (c * KH + kh) * 2 + kw % 2) *
                    F.kernel_w +
                kw / 2);
}

// wf from w, the forward's folded weights (zeros where no weight lands).
template <Conv2DShape S> void stem_fold_weights(float *wf, const float *w) {
  constexpr Conv2DShape F = stem_forward_conv<S>();
  std::memset(wf, 0, F.weight_size() * sizeof(float));
  stem_weight_pairs<S, F>([&](long i, long j) { wf[j] = w[i]; });
}

// dw from the weight gradient's folded layer's dwf (its padding dropped).
template <Conv2DShape S> void stem_unfold_weights(float *dw, const float *dwf) {
  stem_weight_pairs<S, stem_wgrad_conv<S>()>(
      [&](long i, long j) { dw[i] = dwf[j]; });
}

} // namespace rnc::cpu::detail
