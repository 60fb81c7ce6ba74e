// conv2d on row-of-positions register tiles: MR consecutive output
// positions of one image x NV vectors of output channels, over a
// zero-bordered channels-last copy of the input. No im2col; no tap skipping
// but for whole kernel rows in the border (border_row_taps).
#pragma once

#include <algorithm>
#include <type_traits>

#include "conv_tiled.h"
#include "epilogue.h"
#include "kernels/shapes.h"
#include "transpose.h"

namespace rnc::cpu::detail {

// GCC 12's false "uninitialized" warnings on the AVX-512 intrinsics (see
// transpose.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// Why: at small batches on large planes (resnet50 at batch 8: 56x56 and
// 28x28) the image tiles of conv_tiled.h lack images, and the GEMM copies
// every im2col value into a panel that serves only Co multiply-adds (a
// fifth of a 64-channel 3x3 layer's time). Here a tile holds MR output
// positions of one image that lie a constant distance apart in the copy,
// exactly as the image tiles' MR images do, so the same inner product
// (tile_accumulate) runs on them:
//
//   xp[n][ih + pad_h][iw + pad_w][c] = x[n][c][ih][iw], zero around,
//   out[n, co, q] = sum over every tap t and channel c of
//                   xp[n][pos(q) + off_t][c] * wp[t][c][co].
//
// The border makes every tap valid at every position. With stride 1 the
// rows run on into each other: position (oh, ow) is the virtual position
// oh * Wp + ow, whose input is its own index times PS (Cin, or a line more:
// RowTiles), so a tile may cross the end of a row; the virtual positions
// ow >= out_w (the border columns) are computed and dropped, 2 * pad_w of
// every Wp. With larger strides, or
// where a tile size divides the output row (row_tile_mr), a row is a run of
// its own. A run whose length MR does not divide ends with a tile shifted
// back over the one before, which stores only its new positions. The stride-1
// data gradient is this forward on the flipped weights (conv.h), so it takes
// these tiles as well.
//
// Stores go to NCHW: a tile's MR positions are consecutive floats of each
// channel's plane. Results do not depend on the thread count: threads
// split runs of tiles, and a tile's outputs are computed by one thread.

#if RNC_HAVE_VECTOR_EXT

// Stride 1: a tile size that divides the output row, MR or larger as the
// registers allow (MR x NV accumulators, NV weight vectors and a broadcast
// in kVecRegs; at least 3/4 of MR), or 0. With one, each output row is a
// run of whole tiles and the flat runs' border columns (2 * pad_w of every
// Wp positions) are not computed: fashion_resnet's 32->32 3x3 @14 (Wp 16, 14
// positions a tile instead of 12) and d2l_resnet18's 64->64 3x3 @24 at 96x96
// (Wp 26, 6 a tile as before); with the two changes in row_tiles_run, their
// forward and data gradient 3.4-3.5 -> 2.5-2.9 ms and 36-37 -> 30-33 ms
// (kernel-conv-bench, one thread; bench/cpu-kernels-notes.md, v14).
//
// Grouped layers (32 or 16 outputs a group on 7- to 14-wide planes) always
// run whole rows, at any stride, on tiles down to 4 positions: a flat run
// of resnext50's 1024 g32 3x3 @7 would compute 72 virtual positions for 49
// outputs.
//
// Strided dense layers run whole rows too (a run is one output row); a row
// shorter than MR (4 positions or more) is one tile of its own: fashion_
// resnet's 32->64 3x3 s2 @14, 7 positions x 2 vectors a tile, where MR 6 x
// 4 vectors computed a second tile shifted back over the first (12
// positions for 7).
constexpr int row_tile_mr(const Conv2DShape &S, int NV, int MR) {
  const int top = std::min(16, (kVecRegs - 1 - NV) / NV);
  if (S.groups > 1) {
    for (int m = top; m >= 4; --m)
      if (S.out_w() % m == 0)
        return m;
    return 0;
  }
  if (S.stride_h != 1 || S.stride_w != 1)
    return S.out_w() >= 4 && S.out_w() < MR && S.out_w() <= top ? S.out_w() : 0;
  for (int m = top; 4 * m >= 3 * MR; --m)
    if (S.out_w() % m == 0)
      return m;
  return 0;
}

// The largest weight panel (one block of output channels, every tap and
// input channel) for which a row tile runs all of its taps in registers:
// L1 is 48 KB here, and the input rows need some of it.
inline constexpr long kTapsInsideBytes = 40 << 10;

// The row tiles' register tile: TileCfg's, or 2 vectors of output channels
// where only that size gives whole-row runs: 56-, 28- and 14-wide planes
// with 64 or more channels, 14 positions x 2 vectors a tile instead of flat
// runs of 6 x 4 (one thread, alternated runs: resnet50's 128->128 3x3 @28 at
// batch 8, forward and data gradient, 10.1-10.3 -> 8.8-9.9 ms; its 64->64
// 3x3 @56 9.8-10.4 -> 9.7-9.9; fashion_resnet_wide's 64->64 3x3 @14 at
// batch 128 11.1-11.9 -> 9.9-10.5; bench/cpu-kernels-notes.md, v14).
template <Conv2DShape S, class T> struct RowTileCfg {
  using Default = TileCfg<S.out_per_group(), T>;
  using Two = TileCfg<S.out_per_group(), T, 2>;
  static constexpr bool kTwo = Default::NV > 2 && Default::NVTOT % 2 == 0 &&
                               !row_tile_mr(S, Default::NV, Default::MR) &&
                               row_tile_mr(S, Two::NV, Two::MR);
  using type = std::conditional_t<kTwo, Two, Default>;
};

template <Conv2DShape S, class T> struct RowTiles {
  using Cfg = typename RowTileCfg<S, T>::type;
  static constexpr int OH = S.out_h(), OW = S.out_w();
  // Whole output rows as runs where a tile size divides the row.
  static constexpr int kRowMR = row_tile_mr(S, Cfg::NV, Cfg::MR);
  static constexpr int MR = kRowMR ? kRowMR : Cfg::MR, Cin = S.in_channels;
  // The copy's distance between positions, spread over the L1 sets (1024
  // channels: a tile's 7 positions and its 3 input rows would otherwise
  // compete for the 12 ways of one set; 1024 g32 @7 forward 1.80 -> 1.63 ms).
  static constexpr int PS = set_spread_stride<T>(Cin);
  // A group's input and output channels (all of them when groups == 1):
  // each group has its own weight panels, Cfg::BLOCKS of them, and reads
  // its Cig channels at offset g * Cig of every position of the copy.
  static constexpr int G = S.groups, Cig = S.in_per_group(),
                       Cog = S.out_per_group();
  static constexpr long panel_stride =
      long(S.kernel_h) * S.kernel_w * Cig * Cfg::NV * Cfg::L;
  static constexpr int Hp = S.in_h + 2 * S.pad_h, Wp = S.in_w + 2 * S.pad_w;
  // Rows run on into each other (one run per image, cut into chunks).
  static constexpr bool kFlat = S.stride_h == 1 && S.stride_w == 1 && !kRowMR;
  static constexpr int VW = kFlat ? Wp : OW;         // virtual row length
  static constexpr long VN = long(OH - 1) * VW + OW; // virtual positions
  static constexpr long IS = long(S.stride_w) * PS;  // tile row distance
  static constexpr long IMG = long(Hp) * Wp * PS;    // one image's copy
  static constexpr int kChunk = 8 * MR; // positions per work item (flat)
  static constexpr int RUNS = kFlat ? int((VN + kChunk - 1) / kChunk) : OH;
  // Every run holds a whole tile.
  static constexpr bool fits = kFlat ? VN >= MR : OW >= MR;
};

// xp (image n's copy, IMG elements) from x (image n, NCHW), border zero.
// With AVX-512, 16 channels x 16 positions of the plane at a time through a
// register transpose: the 16 channel rows are read in order (one row a
// channel at a time would touch Cin pages per input row).
template <Conv2DShape S, class T>
void row_tiles_stage_image(T *RNC_RESTRICT xp, const T *RNC_RESTRICT x) {
  using R = RowTiles<S, T>;
  constexpr int Cin = R::Cin, PS = R::PS, W = S.in_w, Wp = R::Wp;
  constexpr long plane = S.in_plane(), row = long(Wp) * PS;
  std::fill(xp, xp + S.pad_h * row, T(0));
  std::fill(xp + (S.pad_h + S.in_h) * row, xp + R::IMG, T(0));
  for (int ih = 0; ih < S.in_h; ++ih) {
    T *d = xp + (ih + S.pad_h) * row;
    std::fill(d, d + S.pad_w * PS, T(0));
    std::fill(d + (S.pad_w + W) * PS, d + row, T(0));
  }
  // Position p of the plane goes to (p / W + pad_h, p % W + pad_w).
  auto dst = [&](long p) {
    return xp + ((p / W + S.pad_h) * Wp + p % W + S.pad_w) * PS;
  };
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    for (int c0 = 0; c0 < Cin; c0 += 16) {
      const int nc = std::min(16, Cin - c0);
      const __mmask16 cm = __mmask16((1u << nc) - 1);
      for (long p0 = 0; p0 < plane; p0 += 16) {
        const int np = int(std::min<long>(16, plane - p0));
        const __mmask16 pm = __mmask16((1u << np) - 1);
        __m512 v[16];
        for (int i = 0; i < 16; ++i)
          v[i] = i < nc ? _mm512_maskz_loadu_ps(pm, x + (c0 + i) * plane + p0)
                        : _mm512_setzero_ps();
        transpose16x16(v);
        for (int t = 0; t < np; ++t)
          _mm512_mask_storeu_ps(dst(p0 + t) + c0, cm, v[t]);
      }
    }
    return;
  }
#endif
  for (long p = 0; p < plane; ++p)
    for (int c = 0; c < Cin; ++c)
      dst(p)[c] = x[c * plane + p];
}

