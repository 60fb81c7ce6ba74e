// conv2d on channel-vector register tiles: MR images x NV vectors of channels
// at one spatial position, operands broadcast straight from NCHW, no im2col.
#pragma once

#include <algorithm>

#include "bf16.h"
#include "common.h"
#include "cpu_features.h"
#include "kernels/shapes.h"
#include "transpose.h"

namespace rnc::cpu::detail {

// Whether a tiled convolution of N images (Co outputs per position, plane
// positions, a reduction of Cin x KHW) is worth a parallel region.
inline bool tiles_in_parallel(int N, int Co, long plane, int Cin, int KHW) {
  return max_threads() > 1 &&
         2.0 * N * Co * double(plane) * Cin * KHW >= kParallelFlops;
}


// Why: with small planes (7x7 and below at 28x28 input) an NCHW GEMM over
// output positions is narrow, and packing im2col panels costs as much as the
// multiply-adds. Here every GEMM row is one (image, position) pair and every
// column an output channel, so the vector runs along channels:
//
//   out[n, co, q] = sum over taps t valid at q, channels c of
//                   in[n, c, q_t] * wp[t][c][co]
//
// A tile holds MR consecutive images at the same position q: their operands
// lie a constant image stride apart, so one pointer and compile-time
// displacements address them all, and the taps that fall into the padding
// are skipped for the whole tile (at 1x1 a 3x3 conv has one valid tap of
// nine). Forward: q is an output position, in = x, t = (kh, kw) inside the
// input. Data gradient: q is an input position, in = dy, t = the (kh, kw)
// whose output position (q + pad - k*dil) / stride is whole and inside;
// that covers every stride without col2im. Weight gradient: the tile holds
// MR input channels of one tap instead, summed over every position.
//
// The input a tile broadcasts from is first copied channels-last ([N][plane]
// [channels], one blocked transpose per call): a tile's operands at one tap
// then share a few cache lines instead of one line per channel, so they stay
// in L1 while the neighbouring positions reuse them.
//
// Results do not depend on the thread count: a tile's outputs are computed
// by one thread in a fixed order, and threads only split tiles.

#if RNC_HAVE_VECTOR_EXT

// The distance between positions of a channels-last copy with `channels`
// values a position: `channels`, plus a cache line where their bytes are a
// multiple of 2 KB. With 1024 channels every position would start 4 KB
// after the last, in the same L1 set (resnext50's 1024 g32 layers: the row
// tiles' input copy and the weight gradient's dy^T).
template <class T> constexpr int set_spread_stride(int channels) {
  return channels +
         ((long(channels) * sizeof(T)) % 2048 == 0 ? 64 / int(sizeof(T)) : 0);
}

// Register tiling for a vector dimension of `Co` channels (scalar T): the
// main blocks have NV vectors (NVforced where given, else chosen here) and
// MR rows (MR * NV = 24 accumulators when NV > 1), the last block NV_LAST
// vectors.
template <int Co, class T, int NVforced = 0> struct TileCfg {
  static constexpr int L = Vec<T>::lanes;
  static constexpr int NVTOT = (Co + L - 1) / L;
  static constexpr int CO_PAD = NVTOT * L;
  static constexpr int NV = NVforced       ? NVforced
                            : NVTOT % 4 == 0 ? 4
                            : NVTOT % 3 == 0 ? 3
                            : NVTOT % 2 == 0 ? 2
                            : NVTOT >= 4     ? 4
                                             : NVTOT;
  static constexpr int MR = NV == 4 ? 6 : NV == 3 ? 8 : NV == 2 ? 12 : 16;
  static constexpr int BLOCKS = (NVTOT + NV - 1) / NV;
  static constexpr int NV_LAST = NVTOT - (BLOCKS - 1) * NV;
};

// Calls f.template operator()<NVb>(b, v0) for every vector block b (first
// vector v0), NVb compile-time.
template <class Cfg, class F> RNC_INLINE void for_vector_block(int b, F &&f) {
  if constexpr (Cfg::NV_LAST != Cfg::NV) {
    if (b == Cfg::BLOCKS - 1) {
      f.template operator()<Cfg::NV_LAST>(b * Cfg::NV);
      return;
    }
  }
  f.template operator()<Cfg::NV>(b * Cfg::NV);
}

// Work item `it` of a tile driver (vector block, image block, output row,
// the row fastest): vector block b, images [n0, n0 + MR), output row r. The
// last image block ends at image N, overlapping the one before when MR
// does not divide N; it stores only images from n0 + skip on, the ones the
// block before did not.
struct TileItem {
  int b, n0, skip, r;
};
inline TileItem tile_item(long it, int iblocks, int rows, int MR, int N) {
  const int ib = int(it / rows % iblocks);
  const int n0 = std::max(0, std::min(ib * MR, N - MR));
  return {int(it / (long(iblocks) * rows)), n0, ib * MR - n0, int(it % rows)};
}

// The bf16 tiles' copy of the input (inside their parallel region: the
// images are shared among the threads): image n's [Cr][InPlane] floats as
// channels-last bf16 pairs, bf16_pair_stride(Cr) pairs per position, at
// in_t + n * that * InPlane.
template <class P>
void stage_pairs(uint32_t *RNC_RESTRICT in_t, const float *in, int N) {
  constexpr int CPS = bf16_pair_stride(P::Cr);
  constexpr long IS = long(CPS) * P::InPlane;
#pragma omp for schedule(static)
  for (int n = 0; n < N; ++n)
    pack_pairs_transposed(in_t + n * IS, CPS, in + long(n) * P::Cr * P::InPlane,
                          P::InPlane, int(P::InPlane), P::Cr);
}

// dst[i*drs + j*dcs] = src[i*srs + j*scs] for i < rows, j < cols, in 16 x 16
// blocks so that both sides stay in cache (transposes and weight panels).
template <class T>
void copy_strided(T *RNC_RESTRICT dst, long drs, long dcs,
                  const T *RNC_RESTRICT src, long srs, long scs, int rows,
                  int cols) {
  constexpr int B = 16;
  for (int i0 = 0; i0 < rows; i0 += B)
    for (int j0 = 0; j0 < cols; j0 += B) {
      int i1 = std::min(rows, i0 + B), j1 = std::min(cols, j0 + B);
      for (int i = i0; i < i1; ++i)
        for (int j = j0; j < j1; ++j)
          dst[i * drs + j * dcs] = src[i * srs + j * scs];
    }
}

// acc[i][v] += x[i*IS] * w[v*L ..]: one reduction channel of a tile (MR
// operands IS apart, broadcast, times NV weight vectors).
template <class T, int MR, int NV, long IS>
RNC_INLINE void tile_rank1(typename Vec<T>::type (&acc)[MR][NV],
                           const T *RNC_RESTRICT x, const T *RNC_RESTRICT w) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  V wv[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v)
    wv[v] = vload(w + v * L);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    V a = vbroadcast(x[i * IS]);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[i][v] += a * wv[v];
  }
}

