// The weight gradient of a stride-1 or stride-2 convolution with bf16
// operands on AMX, reducing over output positions
// (conv2d_amx_backward_weight_rows; included by conv_tiled_bf16.h where the
// compiler targets AMX-BF16).
//
// Why: the image-pair tiles (conv_tiled_amx.h) reduce over image pairs
// rounded up to 16, 4x the work at batch 8, and below 16 images on planes
// over 14x14 the fp32 kernels ran on rounded copies of x and dy instead.
// Here the reduction runs along each image's rows:
//
//   dw[co, c, t] = sum over n, k of xq[n, c, k + shift(t)] * dyq[n, k, co]
//
// with k = oh * WP + ow over output rows of WP columns: xq is x rounded to
// bf16 in a zero-padded plane WP wide ([N][Cin][LN], the padding rows and
// columns zero), so a tap t is a constant shift of the same rows, and dyq is
// dy as pairs of consecutive k (the VNNI operand of tdpbf16ps,
// [N][KN/2][CO_PAD], zero at the columns ow >= out_w and past the plane). A
// 1x1 layer without padding is one row (the whole plane). Stride 2: xq holds
// each parity of rows and columns in a plane of its own (AmxRowsGeometry),
// where the taps are again shifts. A C tile holds 16 input x 16 output
// channels of one tap, each step adds 32 k; four C tiles (32 x 32) share
// their two A and two B loads.
//
// The k blocks run in chunks of about 1 MB, so the chunk stays in L2 while
// every tile of the thread passes over it (each tile's sums stored to `part`
// and loaded back between chunks). Threads split the tiles; each tile sums
// in the same order whatever the thread count.
#pragma once

#include <algorithm>
#include <cstring>

#include <immintrin.h>

#include "bf16.h"
#include "conv_tiled.h"
#include "conv_tiled_amx.h"
#include "transpose.h"

namespace rnc::cpu::detail {

// The layers conv2d_amx_backward_weight_rows takes, by shape.
template <Conv2DShape S> constexpr bool amx_rows_stride_ok() {
  return S.groups == 1 && S.stride_h == S.stride_w &&
         (S.stride_h == 1 || S.stride_h == 2) && S.dilation_h == 1 &&
         S.dilation_w == 1;
}
template <Conv2DShape S> constexpr bool amx_rows_wgrad_shape() {
  return amx_rows_stride_ok<S>() && S.in_channels % 32 == 0;
}

// A row stride for AMX operands, at least n elements: n rounded up to 32,
// then by 32 more where that is a multiple of 128. Tile rows a power of two
// bytes apart fall into a few cache sets (16 rows 512 B apart: 8 of L1's
// 64 sets, so resnet50's 7x7 layers read every tile from L2); 32 more
// elements spread them over all the sets. (Strides of 64 elements or under
// stay: their rows already spread, and dy's copy at 64 channels would grow
// by half, 41 -> 61 MB for d2l_resnet18's stem at 96x96, batch 128.)
constexpr long amx_row_stride(long n) {
  const long r = (n + 31) / 32 * 32;
  return r % 128 == 0 ? r + 32 : r;
}

// The plane as the rows kernels see it: R output rows of OW columns in rows
// WP wide (even, so that a pair of k never spans two rows), KN positions an
// image rounded up to 32. The input, zero-padded, in SS phase planes of LNP
// elements (stride 2: the rows and columns of each parity apart, so that a
// tap is again a shift within one of them), LN >= SS * LNP a channel
// (amx_row_stride). A 1x1
// stride-1 layer without padding is one row, the whole plane.
template <Conv2DShape S> struct AmxRowsGeometry {
  static constexpr int SD = S.stride_h; // 1 or 2
  static constexpr bool kFlat =
      S.kernel_h * S.kernel_w == 1 && SD == 1 && S.pad_h == 0 && S.pad_w == 0;
  static constexpr int IH = kFlat ? 1 : S.in_h;
  static constexpr int IW = kFlat ? int(S.in_plane()) : S.in_w;
  static constexpr int R = kFlat ? 1 : S.out_h();
  static constexpr int OW = kFlat ? int(S.out_plane()) : S.out_w();
  static constexpr int PH = kFlat ? 0 : S.pad_h, PW = kFlat ? 0 : S.pad_w;
  // Phases: input rows (columns) of each parity kh % SD (kw % SD) used.
  static constexpr int PA = std::min(SD, S.kernel_h),
                       PB = std::min(SD, S.kernel_w), SS = PA * PB;
  static constexpr int RP = R + (S.kernel_h - 1) / SD; // rows a phase
  static constexpr long WP = (OW + (S.kernel_w - 1) / SD + 1) / 2 * 2;
  static constexpr long KN = (R * WP + 31) / 32 * 32;
  static constexpr long LNP =
      (KN + (S.kernel_h - 1) / SD * WP + (S.kernel_w - 1) / SD + 31) / 32 * 32;
  static constexpr long LN = amx_row_stride(SS * LNP);
  static_assert(RP * WP <= LNP, "a phase plane fits LNP");
  // Where tap (kh, kw) reads output position k's input: at k + shift(t).
  static constexpr long shift(int kh, int kw) {
    return ((kh % SD) * PB + kw % SD) * LNP + (kh / SD) * WP + kw / SD;
  }
};

// Up to 16 floats of a row every `sd` (1 or 2) elements, from src (cnt of
// them, zeros past): one phase row's run.
RNC_INLINE __m512 amx_rows_load(const float *src, int cnt, int sd) {
  auto mask = [](int v) {
    return v <= 0    ? __mmask16(0)
           : v >= 16 ? __mmask16(0xffff)
                     : __mmask16((1u << v) - 1);
  };
  if (sd == 1)
    return _mm512_maskz_loadu_ps(mask(cnt), src);
  // Elements 0, 2, .., 2 (cnt - 1): 2 cnt - 1 of them read.
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12,
                                        10, 8, 6, 4, 2, 0);
  __m512 lo = _mm512_maskz_loadu_ps(mask(2 * cnt - 1), src);
  __m512 hi = _mm512_maskz_loadu_ps(mask(2 * cnt - 17), src + 16);
  return _mm512_permutex2var_ps(lo, even, hi);
}

