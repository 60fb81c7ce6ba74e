// Max, average and global average pooling: forward and backward.
#pragma once

#include <algorithm>
#include <limits>
#include <type_traits>

#include "common.h"
#include "kernels/shapes.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace rnc::cpu {

namespace detail {

// Window [hb, he) x [wb, we) clipped to the input, and PyTorch's divisor.
template <Pool2DShape S>
RNC_INLINE int avg_pool_window(int oh, int ow, int *hb, int *he, int *wb,
                               int *we) {
  int h0 = oh * S.stride_h - S.pad_h, w0 = ow * S.stride_w - S.pad_w;
  int h1 = std::min(h0 + S.kernel_h, S.in_h + S.pad_h),
      w1 = std::min(w0 + S.kernel_w, S.in_w + S.pad_w);
  int padded = (h1 - h0) * (w1 - w0);
  *hb = std::max(h0, 0), *wb = std::max(w0, 0), *he = std::min(h1, S.in_h),
  *we = std::min(w1, S.in_w);
  return S.count_include_pad ? padded : (*he - *hb) * (*we - *wb);
}

// Windows that tile the input without overlap or padding (kernel == stride,
// pad 0: the 2x2 pool of fashion_resnet's stem). The fast paths below pick the
// first maximum without branches: random data makes the argmax unpredictable.
template <Pool2DShape S> constexpr bool max_pool_tiles() {
  return S.kernel_h == S.stride_h && S.kernel_w == S.stride_w && S.pad_h == 0 &&
         S.pad_w == 0;
}

// Index in the window (kh*KW + kw) of the first maximum of the window whose
// top-left element is base (rows W apart); *max_out gets its value.
template <Pool2DShape S, class T>
RNC_INLINE int max_pool_window_first_max(const T *base, T *max_out) {
  T m = base[0];
  int best = 0;
  for (int kh = 0; kh < S.kernel_h; ++kh)
    for (int kw = 0; kw < S.kernel_w; ++kw) {
      T v = base[kh * S.in_w + kw];
      bool better = v > m || (v != v && m == m);
      m = better ? v : m;
      best = better ? kh * S.kernel_w + kw : best;
    }
  *max_out = m;
  return best;
}

// Flat index (ih*W + iw) of the first maximum of output (oh, ow)'s window in
// one plane; padding counts as -inf, a NaN wins (as in PyTorch). Windows
// inside the plane take the branch-free scan (the maximum of random data is
// unpredictable: a branch per element mispredicts about once a window).
template <Pool2DShape S, class T>
RNC_INLINE long max_pool_argmax(const T *x, int oh, int ow) {
  constexpr int H = S.in_h, W = S.in_w, KH = S.kernel_h, KW = S.kernel_w;
  int h0 = oh * S.stride_h - S.pad_h, w0 = ow * S.stride_w - S.pad_w;
  auto better = [](T v, T m) { return v > m || (v != v && m == m); };
  if (h0 >= 0 && w0 >= 0 && h0 + KH <= H && w0 + KW <= W) {
    T m;
    int best = max_pool_window_first_max<S>(x + long(h0) * W + w0, &m);
    return long(h0 + best / KW) * W + w0 + best % KW;
  }
  int hb = std::max(h0, 0), he = std::min(h0 + KH, H);
  int wb = std::max(w0, 0), we = std::min(w0 + KW, W);
  long best = long(hb) * W + wb;
  T m = x[best];
  for (int ih = hb; ih < he; ++ih)
    for (int iw = wb; iw < we; ++iw)
      if (better(x[long(ih) * W + iw], m)) {
        m = x[long(ih) * W + iw];
        best = long(ih) * W + iw;
      }
  return best;
}

// Overlapping windows with padding (the ResNet stem's 3x3 stride 2 pad 1):
// the outputs whose window lies inside the plane are computed a row at a
// time (max_pool_row: a vector of outputs side by side, one per lane); the
// outputs on the border take max_pool_argmax. The same first maximum as the
// scalar scan.
template <Pool2DShape S> struct MaxPoolInterior {
  // Outputs [ow_lo, ow_hi) of a row, rows [oh_lo, oh_hi), have whole windows.
  static constexpr int lo(int pad, int stride) {
    return (pad + stride - 1) / stride;
  }
  static constexpr int hi(int in, int pad, int k, int stride, int out) {
    const int whole = in + pad - k < 0 ? 0 : (in + pad - k) / stride + 1;
    return std::max(lo(pad, stride), std::min(out, whole));
  }
  static constexpr int ow_lo = lo(S.pad_w, S.stride_w),
                      ow_hi = hi(S.in_w, S.pad_w, S.kernel_w, S.stride_w,
                                 S.out_w()),
                      oh_lo = lo(S.pad_h, S.stride_h),
                      oh_hi = hi(S.in_h, S.pad_h, S.kernel_h, S.stride_h,
                                 S.out_h());
  static constexpr bool border(int oh, int ow) {
    return oh < oh_lo || oh >= oh_hi || ow < ow_lo || ow >= ow_hi;
  }
};

#if RNC_HAVE_VECTOR_EXT
// The L lanes p[0], p[SW], ..., p[(L - 1) * SW] (SW 1 or 2; reads
// p[0 .. L*SW)).
template <int SW, class T>
RNC_INLINE typename Vec<T>::type load_every(const T *p) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  if constexpr (SW == 1) {
    return vload(p);
  } else {
    V a = vload(p), b = vload(p + L);
    if constexpr (L == 16)
      return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                     20, 22, 24, 26, 28, 30);
    else if constexpr (L == 8)
      return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
    else
      return __builtin_shufflevector(a, b, 0, 2, 4, 6);
  }
}
#endif