// acc[i][v] = sum over taps and C channels of in[i*IS + off_t + c*CS] *
// w_t[c][v*L ..]; w_t = wp + tw_t * C * NV*L (a panel [taps][C][NV*L]).
template <class T, int MR, int NV, int C, long IS, long CS>
RNC_INLINE void tile_accumulate(typename Vec<T>::type (&acc)[MR][NV],
                                const T *RNC_RESTRICT in, const int *off,
                                const int *tw, int ntaps,
                                const T *RNC_RESTRICT wp) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes, NR = NV * L;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[i][v] = V{};
  for (int t = 0; t < ntaps; ++t) {
    const T *x = in + off[t];
    const T *w = wp + long(tw[t]) * C * NR;
#pragma GCC unroll kFmaLoopUnroll
    for (int c = 0; c < C; ++c)
      tile_rank1<T, MR, NV, IS>(acc, x + long(c) * CS, w + long(c) * NR);
  }
}

// The taps of every position q of a plane: tap_count[q] entries of
// (input offset, weight tap) at q * KHW.
struct TapTable {
  int *off, *tw, *count;
  bool used[64]; // tap t occurs somewhere (taps past 64 always packed)
  bool is_used(int t) const { return t >= 64 || used[t]; }
};

// One direction of the channel-vector convolution: reduction over CR
// channels of an input with IN_PLANE positions per channel; output of CO
// channels with OUT_PLANE positions; KHW taps per position.
template <int CR, int CO, long IN_PLANE, long OUT_PLANE, int KHW>
struct TiledProblem {
  static constexpr int Cr = CR, Co = CO, Khw = KHW;
  static constexpr long InPlane = IN_PLANE, OutPlane = OUT_PLANE;
};

// Stores rows [skip, mr) of a finished tile buf[MR][NR] (images n0 + i,
// output channels c0 + j, position q): out[(n*Co + c)*OutPlane + q] =
// epi(n, c, q, buf + bias[c]). mr: the tile's images (MR unless fewer).
template <int Co, long OutPlane, int MR, int NR, class T, class Epi>
RNC_INLINE void store_tile(T *out, const T *buf, const T *bias, const Epi &epi,
                           int n0, int skip, int c0, long q, int mr = MR) {
  int cols = std::min(NR, Co - c0);
  for (int i = skip; i < mr; ++i) {
    int n = n0 + i;
    T *o = out + (long(n) * Co + c0) * OutPlane + q;
    for (int j = 0; j < cols; ++j) {
      T val = buf[i * NR + j];
      if (bias)
        val += bias[c0 + j];
      o[j * OutPlane] = epi(n, c0 + j, q, val);
    }
  }
}

// Runs the problem for N images: packs the weights (the weight of tap t,
// reduction channel c, output channel co is w[t*wt + c*wc + co*wo]) into
// panels, then
// every (vector block, image block, output row) item, storing
// out[(n*CO + co)*OUT_PLANE + q] = epi(n, co, q, acc + bias[co]).
// `rows` = the output plane's row length (items are rows of positions).
struct WeightStrides {
  long wt, wc, wo;
};