// Calls run(phase, i, j0, src, cnt) for each run of an input plane s (one
// channel) that lands in the phase planes: phase row i, columns [j0, j0 +
// cnt), cnt <= 16, read from src every SD elements.
template <Conv2DShape S, class Run>
RNC_INLINE void amx_rows_plane_runs(const float *s, const Run &run) {
  using G = AmxRowsGeometry<S>;
  for (int a = 0; a < G::PA; ++a)
    for (int b = 0; b < G::PB; ++b) {
      const int ph = a * G::PB + b;
      // Columns j with iw = SD j + b - PW inside the row.
      const int jlo = std::max(0, (G::PW - b + G::SD - 1) / G::SD);
      const int jhi = std::min<int>(G::WP, (G::IW - 1 + G::PW - b) / G::SD + 1);
      for (int i = 0; i < G::RP; ++i) {
        const int ih = G::SD * i + a - G::PH;
        if (ih < 0 || ih >= G::IH)
          continue;
        const float *row = s + long(ih) * G::IW;
        for (int j = jlo; j < jhi; j += 16)
          run(ph, i, j, row + (G::SD * j + b - G::PW), std::min(16, jhi - j));
      }
    }
}

// Whether the rows kernel takes a batch of N: it multiplies KN / out_plane
// of the work (row padding, the last block), the image-pair tiles MP / M
// (pairs rounded up to 16) where they apply, the fp32 kernels on rounded
// operands (the alternative elsewhere) run at a tenth of the AMX rate.
template <Conv2DShape S> bool amx_rows_wgrad_wins(int N, bool pair_tiles) {
  using G = AmxRowsGeometry<S>;
  if (!pair_tiles)
    return true;
  const long M = (N + 1) / 2, MP = (M + 15) / 16 * 16;
  // rows: KN / plane; pairs: MP / M (compared without division).
  return G::KN * M < MP * S.out_plane();
}

