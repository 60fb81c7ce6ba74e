// The channel-vector conv tiles with bf16 operands on AMX (tdpbf16ps: 16 x
// 16 fp32 sums of 32-term bf16 dot products), where the CPU has AMX-BF16.
#pragma once

#include <algorithm>

#include <immintrin.h>

#include "bf16.h"
#include "conv_tiled.h"

namespace rnc::cpu::detail {

// The tile configuration of the AMX kernels: all 8 tiles 16 rows x 64
// bytes (16 x 16 fp32 sums, or 16 x 32 bf16 operands). Loaded by each
// thread before it uses tiles (tile state is per thread).
struct alignas(64) AmxTileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

inline void amx_load_config_16x64() {
  AmxTileConfig c;
  for (int i = 0; i < 8; ++i)
    c.colsb[i] = 64, c.rows[i] = 16;
  _tile_loadconfig(&c);
}

// The forward tiles' configuration for batches under 32: the sums (tiles
// 0-3) and the image operands (4, 5) `rows` rows of 64 bytes, the weights
// (6, 7) 16 rows (pairs) of 64 bytes.
// Whether output positions q and q1 sum the same taps' weights in the
// same order (their inputs differ): two positions of a row away from the
// border.
inline bool same_tap_weights(const TapTable &taps, int khw, long q, long q1) {
  if (taps.count[q] != taps.count[q1])
    return false;
  for (int j = 0; j < taps.count[q]; ++j)
    if (taps.tw[q * khw + j] != taps.tw[q1 * khw + j])
      return false;
  return true;
}

inline void amx_load_config_rows(int rows) {
  AmxTileConfig c;
  for (int i = 0; i < 8; ++i)
    c.colsb[i] = 64, c.rows[i] = uint8_t(i < 6 ? rows : 16);
  _tile_loadconfig(&c);
}

// tiled_run_bf16 on AMX: a tile is 32 images (two A tiles of 16 rows, one
// row per image, 16 channel pairs of one tap each) x 32 output channels
// (two B tiles: 16 pairs x 16 channels, the VNNI layout of the weight panel
// [tap][CPS pairs][CO_PAD]) at one position, in four C tiles; taps and
// 16-pair channel blocks are its reduction. The sums go through buf to
// store_tile, as on the other paths. The input is copied as in
// tiled_run_bf16 (channels-last pairs, CPS per position, zeros past the
// channels, so every channel block is whole). Batches under 32 use one A
// tile of 16 images (16 to 31, the last tile shifted back over the one
// before) or of N rows (under 16; tile rows are configurable), and two
// positions a step where their taps match: resnet50 at batch 8, where the
// AVX512-BF16 tiles run at half the fp32 FMA rate on this CPU (vdpbf16ps
// one per two cycles), 256->256 3x3 @14 forward 24.3 -> 2.9-3.1 ms (fp32
// 9.9), 512->512 3x3 @7 26.3 -> 10.2-10.6 (one thread,
// kernel-conv-bench-bf16; bench/cpu-kernels-notes.md, v21).
template <class P, class Epi>
void tiled_run_amx(float *out, const float *in, const float *bias, int N,
                   const TapTable &taps, int row_len, const float *w,
                   WeightStrides ws, const Epi &epi) {
  constexpr int Cr = P::Cr, Co = P::Co, KHW = P::Khw;
  constexpr int CPS = bf16_pair_stride(Cr), KB = CPS / 16;
  constexpr int CO_PAD = (Co + 15) / 16 * 16, NVT = CO_PAD / 16;
  constexpr int VB = (NVT + 1) / 2; // pairs of 16-channel vectors
  constexpr int NR = 32;
  const bool twoA = N >= 32;                 // two A tiles of 16 images
  const int R = twoA ? 16 : std::min(N, 16); // rows of an A and a C tile
  const int MR = twoA ? 32 : R;              // images a tile
  constexpr long IS = long(CPS) * P::InPlane;
  constexpr long TS = long(CPS) * CO_PAD; // one tap's panel
  uint32_t *in_t = scratch<uint32_t>(kSlotCol, size_t(N) * IS);
  uint32_t *wp = scratch<uint32_t>(kSlotPanel, size_t(KHW) * TS);
  const int rows = int(P::OutPlane / row_len);
  const int iblocks = (N + MR - 1) / MR;
  const long items = long(VB) * iblocks * rows;
  const bool par = tiles_in_parallel(N, Co, P::OutPlane, Cr, KHW);
#pragma omp parallel if (par)
  {
    stage_pairs<P>(in_t, in, N);
    // Blocks of 16 output channels x 16 pairs, every tap: the block's
    // weights (18 KB at 3x3) stay in L1 across its taps, where one tap at a
    // time read each weight from another line (resnet50's 512->512 3x3 @7
    // at batch 8: 19 ms of the call that way).
#pragma omp for schedule(static) collapse(2)
    for (int c0 = 0; c0 < CO_PAD; c0 += 16)
      for (int p0 = 0; p0 < CPS; p0 += 16)
        for (int t = 0; t < KHW; ++t) {
          if (!taps.is_used(t))
            continue;
          uint32_t *pt = wp + t * TS;
          for (int p = p0; p < p0 + 16; ++p)
            for (int co = c0; co < c0 + 16; ++co) {
              const float *wc = w + t * ws.wt + co * ws.wo + 2L * p * ws.wc;
              bool lo = co < Co && 2 * p < Cr, hi = co < Co && 2 * p + 1 < Cr;
              pt[long(p) * CO_PAD + co] =
                  lo ? bf16_pair(wc[0], hi ? wc[ws.wc] : 0.0f) : 0u;
            }
        }
    if (twoA)
      amx_load_config_16x64();
    else
      amx_load_config_rows(R);
    alignas(64) float buf[32 * NR];
#pragma omp for schedule(static)
    for (long it = 0; it < items; ++it) {
      const auto [vb, n0, skip, r] = tile_item(it, iblocks, rows, MR, N);
      const int v0 = 2 * vb;
      const bool two = v0 + 1 < NVT;
      const uint32_t *a0 = in_t + n0 * IS;
      const long q_end = long(r + 1) * row_len;
      for (long q = long(r) * row_len; q < q_end; ++q) {
        // Four C tiles: two blocks of 16 images (twoA), or, with one A
        // tile, two positions whose taps use the same weights (pair), which
        // share each B load: four chains of dependent tdpbf16ps, not two.
        const bool pair =
            !twoA && q + 1 < q_end && same_tap_weights(taps, KHW, q, q + 1);
        const bool four = twoA || pair;
        _tile_zero(0);
        _tile_zero(1);
        if (four) {
          _tile_zero(2);
          _tile_zero(3);
        }
        const long k = q * KHW, k1 = k + KHW;
        for (int j = 0; j < taps.count[q]; ++j) {
          const uint32_t *a = a0 + taps.off[k + j];
          // Tile 5's rows: the next 16 images, or the next position's.
          const uint32_t *a1 = pair ? a0 + taps.off[k1 + j] : a + 16 * IS;
          const uint32_t *b = wp + taps.tw[k + j] * TS + v0 * 16;
          for (int kb = 0; kb < KB; ++kb) {
            _tile_loadd(4, a + kb * 16, IS * 4);
            _tile_loadd(6, b + kb * 16 * CO_PAD, CO_PAD * 4);
            _tile_dpbf16ps(0, 4, 6);
            if (four) {
              _tile_loadd(5, a1 + kb * 16, IS * 4);
              _tile_dpbf16ps(2, 5, 6);
            }
            if (two) {
              _tile_loadd(7, b + kb * 16 * CO_PAD + 16, CO_PAD * 4);
              _tile_dpbf16ps(1, 4, 7);
              if (four)
                _tile_dpbf16ps(3, 5, 7);
            }
          }
        }
        _tile_stored(0, buf, NR * 4);
        if (four)
          _tile_stored(2, buf + 16 * NR, NR * 4);
        if (two) {
          _tile_stored(1, buf + 16, NR * 4);
          if (four)
            _tile_stored(3, buf + 16 * NR + 16, NR * 4);
        }
        store_tile<Co, P::OutPlane, 32, NR>(out, buf, bias, epi, n0, skip,
                                            v0 * 16, q, MR);
        if (pair) {
          store_tile<Co, P::OutPlane, 32, NR>(out, buf + 16 * NR, bias, epi, n0,
                                              skip, v0 * 16, q + 1, MR);
          ++q;
        }
      }
    }
    _tile_release();
  }
}

// conv2d_tiled_backward_weight_bf16 on AMX, for in_channels a multiple of
// 32: C tiles of 32 input channels x 32 output channels of one tap, the
// reduction over output positions and pairs of images, 16 pairs per step.
// x is copied as pairs [Cin][in_plane][MP] (A rows: one channel, 16 image
// pairs at one input position) and dy as [out_plane][MP][CO_PAD] (B: the
// VNNI layout, 16 image pairs x 16 output channels), MP = image pairs
// rounded up to 16, zero-padded. Each (tap, channel block, output block)
// tile sums in a fixed order into part[t][c][co], which wgrad_write_dw
// turns into dw; threads only split tiles.
template <Conv2DShape S>
void conv2d_tiled_backward_weight_amx(float *dw, const float *dy,
                                      const float *x, int N) {
  constexpr int Co = S.out_channels, Cin = S.in_channels, KW = S.kernel_w,
                KHW = S.kernel_h * KW;
  static_assert(Cin % 32 == 0, "AMX weight gradient: in_channels % 32 == 0");
  constexpr int CO_PAD = (Co + 15) / 16 * 16, NVT = CO_PAD / 16;
  constexpr int VB = (NVT + 1) / 2, CB = Cin / 32;
  constexpr long OP = S.out_plane(), HW = S.in_plane();
  const int M = (N + 1) / 2, MP = (M + 15) / 16 * 16, MB = MP / 16;
  uint32_t *xq = scratch<uint32_t>(kSlotCol, size_t(Cin) * HW * MP);
  uint32_t *dyq = scratch<uint32_t>(kSlotPackB, size_t(OP) * MP * CO_PAD);
  float *part = scratch<float>(kSlotPackA, size_t(KHW) * Cin * CO_PAD);
  WgradTap *used = scratch<WgradTap>(kSlotTaps, KHW);
  const int nused = wgrad_used_taps<S>(used);
  const long tiles = long(nused) * CB * VB;
  const bool par = tiles_in_parallel(N, Co, OP, Cin, KHW);
#pragma omp parallel if (par)
  {
    // Both copies in 16 x 16 blocks (bf16_pairs_block): 16 image pairs of
    // 16 positions, 16 output channels of 16 positions.
    auto clamp16 = [](long v) { return int(v < 0 ? 0 : v > 16 ? 16 : v); };
#pragma omp for schedule(static)
    for (int c = 0; c < Cin; ++c)
      for (long p0 = 0; p0 < HW; p0 += 16)
        for (int m0 = 0; m0 < MP; m0 += 16)
          bf16_pairs_block(xq + (long(c) * HW + p0) * MP + m0, MP, 16,
                           x + (2L * m0 * Cin + c) * HW + p0, 2L * Cin * HW,
                           long(Cin) * HW, clamp16(M - m0),
                           clamp16(N / 2 - m0), clamp16(HW - p0));
#pragma omp for schedule(static)
    for (int m = 0; m < MP; ++m)
      for (long q0 = 0; q0 < OP; q0 += 16)
        for (int c0 = 0; c0 < CO_PAD; c0 += 16)
          bf16_pairs_block(dyq + (q0 * MP + m) * CO_PAD + c0, MP * CO_PAD, 16,
                           dy + (2L * m * Co + c0) * OP + q0, OP,
                           long(Co) * OP, 2 * m < N ? clamp16(Co - c0) : 0,
                           2 * m + 1 < N ? clamp16(Co - c0) : 0,
                           clamp16(OP - q0));
    amx_load_config_16x64();
    long lo, hi;
    split_range(tiles, num_threads(), thread_id(), &lo, &hi);
    for (long tile = lo; tile < hi; ++tile) {
      const WgradTap &u = used[tile / (long(CB) * VB)];
      const int cb = int(tile / VB % CB), v0 = 2 * int(tile % VB);
      const bool two = v0 + 1 < NVT;
      const int t = u.kh * KW + u.kw, c0 = cb * 32;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int oh = u.oh_lo; oh < u.oh_hi; ++oh) {
        const int ih = oh * S.stride_h - S.pad_h + u.kh * S.dilation_h;
        for (int ow = u.ow_lo; ow < u.ow_hi; ++ow) {
          const int iw = ow * S.stride_w - S.pad_w + u.kw * S.dilation_w;
          const uint32_t *a = xq + (long(c0) * HW + long(ih) * S.in_w + iw) * MP;
          const uint32_t *b =
              dyq + (long(oh) * S.out_w() + ow) * MP * CO_PAD + v0 * 16;
          for (int mb = 0; mb < MB; ++mb) {
            _tile_loadd(4, a + mb * 16, HW * MP * 4);
            _tile_loadd(5, a + 16 * HW * MP + mb * 16, HW * MP * 4);
            _tile_loadd(6, b + mb * 16 * CO_PAD, CO_PAD * 4);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(2, 5, 6);
            if (two) {
              _tile_loadd(7, b + mb * 16 * CO_PAD + 16, CO_PAD * 4);
              _tile_dpbf16ps(1, 4, 7);
              _tile_dpbf16ps(3, 5, 7);
            }
          }
        }
      }
      float *pp = part + (long(t) * Cin + c0) * CO_PAD + v0 * 16;
      _tile_stored(0, pp, CO_PAD * 4);
      _tile_stored(2, pp + 16 * CO_PAD, CO_PAD * 4);
      if (two) {
        _tile_stored(1, pp + 16, CO_PAD * 4);
        _tile_stored(3, pp + 16 * CO_PAD + 16, CO_PAD * 4);
      }
    }
    _tile_release();
#pragma omp barrier
    wgrad_write_dw<S, CO_PAD>(dw, part, used, nused);
  }
}

} // namespace rnc::cpu::detail