// Panels wp[g][b][t][c][NVb*L] (zero past Co) of the weights w (group g's
// weight of tap t, reduction channel c, output channel co at w[g*wg + t*wt
// + c*wc + co*wo]) for the taps in use (every tap if `taps` is null): an
// `omp for` over the (group, vector block) pairs inside the caller's
// parallel region. Shared by the image tiles and the row tiles
// (conv_rows.h, whose grouped layers have `groups` sets of panels).
template <class P, class Cfg, class T>
void pack_weight_panels(T *wp, const T *w, WeightStrides ws,
                        const TapTable *taps, int groups = 1, long wg = 0) {
  constexpr int L = Cfg::L, Cr = P::Cr, Co = P::Co, KHW = P::Khw;
  constexpr long panel_stride = long(KHW) * Cr * Cfg::NV * L;
#pragma omp for schedule(static)
  for (int gb = 0; gb < groups * Cfg::BLOCKS; ++gb)
    for_vector_block<Cfg>(gb % Cfg::BLOCKS, [&]<int NVb>(int v0) {
      constexpr int NR = NVb * L;
      T *pb = wp + gb * panel_stride;
      const T *wgb = w + gb / Cfg::BLOCKS * wg;
      int cols = std::min(NR, Co - v0 * L);
      for (int t = 0; t < KHW; ++t) {
        if (taps && !taps->is_used(t))
          continue;
        T *pt = pb + long(t) * Cr * NR;
        copy_strided(pt, NR, 1, wgb + t * ws.wt + v0 * L * ws.wo, ws.wc, ws.wo,
                     Cr, cols);
        if (cols < NR)
          for (int c = 0; c < Cr; ++c)
            std::fill(pt + long(c) * NR + cols, pt + long(c + 1) * NR, T(0));
      }
    });
}

template <class P, class T, int MR, class Cfg = TileCfg<P::Co, T>, class Epi>
void tiled_run(T *out, const T *in, const T *bias, int N, const TapTable &taps,
               int row_len, const T *w, WeightStrides ws, const Epi &epi) {
  using V = typename Vec<T>::type;
  constexpr int L = Cfg::L, Cr = P::Cr, Co = P::Co, KHW = P::Khw;
  // in^T: [N][InPlane][Cr]
  constexpr long IS = long(Cr) * P::InPlane, CS = 1;
  T *in_t = scratch<T>(kSlotCol, size_t(N) * IS);
  constexpr long panel_stride = long(KHW) * Cr * Cfg::NV * L;
  // Not kSlotWeight: the GEMM data gradient runs the forward on flipped
  // weights it keeps there.
  T *wp = scratch<T>(kSlotPanel, size_t(Cfg::BLOCKS) * panel_stride);
  const int rows = int(P::OutPlane / row_len);
  const int iblocks = (N + MR - 1) / MR;
  const long items = long(Cfg::BLOCKS) * iblocks * rows;
  const bool par = tiles_in_parallel(N, Co, P::OutPlane, Cr, KHW);
#pragma omp parallel if (par)
  {
#pragma omp for schedule(static)
    for (int n = 0; n < N; ++n)
      copy_strided(in_t + n * IS, Cr, 1, in + n * IS, 1, P::InPlane,
                   int(P::InPlane), Cr);
    pack_weight_panels<P, Cfg>(wp, w, ws, &taps);
#pragma omp for schedule(static)
    for (long it = 0; it < items; ++it) {
      const auto [b, n0, skip, r] = tile_item(it, iblocks, rows, MR, N);
      for_vector_block<Cfg>(b, [&]<int NVb>(int v0) {
        constexpr int NR = NVb * L;
        const T *pb = wp + b * panel_stride;
        alignas(64) T buf[MR * NR];
        for (long q = long(r) * row_len; q < long(r + 1) * row_len; ++q) {
          V acc[MR][NVb];
          long k = q * KHW;
          tile_accumulate<T, MR, NVb, Cr, IS, CS>(acc, in_t + n0 * IS,
                                                  taps.off + k, taps.tw + k,
                                                  taps.count[q], pb);
          for (int i = 0; i < MR; ++i)
            for (int v = 0; v < NVb; ++v)
              vstore(buf + i * NR + v * L, acc[i][v]);
          store_tile<Co, P::OutPlane, MR, NR>(out, buf, bias, epi, n0, skip,
                                              v0 * L, q);
        }
      });
    }
  }
}

#if RNC_CPU_PRECISION == 2
// conv_tiled_bf16.h (included at the end).
template <class P, int MR, class Epi>
void tiled_run_bf16(float *out, const float *in, const float *bias, int N,
                    const TapTable &taps, int row_len, const float *w,
                    WeightStrides ws, const Epi &epi);
template <Conv2DShape S>
void conv2d_tiled_backward_weight_bf16(float *dw, const float *dy,
                                       const float *x, int N);
#endif