// x[n, c] rounded to bf16 into the zero-padded phase planes of xq[n, c].
template <Conv2DShape S>
RNC_INLINE void amx_rows_pack_x(uint16_t *RNC_RESTRICT d,
                                const float *RNC_RESTRICT s) {
  using G = AmxRowsGeometry<S>;
  std::memset(d, 0, G::LN * sizeof(uint16_t));
  amx_rows_plane_runs<S>(
      s, [&](int ph, int i, int j, const float *src, int cnt) {
        __m256bh h = _mm512_cvtneps_pbh(amx_rows_load(src, cnt, G::SD));
        _mm256_mask_storeu_epi16(d + ph * G::LNP + i * G::WP + j,
                                 __mmask16((1u << cnt) - 1), (__m256i)h);
      });
}

// dy[n, c0 .. c0 + 15] as pairs of consecutive k: dyq[n][k / 2][c0 + j] for
// the k of the image, rows LDB words apart (zeros at the columns past OW,
// the channels past Co, and the k past the plane up to KN).
template <Conv2DShape S, long LDB>
void amx_rows_pack_dy(uint32_t *RNC_RESTRICT d, const float *RNC_RESTRICT s,
                      int c0) {
  using G = AmxRowsGeometry<S>;
  constexpr int Co = S.out_channels;
  constexpr long OP = S.out_plane();
  auto mask = [](long v) {
    return v <= 0    ? __mmask16(0)
           : v >= 16 ? __mmask16(0xffff)
                     : __mmask16((1u << v) - 1);
  };
  for (int r = 0; r < G::R; ++r)
    for (int w0 = 0; w0 < G::WP; w0 += 32) {
      const int valid = G::OW - w0; // columns of this chunk inside the row
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        if (c0 + i >= Co) {
          v[i] = _mm512_setzero_ps();
          continue;
        }
        const float *sr = s + long(c0 + i) * OP + long(r) * G::OW + w0;
        __m512 lo = _mm512_maskz_loadu_ps(mask(valid), sr);
        __m512 hi = _mm512_maskz_loadu_ps(mask(valid - 16), sr + 16);
        // 32 bf16 in k order: word j is the pair (w0 + 2j, w0 + 2j + 1).
        v[i] = (__m512)_mm512_cvtne2ps_pbh(hi, lo);
      }
      transpose16x16(v);
      const long j0 = (r * G::WP + w0) / 2;
      const int pairs = int(std::min<long>(16, (G::WP - w0) / 2));
      for (int j = 0; j < pairs; ++j)
        _mm512_storeu_ps((float *)(d + (j0 + j) * LDB + c0), v[j]);
    }
  for (long j = G::R * G::WP / 2; j < G::KN / 2; ++j)
    std::memset(d + j * LDB + c0, 0, 16 * sizeof(uint32_t));
}

