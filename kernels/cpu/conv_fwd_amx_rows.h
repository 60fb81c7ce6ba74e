// The forward convolution of a stride-1 or 2 layer with bf16 operands on AMX,
// output positions along the tile columns (conv2d_amx_forward_rows_from;
// included by conv_tiled_bf16.h where the compiler targets AMX-BF16). Also the
// data gradients of stride-1 layers: conv.h runs them as the forward
// convolution of dy with the flipped weights (WeightForm::kFlipped).
//
// Why: the image tiles (conv_tiled_amx.h) take planes up to 16x16; larger
// ones (resnet50's 56x56 and 28x28 layers) ran the fp32 GEMM on operands
// rounded to bf16, slower than fp32 itself (the rounded copies); and under
// 16 images the image tiles' A tiles are part empty. Here, with the plane in
// rows WP wide as in conv_wgrad_amx_rows.h (AmxRowsGeometry; stride 2: four
// phase planes):
//
//   y[n, co, k] = sum over taps t, channels c of
//                 wq[t, co, c] * xq[n, c, k + shift(t)]
//
// a C tile is 16 output channels x 16 consecutive k (the NCHW layout of the
// output rows, the columns ow >= out_w dropped when stored); A tiles are the
// packed weights [tap][CO_PAD][CIN_PAD] (16 channels x 32 input channels),
// B tiles x as bf16 channel pairs in zero-padded rows [N][CPS][LN] (16 pairs
// x 16 positions, a tap a constant shift). Four C tiles (32 channels x 32
// positions) share two A and two B loads; the taps and the channel blocks
// are the reduction, in a fixed order. A thread takes 32 output channels of
// an image at a time, all their positions (the bias added as they are
// stored), then calls done(n, c0, c1) on those rows while they are in L2
// (conv.h applies the epilogue and takes the sums there: in the stores, a
// residual-gradient epilogue and the sums read back afterwards made
// resnet50's 256-channel 56x56 data gradients slower than on the GEMM).
#pragma once

#include <algorithm>
#include <cstring>
#include <utility>

#include <immintrin.h>

#include "bf16.h"
#include "conv_tiled.h"
#include "conv_wgrad_amx_rows.h"
#include "epilogue.h"

namespace rnc::cpu::detail {

enum class WeightForm; // conv.h

// The layers conv2d_amx_forward_rows_from takes, by shape: stride 1 or 2, no
// groups, 16 or more input channels (amx_rows_forward_wins: at which batch).
template <Conv2DShape S> constexpr bool amx_rows_forward_shape() {
  return amx_rows_stride_ok<S>() && S.in_channels >= 16;
}

// Whether the rows kernel takes a batch of N: always where the image tiles
// do not (planes over 16x16); under 16 images elsewhere, where the image
// tiles' A tiles are part empty (resnet50 at batch 8, one thread: 512->512
// 3x3 @7 11.1 -> 7.5 ms, 1024->2048 1x1 s2 @14 9.8 -> 4.0,
// kernel-conv-bench-bf16).
template <Conv2DShape S> bool amx_rows_forward_wins(int N) {
  return !use_tiled_forward<S>() || N < 16;
}

// The bytes of one image's input as the rows kernels' bf16 pairs.
template <Conv2DShape S> constexpr long amx_rows_image_bytes() {
  return long(bf16_pair_stride(S.in_channels)) * AmxRowsGeometry<S>::LN *
         sizeof(uint32_t);
}

// The images the rows forward takes a chunk at a time, the blocks of 32
// output channels outer within a chunk: where the bf16 weights pass 1 MB,
// as many images as their bf16 copy of x fits 1 MB (half of L2), so that
// a block's weights (32 x CIN_PAD x KHW: 295 KB at 512 channels 3x3) stay
// in L2 across the chunk's images instead of all of them (4.7 MB) streamed
// again for every image; else one (an image's x stays in L2 across the
// blocks: resnet50's 64->256 1x1 @56 data gradient took 25-40% longer a
// step in chunks of two).
template <Conv2DShape S> constexpr long amx_rows_chunk_images() {
  constexpr long cpad = 2L * bf16_pair_stride(S.in_channels);
  constexpr long wbytes = long(S.kernel_h) * S.kernel_w *
                          ((S.out_channels + 15) / 16 * 16) *
                          amx_row_stride(cpad) * sizeof(uint16_t);
  return wbytes <= (1L << 20)
             ? 1
             : std::max<long>(1, (1L << 20) / amx_rows_image_bytes<S>());
}

// The weights as A tiles' rows, inside the rows kernels' parallel region:
// wq[(t * MP + m) * lda + k] = w[m * sm + k * sk + tap(t)] rounded to bf16
// for m < M, k < K, tap t < KHW; zeros for m < MP, k < KP (multiples of 16
// and 32). Blocks of 16 rows x 32 columns across the threads, 32 columns of
// a row gathered and rounded at once (element by element, a 2-byte store at
// a time, this copy was 40% of resnet50's 512->512 3x3 @7 forward at batch
// 8).
template <int KHW, class Tap>
void amx_pack_weights(uint16_t *wq, long lda, const float *w, int M, int MP,
                      int K, int KP, long sm, long sk, const Tap &tap) {
  const __m512i idx = _mm512_mullo_epi32(
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
      _mm512_set1_epi32(int(sk)));
  auto mask = [](int v) {
    return v <= 0    ? __mmask16(0)
           : v >= 16 ? __mmask16(0xffff)
                     : __mmask16((1u << v) - 1);
  };
#pragma omp for schedule(static) collapse(2)
  for (int m0 = 0; m0 < MP; m0 += 16)
    for (int k0 = 0; k0 < KP; k0 += 32) {
      const __mmask16 lo = mask(K - k0), hi = mask(K - k0 - 16);
      for (int t = 0; t < KHW; ++t)
        for (int m = m0; m < m0 + 16; ++m) {
          __m512i v = _mm512_setzero_si512();
          if (m < M) {
            const float *b = w + m * sm + k0 * sk + tap(t);
            const __m512 a0 =
                _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lo, idx, b, 4);
            const __m512 a1 =
                hi ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), hi, idx,
                                              b + 16 * sk, 4)
                   : _mm512_setzero_ps();
            v = (__m512i)_mm512_cvtne2ps_pbh(a1, a0);
          }
          _mm512_storeu_si512(wq + (long(t) * MP + m) * lda + k0, v);
        }
    }
}