#if RNC_HAVE_VECTOR_EXT
// load_every<2> for a vector that ends at a row's last element: the L even
// lanes of p[0 .. 2L - 1) (AVX-512: the second load masked, p[2L - 1] not
// read).
template <int SW, bool Last>
RNC_INLINE typename Vec<float>::type load_every_row(const float *p) {
#if defined(__AVX512F__)
  if constexpr (Last && SW == 2 && Vec<float>::lanes == 16) {
    using V = Vec<float>::type;
    V a = vload(p), b = (V)_mm512_maskz_loadu_ps(__mmask16(0x7fff), p + 16);
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                   20, 22, 24, 26, 28, 30);
  }
#endif
  return load_every<SW>(p);
}

// Outputs [ow, ow + L) of an inside row whose windows start at top (row
// h0): their maxima into out, the flat indices of their first maxima into
// at (when not null). Last: the vector ends at the row's last element.
template <Pool2DShape S, bool Last>
RNC_INLINE void max_pool_row_vector(float *RNC_RESTRICT out,
                                    int *RNC_RESTRICT at,
                                    const float *RNC_RESTRICT top, int h0,
                                    int ow) {
  using V = Vec<float>::type;
  typedef int VI __attribute__((vector_size(kVecBytes)));
  constexpr int L = Vec<float>::lanes, W = S.in_w, KH = S.kernel_h,
                KW = S.kernel_w, SW = S.stride_w;
  const float *b = top + ow * SW;
  V m = load_every_row<SW, Last>(b);
  VI best = VI{} + 0;
#pragma GCC unroll 16
  for (int kh = 0; kh < KH; ++kh)
#pragma GCC unroll 16
    for (int kw = 0; kw < KW; ++kw) {
      V v = load_every_row<SW, Last>(b + kh * W + kw);
      VI better = (v > m) | ((v != v) & (m == m));
      m = better ? v : m;
      best = better ? VI{} + (kh * W + kw) : best;
    }
  vstore(out + ow, m);
  if (at)
    for (int i = 0; i < L; ++i)
      at[ow + i] = best[i] + i * SW + h0 * W + ow * SW - S.pad_w;
}
#endif