// Image tiles of 8 images x 3 vectors (24 accumulators, as 6 x 4) for a
// layer S whose configured tile holds 6 images x 4 vectors (blocks of 64
// channels), forward (kData false: out_channels the vectors) or data
// gradient: where 8 leaves fewer image slots of the last tile empty (the
// batches of 8, 16, 32, 64, 128...), and for 8 images (too few for two 6-image
// tiles: the GEMM before) on planes of 8x8 or less, whose im2col the GEMM
// multiplies with 18% padding taps at 7x7 and pads to its 48-column panels.
// Not where the 3-vector weight panel (taps x reduction channels) passes 1
// MB: 1024 -> 1024 3x3 @7 at batch 8 52.9 -> 58.4 ms. One thread, batch 8
// (kernel-conv-bench-like harness, two rounds): forward / data gradient
// 512->512 3x3 @7 13.3-13.5 / 13.8-14.1 -> 10.4-11.2 / 10.3-11.1 ms,
// 512->512 s2 @14 13.6 / 14.7 -> 12.1-12.4 / 12.1-12.7, 64->64 @7 0.31 ->
// 0.19, 128->128 @4 0.40 -> 0.23; 14x14 planes are not faster (128->128 @14
// 2.7 -> 2.8-2.9, 384->384 @14's data gradient 19.7 -> 23.3). Against the
// 6-image tiles: batch 16 512 @7 24.7-25.2 -> 21.0-21.5, batch 32 45-46 ->
// 39-40, batch 128 256 @6 28.2-28.4 -> 27.2-27.5, 64 @7 (a last block of
// one vector) 2.9 either way. The same bits as the 6-image tiles: each
// output sums its taps and channels in the same order.
template <Conv2DShape S, bool kData, class T> bool eight_image_tiles(int N) {
#if RNC_HAVE_VECTOR_EXT
  constexpr int Co = kData ? S.in_channels : S.out_channels,
                Cr = kData ? S.out_channels : S.in_channels;
  using Six = TileCfg<Co, T>;
  using Eight = TileCfg<Co, T, 3>;
  if constexpr (bf16_operands<T>() || Six::MR != 6 || Eight::MR != 8 ||
                long(Cr) * S.kernel_h * S.kernel_w * Eight::NV * Eight::L *
                        long(sizeof(T)) >
                    (1L << 20))
    return false;
  else
    return N >= Eight::MR &&
           (N + Eight::MR - 1) / Eight::MR * Eight::MR <
               (N + Six::MR - 1) / Six::MR * Six::MR &&
           (N >= 2 * Six::MR ? Eight::NV_LAST > 1 : S.out_plane() <= 64);
#else
  (void)N;
  return false;
#endif
}

// Picks MR (8 images where `eight` (eight_image_tiles), the configured one,
// or 1 image per tile for small batches) and the arithmetic (bf16_operands).
template <class P, class T, class Epi>
void tiled_dispatch(T *out, const T *in, const T *bias, int N,
                    const TapTable &taps, int row_len, const T *w,
                    WeightStrides ws, const Epi &epi, bool eight) {
  constexpr int MR = TileCfg<P::Co, T>::MR;
#if RNC_CPU_PRECISION == 2
  if constexpr (bf16_operands<T>()) {
    if (N >= MR)
      tiled_run_bf16<P, MR>(out, in, bias, N, taps, row_len, w, ws, epi);
    else
      tiled_run_bf16<P, 1>(out, in, bias, N, taps, row_len, w, ws, epi);
    return;
  }
#endif
  if (eight)
    tiled_run<P, T, 8, TileCfg<P::Co, T, 3>>(out, in, bias, N, taps, row_len, w,
                                             ws, epi);
  else if (N >= MR)
    tiled_run<P, T, MR>(out, in, bias, N, taps, row_len, w, ws, epi);
  else
    tiled_run<P, T, 1>(out, in, bias, N, taps, row_len, w, ws, epi);
}

// Forward taps: at output position (oh, ow) the (kh, kw) inside the input;
// offsets into one channels-last image of `cs` elements per position.
template <Conv2DShape S> TapTable forward_taps(int cs) {
  constexpr int KHW = S.kernel_h * S.kernel_w, OH = S.out_h(), OW = S.out_w();
  int *mem = scratch<int>(kSlotTaps, size_t(OH) * OW * (2 * KHW + 1));
  TapTable tt{mem, mem + long(OH) * OW * KHW, mem + 2L * OH * OW * KHW, {}};
  for (int oh = 0; oh < OH; ++oh)
    for (int ow = 0; ow < OW; ++ow) {
      long q = long(oh) * OW + ow;
      int n = 0;
      for (int kh = 0; kh < S.kernel_h; ++kh) {
        int ih = oh * S.stride_h - S.pad_h + kh * S.dilation_h;
        if (ih < 0 || ih >= S.in_h)
          continue;
        for (int kw = 0; kw < S.kernel_w; ++kw) {
          int iw = ow * S.stride_w - S.pad_w + kw * S.dilation_w;
          if (iw < 0 || iw >= S.in_w)
            continue;
          tt.off[q * KHW + n] = (ih * S.in_w + iw) * cs;
          tt.tw[q * KHW + n] = kh * S.kernel_w + kw;
          if (kh * S.kernel_w + kw < 64)
            tt.used[kh * S.kernel_w + kw] = true;
          ++n;
        }
      }
      tt.count[q] = n;
    }
  return tt;
}

// Data-gradient taps: at input position (ih, iw) the (kh, kw) that some
// output position (oh, ow) reads it through; offsets into one channels-last
// image of dy of `cs` elements per position.
template <Conv2DShape S> TapTable backward_data_taps(int cs) {
  constexpr int KHW = S.kernel_h * S.kernel_w, H = S.in_h, W = S.in_w;
  int *mem = scratch<int>(kSlotTaps, size_t(H) * W * (2 * KHW + 1));
  TapTable tt{mem, mem + long(H) * W * KHW, mem + 2L * H * W * KHW, {}};
  for (int ih = 0; ih < H; ++ih)
    for (int iw = 0; iw < W; ++iw) {
      long q = long(ih) * W + iw;
      int n = 0;
      for (int kh = 0; kh < S.kernel_h; ++kh) {
        int th = ih + S.pad_h - kh * S.dilation_h;
        if (th < 0 || th % S.stride_h != 0 || th / S.stride_h >= S.out_h())
          continue;
        for (int kw = 0; kw < S.kernel_w; ++kw) {
          int tw = iw + S.pad_w - kw * S.dilation_w;
          if (tw < 0 || tw % S.stride_w != 0 || tw / S.stride_w >= S.out_w())
            continue;
          tt.off[q * KHW + n] =
              (th / S.stride_h * S.out_w() + tw / S.stride_w) * cs;
          tt.tw[q * KHW + n] = kh * S.kernel_w + kw;
          if (kh * S.kernel_w + kw < 64)
            tt.used[kh * S.kernel_w + kw] = true;
          ++n;
        }
      }
      tt.count[q] = n;
    }
  return tt;
}

