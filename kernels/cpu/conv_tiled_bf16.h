// The channel-vector conv tiles (conv_tiled.h) with bf16 operands and fp32
// accumulation on AVX512-BF16 (`--precision bf16`; included by conv_tiled.h).
#pragma once

#include <algorithm>

#include "bf16.h"
#include "conv_tiled.h"
#include "cpu_features.h"
#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
#include "conv_dgrad_amx_s2.h"
#include "conv_fwd_amx_rows.h"
#include "conv_stem_amx.h"
#include "conv_tiled_amx.h"
#include "conv_wgrad_amx_rows.h"
#endif

namespace rnc::cpu::detail {

// As in tiled_run, with the reduction channels in pairs: the input is
// copied channels-last as bf16 pairs [N][InPlane][CPS] (CP pairs, an odd
// last channel paired with 0, zeros up to CPS), the weights packed as panels [block][tap][CP][NR] of
// pairs (channels 2p, 2p+1 of output channel j in word j), and each
// vdpbf16ps adds two products to an fp32 accumulator. The tile's fp32 sums
// are stored by the same code as the fp32 path (store_tile).
template <class P, int MR, class Epi>
void tiled_run_bf16(float *out, const float *in, const float *bias, int N,
                    const TapTable &taps, int row_len, const float *w,
                    WeightStrides ws, const Epi &epi) {
#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
  if (amx_bf16_ready()) {
    tiled_run_amx<P>(out, in, bias, N, taps, row_len, w, ws, epi);
    return;
  }
#endif
  using Cfg = TileCfg<P::Co, float>;
  constexpr int L = Cfg::L, Cr = P::Cr, Co = P::Co, KHW = P::Khw;
  static_assert(L == 16, "bf16 tiles assume 16 fp32 lanes (AVX-512)");
  constexpr int CP = (Cr + 1) / 2, CPS = bf16_pair_stride(Cr);
  constexpr long IS = long(CPS) * P::InPlane;
  uint32_t *in_t = scratch<uint32_t>(kSlotCol, size_t(N) * IS);
  constexpr long panel_stride = long(KHW) * CP * Cfg::NV * L;
  uint32_t *wp = scratch<uint32_t>(kSlotPanel, size_t(Cfg::BLOCKS) * panel_stride);
  const int rows = int(P::OutPlane / row_len);
  const int iblocks = (N + MR - 1) / MR;
  const long items = long(Cfg::BLOCKS) * iblocks * rows;
  const bool par = tiles_in_parallel(N, Co, P::OutPlane, Cr, KHW);
#pragma omp parallel if (par)
  {
    stage_pairs<P>(in_t, in, N);
#pragma omp for schedule(static)
    for (int b = 0; b < Cfg::BLOCKS; ++b)
      for_vector_block<Cfg>(b, [&]<int NVb>(int v0) {
        constexpr int NR = NVb * L;
        uint32_t *pb = wp + b * panel_stride;
        int cols = std::min(NR, Co - v0 * L);
        for (int t = 0; t < KHW; ++t) {
          if (!taps.is_used(t))
            continue;
          uint32_t *pt = pb + long(t) * CP * NR;
          const float *wt = w + t * ws.wt + v0 * L * ws.wo;
          for (int p = 0; p < CP; ++p)
            for (int j = 0; j < NR; ++j) {
              if (j >= cols) {
                pt[long(p) * NR + j] = 0;
                continue;
              }
              const float *wc = wt + j * ws.wo + 2L * p * ws.wc;
              pt[long(p) * NR + j] =
                  bf16_pair(wc[0], 2 * p + 1 < Cr ? wc[ws.wc] : 0.0f);
            }
        }
      });
#pragma omp for schedule(static)
    for (long it = 0; it < items; ++it) {
      const auto [b, n0, skip, r] = tile_item(it, iblocks, rows, MR, N);
      for_vector_block<Cfg>(b, [&]<int NVb>(int v0) {
        constexpr int NR = NVb * L;
        const uint32_t *pb = wp + b * panel_stride;
        alignas(64) float buf[MR * NR];
        for (long q = long(r) * row_len; q < long(r + 1) * row_len; ++q) {
          __m512 acc[MR][NVb];
          long k = q * KHW;
          tile_accumulate_bf16<MR, NVb, CP, IS>(acc, in_t + n0 * IS,
                                                taps.off + k, taps.tw + k,
                                                taps.count[q], pb);
          for (int i = 0; i < MR; ++i)
            for (int v = 0; v < NVb; ++v)
              _mm512_store_ps(buf + i * NR + v * L, acc[i][v]);
          store_tile<Co, P::OutPlane, MR, NR>(out, buf, bias, epi, n0, skip,
                                              v0 * L, q);
        }
      });
    }
  }
}

// conv2d_tiled_backward_weight with bf16 operands: the reduction over
// images and positions runs over pairs of images (2m, 2m+1; an odd last
// image paired with zeros), x as bf16 pairs [N/2][Cin][in_plane] and dy
// transposed to pairs [N/2][out_plane][CO_PAD]; fp32 partial sums as in the
// fp32 path, chunk by chunk of image pairs.
template <Conv2DShape S>
void conv2d_tiled_backward_weight_bf16(float *dw, const float *dy,
                                       const float *x, int N) {
#if defined(__AMX_TILE__) && defined(__AMX_BF16__)
  if constexpr (S.in_channels % 32 == 0) {
    if (amx_bf16_ready()) {
      conv2d_tiled_backward_weight_amx<S>(dw, dy, x, N);
      return;
    }
  }
#endif
  constexpr int Co = S.out_channels, Cin = S.in_channels, KH = S.kernel_h,
                KW = S.kernel_w, KHW = KH * KW;
  using Cfg = TileCfg<Co, float>;
  constexpr int L = Cfg::L, CO_PAD = Cfg::CO_PAD;
  constexpr int MR = std::min(Cfg::MR, Cin);
  constexpr int CBLOCKS = (Cin + MR - 1) / MR,
                MR_LAST = Cin - (CBLOCKS - 1) * MR;
  constexpr long OP = S.out_plane(), HW = S.in_plane(), XS = long(Cin) * HW;
  const int M = (N + 1) / 2; // image pairs
  uint32_t *dyp = scratch<uint32_t>(kSlotPackB, size_t(M) * OP * CO_PAD);
  uint32_t *xp = scratch<uint32_t>(kSlotCol, size_t(M) * XS);
  float *part = scratch<float>(kSlotPackA, size_t(KHW) * Cin * CO_PAD);
  constexpr long pair_bytes = (XS + OP * CO_PAD) * 4;
  const int chunk = int(std::max<long>(1, (512L << 10) / pair_bytes));
  const int chunks = (M + chunk - 1) / chunk;
  WgradTap *used = scratch<WgradTap>(kSlotTaps, KHW);
  const int nused = wgrad_used_taps<S>(used);
  const long tiles = long(nused) * CBLOCKS * Cfg::BLOCKS;
  const bool par = tiles_in_parallel(N, Co, OP, Cin, KHW);
#pragma omp parallel if (par)
  {
#pragma omp for schedule(static)
    for (int m = 0; m < M; ++m) {
      const float *x0 = x + 2L * m * XS;
      const float *x1 = 2 * m + 1 < N ? x0 + XS : nullptr;
      uint32_t *xd = xp + m * XS;
      for (long i = 0; i < XS; ++i)
        xd[i] = bf16_pair(x0[i], x1 ? x1[i] : 0.0f);
      // dy of the two images, [Co][OP] each, as [OP][CO_PAD] pairs: the
      // pair transpose of the 2 x Co "channels" (image, channel) -> the
      // low and high halves.
      const float *d0 = dy + 2L * m * Co * OP;
      const float *d1 = 2 * m + 1 < N ? d0 + long(Co) * OP : nullptr;
      uint32_t *dd = dyp + m * OP * CO_PAD;
      constexpr int B = 16;
      for (long q0 = 0; q0 < OP; q0 += B)
        for (int c0 = 0; c0 < CO_PAD; c0 += B) {
          long q1 = std::min(OP, q0 + B);
          for (int c = c0; c < c0 + B; ++c)
            for (long q = q0; q < q1; ++q)
              dd[q * CO_PAD + c] =
                  c < Co ? bf16_pair(d0[long(c) * OP + q],
                                     d1 ? d1[long(c) * OP + q] : 0.0f)
                         : 0u;
        }
    }
    long lo, hi;
    split_range(tiles, num_threads(), thread_id(), &lo, &hi);
    for (int ch = 0; ch < chunks; ++ch) {
      int mb = ch * chunk, me = std::min(M, mb + chunk);
      for (long tile = lo; tile < hi; ++tile) {
        const WgradTap &u = used[tile / (long(CBLOCKS) * Cfg::BLOCKS)];
        int b = int(tile / CBLOCKS % Cfg::BLOCKS), cb = int(tile % CBLOCKS);
        int t = u.kh * KW + u.kw;
        int c0 = cb * MR;
        for_vector_block<Cfg>(b, [&]<int NVb>(int v0) {
          float *pp = part + (long(t) * Cin + c0) * CO_PAD + v0 * L;
          const uint32_t *xc = xp + long(c0) * HW;
          const uint32_t *dc = dyp + v0 * L;
          auto run = [&]<int R>() {
            wgrad_tile_bf16<S.in_w, HW, XS, OP, S.out_w(), S.stride_h,
                            S.stride_w, S.pad_h, S.pad_w, S.dilation_h,
                            S.dilation_w, R, NVb, CO_PAD>(
                pp, CO_PAD, ch == 0, xc, dc, mb, me, u.kh, u.kw, u.oh_lo,
                u.oh_hi, u.ow_lo, u.ow_hi);
          };
          if (cb == CBLOCKS - 1)
            run.template operator()<MR_LAST>();
          else
            run.template operator()<MR>();
        });
      }
    }
#pragma omp barrier
    wgrad_write_dw<S, CO_PAD>(dw, part, used, nused);
  }
}

} // namespace rnc::cpu::detail