// accb[MR][NV*L] (+)= sum over CB channels c of x[i*IS + c] * w[c][..]:
// one tap and one chunk of channels of a tile, the accumulators kept in
// the group's buffer between chunks (zero first if `first`).
template <class T, int MR, int NV, int CB, long IS>
RNC_INLINE void rows_accumulate(T *RNC_RESTRICT accb, bool first,
                                const T *RNC_RESTRICT x,
                                const T *RNC_RESTRICT w) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes, NR = NV * L;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[i][v] = first ? V{} : vload(accb + i * NR + v * L);
#pragma GCC unroll kFmaLoopUnroll
  for (int c = 0; c < CB; ++c)
    tile_rank1<T, MR, NV, IS>(acc, x + c, w + long(c) * NR);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      vstore(accb + i * NR + v * L, acc[i][v]);
}

// dst[j * ld + i * PSTR] = acc[i * NR + j] for rows i in [i0, i1) of a
// finished tile (MR positions x NR channels): 16 x 16 register transposes,
// stored with the lanes of rows outside [i0, i1) masked off. PSTR 2 (a
// stride-2 data gradient's phase, conv_rows_s2.h): each transposed row
// spread over the even lanes of two vectors, the odd ones masked off (the
// other phase of the row writes them).
template <int MR, int NR, int PSTR = 1, class T>
RNC_INLINE void rows_tile_to_columns(T *dst, long ld, const T *acc, int i0,
                                     int i1, int cols = NR) {
  static_assert(PSTR == 1 || PSTR == 2);
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && MR <= 16 && NR % 16 == 0) {
    const unsigned keep = ((1u << i1) - 1) & ~((1u << i0) - 1);
    // PSTR 2: the stores' masks, rows k (k + 8) at lane 2k.
    unsigned mlo = 0, mhi = 0;
    for (int k = 0; k < 8; ++k) {
      mlo |= (keep >> k & 1u) << (2 * k);
      mhi |= (keep >> (k + 8) & 1u) << (2 * k);
    }
    for (int u = 0; u < NR; u += 16) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i)
        v[i] = i < MR ? _mm512_load_ps(acc + i * NR + u) : _mm512_setzero_ps();
      transpose16x16(v);
      for (int j = 0; j < 16 && u + j < cols; ++j) {
        T *d = dst + long(u + j) * ld;
        if constexpr (PSTR == 1) {
          _mm512_mask_storeu_ps(d, __mmask16(keep), v[j]);
        } else {
          _mm512_mask_storeu_ps(d, __mmask16(mlo),
                                spread_to_even_lanes(v[j], 0));
          if (MR > 8)
            _mm512_mask_storeu_ps(d + 16, __mmask16(mhi),
                                  spread_to_even_lanes(v[j], 1));
        }
      }
    }
    return;
  }