// y = conv(x, w) + bias, epi on every output (groups == 1).
template <Conv2DShape S, class T, class Epi>
void conv2d_tiled_forward(T *y, const T *x, const T *w, const T *bias, int N,
                          const Epi &epi) {
  constexpr int KH = S.kernel_h, KW = S.kernel_w, Cin = S.in_channels;
  using P =
      TiledProblem<Cin, S.out_channels, S.in_plane(), S.out_plane(), KH * KW>;
  TapTable taps =
      forward_taps<S>(bf16_operands<T>() ? bf16_pair_stride(Cin) : Cin);
  // w[co][c][kh][kw]
  tiled_dispatch<P>(y, x, bias, N, taps, S.out_w(), w,
                    WeightStrides{1, KH * KW, long(Cin) * KH * KW}, epi,
                    eight_image_tiles<S, false, T>(N));
}

// dx = conv^T(dy, w), epi on every element (groups == 1).
template <Conv2DShape S, class T, class Epi>
void conv2d_tiled_backward_data(T *dx, const T *dy, const T *w, int N,
                                const Epi &epi) {
  constexpr int KH = S.kernel_h, KW = S.kernel_w, Cin = S.in_channels;
  using P =
      TiledProblem<S.out_channels, Cin, S.out_plane(), S.in_plane(), KH * KW>;
  constexpr int Co = S.out_channels;
  TapTable taps =
      backward_data_taps<S>(bf16_operands<T>() ? bf16_pair_stride(Co) : Co);
  // Reduction channel c is an output channel of the forward conv, the
  // vector channel ci an input channel: w[c][ci][kh][kw].
  tiled_dispatch<P>(dx, dy, static_cast<const T *>(nullptr), N, taps, S.in_w, w,
                    WeightStrides{1, long(Cin) * KH * KW, KH * KW}, epi,
                    eight_image_tiles<S, true, T>(N));
}

// dw[MR channels of one tap][NV vectors of output channels] summed over the
// positions of images [n_begin, n_end) where the tap is inside the input
// (x NCHW at the tile's first channel: the MR channels stream along the row
// side by side, so x is not transposed); acc in part (rows ld apart), read
// first unless `first`. dyt: dy^T, positions DS apart.
template <Conv2DShape S, class T, int MR, int NV, int DS>
RNC_INLINE void wgrad_tile(T *RNC_RESTRICT part, long ld, bool first,
                           const T *RNC_RESTRICT x, const T *RNC_RESTRICT dyt,
                           int n_begin, int n_end, int kh, int kw, int oh_lo,
                           int oh_hi, int ow_lo, int ow_hi) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  constexpr long HW = S.in_plane(), XS = long(S.in_channels) * HW,
                 OP = S.out_plane();
  constexpr int SW = S.stride_w;
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v)
      acc[i][v] = first ? V{} : vload(part + i * ld + v * L);
  for (int n = n_begin; n < n_end; ++n)
    for (int oh = oh_lo; oh < oh_hi; ++oh) {
      int ih = oh * S.stride_h - S.pad_h + kh * S.dilation_h;
      const T *xr = x + n * XS + long(ih) * S.in_w +
                    (ow_lo * SW - S.pad_w + kw * S.dilation_w);
      const T *dr = dyt + (n * OP + long(oh) * S.out_w() + ow_lo) * DS;
      for (int ow = ow_lo; ow < ow_hi; ++ow) {
        tile_rank1<T, MR, NV, HW>(acc, xr, dr);
        xr += SW;
        dr += DS;
      }
    }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v)
      vstore(part + i * ld + v * L, acc[i][v]);
}

// A tap of the weight gradient and the output rows [oh_lo, oh_hi) and
// columns [ow_lo, ow_hi) that read through it from inside the input.
struct WgradTap {
  int kh, kw, oh_lo, oh_hi, ow_lo, ow_hi;
};

// Writes the taps some output reads through to used[] (the others'
// gradient is zero) and returns their number.
template <Conv2DShape S> int wgrad_used_taps(WgradTap *used) {
  constexpr int KW = S.kernel_w, KHW = S.kernel_h * KW;
  // Output rows (columns) whose tap row kh (column kw) lies inside the input.
  auto range = [](int k, int dil, int pad, int stride, int in, int out, int *lo,
                  int *hi) {
    int a = pad - k * dil; // input index = o*stride - a
    *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    int top = in - 1 + a; // o*stride <= top
    *hi = std::max(*lo, top < 0 ? 0 : std::min(out, top / stride + 1));
  };
  int nused = 0;
  for (int t = 0; t < KHW; ++t) {
    WgradTap u{t / KW, t % KW, 0, 0, 0, 0};
    range(u.kh, S.dilation_h, S.pad_h, S.stride_h, S.in_h, S.out_h(), &u.oh_lo,
          &u.oh_hi);
    range(u.kw, S.dilation_w, S.pad_w, S.stride_w, S.in_w, S.out_w(), &u.ow_lo,
          &u.ow_hi);
    if (u.oh_lo < u.oh_hi && u.ow_lo < u.ow_hi)
      used[nused++] = u;
  }
  return nused;
}