// The B operand copy of the rows kernels, inside their parallel region:
// for each image n and channel pair p < CPS of src ([N][C][plane]), the LN
// words at q + (n * CPS + p) * LN zeroed, then fill(d, s0, s1) writes the
// pair's planes there (s1 null for an odd last channel; pairs past C stay
// zero). amx_rows_pack_pair: one pair p of image n, its LN words at d.
template <class Fill>
RNC_INLINE void amx_rows_pack_pair(uint32_t *d, long LN, const float *src,
                                   long n, int p, int C, long plane,
                                   const Fill &fill) {
  std::memset(d, 0, LN * sizeof(uint32_t));
  if (2 * p >= C)
    return;
  const float *s0 = src + (n * C + 2L * p) * plane;
  fill(d, s0, 2 * p + 1 < C ? s0 + plane : nullptr);
}
template <class Fill>
void amx_rows_pack_pairs(uint32_t *q, long LN, const float *src, int N, int C,
                         int CPS, long plane, const Fill &fill) {
#pragma omp for schedule(static)
  for (long np = 0; np < long(N) * CPS; ++np)
    amx_rows_pack_pair(q + np * LN, LN, src, np / CPS, int(np % CPS), C, plane,
                       fill);
}

// No per-image packing (conv2d_amx_forward_rows_from's default): the input
// is packed whole by pack_x, as a stem's folded input is.
struct NoImagePack {};

// Whether the rows forward packs and runs one image at a time, each
// thread its own images, so that an image's packed x ([CPS][LN] pairs)
// stays in this core's L2 between its packing and its tiles instead of
// the whole batch's going to memory and back: where one image is a chunk
// (amx_rows_chunk_images), its pairs take at most 1 MB (half of L2;
// resnet50's 512->128 1x1 @28, 0.8 MB, forward 1.54 -> 1.29 ms at batch
// 8; its 256->64 1x1 @56, 1.6 MB, and 256->512 1x1 s2 @56 were no faster
// or slower, the pairs evicted by the fp32 input streaming in), and the
// images divide evenly among the threads, or are many.
template <Conv2DShape S> bool amx_rows_per_image(int N, int threads) {
  return amx_rows_chunk_images<S>() == 1 &&
         amx_rows_image_bytes<S>() <= (1L << 20) && N >= threads &&
         (N % threads == 0 || N >= 4 * threads);
}