#endif
  for (int j = 0; j < cols; ++j)
    for (int i = i0; i < i1; ++i)
      dst[long(j) * ld + i * PSTR] = acc[i * NR + j];
}

// The taps a row tile sums: tap i's offset in the copy (from the tile's
// position) and its weight panel, for i < n.
struct RowTaps {
  const int *off, *tw;
  int n;
};

// The most taps a row tile sums (conv2d_row_tiles_forward's limit).
inline constexpr int kMaxRowTaps = 64;

// The taps of `taps` whose input row, for output row `oh` of a run of one
// row, lies inside the plane (not the copy's zero border), copied into off
// and tw (kMaxRowTaps each). A tap's row in the copy is oh * stride_h plus
// its offset's whole rows (its column part is under one row).
template <Conv2DShape S, class T>
RowTaps border_row_taps(RowTaps taps, int oh, int *off, int *tw) {
  using R = RowTiles<S, T>;
  constexpr long row = long(R::Wp) * R::PS;
  int n = 0;
  for (int i = 0; i < taps.n; ++i) {
    const long ih = long(oh) * S.stride_h + taps.off[i] / row;
    if (ih >= S.pad_h && ih < S.pad_h + S.in_h) {
      off[n] = taps.off[i];
      tw[n++] = taps.tw[i];
    }
  }
  return RowTaps{off, tw, n};
}

