// bf16 for the cpu target's --precision bf16: round-to-nearest-even
// conversion, operand packing in pairs, and the AVX512-BF16 register tiles.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common.h"

// The arithmetic of the convolutions in generated code: 0 = fp32 (the
// default), 2 = bf16 operands with fp32 accumulation (the numbering of the
// cuda target's RNC_CUDA_PRECISION; 1, tf32, has no cpu counterpart).
#ifndef RNC_CPU_PRECISION
#define RNC_CPU_PRECISION 0
#endif
#if RNC_CPU_PRECISION != 0 && RNC_CPU_PRECISION != 2
#error "RNC_CPU_PRECISION must be 0 (fp32) or 2 (bf16)"
#endif
#if RNC_CPU_PRECISION == 2
#if !defined(__AVX512BF16__) || !defined(__AVX512F__)
#error "RNC_CPU_PRECISION 2 (bf16) needs a -march with AVX512-BF16 (e.g. sapphirerapids, or native on such a CPU)"
#endif
#include <immintrin.h>
#endif

namespace rnc::cpu {

// True when float convolutions on the channel-vector tiles (conv_tiled.h)
// take bf16 operands: each activation, weight and gradient is rounded to
// bf16 (round to nearest even) as it is packed, products are exact and
// summed in fp32 (`vdpbf16ps`). Everything else stays fp32.
inline constexpr bool kBf16Convs = RNC_CPU_PRECISION == 2;

// Whether a tiled convolution in scalar type T takes bf16 operands (float
// only: the double instances of the tests stay exact).
template <class T> constexpr bool bf16_operands() {
  return kBf16Convs && std::is_same_v<T, float>;
}

// The channels-last bf16 copies of the conv tiles hold C channels as this
// many pairs per position: (C + 1) / 2 rounded up to 16 (one AMX tile row
// of 32 bf16), the pairs past the channels zero.
constexpr int bf16_pair_stride(int C) { return ((C + 1) / 2 + 15) / 16 * 16; }

// The bf16 bits of f, rounded to nearest even (NaN stays NaN).
RNC_INLINE uint16_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

RNC_INLINE float bf16_value(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// f rounded to bf16 and back: the value the bf16 kernels multiply by.
RNC_INLINE float round_bf16(float f) { return bf16_value(bf16_bits(f)); }

// v as a conv operand in scalar type T: rounded to bf16 where T takes bf16
// operands (bf16_operands), else v itself.
template <class T> RNC_INLINE T conv_operand(T v) {
  if constexpr (bf16_operands<T>())
    return round_bf16(v);
  else
    return v;
}

// Two bf16 in one 32-bit word, `lo` in the low half: the operand unit of
// vdpbf16ps, which adds lo*lo' + hi*hi' of two such words to an fp32 lane.
RNC_INLINE uint32_t bf16_pair(float lo, float hi) {
  return uint32_t(bf16_bits(lo)) | uint32_t(bf16_bits(hi)) << 16;
}

namespace detail {

// A copy of p[0, n) rounded to bf16, in scratch `slot` (n >= kParallelGrain:
// across the threads). With AVX512-BF16, 16 at a time by vcvtneps2bf16,
// which also rounds to nearest even but flushes subnormal inputs to zero
// (of no weight next to the normal terms of a sum).
inline const float *bf16_rounded_copy(const float *p, long n, int slot) {
  float *c = scratch<float>(slot, size_t(n));
  constexpr long B = 4096;
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (long b = 0; b < n; b += B) {
    long i = b, e = b + B < n ? b + B : n;
#if RNC_CPU_PRECISION == 2
// GCC 12's false "uninitialized" warning inside _mm512_cvtpbh_ps (see
// transpose.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
    for (; i + 16 <= e; i += 16) {
      _mm512_storeu_ps(c + i,
                       _mm512_cvtpbh_ps(_mm512_cvtneps_pbh(_mm512_loadu_ps(p + i))));
    }
#pragma GCC diagnostic pop
#endif
    for (; i < e; ++i)
      c[i] = round_bf16(p[i]);
  }
  return c;
}

// The convolutions the tiles do not take (conv.h: stems, narrow 1x1,
// large planes, grouped) run the fp32 kernels on operands rounded to bf16:
// a product of two bf16 values is exact in fp32, so their arithmetic is the
// tiles' (bf16 operands, fp32 sums), at fp32 speed. Returns p itself when T
// takes no bf16 operands.
template <class T> const T *bf16_operand(const T *p, long n, int slot) {
  if constexpr (bf16_operands<T>())
    return bf16_rounded_copy(p, n, slot);
  else
    return p;
}

} // namespace detail

#if RNC_CPU_PRECISION == 2

namespace detail {

// 16 bf16 pairs (a[i] low, b[i] high) of the floats a[0, n), b[0, n) (n <=
// 16; past n, and all of b when it is null: 0) as 16 words, rounded by
// vcvtne2ps2bf16 (nearest even; subnormal inputs flushed to zero).
// The same of two registers: pair(va[i], vb[i]) in word i.
RNC_INLINE __m512i bf16_pairs16(__m512 va, __m512 vb) {
  alignas(64) static constexpr uint16_t kInterleave[32] = {
      0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  __m512i h = (__m512i)_mm512_cvtne2ps_pbh(vb, va); // a low half, b high
  return _mm512_permutexvar_epi16(_mm512_load_si512(kInterleave), h);
}
RNC_INLINE __m512i bf16_pairs16(const float *a, const float *b, int n) {
  __mmask16 k = n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1);
  __m512 va = _mm512_maskz_loadu_ps(k, a);
  __m512 vb = b ? _mm512_maskz_loadu_ps(k, b) : _mm512_setzero_ps();
  return bf16_pairs16(va, vb);
}

// A transposing pair copy of at most 16 x 16: for r < rows_out and j < cols,
// dst[j*dj + r] = pair(a_r[j], b_r[j]) with a_r = a0 + r*sr, b_r = a_r + boff;
// rows r >= a_rows are 0, and their high halves from r >= b_rows on.
inline void bf16_pairs_block(uint32_t *RNC_RESTRICT dst, long dj, int rows_out,
                             const float *a0, long sr, long boff, int a_rows,
                             int b_rows, int cols) {
  alignas(64) uint32_t tmp[16][16];
  for (int r = 0; r < rows_out; ++r) {
    __m512i v = _mm512_setzero_si512();
    if (r < a_rows)
      v = bf16_pairs16(a0 + r * sr, r < b_rows ? a0 + r * sr + boff : nullptr,
                       cols);
    _mm512_store_si512(tmp[r], v);
  }
  for (int j = 0; j < cols; ++j)
    for (int r = 0; r < rows_out; ++r)
      dst[j * dj + r] = tmp[r][j];
}

// dst[q*dcs + p] = pair(src[2p*ps + q], src[(2p+1)*ps + q]) for q < rows,
// p < dcs (a channel 2p or 2p+1 >= chans reads as 0): a plane-major
// [chans][rows] float block transposed to [rows][dcs] bf16 pairs.
inline void pack_pairs_transposed(uint32_t *RNC_RESTRICT dst, long dcs,
                                  const float *RNC_RESTRICT src, long ps,
                                  int rows, int chans) {
  const int pairs = (chans + 1) / 2, full = chans / 2;
  for (int q0 = 0; q0 < rows; q0 += 16)
    for (int p0 = 0; p0 < dcs; p0 += 16) {
      auto clamp16 = [](long v) { return int(v < 0 ? 0 : v > 16 ? 16 : v); };
      bf16_pairs_block(dst + long(q0) * dcs + p0, dcs, clamp16(dcs - p0),
                       src + 2L * p0 * ps + q0, 2 * ps, ps,
                       clamp16(pairs - p0), clamp16(full - p0),
                       clamp16(rows - q0));
    }
}

// acc[i][v] = sum over taps and CP channel pairs of in[i*IS + off_t + p] .
// w_t[p][v*16 ..], bf16 pairs throughout (the fp32 tile_accumulate of
// conv_tiled.h with half the reduction steps).
template <int MR, int NV, int CP, long IS>
RNC_INLINE void tile_accumulate_bf16(__m512 (&acc)[MR][NV],
                                     const uint32_t *RNC_RESTRICT in,
                                     const int *off, const int *tw, int ntaps,
                                     const uint32_t *RNC_RESTRICT wp) {
  constexpr int NR = NV * 16;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[i][v] = _mm512_setzero_ps();
  for (int t = 0; t < ntaps; ++t) {
    const uint32_t *x = in + off[t];
    const uint32_t *w = wp + long(tw[t]) * CP * NR;
    for (int p = 0; p < CP; ++p) {
      __m512bh wv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        wv[v] = (__m512bh)_mm512_load_si512(w + long(p) * NR + v * 16);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        __m512bh a = (__m512bh)_mm512_set1_epi32(int(x[i * IS + p]));
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
          acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, wv[v]);
      }
    }
  }
}

// The weight-gradient tile in bf16 (wgrad_tile of conv_tiled.h): the
// reduction runs over pairs of images, so x holds [image pairs][Cin][plane]
// and dy [image pairs][out_plane][CO_PAD] pairs (image 2m low, 2m+1 high).
// acc in part (rows ld apart, fp32), read first unless `first`.
template <int IN_W, long HW, long XS, long OP, int OW, int SH, int SW, int PH,
          int PW, int DH, int DW, int MR, int NV, int CO_PAD>
RNC_INLINE void wgrad_tile_bf16(float *RNC_RESTRICT part, long ld, bool first,
                                const uint32_t *RNC_RESTRICT x,
                                const uint32_t *RNC_RESTRICT dyp, int m_begin,
                                int m_end, int kh, int kw, int oh_lo,
                                int oh_hi, int ow_lo, int ow_hi) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v)
      acc[i][v] = first ? _mm512_setzero_ps()
                        : _mm512_loadu_ps(part + i * ld + v * 16);
  for (int m = m_begin; m < m_end; ++m)
    for (int oh = oh_lo; oh < oh_hi; ++oh) {
      int ih = oh * SH - PH + kh * DH;
      const uint32_t *xr =
          x + m * XS + long(ih) * IN_W + (ow_lo * SW - PW + kw * DW);
      const uint32_t *dr = dyp + (m * OP + long(oh) * OW + ow_lo) * CO_PAD;
      for (int ow = ow_lo; ow < ow_hi; ++ow) {
        __m512bh d[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
          d[v] = (__m512bh)_mm512_load_si512(dr + v * 16);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
          __m512bh a = (__m512bh)_mm512_set1_epi32(int(xr[i * HW]));
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v)
            acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, d[v]);
        }
        xr += SW;
        dr += CO_PAD;
      }
    }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v)
      _mm512_storeu_ps(part + i * ld + v * 16, acc[i][v]);
}

} // namespace detail

#endif // RNC_CPU_PRECISION == 2

} // namespace rnc::cpu