// Row oh (inside): the maximum of each window into out[ow], and, when `at`
// is not null, the flat index of its first maximum into at[ow]. Float rows
// with stride 1 or 2 run a vector of outputs at a time (stride 2: two loads
// and an even-lane shuffle); the rest one at a time, the same scan.
template <Pool2DShape S, class T>
RNC_INLINE void max_pool_row(T *RNC_RESTRICT out, int *RNC_RESTRICT at,
                             const T *RNC_RESTRICT x, int oh) {
  using I = MaxPoolInterior<S>;
  constexpr int W = S.in_w, KW = S.kernel_w, SW = S.stride_w;
  const int h0 = oh * S.stride_h - S.pad_h;
  const T *top = x + long(h0) * W - S.pad_w;
  int ow = I::ow_lo;
#if RNC_HAVE_VECTOR_EXT
  if constexpr (std::is_same_v<T, float> && (SW == 1 || SW == 2) &&
                Vec<float>::lanes >= 4) {
    constexpr int L = Vec<float>::lanes;
    // Every load stays inside the row: the last float read is column
    // (ow + L) * SW - pad + KW - 2 < W.
    for (; ow + L <= I::ow_hi && (ow + L) * SW - S.pad_w + KW - 2 < W;
         ow += L)
      max_pool_row_vector<S, false>(out, at, top, h0, ow);
#if defined(__AVX512F__)
    // The rest of the row (the 3x3 stride-2 stem pool of a 48-wide plane
    // leaves 7 of 23): one more vector that ends at the last inside output,
    // overlapping the one before (those outputs computed again, the same
    // values); with stride 2 its odd lane past the row's end is not read.
    if constexpr (L == 16 && SW == 2) {
      if (ow < I::ow_hi && I::ow_hi - L >= I::ow_lo) {
        max_pool_row_vector<S, true>(out, at, top, h0, I::ow_hi - L);
        ow = I::ow_hi;
      }
    }
#endif
  }
#endif
  for (; ow < I::ow_hi; ++ow) {
    int best = max_pool_window_first_max<S>(top + ow * SW, &out[ow]);
    if (at)
      at[ow] = (h0 + best / KW) * W + ow * SW - S.pad_w + best % KW;
  }
}

// Planes whose padded rows fit one AVX-512 vector (in_w + 2 pad_w <= 16:
// d2l_resnet18's stem pool at 28x28 input, 3x3 stride 2 pad 1 from 14x14),
// where a row has fewer inside outputs than a vector: a whole output row at a
// time. Lane j of a padded row holds input column j - pad_w (-inf outside
// the row); the window of the output starting at lane j reads lanes j .. j +
// KW - 1 of KH rows; the outputs are lanes 0, SW, 2 SW, ... Padding is never
// a candidate: the first element inside the window starts the scan, then
// the first maximum in window order wins, a NaN winning (max_pool_argmax).
template <Pool2DShape S, class T> constexpr bool max_pool_narrow() {
#if defined(__AVX512F__)
  return std::is_same_v<T, float> && !max_pool_tiles<S>() &&
         S.in_w + 2 * S.pad_w <= 16;
#else
  return false;
#endif
}

#if defined(__AVX512F__)
// Row oh: the maximum of each window into out[0 .. OW) and, when `at` is not
// null, the flat index (ih * W + iw) of its first maximum into at[0 .. OW).
template <Pool2DShape S>
RNC_INLINE void max_pool_narrow_row(float *RNC_RESTRICT out,
                                    int *RNC_RESTRICT at,
                                    const float *RNC_RESTRICT x, int oh) {
  constexpr int H = S.in_h, W = S.in_w, OW = S.out_w();
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __mmask16 cols = __mmask16(((1u << W) - 1) << S.pad_w);
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                        4, 3, 2, 1, 0);
  __m512 m = ninf;
  __m512i best = _mm512_setzero_si512();
  __mmask16 have = 0;
  for (int kh = 0; kh < S.kernel_h; ++kh) {
    const int ih = oh * S.stride_h - S.pad_h + kh;
    if (ih < 0 || ih >= H)
      continue;
    // Lane pad_w + c = x[ih][c]; the rest -inf.
    const __m512 row = _mm512_mask_expandloadu_ps(ninf, cols, x + long(ih) * W);
    // Flat index of lane j's element kw: ih * W + j + kw - pad_w.
    const __m512i base = _mm512_add_epi32(
        lane, _mm512_set1_epi32(ih * W - S.pad_w));
#pragma GCC unroll 8
    for (int kw = 0; kw < S.kernel_w; ++kw) {
      // Lanes j + kw of the row (and of the valid mask), -inf past lane 15.
      const __m512 v = _mm512_castsi512_ps(_mm512_alignr_epi32(
          _mm512_castps_si512(ninf), _mm512_castps_si512(row), kw));
      const __mmask16 valid = __mmask16(cols >> kw);
      const __mmask16 better =
          valid & (__mmask16(~have) | _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) |
                   (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) &
                    _mm512_cmp_ps_mask(m, m, _CMP_ORD_Q)));
      m = _mm512_mask_mov_ps(m, better, v);
      best = _mm512_mask_mov_epi32(
          best, better, _mm512_add_epi32(base, _mm512_set1_epi32(kw)));
      have |= valid;
    }
  }
  // Output ow is lane ow * SW.
  alignas(64) int pick[16];
  for (int i = 0; i < 16; ++i)
    pick[i] = std::min(i * S.stride_w, 15);
  const __m512i idx = _mm512_load_si512(pick);
  constexpr __mmask16 outs = __mmask16((1u << OW) - 1);
  _mm512_mask_storeu_ps(out, outs, _mm512_permutexvar_ps(idx, m));
  if (at)
    _mm512_mask_storeu_epi32(at, outs, _mm512_permutexvar_epi32(idx, best));
}
#endif