// dw[co][c][t] = part[g][t][c][co - g * Cog] for co in group g (inside a
// parallel region: an `omp for`; c a group's input channel), in blocks of
// 16 x 16 (co, c) pairs: a block reads whole lines of part and writes runs
// of 16 * KHW contiguous values (a row of dw at a time, the reads of 512
// channels' 3x3 taps, a line each, left L1: a fifth of 256 -> 256 3x3 @14
// at batch 8). Taps that no output reads through are zero. With AVX-512
// (float) and whole blocks of 16 outputs, a block's 16 * KHW rows (c, t)
// of 16 outputs go through 16 x 16 register transposes straight into those
// runs; a value at a time, the copy was a seventh of d2l_resnet18 96x96's
// 512->512 3x3 @3 weight gradient (9.4 MB of dw; about a tenth now, `perf`)
// and a third of its 28x28 input's 256->256 @2 and 256->512 s2 @2 ones
// (kernel-conv-bench, one thread, three rounds: 3.0-3.2 -> 2.3-2.8 ms and
// 2.5-2.7 -> 1.9-2.3).
template <Conv2DShape S, int CO_PAD, class T>
void wgrad_write_dw(T *dw, const T *part, const WgradTap *used, int nused) {
  constexpr int Co = S.out_channels, Cin = S.in_per_group(),
                Cog = S.out_per_group(), KW = S.kernel_w, KHW = S.kernel_h * KW,
                B = 16, CB = (Co + B - 1) / B, IB = (Cin + B - 1) / B;
  int tap[KHW] = {};
  for (int i = 0; i < nused; ++i)
    tap[i] = used[i].kh * KW + used[i].kw;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && Cog % B == 0) {
    bool live[KHW] = {};
    for (int i = 0; i < nused; ++i)
      live[tap[i]] = true;
#pragma omp for schedule(static)
    for (long it = 0; it < long(CB) * IB; ++it) {
      const int co0 = int(it / IB) * B, c0 = int(it % IB) * B;
      const int rows = std::min(B, Cin - c0) * KHW;
      const T *pg = part + long(co0 / Cog) * KHW * Cin * CO_PAD + co0 % Cog;
      for (int r0 = 0; r0 < rows; r0 += B) {
        __m512 v[16];
        for (int i = 0; i < 16; ++i) {
          const int r = r0 + i, c = c0 + r / KHW, t = r % KHW;
          v[i] = r < rows && live[t]
                     ? _mm512_loadu_ps(pg + (long(t) * Cin + c) * CO_PAD)
                     : _mm512_setzero_ps();
        }
        transpose16x16(v);
        const __mmask16 m =
            __mmask16(rows - r0 >= B ? 0xffff : (1u << (rows - r0)) - 1);
        for (int j = 0; j < B; ++j)
          _mm512_mask_storeu_ps(dw + (long(co0 + j) * Cin + c0) * KHW + r0, m,
                                v[j]);
      }
    }
    return;
  }
#endif
#pragma omp for schedule(static)
  for (long it = 0; it < long(CB) * IB; ++it) {
    const int co0 = int(it / IB) * B, c0 = int(it % IB) * B;
    for (int co = co0; co < std::min(Co, co0 + B); ++co)
      for (int c = c0; c < std::min(Cin, c0 + B); ++c) {
        T *d = dw + (long(co) * Cin + c) * KHW;
        const T *pg = part + long(co / Cog) * KHW * Cin * CO_PAD + co % Cog;
        if (nused < KHW)
          std::fill(d, d + KHW, T(0));
        for (int i = 0; i < nused; ++i)
          d[tap[i]] = pg[(long(tap[i]) * Cin + c) * CO_PAD];
      }
  }
}