// One work item of the row tiles: the run `run` of image n (its copy at xn)
// for the vector block b of group g's output channels, stored to y with the
// bias and the epilogue. wp: the weight panels. OSTR 2: a stride-2 data
// gradient's phase (pa, pb) (conv_rows_s2.h), whose output (oh, ow) is y's
// (2 * oh + pa, 2 * ow + pb), y's planes 2 * OH x 2 * OW (no epilogue, no
// bias; stores only).
template <Conv2DShape S, class T, class Epi, int OSTR = 1>
void row_tiles_run(T *y, const T *xn, const T *wp, RowTaps taps, const T *bias,
                   int n, int g, int b, int run, const Epi &epi, int pa = 0,
                   int pb = 0) {
  using R = RowTiles<S, T>;
  using Cfg = typename R::Cfg;
  constexpr int L = Cfg::L, MR = R::MR, Cin = R::Cig, Co = S.out_channels;
  constexpr int KHW = S.kernel_h * S.kernel_w;
  constexpr long OP = S.out_plane(), panel_stride = R::panel_stride;
  // y's plane and the output index of a run's virtual position v.
  constexpr long YP = OP * OSTR * OSTR;
  auto out_at = [&](long v) {
    if constexpr (OSTR == 1)
      return v;
    const long oh = v / R::OW, ow = v - oh * R::OW;
    return (OSTR * oh + pa) * (OSTR * R::OW) + OSTR * ow + pb;
  };
  // Where a block's whole weight panel fits in L1 (fashion_resnet's 32->32
  // 3x3: 37 KB) a tile runs every tap and channel with its accumulators in
  // registers, one tile a group; otherwise groups of kGroup tiles go tap by
  // tap and a chunk of channels at a time, the accumulators stored between.
  constexpr bool kTapsInside =
      long(KHW) * Cin * Cfg::NV * L * long(sizeof(T)) <= kTapsInsideBytes;
  constexpr int kGroup = kTapsInside ? 1 : 4, kChanChunk = std::min(Cin, 64);
  [[maybe_unused]] constexpr int kChanLast =
      Cin % kChanChunk ? Cin % kChanChunk : kChanChunk;
  // Runs of whole output rows with no epilogue store each tile's channels
  // straight into y (masked transposes) instead of through obuf below.
  constexpr bool kDirectStores = !R::kFlat && std::is_same_v<Epi, NoEpilogue>;
  static_assert(OSTR == 1 || kDirectStores);
  // The run's virtual positions [vb, ve) and the copy at vb.
  long vb, ve;
  const T *xr = xn;
  if constexpr (R::kFlat) {
    vb = long(run) * R::kChunk;
    ve = std::min(R::VN, vb + R::kChunk);
    xr += vb * R::PS;
  } else {
    vb = long(run) * R::OW;
    ve = vb + R::OW;
    xr += long(run) * S.stride_h * R::Wp * R::PS;
  }
  xr += long(g) * Cin; // the group's channels
  // A run of one output row leaves out the taps whose input row is the
  // copy's zero border (the first and last rows of a 3x3 pad-1 layer: a
  // third of their multiply-adds, 5% of a 14x14 layer's, 10% at 7x7). Each
  // left-out product is +-0 (finite weights) added to a sum that starts at
  // +0: the same bits.
  [[maybe_unused]] int live_off[kMaxRowTaps], live_tw[kMaxRowTaps];
  if constexpr (!R::kFlat && S.pad_h > 0) {
    const long top = long(run) * S.stride_h; // the run's first copy row
    if (top < S.pad_h ||
        top + (S.kernel_h - 1) * S.dilation_h >= S.pad_h + S.in_h)
      taps = border_row_taps<S, T>(taps, run, live_off, live_tw);
  }
  // A tile never reads past the image's last virtual position.
  const long vlast = R::kFlat ? R::VN : ve;
  for_vector_block<Cfg>(b, [&]<int NVb>(int v0) {
    constexpr int NR = NVb * L;
    const T *pb = wp + (long(g) * Cfg::BLOCKS + b) * panel_stride;
    // c0: the block's first channel of y; cols: its channels in the group.
    const int c0 = g * R::Cog + v0 * L, cols = std::min(NR, R::Cog - v0 * L);
    alignas(64) T accb[kGroup][MR * NR];
    // kLead columns before the first: a tile shifted back writes there
    // (masked off).
    constexpr int kLead = MR, kLd = kLead + kGroup * MR;
    alignas(64) T obuf[NR * kLd];
    // Groups of kGroup tiles; tap by tap, the chunk's weights stay in L1 for
    // the group's tiles (whole panels are 147 KB at 64 channels, 1.2 MB at
    // 512).
    for (long gv = vb; gv < ve; gv += long(kGroup) * MR) {
      const int ntiles = int(std::min<long>(kGroup, (ve - gv + MR - 1) / MR));
      long t0[kGroup];
      for (int k = 0; k < ntiles; ++k)
        t0[k] = std::min(gv + long(k) * MR, vlast - MR);
      if constexpr (OSTR == 1) {
        // The group's output lines, for writing, while it computes (the
        // stores below would otherwise wait for each line: an eighth of
        // the time at 56 x 56).
        const long oh = gv / R::VW,
                   ow = std::min<long>(gv - oh * R::VW, R::OW - 1);
        const T *o = y + long(n) * Co * OP + c0 * OP + oh * R::OW + ow;
        for (int j = 0; j < cols; ++j)
          for (int p = 0; p < kGroup * MR; p += 64 / int(sizeof(T)))
            __builtin_prefetch(o + j * OP + p, 1);
      } else {
        // The same, tile by tile (a group's rows lie 2 rows of y apart).
        for (int k = 0; k < ntiles; ++k) {
          const T *o = y + (long(n) * Co + c0) * YP + out_at(t0[k]);
          for (int j = 0; j < cols; ++j)
            for (int p = 0; p < OSTR * MR; p += 64 / int(sizeof(T)))
              __builtin_prefetch(o + j * YP + p, 1);
        }
      }
      if constexpr (kTapsInside) {
        for (int k = 0; k < ntiles; ++k) {
          typename Vec<T>::type acc[MR][NVb];
          tile_accumulate<T, MR, NVb, Cin, R::IS, 1>(
              acc, xr + (t0[k] - vb) * R::IS, taps.off, taps.tw, taps.n, pb);
          for (int i = 0; i < MR; ++i)
            for (int v = 0; v < NVb; ++v)
              vstore(accb[k] + i * NR + v * L, acc[i][v]);
        }
      } else {
        if (taps.n == 0) // every tap in the border: zeros
          for (int k = 0; k < ntiles; ++k)
            std::fill_n(accb[k], MR * NR, T(0));
        for (int i = 0; i < taps.n; ++i)
          for (int cc = 0; cc < Cin; cc += kChanChunk) {
            const T *wt = pb + (long(taps.tw[i]) * Cin + cc) * NR;
            const bool first = i == 0 && cc == 0;
            for (int k = 0; k < ntiles; ++k) {
              const T *xt = xr + (t0[k] - vb) * R::IS + taps.off[i] + cc;
              if (Cin - cc >= kChanChunk)
                rows_accumulate<T, MR, NVb, kChanChunk, R::IS>(accb[k], first,
                                                               xt, wt);
              else
                rows_accumulate<T, MR, NVb, kChanLast, R::IS>(accb[k], first,
                                                              xt, wt);
            }
          }
      }
      if (kDirectStores && !bias) {
        // Runs of whole rows: virtual position == output index.
        for (int k = 0; k < ntiles; ++k) {
          const long v = gv + long(k) * MR;
          const int i0 = int(v - t0[k]),
                    i1 = int(std::min<long>(MR, ve - t0[k]));
          rows_tile_to_columns<MR, NR, OSTR>(y + (long(n) * Co + c0) * YP +
                                                 out_at(t0[k]),
                                             YP, accb[k], i0, i1, cols);
        }
        continue;
      }
      // The group's outputs channel-major (positions gv + p at column
      // kLead + p), then written a row piece at a time.
      for (int k = 0; k < ntiles; ++k) {
        const long v = gv + long(k) * MR;
        const int i0 = int(v - t0[k]), i1 = int(std::min<long>(MR, ve - t0[k]));
        rows_tile_to_columns<MR, NR>(obuf + kLead + (t0[k] - gv), kLd, accb[k],
                                     i0, i1);
      }
      const long gend = std::min(ve, gv + long(kGroup) * MR);
      for (long vv = gv; vv < gend;) {
        const long oh = vv / R::VW, ow = vv - oh * R::VW;
        const long len = std::min(gend - vv, R::VW - ow);
        if (ow < R::OW) {
          const long m = std::min<long>(len, R::OW - ow);
          const long q0 = oh * R::OW + ow;
          for (int j = 0; j < cols; ++j) {
            const int c = c0 + j;
            T *o = y + (long(n) * Co + c) * OP + q0;
            const T *src = obuf + j * kLd + kLead + (vv - gv);
            if (bias) {
              const T bc = bias[c];
              for (long i = 0; i < m; ++i)
                o[i] = epi(n, c, q0 + i, src[i] + bc);
            } else {
              for (long i = 0; i < m; ++i)
                o[i] = epi(n, c, q0 + i, src[i]);
            }
          }
        }
        vv += len;
      }
    }
  });
}