// The rows weight gradient with xq packed by pack_x(xq) inside the parallel
// region (a work-shared loop filling [N][Cin][LN], as amx_rows_pack_x):
// conv2d_amx_backward_weight_rows below, or a stem's folded input
// (conv_stem_amx.h).
template <Conv2DShape S, class PackX>
void conv2d_amx_backward_weight_rows_from(float *dw, const float *dy,
                                          const PackX &pack_x, int N) {
  static_assert(amx_rows_wgrad_shape<S>(), "AMX rows weight gradient: shape");
  using G = AmxRowsGeometry<S>;
  constexpr int Co = S.out_channels, Cin = S.in_channels, KW = S.kernel_w,
                KHW = S.kernel_h * KW;
  constexpr int CO_PAD = (Co + 15) / 16 * 16, NVT = CO_PAD / 16;
  constexpr int VB = (NVT + 1) / 2, CB = Cin / 32;
  constexpr long KB = G::KN / 32, HP = G::KN / 2; // k blocks, pairs an image
  constexpr long LDB = amx_row_stride(CO_PAD);    // dyq's rows
  constexpr long DS = long(Co) * S.out_plane();
  // k blocks a chunk: about 1 MB of dyq (re-read for every channel block)
  // and, with several taps, of xq (re-read for every tap); one chunk when
  // the sums themselves pass 1 MB (the small planes, whose copies are small).
  constexpr long kPartBytes = long(KHW) * Cin * CO_PAD * 4;
  constexpr long kChunkBytes = (CO_PAD + (KHW > 1 ? Cin : 0)) * 64L;
  const long blocks = N * KB;
  const long chunk = kPartBytes > (1L << 20)
                         ? blocks
                         : std::max<long>(1, (1L << 20) / kChunkBytes);
  uint16_t *xq = scratch<uint16_t>(kSlotCol, size_t(N) * Cin * G::LN);
  uint32_t *dyq = scratch<uint32_t>(kSlotPackB, size_t(N) * HP * LDB);
  float *part = scratch<float>(kSlotPackA, size_t(KHW) * Cin * CO_PAD);
  WgradTap *used = scratch<WgradTap>(kSlotTaps, KHW);
  const int nused = wgrad_used_taps<S>(used);
  const long tiles = long(nused) * CB * VB;
  const bool par = tiles_in_parallel(N, Co, S.out_plane(), Cin, KHW);
#pragma omp parallel if (par)
  {
    pack_x(xq);
#pragma omp for schedule(static) collapse(2)
    for (int n = 0; n < N; ++n)
      for (int c0 = 0; c0 < CO_PAD; c0 += 16)
        amx_rows_pack_dy<S, LDB>(dyq + n * HP * LDB, dy + n * DS, c0);
    amx_load_config_16x64();
    long lo, hi;
    split_range(tiles, num_threads(), thread_id(), &lo, &hi);
    for (long g0 = 0; g0 < blocks; g0 += chunk) {
      const long g1 = std::min(blocks, g0 + chunk);
      for (long tile = lo; tile < hi; ++tile) {
        const WgradTap &u = used[tile / (long(CB) * VB)];
        const int c0 = int(tile / VB % CB) * 32, v0 = 2 * int(tile % VB);
        const bool two = v0 + 1 < NVT;
        const int t = u.kh * KW + u.kw;
        const long shift = G::shift(u.kh, u.kw);
        float *pp = part + (long(t) * Cin + c0) * CO_PAD + v0 * 16;
        constexpr long ld = CO_PAD * 4;
        if (g0 == 0) {
          _tile_zero(0);
          _tile_zero(1);
          _tile_zero(2);
          _tile_zero(3);
        } else {
          _tile_loadd(0, pp, ld);
          _tile_loadd(2, pp + 16 * CO_PAD, ld);
          if (two) {
            _tile_loadd(1, pp + 16, ld);
            _tile_loadd(3, pp + 16 * CO_PAD + 16, ld);
          }
        }
        for (long g = g0; g < g1; ++g) {
          const long n = g / KB, kb = g % KB;
          const uint16_t *a = xq + (n * Cin + c0) * G::LN + kb * 32 + shift;
          const uint32_t *b = dyq + (n * HP + kb * 16) * LDB + v0 * 16;
          _tile_loadd(4, a, G::LN * 2);
          _tile_loadd(5, a + 16 * G::LN, G::LN * 2);
          _tile_loadd(6, b, LDB * 4);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(2, 5, 6);
          if (two) {
            _tile_loadd(7, b + 16, LDB * 4);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(3, 5, 7);
          }
        }
        _tile_stored(0, pp, ld);
        _tile_stored(2, pp + 16 * CO_PAD, ld);
        if (two) {
          _tile_stored(1, pp + 16, ld);
          _tile_stored(3, pp + 16 * CO_PAD + 16, ld);
        }
      }
    }
    _tile_release();
#pragma omp barrier
    wgrad_write_dw<S, CO_PAD>(dw, part, used, nused);
  }
}

template <Conv2DShape S>
void conv2d_amx_backward_weight_rows(float *dw, const float *dy, const float *x,
                                     int N) {
  auto pack_x = [&](uint16_t *xq) {
#pragma omp for schedule(static)
    for (long nc = 0; nc < long(N) * S.in_channels; ++nc)
      amx_rows_pack_x<S>(xq + nc * AmxRowsGeometry<S>::LN,
                         x + nc * S.in_plane());
  };
  conv2d_amx_backward_weight_rows_from<S>(dw, dy, pack_x, N);
}

} // namespace rnc::cpu::detail