// dw = sum over the batch of dy (x) x. dy is first transposed to
// [N][out_plane][DS]; tiles (group, tap, MR of the group's input channels,
// NV vectors of its output channels) accumulate over chunks of images, in
// chunk order. Grouped layers (fp32, a whole number of vectors of outputs
// a group) read their slice of every position's dy^T row.
template <Conv2DShape S, class T>
void conv2d_tiled_backward_weight(T *dw, const T *dy, const T *x, int N) {
#if RNC_CPU_PRECISION == 2
  if constexpr (bf16_operands<T>()) {
    static_assert(S.groups == 1);
    conv2d_tiled_backward_weight_bf16<S>(dw, dy, x, N);
    return;
  }
#endif
  constexpr int Co = S.out_channels, G = S.groups, Cin = S.in_per_group(),
                Cog = S.out_per_group(), KH = S.kernel_h, KW = S.kernel_w,
                KHW = KH * KW;
  using Cfg = TileCfg<Cog, T>;
  constexpr int L = Cfg::L, CO_PAD = Cfg::CO_PAD;
  static_assert(G == 1 || Cog % L == 0);
  // dy^T's distance between positions: a group's padded outputs; with
  // groups all the outputs, spread over the L1 sets.
  constexpr int DS = G == 1 ? CO_PAD : set_spread_stride<T>(Co);
  constexpr int MR = std::min(Cfg::MR, Cin);
  constexpr int CBLOCKS = (Cin + MR - 1) / MR,
                MR_LAST = Cin - (CBLOCKS - 1) * MR;
  constexpr long OP = S.out_plane();
  T *dyt = scratch<T>(kSlotPackB, size_t(N) * OP * DS);
  // [g][t][c][co]
  T *part = scratch<T>(kSlotPackA, size_t(G) * KHW * Cin * CO_PAD);
  // Images per chunk: about 512 KB of x and dy (L2).
  constexpr long image_bytes =
      (long(S.in_channels) * S.in_plane() + OP * DS) * long(sizeof(T));
  const int chunk = int(std::max<long>(1, (512L << 10) / image_bytes));
  const int chunks = (N + chunk - 1) / chunk;
  WgradTap *used = scratch<WgradTap>(kSlotTaps, KHW);
  const int nused = wgrad_used_taps<S>(used);
  // Tile order (group, tap, vector block, channel block): consecutive tiles
  // share the block's slice of dy^T.
  const long group_tiles = long(nused) * CBLOCKS * Cfg::BLOCKS;
  const long tiles = G * group_tiles;
  const bool par = tiles_in_parallel(N, Co, OP, Cin, KHW);
#pragma omp parallel if (par)
  {
#pragma omp for schedule(static)
    for (int n = 0; n < N; ++n) {
      // dy^T through 16 x 16 register transposes (zeros past Co): a scalar
      // copy in 16 x 16 blocks cost resnet50's 64->64 3x3 @56 at batch 8
      // 11.8-12.3 ms against 10.4-11.0 (d2l_resnet18's 64->64 @24 at
      // 96x96, batch 128: 34.9-36.6 against 32.6-34.5; one thread).
      const T *rows[DS];
      for (int c = 0; c < Co; ++c)
        rows[c] = dy + (long(n) * Co + c) * OP;
      pack_rows_transposed<DS>(dyt + n * OP * DS, rows, Co, int(OP));
    }
    long lo, hi;
    split_range(tiles, num_threads(), thread_id(), &lo, &hi);
    for (int ch = 0; ch < chunks; ++ch) {
      int nb = ch * chunk, ne = std::min(N, nb + chunk);
      for (long tile = lo; tile < hi; ++tile) {
        const int g = int(tile / group_tiles);
        const long gt = tile % group_tiles;
        const WgradTap &u = used[gt / (long(CBLOCKS) * Cfg::BLOCKS)];
        int b = int(gt / CBLOCKS % Cfg::BLOCKS), cb = int(gt % CBLOCKS);
        int t = u.kh * KW + u.kw;
        int c0 = cb * MR;
        for_vector_block<Cfg>(b, [&]<int NVb>(int v0) {
          T *pp = part + ((long(g) * KHW + t) * Cin + c0) * CO_PAD + v0 * L;
          const T *xc = x + (long(g) * Cin + c0) * S.in_plane();
          const T *dc = dyt + long(g) * Cog + v0 * L;
          if (cb == CBLOCKS - 1)
            wgrad_tile<S, T, MR_LAST, NVb, DS>(pp, CO_PAD, ch == 0, xc, dc, nb,
                                               ne, u.kh, u.kw, u.oh_lo, u.oh_hi,
                                               u.ow_lo, u.ow_hi);
          else
            wgrad_tile<S, T, MR, NVb, DS>(pp, CO_PAD, ch == 0, xc, dc, nb, ne,
                                          u.kh, u.kw, u.oh_lo, u.oh_hi, u.ow_lo,
                                          u.ow_hi);
        });
      }
    }
#pragma omp barrier
    wgrad_write_dw<S, CO_PAD>(dw, part, used, nused);
  }
}

#endif // RNC_HAVE_VECTOR_EXT