// y = conv(x, w) + bias, epi on every output, then after(n, 1, g) for every
// image n and group g once the image is written; w is [co][c / groups][kh][kw].
// With at least as many images as threads each thread takes whole images:
// it copies one into its own buffer (L2-sized: 861 KB at 64 x 56 x 56),
// runs all of its tiles, then after() while the image's outputs are in
// cache. Otherwise (fewer images, or weight panels larger than L2) every
// image is copied first, and threads split (vector block, image, run)
// items, the block outermost.
template <Conv2DShape S, class T, class Epi, class After>
void conv2d_row_tiles_forward(T *y, const T *x, const T *w, const T *bias,
                              int N, const Epi &epi, const After &after) {
  using R = RowTiles<S, T>;
  using Cfg = typename R::Cfg;
  constexpr int Cin = R::Cin, G = R::G, Cig = R::Cig, Cog = R::Cog;
  constexpr int KW = S.kernel_w, KHW = S.kernel_h * KW;
  constexpr long OP = S.out_plane(), XS = long(Cin) * S.in_plane();
  static_assert(R::fits && KHW <= kMaxRowTaps);
  using P = TiledProblem<Cig, Cog, S.in_plane(), OP, KHW>;
  constexpr long panel_stride = R::panel_stride;
  constexpr int BLOCKS = G * Cfg::BLOCKS; // (group, vector block) pairs
  T *wp = scratch<T>(kSlotPanel, size_t(BLOCKS) * panel_stride);
  int off[KHW], tw[KHW];
  for (int t = 0; t < KHW; ++t) {
    off[t] = int(
        (long(t / KW) * S.dilation_h * R::Wp + long(t % KW) * S.dilation_w) *
        R::PS);
    tw[t] = t;
  }
  const RowTaps taps{off, tw, KHW};
  const bool par = tiles_in_parallel(N, S.out_channels, OP, Cig, KHW);
  const int threads = par ? max_threads() : 1;
  // Whole images per thread only while all the weight panels stay in L2
  // across an image: on small planes with many channels (512 x 512 3x3: 9.4
  // MB of panels for 61 positions) the blocks go outermost instead.
  constexpr bool kPanelsFit =
      BLOCKS * panel_stride * long(sizeof(T)) <= (1L << 20);
  const bool by_image = kPanelsFit && N >= threads;
  T *xp = scratch<T>(kSlotCol, size_t(by_image ? threads : N) * R::IMG);
  const long items = long(BLOCKS) * N * R::RUNS;
#pragma omp parallel num_threads(threads) if (par)
  {
    pack_weight_panels<P, Cfg>(wp, w, WeightStrides{1, KHW, long(Cig) * KHW},
                               nullptr, G, long(Cog) * Cig * KHW);
    if (by_image) {
      T *xn = xp + thread_id() * R::IMG;
#pragma omp for schedule(static)
      for (int n = 0; n < N; ++n) {
        row_tiles_stage_image<S>(xn, x + n * XS);
        for (int gb = 0; gb < BLOCKS; ++gb)
          for (int run = 0; run < R::RUNS; ++run)
            row_tiles_run<S>(y, xn, wp, taps, bias, n, gb / Cfg::BLOCKS,
                             gb % Cfg::BLOCKS, run, epi);
        for (int g = 0; g < G; ++g)
          after(n, 1, g);
      }
    } else {
#pragma omp for schedule(static)
      for (int n = 0; n < N; ++n)
        row_tiles_stage_image<S>(xp + n * R::IMG, x + n * XS);
#pragma omp for schedule(static)
      for (long it = 0; it < items; ++it) {
        const int gb = int(it / (long(N) * R::RUNS));
        const int n = int(it / R::RUNS % N), run = int(it % R::RUNS);
        row_tiles_run<S>(y, xp + n * R::IMG, wp, taps, bias, n,
                         gb / Cfg::BLOCKS, gb % Cfg::BLOCKS, run, epi);
      }
#pragma omp for schedule(static)
      for (int n = 0; n < N; ++n)
        for (int g = 0; g < G; ++g)
          after(n, 1, g);
    }
  }
}