// 2x2 windows that tile the plane (fashion_resnet's stem pool), eight
// outputs of a row at a time: the four elements of each window are the even
// and odd lanes of two input rows; the first maximum in window order (0,0),
// (0,1), (1,0), (1,1) as in max_pool_window_first_max, a NaN winning. A row
// narrower than 8 outputs takes the scalar scan; the last chunk of a row
// overlaps the one before it (the same values written twice).
template <Pool2DShape S, class T> constexpr bool max_pool_2x2_vector() {
  return RNC_HAVE_VECTOR_EXT && std::is_same_v<T, float> &&
         max_pool_tiles<S>() && S.kernel_h == 2 && S.kernel_w == 2 &&
         S.out_w() >= 8;
}

#if RNC_HAVE_VECTOR_EXT
typedef float Pool8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef int PoolIdx8 __attribute__((vector_size(32)));

// The elements of windows [ow, ow + 8) of output row oh of plane xp: v[k]
// holds window element k (kh * 2 + kw) of each.
template <Pool2DShape S>
RNC_INLINE void max_pool_2x2_windows(const float *xp, int oh, int ow,
                                     Pool8 v[4]) {
  const float *r0 = xp + long(2 * oh) * S.in_w + 2 * ow, *r1 = r0 + S.in_w;
  Pool8 a0 = *(const Pool8 *)r0, a1 = *(const Pool8 *)(r0 + 8),
        b0 = *(const Pool8 *)r1, b1 = *(const Pool8 *)(r1 + 8);
  v[0] = __builtin_shufflevector(a0, a1, 0, 2, 4, 6, 8, 10, 12, 14);
  v[1] = __builtin_shufflevector(a0, a1, 1, 3, 5, 7, 9, 11, 13, 15);
  v[2] = __builtin_shufflevector(b0, b1, 0, 2, 4, 6, 8, 10, 12, 14);
  v[3] = __builtin_shufflevector(b0, b1, 1, 3, 5, 7, 9, 11, 13, 15);
}

// The inverse: window elements d[k] back to the two input rows, as
// rows[0..1] (row 2 * oh, 16 values) and rows[2..3] (row 2 * oh + 1).
RNC_INLINE void max_pool_2x2_rows(const Pool8 d[4], Pool8 rows[4]) {
  rows[0] = __builtin_shufflevector(d[0], d[1], 0, 8, 1, 9, 2, 10, 3, 11);
  rows[1] = __builtin_shufflevector(d[0], d[1], 4, 12, 5, 13, 6, 14, 7, 15);
  rows[2] = __builtin_shufflevector(d[2], d[3], 0, 8, 1, 9, 2, 10, 3, 11);
  rows[3] = __builtin_shufflevector(d[2], d[3], 4, 12, 5, 13, 6, 14, 7, 15);
}