// Which conv kernels take the tiled path (conv.h), by shape: measured with
// kernel-conv-bench against the packed GEMM (bench/cpu-kernels-notes.md).
// The tiles store one scalar per output, so short reductions (the stems,
// 1x1 convolutions with few input channels) and large planes (whose outputs
// the scattered stores leave cache for) stay on the GEMM; so do grouped
// convolutions.
template <Conv2DShape S> constexpr bool use_tiled_forward() {
#if RNC_HAVE_VECTOR_EXT && !defined(RNC_CONV_NO_TILED)
  return S.groups == 1 && S.col_rows() >= 64 && S.out_plane() <= 256;
#else
  return false;
#endif
}
// 1x1 convolutions, whatever their stride, run forward and data gradient
// on the GEMM at fp32: no im2col there (a stride-2 1x1 packs a quarter of
// its input, where the tiles copy all of it channels-last), and the GEMM
// was faster at every shape measured (one thread, `kernel-conv-bench`-like
// harness, batch 128 unless said; forward, data gradient): d2l_resnet18's
// 96x96 projections 64->128 s2 @24 10.4 -> 4.9 ms and 5.7 -> 5.6, 128->256
// s2 @12 5.2 -> 3.1 and 5.3 -> 3.6, 256->512 s2 @6 3.3 -> 2.5 and 3.7 ->
// 2.9; 64->128 s2 @14 2.5 -> 1.2 and 1.6 -> 1.5; 128->512 @7 9.9 -> 6.8 and
// 8.8 -> 7.9; 256->1024 @14 at batch 32 33.6 -> 26.6 and 34.8 -> 27.3.
// With bf16 operands the tiles keep them (their vdpbf16ps products).
template <Conv2DShape S, class T> constexpr bool pointwise_on_gemm() {
  return S.kernel_h * S.kernel_w == 1 && !bf16_operands<T>();
}
template <Conv2DShape S> constexpr bool use_tiled_backward_data() {
#if RNC_HAVE_VECTOR_EXT && !defined(RNC_CONV_NO_TILED)
  return S.groups == 1 && S.in_channels >= 8 &&
         S.out_channels * S.kernel_h * S.kernel_w >=
             64 * S.stride_h * S.stride_w &&
         S.in_plane() <= 256;
#else
  return false;
#endif
}
// Grouped layers (fp32) take the weight gradient's tiles with 16 or more
// input channels and a whole number of vectors of outputs a group, where
// the direct kernel (16 outputs a group or fewer) is slower: 32 outputs a
// group, or a stride. resnext50 at batch 8 (kernel-conv-bench, one thread):
// 1024 g32 3x3 @7 3.6-3.8 -> 1.4-1.5 ms (the GEMM before), 1024 g32 s2 @14
// 3.9 -> 1.8-1.9, 512 g32 s2 @28 3.7-3.8 -> 2.1 (direct before); 512 g32 @14
// 2.5-2.7 -> 1.7 there, but not faster in the model's step (its dy^T copy
// from memory), so it stays on the direct kernel.
#ifndef RNC_TILED_WGRAD_MIN_PER_GROUP // overridable for tuning runs only
#define RNC_TILED_WGRAD_MIN_PER_GROUP 16
#endif
inline constexpr int kTiledWgradMinPerGroup = RNC_TILED_WGRAD_MIN_PER_GROUP;
template <Conv2DShape S, class T> constexpr bool use_tiled_backward_weight() {
#if RNC_HAVE_VECTOR_EXT && !defined(RNC_CONV_NO_TILED)
  if constexpr (S.groups > 1)
    return !bf16_operands<T>() && S.in_per_group() >= kTiledWgradMinPerGroup &&
           S.out_per_group() % Vec<T>::lanes == 0 &&
           (S.out_per_group() >= 2 * Vec<T>::lanes || S.stride_h > 1 ||
            S.stride_w > 1) &&
           long(S.out_channels) * S.out_plane() <= (256L << 10);
  return S.in_channels >= 8 &&
         long(S.out_channels) * S.out_plane() <= (256L << 10);
#else
  return false;
#endif
}
// The weight gradient's tiles transpose dy once per call and reuse it over
// the taps; with few positions in all (a small batch on a 7x7 or larger
// plane, e.g. resnet50 at batch 8: 392) the GEMM is faster (44% of the FMA
// peak against 25% on 512->512 3x3 @7). Small planes keep the tiles at any
// batch: they skip the taps in the padding, which the GEMM multiplies.
// Strided 1x1 layers with 256 input channels or more (stride-1 ones never
// take the tiles in fp32: conv.h) need more positions: resnet50's 512->1024
// s2 @28 at batch 8 (1568) 11.2-13.5 ms on the tiles, 10.3-11.1 on the GEMM;
// with fewer channels the tiles stay ahead: fashion_resnet's 64->128 s2 @7 at
// batch 128 (2048) 0.31 ms on them, 0.46-0.48 on the GEMM, d2l_resnet18
// 96x96's 128->256 s2 @12 (4608) 2.4-2.5 against 3.1.
//
// With bf16 operands the tiles take every batch, except on a CPU with AMX
// below 16 images on planes over 14x14: there the AMX tiles pad the image
// pairs they reduce over to 16 (4x the work at batch 8) and the AVX512-BF16
// ones run at half the fp32 FMA rate, so the fp32 kernels on rounded
// operands are faster (resnet50 at batch 8, one thread: 1x1 256->64 @56 48
// ms a call on the AMX tiles in its step; kernel-conv-bench-bf16, against
// the AVX512-BF16 tiles: 11.3 -> 8.0 ms, 128->128 3x3 @28 17.6 -> 14.6; on
// 7x7 and 14x14 planes the AMX tiles are ahead: 512->512 3x3 @7 17.0 ->
// 7.0, 2048->512 1x1 @7 10.2 -> 4.8; bench/cpu-kernels-notes.md, v21).
template <Conv2DShape S, class T> bool tiled_weight_batch_ok(int N) {
  constexpr long kMinPositions =
      S.kernel_h * S.kernel_w == 1 && S.in_channels >= 256 ? 4096 : 1024;
  if constexpr (bf16_operands<T>())
    return N >= 16 || S.out_plane() <= 196 || !amx_bf16_ready();
  return S.groups > 1 || S.out_h() < 4 ||
         long(N) * S.out_plane() >= kMinPositions;
}

// Batches smaller than two tiles of images waste too much of each tile. With
// bf16 operands every batch takes the tiles, so that the arithmetic of a
// layer does not depend on the batch size.
template <int Co, class T> bool tiled_batch_ok(int N) {
#if RNC_HAVE_VECTOR_EXT
  return bf16_operands<T>() || N >= 2 * TileCfg<Co, T>::MR;
#else
  (void)N;
  return false;
#endif
}

// Whether layer S's forward (kData false) or data gradient takes the image
// tiles for a batch of N: the configured tile's batches, or 8-image tiles.
template <Conv2DShape S, bool kData, class T> bool image_tiles_batch_ok(int N) {
  constexpr int Co = kData ? S.in_channels : S.out_channels;
  return tiled_batch_ok<Co, T>(N) || eight_image_tiles<S, kData, T>(N);
}

} // namespace rnc::cpu::detail

#if RNC_CPU_PRECISION == 2
#include "conv_tiled_bf16.h"
#endif
