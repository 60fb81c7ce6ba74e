// Rows to a k-major panel: the operand packing of the GEMM (gemm.h) when
// its rows are contiguous along K, e.g. the channel rows of NCHW images
// that a 1x1 convolution's weight gradient sums over (conv.h).
//
// pack_rows_transposed<R>(dst, rows, nrows, len) writes
//   dst[t * R + r] = rows[r][t]   for t < len, r < nrows,
//   dst[t * R + r] = 0            for nrows <= r < R,
// the layout of one MR- or NR-wide panel. With AVX-512 it moves 16 rows x
// 16 values at a time through registers (a 16 x 16 transpose: 64 shuffles
// for 256 values, against a load and a strided store per value), with
// masked loads at the end of the rows and masked stores for panels narrower
// than 16; elsewhere, plain loops. The same values either way.
#pragma once

#include <algorithm>

#include "common.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace rnc::cpu {

namespace detail {

template <int R, class T>
RNC_INLINE void pack_rows_transposed_plain(T *RNC_RESTRICT dst,
                                           const T *const *rows, int nrows,
                                           int len) {
  for (int r = 0; r < nrows; ++r) {
    const T *s = rows[r];
    for (int t = 0; t < len; ++t)
      dst[long(t) * R + r] = s[t];
  }
  for (int r = nrows; r < R; ++r)
    for (int t = 0; t < len; ++t)
      dst[long(t) * R + r] = T(0);
}

#if defined(__AVX512F__)
// GCC 12 warns of the "undefined" source register these intrinsics are built
// on (GCC bug 105593, fixed in GCC 13): a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// v[i] (row i, 16 values) -> v[j] (value j of the 16 rows).
RNC_INLINE void transpose16x16(__m512 (&v)[16]) {
  __m512 t[16];
  // Pairs of rows interleaved: in each 128-bit lane, (r0 r1 r0 r1).
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
  // 4 x 4 blocks: v[4b + m], lane L = value 4L + m of rows 4b .. 4b + 3.
  for (int b = 0; b < 16; b += 4) {
    v[b] = _mm512_shuffle_ps(t[b], t[b + 2], 0x44);
    v[b + 1] = _mm512_shuffle_ps(t[b], t[b + 2], 0xEE);
    v[b + 2] = _mm512_shuffle_ps(t[b + 1], t[b + 3], 0x44);
    v[b + 3] = _mm512_shuffle_ps(t[b + 1], t[b + 3], 0xEE);
  }
  // Gather the four lanes L of value 4L + m from v[m], v[4 + m], v[8 + m],
  // v[12 + m]: two rounds of 128-bit lane shuffles.
  for (int m = 0; m < 4; ++m) {
    t[m] = _mm512_shuffle_f32x4(v[m], v[4 + m], 0x88);
    t[4 + m] = _mm512_shuffle_f32x4(v[m], v[4 + m], 0xDD);
    t[8 + m] = _mm512_shuffle_f32x4(v[8 + m], v[12 + m], 0x88);
    t[12 + m] = _mm512_shuffle_f32x4(v[8 + m], v[12 + m], 0xDD);
  }
  for (int m = 0; m < 4; ++m) {
    v[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
    v[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88);
    v[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xDD);
    v[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xDD);
  }
}

// Values 8 * half .. 8 * half + 7 of v on the even lanes (lane 2k holds
// value 8 * half + k, lane 2k + 1 a copy of it): one half of a stride-2 run
// (conv.h's col2im runs, conv_rows_s2.h's phase stores).
RNC_INLINE __m512 spread_to_even_lanes(__m512 v, int half) {
  const __m512i idx = _mm512_add_epi32(
      _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7),
      _mm512_set1_epi32(8 * half));
  return _mm512_maskz_permutexvar_ps(__mmask16(0xFFFF), idx, v);
}

// Rows [g, g + 16) of the panel (those past nrows read as zero), values
// [t0, t0 + n) (n <= 16), stored `width` (<= 16) floats per value.
RNC_INLINE void pack_block16(float *RNC_RESTRICT dst, long R,
                             const float *const *rows, int nrows, int t0,
                             int n, int width) {
  const __mmask16 tail = n == 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
  const __mmask16 cols =
      width == 16 ? __mmask16(0xFFFF) : __mmask16((1u << width) - 1);
  __m512 v[16];
  for (int i = 0; i < 16; ++i)
    v[i] = i < nrows ? _mm512_maskz_loadu_ps(tail, rows[i] + t0)
                     : _mm512_setzero_ps();
  transpose16x16(v);
  for (int t = 0; t < n; ++t)
    _mm512_mask_storeu_ps(dst + long(t0 + t) * R, cols, v[t]);
}
#pragma GCC diagnostic pop
#endif

} // namespace detail

template <int R, class T>
void pack_rows_transposed(T *RNC_RESTRICT dst, const T *const *rows,
                          int nrows, int len) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    for (int g = 0; g < R; g += 16) {
      const int width = std::min(16, R - g);
      const int n = std::clamp(nrows - g, 0, 16);
      for (int t0 = 0; t0 < len; t0 += 16)
        detail::pack_block16(dst + g, R, rows + g, n, t0,
                             std::min(16, len - t0), width);
    }
    return;
  }
#endif
  detail::pack_rows_transposed_plain<R>(dst, rows, nrows, len);
}

} // namespace rnc::cpu