// Outputs [ow, ow + 8) of row oh: *m the maxima, *best the window index
// (kh * 2 + kw) of each first maximum.
template <Pool2DShape S>
RNC_INLINE void max_pool_2x2_chunk(const float *xp, int oh, int ow, Pool8 *m,
                                   PoolIdx8 *best) {
  Pool8 v[4];
  max_pool_2x2_windows<S>(xp, oh, ow, v);
  Pool8 mx = v[0];
  PoolIdx8 at = PoolIdx8{} + 0;
  for (int k = 1; k < 4; ++k) {
    PoolIdx8 better = (v[k] > mx) | ((v[k] != v[k]) & (mx == mx));
    mx = better ? v[k] : mx;
    at = better ? PoolIdx8{} + k : at;
  }
  *m = mx;
  *best = at;
}

template <Pool2DShape S>
RNC_INLINE void max_pool_2x2_plane(float *yp, const float *xp) {
  for (int oh = 0; oh < S.out_h(); ++oh)
    for (int ow = 0;; ow = std::min(ow + 8, S.out_w() - 8)) {
      Pool8 m;
      PoolIdx8 best;
      max_pool_2x2_chunk<S>(xp, oh, ow, &m, &best);
      *(Pool8 *)(yp + oh * S.out_w() + ow) = m;
      if (ow == S.out_w() - 8)
        break;
    }
}

// dx of one plane: each window's gradient to its first maximum, zeros
// elsewhere (the rows and columns past the last window are filled before).
template <Pool2DShape S>
RNC_INLINE void max_pool_2x2_grad_plane(float *dxp, const float *dyp,
                                        const float *xp) {
  for (int oh = 0; oh < S.out_h(); ++oh)
    for (int ow = 0;; ow = std::min(ow + 8, S.out_w() - 8)) {
      Pool8 m;
      PoolIdx8 best;
      max_pool_2x2_chunk<S>(xp, oh, ow, &m, &best);
      const Pool8 g = *(const Pool8 *)(dyp + oh * S.out_w() + ow), z = {};
      Pool8 d[4], rows[4];
      for (int k = 0; k < 4; ++k)
        d[k] = best == k ? g : z;
      max_pool_2x2_rows(d, rows);
      float *r0 = dxp + long(2 * oh) * S.in_w + 2 * ow, *r1 = r0 + S.in_w;
      *(Pool8 *)r0 = rows[0];
      *(Pool8 *)(r0 + 8) = rows[1];
      *(Pool8 *)r1 = rows[2];
      *(Pool8 *)(r1 + 8) = rows[3];
      if (ow == S.out_w() - 8)
        break;
    }
}
#endif

template <class F> void for_each_plane(long planes, long work, const F &f) {
  (void)work; // unused without OpenMP
#pragma omp parallel for schedule(static) if (work >= kParallelGrain)
  for (long p = 0; p < planes; ++p)
    f(p);
}

} // namespace detail

// ----------------------------------------------------------------------------
// Max pool. y [N, C, OH, OW] = max over each window of x [N, C, H, W].
template <Pool2DShape S, class T = float>
void max_pool2d(T *y, const T *x, int N) {
  static_assert(S.valid(), "rnc::cpu::max_pool2d: invalid Pool2DShape");
  RNC_CHECK(N > 0 && y && x, "max_pool2d: N > 0 and non-null pointers");
  constexpr long in_plane = S.in_plane(), out_plane = S.out_plane();
  auto plane = [&](long p) {
    const T *xp = x + p * in_plane;
    T *yp = y + p * out_plane;
    if constexpr (detail::max_pool_2x2_vector<S, T>()) {
#if RNC_HAVE_VECTOR_EXT
      detail::max_pool_2x2_plane<S>(yp, xp);
#endif
    } else if constexpr (detail::max_pool_narrow<S, T>()) {
#if defined(__AVX512F__)
      for (int oh = 0; oh < S.out_h(); ++oh)
        detail::max_pool_narrow_row<S>(yp + oh * S.out_w(), nullptr, xp, oh);
#endif
    } else if constexpr (detail::max_pool_tiles<S>()) {
      for (int oh = 0; oh < S.out_h(); ++oh)
        for (int ow = 0; ow < S.out_w(); ++ow)
          detail::max_pool_window_first_max<S>(
              xp + long(oh) * S.kernel_h * S.in_w + ow * S.kernel_w,
              &yp[oh * S.out_w() + ow]);
    } else {
      using I = detail::MaxPoolInterior<S>;
      for (int oh = 0; oh < S.out_h(); ++oh) {
        T *row = yp + oh * S.out_w();
        if (oh >= I::oh_lo && oh < I::oh_hi)
          detail::max_pool_row<S>(row, nullptr, xp, oh);
        for (int ow = 0; ow < S.out_w(); ++ow)
          if (I::border(oh, ow))
            row[ow] = xp[detail::max_pool_argmax<S>(xp, oh, ow)];
      }
    }
  };
  detail::for_each_plane(long(N) * S.channels, N * S.channels * in_plane,
                         plane);
}