#endif // RNC_HAVE_VECTOR_EXT

// Grouped layers take the row tiles from this many input channels a group
// (and a whole number of vectors of outputs a group, and a tile size of 4
// or more that divides the row). resnext50 at batch 8 (kernel-conv-bench,
// one thread, forward and data gradient): 1024 g32 3x3 @7 3.2-3.6 ->
// 1.6-1.8 ms (the GEMM before), 1024 g32 s2 @14 forward 4.5-4.7 -> 2.4;
// 512 g32 @14 1.6 either way (the direct kernel before); d2l_resnext18 at
// 96x96, batch 64, its step 140-142 -> 148-155 images/s.
#ifndef RNC_ROWS_MIN_PER_GROUP // overridable for tuning runs only
#define RNC_ROWS_MIN_PER_GROUP 16
#endif
inline constexpr int kRowsMinPerGroup = RNC_ROWS_MIN_PER_GROUP;

// Whether a forward convolution (and the stride-1 data gradient, a forward
// on flipped weights) takes the row tiles: fp32 (bf16 has its own tiles)
// on planes larger than the image tiles take (16 x 16), or on planes of
// 145-256 positions with 64 channels or fewer on both sides (before the
// image tiles: their scattered stores of 64 channels and less are the
// larger cost there; 32->32 3x3 @14 at batch 128 forward and data gradient
// 47% -> 53% of the peak, the weight gradient unchanged), a kernel larger
// than 1x1 (a 1x1 GEMM reads the NCHW planes as they are, no im2col) over
// 16 or more input channels (not the stems), a whole tile in every run.
// Stride 2 from such a plane (145-256 input positions, 32-64 outputs, 64
// or fewer inputs) as well, on one tile a row (row_tile_mr): fashion_
// resnet's 32->64 3x3 s2 @14 at batch 128 on the image tiles before, 2.0-2.1
// -> 1.56-1.64 ms (one thread, a harness; bench/cpu-kernels-notes.md, v17).
// Measured against the GEMM with kernel-conv-bench (bench/cpu-kernels-
// notes.md, v6): 64->64 3x3 @56 at batch 8 47% -> 60% of the FMA peak;
// on 7x7 planes the GEMM stays ahead (the panels of 512 channels outgrow
// L2 while one image has only 49 positions).
template <Conv2DShape S, class T> constexpr bool use_row_tiles() {
#if RNC_HAVE_VECTOR_EXT && !defined(RNC_CONV_NO_TILED) &&                    \
    !defined(RNC_CONV_NO_ROWS)
  if constexpr (bf16_operands<T>())
    return false;
  else
    return S.kernel_h * S.kernel_w > 1 && S.kernel_h * S.kernel_w <= 64 &&
           RowTiles<S, T>::fits &&
           (S.groups == 1
                ? S.in_channels >= 16 &&
                      (S.out_plane() > 256 ||
                       (S.out_plane() > 144 && S.in_channels <= 64 &&
                        S.out_channels <= 64) ||
                       (S.stride_h == 2 && S.stride_w == 2 &&
                        S.in_plane() > 144 && S.in_plane() <= 256 &&
                        S.in_channels <= 64 && S.out_channels >= 32 &&
                        S.out_channels <= 64 && RowTiles<S, T>::kRowMR > 0))
                : S.in_per_group() >= kRowsMinPerGroup &&
                      S.out_per_group() % Vec<T>::lanes == 0 &&
                      RowTiles<S, T>::kRowMR > 0);
#else
  return false;
#endif
}

#pragma GCC diagnostic pop

} // namespace rnc::cpu::detail