// One 32 x 32 block of the rows kernels into buf ([32][32] fp32; rows
// 16-31 only when `two`): the sum over taps j < ntaps and PB blocks of 32
// reduction channels of A x B, where operands(j) gives tap j's A (32 rows
// of bf16, lda elements apart) and B (16 pairs x 32 positions, rows ldb
// words apart). Four C tiles, two A and two B loads per four tdpbf16ps.
template <int PB, class Operands>
RNC_INLINE void amx_rows_block(float *buf, int ntaps, const Operands &operands,
                               long lda, long ldb, bool two) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int j = 0; j < ntaps; ++j) {
    const auto [a, b] = operands(j);
    for (int pb = 0; pb < PB; ++pb) {
      _tile_loadd(4, a + pb * 32, lda * 2);
      _tile_loadd(6, b + pb * 16 * ldb, ldb * 4);
      _tile_loadd(7, b + pb * 16 * ldb + 16, ldb * 4);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      if (two) {
        _tile_loadd(5, a + 16 * lda + pb * 32, lda * 2);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
    }
  }
  _tile_stored(0, buf, 32 * 4);
  _tile_stored(1, buf + 16, 32 * 4);
  if (two) {
    _tile_stored(2, buf + 16 * 32, 32 * 4);
    _tile_stored(3, buf + 16 * 32 + 16, 32 * 4);
  }
}

// The rows forward, xq packed by pack_x(xq) inside the parallel region (a
// work-shared loop filling [N][CPS][LN] pairs): amx_rows_pack_input below,
// or a stem's folded input (conv_stem_amx.h).
// With pack_image(xqi, n) (packing image n alone into [CPS][LN] at xqi) it
// may run an image at a time instead (amx_rows_per_image); the same blocks,
// the same sums, the same bits.
template <Conv2DShape S, WeightForm kW, class PackX, class Done,
          class PackImage = NoImagePack>