namespace detail {

// One plane of max_pool2d_grad: dxp (in_plane) from dyp (out_plane) and the
// forward input xp. Writes every element of dxp.
template <Pool2DShape S, class T>
void max_pool2d_grad_plane(T *dxp, const T *dyp, const T *xp) {
  constexpr long in_plane = S.in_plane();
  // With windows that tile the plane every element of a window is written;
  // the rows and columns past the last whole window are zero.
  if constexpr (!max_pool_tiles<S>() || S.in_h % S.kernel_h != 0 ||
                S.in_w % S.kernel_w != 0)
    std::fill(dxp, dxp + in_plane, T(0));
  if constexpr (max_pool_2x2_vector<S, T>()) {
#if RNC_HAVE_VECTOR_EXT
    max_pool_2x2_grad_plane<S>(dxp, dyp, xp);
#endif
  } else if constexpr (max_pool_tiles<S>()) {
    for (int oh = 0; oh < S.out_h(); ++oh)
      for (int ow = 0; ow < S.out_w(); ++ow) {
        long at = long(oh) * S.kernel_h * S.in_w + ow * S.kernel_w;
        T m, g = dyp[oh * S.out_w() + ow];
        int best = max_pool_window_first_max<S>(xp + at, &m);
        for (int kh = 0; kh < S.kernel_h; ++kh)
          for (int kw = 0; kw < S.kernel_w; ++kw)
            dxp[at + kh * S.in_w + kw] = kh * S.kernel_w + kw == best ? g : T(0);
      }
  } else if constexpr (max_pool_narrow<S, T>()) {
#if defined(__AVX512F__)
    alignas(64) float m[16];
    alignas(64) int at[16];
    for (int oh = 0; oh < S.out_h(); ++oh) {
      const T *g = dyp + oh * S.out_w();
      max_pool_narrow_row<S>(m, at, xp, oh);
      // In output order: where windows overlap, the sums run as before.
      for (int ow = 0; ow < S.out_w(); ++ow)
        dxp[at[ow]] += g[ow];
    }
#endif
  } else {
    using I = MaxPoolInterior<S>;
    T m[S.out_w() > 0 ? S.out_w() : 1];
    int at[S.out_w() > 0 ? S.out_w() : 1];
    for (int oh = 0; oh < S.out_h(); ++oh) {
      const T *g = dyp + oh * S.out_w();
      const bool inside = oh >= I::oh_lo && oh < I::oh_hi;
      if (inside)
        max_pool_row<S>(m, at, xp, oh);
      // In output order: where windows overlap, the sums run as before.
      for (int ow = 0; ow < S.out_w(); ++ow)
        dxp[I::border(oh, ow) ? max_pool_argmax<S>(xp, oh, ow) : at[ow]] +=
            g[ow];
    }
  }
}

} // namespace detail

// dx = dy routed to the first maximum of each window; overlapping windows add.
// The argmax is recomputed from the forward input x (no index buffer kept):
// x is alive anyway in a ResNet (it is the saved ReLU output). Writes dx.
template <Pool2DShape S, class T = float>
void max_pool2d_grad(T *dx, const T *dy, const T *x, int N) {
  static_assert(S.valid(), "rnc::cpu::max_pool2d_grad: invalid Pool2DShape");
  RNC_CHECK(N > 0 && dx && dy && x,
            "max_pool2d_grad: N > 0 and non-null pointers");
  constexpr long in_plane = S.in_plane(), out_plane = S.out_plane();
  detail::for_each_plane(long(N) * S.channels, N * S.channels * in_plane,
                         [&](long p) {
                           detail::max_pool2d_grad_plane<S>(
                               dx + p * in_plane, dy + p * out_plane,
                               x + p * in_plane);
                         });
}

// ----------------------------------------------------------------------------
// Average pool. y = sum over the window / divisor; divisor = kernel area
// (clipped to the padded input) with count_include_pad, else the number of
// real input elements in the window.
template <Pool2DShape S, class T = float>
void avg_pool2d(T *y, const T *x, int N) {
  static_assert(S.valid(), "rnc::cpu::avg_pool2d: invalid Pool2DShape");
  RNC_CHECK(N > 0 && y && x, "avg_pool2d: N > 0 and non-null pointers");
  detail::for_each_plane(
      long(N) * S.channels, long(N) * S.channels * S.in_plane(), [&](long p) {
        const T *xp = x + p * S.in_plane();
        T *yp = y + p * S.out_plane();
        for (int oh = 0; oh < S.out_h(); ++oh)
          for (int ow = 0; ow < S.out_w(); ++ow) {
            int hb, he, wb, we;
            int div = detail::avg_pool_window<S>(oh, ow, &hb, &he, &wb, &we);
            T s = 0;
            for (int ih = hb; ih < he; ++ih)
              for (int iw = wb; iw < we; ++iw)
                s += xp[long(ih) * S.in_w + iw];
            yp[oh * S.out_w() + ow] = s / T(div);
          }
      });
}

// dx[window] += dy / divisor for every output. Writes dx.
template <Pool2DShape S, class T = float>
void avg_pool2d_grad(T *dx, const T *dy, int N) {
  static_assert(S.valid(), "rnc::cpu::avg_pool2d_grad: invalid Pool2DShape");
  RNC_CHECK(N > 0 && dx && dy, "avg_pool2d_grad: N > 0 and non-null pointers");
  detail::for_each_plane(
      long(N) * S.channels, long(N) * S.channels * S.in_plane(), [&](long p) {
        const T *dyp = dy + p * S.out_plane();
        T *dxp = dx + p * S.in_plane();
        std::fill(dxp, dxp + S.in_plane(), T(0));
        for (int oh = 0; oh < S.out_h(); ++oh)
          for (int ow = 0; ow < S.out_w(); ++ow) {
            int hb, he, wb, we;
            int div = detail::avg_pool_window<S>(oh, ow, &hb, &he, &wb, &we);
            T g = dyp[oh * S.out_w() + ow] / T(div);
            for (int ih = hb; ih < he; ++ih)
              for (int iw = wb; iw < we; ++iw)
                dxp[long(ih) * S.in_w + iw] += g;
          }
      });
}

// ----------------------------------------------------------------------------
// Global average pool: y [N, C] = mean of x [N, C, plane] over the plane.
template <int Channels, long Plane, class T = float>
void global_avg_pool(T *y, const T *x, int N) {
  static_assert(Channels > 0 && Plane > 0,
                "rnc::cpu::global_avg_pool: bad shape");
  RNC_CHECK(N > 0 && y && x, "global_avg_pool: N > 0 and non-null pointers");
  detail::for_each_plane(
      long(N) * Channels, long(N) * Channels * Plane,
      [&](long p) { y[p] = reduce_sum(x + p * Plane, Plane) / T(Plane); });
}

// dx [N, C, plane] = dy [N, C] / plane, broadcast. Writes dx.
template <int Channels, long Plane, class T = float>
void global_avg_pool_grad(T *dx, const T *dy, int N) {
  static_assert(Channels > 0 && Plane > 0,
                "rnc::cpu::global_avg_pool_grad: bad shape");
  RNC_CHECK(N > 0 && dx && dy,
            "global_avg_pool_grad: N > 0 and non-null pointers");
  detail::for_each_plane(long(N) * Channels, long(N) * Channels * Plane,
                         [&](long p) {
                           T g = dy[p] / T(Plane);
                           std::fill(dx + p * Plane, dx + (p + 1) * Plane, g);
                         });
}

} // namespace rnc::cpu