void conv2d_amx_forward_rows_from(float *y, const PackX &pack_x, const float *w,
                                  const float *bias, int N, const Done &done,
                                  const PackImage &pack_image = {}) {
  static_assert(amx_rows_forward_shape<S>(), "AMX rows forward: shape");
  using G = AmxRowsGeometry<S>;
  constexpr int Co = S.out_channels, Cin = S.in_channels, KW = S.kernel_w,
                KHW = S.kernel_h * KW;
  constexpr int CPS = bf16_pair_stride(Cin), CIN_PAD = 2 * CPS, PB = CPS / 16;
  constexpr int CO_PAD = (Co + 15) / 16 * 16, NVT = CO_PAD / 16;
  constexpr int COB = (NVT + 1) / 2; // blocks of 32 output channels
  constexpr long KB = G::KN / 32;    // blocks of 32 positions an image
  constexpr long YS = long(Co) * S.out_plane();
  constexpr long LDA = amx_row_stride(CIN_PAD);
  uint16_t *wq = scratch<uint16_t>(kSlotPanel, size_t(KHW) * CO_PAD * LDA);
  const long NB = std::min<long>(amx_rows_chunk_images<S>(), N);
  const long blocks = long(N) * COB;
  const bool par = tiles_in_parallel(N, Co, S.out_plane(), Cin, KHW);
  const bool per_image = [&] {
    if constexpr (std::is_same_v<PackImage, NoImagePack>)
      return false;
    else
      return amx_rows_per_image<S>(N, par ? max_threads() : 1);
  }();
  uint32_t *xq = per_image
                     ? nullptr
                     : scratch<uint32_t>(kSlotCol, size_t(N) * CPS * G::LN);
#pragma omp parallel if (par)
  {
    if (!per_image)
      pack_x(xq);
    // The weights as A tiles' rows: [tap][output channel][input channel]
    // (kFlipped: S is flipped_conv of the layer whose weights w holds, read
    // as [c][co][KHW - 1 - t]).
    if constexpr (kW == WeightForm{})
      amx_pack_weights<KHW>(wq, LDA, w, Co, CO_PAD, Cin, CIN_PAD,
                            long(Cin) * KHW, KHW, [](int t) { return t; });
    else
      amx_pack_weights<KHW>(wq, LDA, w, Co, CO_PAD, Cin, CIN_PAD, KHW,
                            long(Co) * KHW, [](int t) { return KHW - 1 - t; });
    amx_load_config_16x64();
    alignas(64) float buf[32 * 32];
    // Output channels [co0, co0 + 32) of image n, its pairs at xn.
    auto block = [&](const uint32_t *xn, long n, int co0) {
      const bool two = co0 + 16 < CO_PAD;
      for (long kb = 0; kb < KB; ++kb) {
        const long k0 = kb * 32;
        amx_rows_block<PB>(
            buf, KHW,
            [&](int t) {
              return std::pair{wq + (long(t) * CO_PAD + co0) * LDA,
                               xn + k0 + G::shift(t / KW, t % KW)};
            },
            LDA, G::LN, two);
        // Rows of the output channels, the 32 positions in row segments.
        const int rows = std::min(32, Co - co0);
        for (long k = k0; k < k0 + 32;) {
          const long r = k / G::WP, ow = k % G::WP;
          const long seg = std::min<long>(k0 + 32 - k, G::WP - ow);
          if (r < G::R && ow < G::OW) {
            const long len = std::min<long>(seg, G::OW - ow),
                       q0 = r * G::OW + ow;
            for (int i = 0; i < rows; ++i) {
              const int co = co0 + i;
              const float *src = buf + i * 32 + (k - k0);
              float *dst = y + n * YS + long(co) * S.out_plane() + q0;
              const float bv = bias ? bias[co] : 0.0f;
              for (long j = 0; j < len; ++j)
                dst[j] = src[j] + bv;
            }
          }
          k += seg;
        }
      }
      done(int(n), co0, std::min(Co, co0 + 32));
    };
    if (per_image) {
      if constexpr (!std::is_same_v<PackImage, NoImagePack>) {
        uint32_t *xqi = scratch<uint32_t>(kSlotCol, size_t(CPS) * G::LN);
#pragma omp for schedule(static)
        for (long n = 0; n < N; ++n) {
          pack_image(xqi, int(n));
          for (int cb = 0; cb < COB; ++cb)
            block(xqi, n, cb * 32);
        }
      }
    } else {
#pragma omp for schedule(static)
      for (long blk = 0; blk < blocks; ++blk) {
        const long n0 = blk / (NB * COB) * NB, nb = std::min<long>(NB, N - n0),
                   in = blk - n0 * COB;
        const long n = n0 + in % nb;
        block(xq + n * CPS * G::LN, n, int(in / nb) * 32);
      }
    }
    _tile_release();
  }
}

// The rows forward's input: x as channel pairs in zero-padded rows (in
// phase planes for stride 2). The fill of one pair; then the whole batch,
// work-shared (pack_x), or one image (pack_image).
template <Conv2DShape S> auto amx_rows_input_fill() {
  using G = AmxRowsGeometry<S>;
  return
      [](uint32_t *d, const float *s0, const float *s1) {
        const long off1 = s1 ? s1 - s0 : 0;
        amx_rows_plane_runs<S>(
            s0, [&](int ph, int i, int j, const float *src, int cnt) {
              __m512 v0 = amx_rows_load(src, cnt, G::SD);
              __m512 v1 = s1 ? amx_rows_load(src + off1, cnt, G::SD)
                             : _mm512_setzero_ps();
              _mm512_mask_storeu_epi32(d + ph * G::LNP + i * G::WP + j,
                                       __mmask16((1u << cnt) - 1),
                                       bf16_pairs16(v0, v1));
            });
      };
}
template <Conv2DShape S>
void amx_rows_pack_input(uint32_t *xq, const float *x, int N) {
  amx_rows_pack_pairs(xq, AmxRowsGeometry<S>::LN, x, N, S.in_channels,
                      bf16_pair_stride(S.in_channels), S.in_plane(),
                      amx_rows_input_fill<S>());
}
// The same, image n alone into [CPS][LN] at xqi (no work sharing).
template <Conv2DShape S>
void amx_rows_pack_input_image(uint32_t *xqi, const float *x, int n) {
  constexpr int CPS = bf16_pair_stride(S.in_channels);
  const auto fill = amx_rows_input_fill<S>();
  for (int p = 0; p < CPS; ++p)
    amx_rows_pack_pair(xqi + long(p) * AmxRowsGeometry<S>::LN,
                       AmxRowsGeometry<S>::LN, x, n, p, S.in_channels,
                       S.in_plane(), fill);
}

} // namespace rnc::cpu::detail
