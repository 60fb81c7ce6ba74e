// conv2d forward (+ BN statistics) and backward on the packed GEMM.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common.h"
#include "conv_1x1_wgrad.h"
#include "conv_direct.h"
#include "conv_rows.h"
#include "conv_rows_s2.h"
#include "conv_store.h"
#include "conv_tiled.h"
#include "conv_winograd.h"
#include "epilogue.h"
#include "gemm.h"
#include "kernels/shapes.h"
#include "transpose.h"

namespace rnc::cpu {

namespace detail {

// dst[0, n) = src[0, n) for the short runs of im2col (a panel's part of an
// output row): inline vector moves, the last one masked, instead of the
// library memmove a plain loop becomes (whose call costs as much as
// the copy of 48 floats; 10% of a 3x3 convolution's time on 56x56 planes).
template <class T>
RNC_INLINE void copy_short(T *RNC_RESTRICT dst, const T *RNC_RESTRICT src,
                           int n) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    int i = 0;
    for (; i + 16 <= n; i += 16) {
      _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
      __asm__ volatile(""); // else GCC turns the loop back into memmove
    }
    if (i < n) {
      const __mmask16 m = __mmask16((1u << (n - i)) - 1);
      _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
    }
    return;
  }
#endif
  for (int i = 0; i < n; ++i)
    dst[i] = src[i];
}

// GCC 12's false "uninitialized" warnings on the AVX-512 intrinsics (see
// transpose.h), and its false "iteration 7 invokes undefined behavior" on
// col2im_add's scalar loop once add_stride2 is inlined before it (the
// loop a run of 24 never reaches), for the stride-2 runs below.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"

// dst[i] = src[2 * i] for i < n: the runs of a stride-2 im2col row (the 1x1
// projections, read by the GEMM's B packing), 16 outputs from two vector
// loads and a two-source permute instead of a gather a float at a time
// (d2l_resnet18 at 96x96: its 64->128 1x1 s2 @24 forward spent half of its
// time in that packing). The loads stop at src[2 * (n - 1)].
template <class T>
RNC_INLINE void copy_stride2(T *RNC_RESTRICT dst, const T *RNC_RESTRICT src,
                             int n) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                           20, 22, 24, 26, 28, 30);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
      // The second load's last lane (src[2 * i + 31]) is past the run's
      // last input when i + 16 == n: masked off.
      const __m512 a = _mm512_loadu_ps(src + 2 * i),
                   b = _mm512_maskz_loadu_ps(0x7fff, src + 2 * i + 16);
      _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(a, even, b));
    }
    if (i < n) {
      const int m = 2 * (n - i) - 1; // inputs left, src[2 * i] on
      const __mmask16 ma = __mmask16((1u << std::min(m, 16)) - 1),
                      mb = __mmask16((1u << std::max(m - 16, 0)) - 1);
      const __m512 a = _mm512_maskz_loadu_ps(ma, src + 2 * i),
                   b = _mm512_maskz_loadu_ps(mb, src + 2 * i + 16);
      _mm512_mask_storeu_ps(dst + i, __mmask16((1u << (n - i)) - 1),
                            _mm512_permutex2var_ps(a, even, b));
    }
    return;
  }
#endif
  for (int i = 0; i < n; ++i)
    dst[i] = src[2 * i];
}

// Writes columns [p_begin, p_begin + len) of row (c, kh, kw) of one image's
// (one group's) im2col matrix to dst[t * DStride]; x is [in_per_group, H, W].
// Column p is output position (p / OW, p % OW); padding reads as zero.
template <Conv2DShape S, int DStride, class T>
RNC_INLINE void im2col_row(T *RNC_RESTRICT dst, const T *RNC_RESTRICT x, int c,
                           int kh, int kw, long p_begin, int len) {
  constexpr int H = S.in_h, W = S.in_w, OW = S.out_w(), SW = S.stride_w;
  int oh = int(p_begin / OW), ow = int(p_begin % OW);
  const T *xc = x + long(c) * H * W;
  int t = 0;
  while (t < len) {
    int seg = std::min(OW - ow, len - t);
    T *d = dst + long(t) * DStride;
    int ih = oh * S.stride_h - S.pad_h + kh * S.dilation_h;
    if (ih < 0 || ih >= H) {
      for (int i = 0; i < seg; ++i)
        d[i * DStride] = T(0);
    } else {
      const T *row = xc + long(ih) * W;
      // Input column of the i-th output: iw0 + i*SW.
      int iw0 = ow * SW - S.pad_w + kw * S.dilation_w;
      int lo = iw0 >= 0 ? 0 : (-iw0 + SW - 1) / SW;
      int hi = iw0 >= W ? 0 : (W - iw0 + SW - 1) / SW;
      lo = std::min(lo, seg);
      hi = std::max(lo, std::min(hi, seg));
      for (int i = 0; i < lo; ++i)
        d[i * DStride] = T(0);
      if constexpr (DStride == 1 && SW == 1)
        copy_short(d + lo, row + iw0 + lo, hi - lo);
      else if constexpr (DStride == 1 && SW == 2)
        copy_stride2(d + lo, row + iw0 + 2 * lo, hi - lo);
      else
        for (int i = lo; i < hi; ++i)
          d[i * DStride] = row[iw0 + i * SW];
      for (int i = hi; i < seg; ++i)
        d[i * DStride] = T(0);
    }
    t += seg;
    ow = 0;
    ++oh;
  }
}

// A 1x1 projection: stride 2, no padding, one group.
template <Conv2DShape S> constexpr bool strided_1x1() {
  return S.kernel_h == 1 && S.kernel_w == 1 && S.stride_h == 2 &&
         S.stride_w == 2 && S.pad_h == 0 && S.pad_w == 0 && S.groups == 1;
}

// B operand of forward: the im2col matrices [col_rows x out_plane] of `nb`
// consecutive images of one group side by side, [col_rows x nb*out_plane],
// packed straight from the input (implicit im2col: no column buffer). GEMM
// column j is image j / out_plane, output position j % out_plane.
template <Conv2DShape S, class T> struct Im2colB {
  const T *x; // first image, first channel of group g: [in_per_group, H, W]
  long image_stride; // in_channels * in_plane

  template <int NR>
  void pack(T *RNC_RESTRICT dst, int p0, int kc, long j0, int nc) const {
    constexpr int KHW = S.kernel_h * S.kernel_w;
    constexpr long P = S.out_plane();
    if constexpr (S.pointwise() && S.groups == 1) {
      // A 1x1 layer's rows are its input's channel planes, each contiguous
      // within an image: row by row, each read once, in runs as long as a
      // panel allows (through im2col_row, a run per output row: 14 floats at
      // 14x14, a masked copy each; panel by panel, every row's lines were
      // read from L2 again by the next panel). The same values.
      for (int p = 0; p < kc; ++p) {
        const T *row = x + long(p0 + p) * P;
        for (int jp = 0; jp < nc; jp += NR) {
          const int cols = std::min(NR, nc - jp);
          T *d = dst + long(jp) * kc + long(p) * NR;
          for (int t = 0; t < cols;) {
            const long j = j0 + jp + t, n = j / P, q = j % P;
            const int len = int(std::min<long>(P - q, cols - t));
            copy_short(d + t, row + n * image_stride + q, len);
            t += len;
          }
          for (int cc = cols; cc < NR; ++cc)
            d[cc] = T(0);
        }
      }
      return;
    }
    if constexpr (strided_1x1<S>()) {
      // A projection's rows (1x1, stride 2, no padding): each output row's
      // run is the even columns of one input row. The panel's runs are cut
      // once, then every channel copies them; through im2col_row each run
      // of each channel recomputed its row, its bounds and its zeros (one
      // thread, two rounds alternated: d2l_resnet18 96x96's 64->128 s2 @24
      // forward 2.89-2.96 -> 2.65-2.69 ms, resnet50's 256->512 s2 @56
      // 12.95-13.06 -> 12.01-12.14; the same values).
      constexpr long IP = S.in_plane();
      struct Run {
        long src; // from the channel's first image plane
        int t, len;
      } runs[NR];
      for (int jp = 0; jp < nc; jp += NR) {
        const int cols = std::min(NR, nc - jp);
        int nrun = 0;
        for (int t = 0; t < cols;) {
          const long j = j0 + jp + t, n = j / P, q = j % P;
          const int oh = int(q / S.out_w()), ow = int(q % S.out_w());
          const int len = std::min(S.out_w() - ow, cols - t);
          runs[nrun++] = Run{n * image_stride + long(oh) * S.stride_h * S.in_w +
                                 long(ow) * S.stride_w,
                             t, len};
          t += len;
        }
        T *d = dst + long(jp) * kc;
        for (int p = 0; p < kc; ++p) {
          const T *xc = x + long(p0 + p) * IP;
          T *dp = d + long(p) * NR;
          for (int r = 0; r < nrun; ++r)
            copy_stride2(dp + runs[r].t, xc + runs[r].src, runs[r].len);
          for (int cc = cols; cc < NR; ++cc)
            dp[cc] = T(0);
        }
      }
      return;
    }
    struct Seg {
      const T *image;
      long q;
      int t, len;
    } segs[NR + 1];
    // Panel by panel: a panel's columns need only a few input rows, which stay
    // in cache for all (c, kh, kw).
    for (int jp = 0; jp < nc; jp += NR) {
      int cols = std::min(NR, nc - jp);
      int nseg = 0; // the panel's columns, cut at image boundaries
      for (int t = 0; t < cols;) {
        long j = j0 + jp + t;
        long n = j / P, q = j % P;
        int len = int(std::min<long>(P - q, cols - t));
        segs[nseg++] = Seg{x + n * image_stride, q, t, len};
        t += len;
      }
      T *d = dst + long(jp) * kc;
      int c = p0 / KHW, kh = p0 % KHW / S.kernel_w, kw = p0 % S.kernel_w;
      for (int p = 0; p < kc; ++p) {
        for (int s = 0; s < nseg; ++s)
          im2col_row<S, 1>(d + p * NR + segs[s].t, segs[s].image, c, kh, kw,
                           segs[s].q, segs[s].len);
        for (int cc = cols; cc < NR; ++cc)
          d[p * NR + cc] = T(0);
        if (++kw == S.kernel_w) {
          kw = 0;
          if (++kh == S.kernel_h)
            kh = 0, ++c;
        }
      }
    }
  }
};

// B operand of the weight gradient: im2col(X)^T stacked over the batch,
// [N*out_plane x col_rows]; GEMM row k = n*out_plane + p.
template <Conv2DShape S, class T> struct Im2colBatchTransB {
  const T *x;        // image 0, first channel of group g
  long image_stride; // in_channels * in_plane

  template <int NR>
  void pack(T *RNC_RESTRICT dst, int p0, int kc, long j0, int nc) const {
    constexpr long P = S.out_plane();
    constexpr int KHW = S.kernel_h * S.kernel_w;
    for (int jp = 0; jp < nc; jp += NR) {
      int cols = std::min(NR, nc - jp);
      T *d = dst + long(jp) * kc;
      for (int cc = 0; cc < cols; ++cc) {
        long j = j0 + jp + cc;
        int c = int(j / KHW), kh = int(j % KHW) / S.kernel_w,
            kw = int(j % S.kernel_w);
        for (int t = 0; t < kc;) {
          long k = long(p0) + t;
          long n = k / P, p = k % P;
          int len = int(std::min<long>(P - p, kc - t));
          im2col_row<S, NR>(d + long(t) * NR + cc, x + n * image_stride, c, kh,
                            kw, p, len);
          t += len;
        }
      }
      for (int cc = cols; cc < NR; ++cc)
        for (int p = 0; p < kc; ++p)
          d[p * NR + cc] = T(0);
    }
  }
};

// Channel planes of a batch read as one matrix: row r, column k = n*plane +
// p is element p of channel r of image n. Packs rows [r0, r0 + nrows) (the
// rest of the R-row panel zero), columns [k0, k0 + kc), as dst[t*R + r].
template <int R, class T>
void pack_batch_rows(T *RNC_RESTRICT dst, const T *base, long image_stride,
                     long plane, long r0, int nrows, long k0, int kc) {
  const T *rows[R];
  for (int t = 0; t < kc;) {
    long k = k0 + t;
    long n = k / plane, p = k % plane;
    int len = int(std::min<long>(plane - p, kc - t));
    for (int r = 0; r < nrows; ++r)
      rows[r] = base + n * image_stride + (r0 + r) * plane + p;
    pack_rows_transposed<R>(dst + long(t) * R, rows, nrows, len);
    t += len;
  }
}

// Channel planes of a batch as GEMM operands (pack_batch_rows): the A
// operand of the weight gradient, dY of one group stacked over the batch,
// [rows x N*plane], GEMM column k = n*plane + p (BatchRowsA); the same
// planes transposed, [N*plane x rows], as the B operand of a pointwise
// weight gradient (BatchRowsTransB).
template <class T> struct BatchRows {
  const T *y;        // image 0, first channel of group g
  long image_stride; // channels * plane
  long plane;

  template <int R>
  void pack_rows(T *RNC_RESTRICT dst, long r0, int count, int k0,
                 int kc) const {
    for (int rp = 0; rp < count; rp += R)
      pack_batch_rows<R>(dst + long(rp) * kc, y, image_stride, plane, r0 + rp,
                         std::min(R, count - rp), k0, kc);
  }
};

template <class T> struct BatchRowsA : BatchRows<T> {
  template <int MR>
  void pack(T *RNC_RESTRICT dst, int i0, int mc, int p0, int kc) const {
    this->template pack_rows<MR>(dst, i0, mc, p0, kc);
  }
};

template <class T> struct BatchRowsTransB : BatchRows<T> {
  template <int NR>
  void pack(T *RNC_RESTRICT dst, int p0, int kc, long j0, int nc) const {
    this->template pack_rows<NR>(dst, j0, nc, p0, kc);
  }
};

// Weight gradient of a pointwise convolution (groups 1): dw[co][ci] = sum
// over the batch and plane of dy[co] x[ci], one GEMM with both operands
// plain channel planes, C = dw (M = Co, N = Ci). With more output than
// input channels and fewer than 128 input channels, dw transposed instead
// (N = Co: the wider side fills the tile), then copied into place: at 64
// -> 256 @56 (resnet50, batch 8) 7.3-7.8 ms against 8.1 direct. From 128
// input channels the copy of a large dw costs more than it saves: 1024 ->
// 2048 @7 19-20 -> 10.8 ms, 512 -> 2048 @7 7.0 -> 5.5 (one thread). Planes
// of 196 positions or more whose narrower side is whole 64-channel tiles
// read the wider operand in place instead (conv_1x1_wgrad.h).
template <Conv2DShape S, class T>
void conv2d_pointwise_backward_weight(T *dw, const T *dy, const T *x, int N) {
  constexpr int Co = S.out_channels, Ci = S.in_channels;
  constexpr long P = S.out_plane();
  const long K = long(N) * P;
  RNC_CHECK(K < (1L << 31), "conv2d_grad_weight: N * out_plane must fit in int");
  BatchRowsA<T> dy_rows{dy, long(Co) * P, P}, x_rows{x, long(Ci) * P, P};
  if constexpr (Co <= Ci || Ci >= 128) {
    gemm_packed<T, false, gemm_nv_for<T>(Ci)>(
        Co, Ci, int(K), T(1), dy_rows,
        BatchRowsTransB<T>{x, long(Ci) * P, P}, T(0), dw, Ci);
  } else {
    T *dwt = scratch<T>(kSlotCol, size_t(Ci) * Co);
    gemm_packed<T, false, gemm_nv_for<T>(Co)>(
        Ci, Co, int(K), T(1), x_rows, BatchRowsTransB<T>{dy, long(Co) * P, P},
        T(0), dwt, Co);
    copy_strided(dw, 1, Ci, dwt, Co, 1, Ci, Co);
  }
}

// dst[2 * i] += src[i] for i < n: a stride-2 col2im run, 16 values at a
// time spread over the even lanes of two vectors (a permute each) and added
// under a mask, instead of a load, add and store per value. The same sums
// in the same order. Reads and writes stop at dst[2 * (n - 1)]. Returns
// false (nothing done) without AVX-512 or for other types than float.
template <class T>
RNC_INLINE bool add_stride2(T *RNC_RESTRICT dst, const T *RNC_RESTRICT src,
                            int n) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    constexpr __mmask16 even = 0x5555;
    for (int i = 0; i < n; i += 16) {
      const int m = std::min(16, n - i), lanes = 2 * m - 1; // dst values
      const __mmask16 m0 = __mmask16((1u << std::min(lanes, 16)) - 1),
                      m1 = __mmask16((1u << std::max(lanes - 16, 0)) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(__mmask16((1u << m) - 1), src + i);
      T *d = dst + 2 * i;
      __m512 d0 = _mm512_maskz_loadu_ps(m0, d),
             d1 = _mm512_maskz_loadu_ps(m1, d + 16);
      d0 = _mm512_mask_add_ps(d0, even & m0, d0, spread_to_even_lanes(v, 0));
      d1 = _mm512_mask_add_ps(d1, even & m1, d1, spread_to_even_lanes(v, 1));
      _mm512_mask_storeu_ps(d, m0, d0);
      _mm512_mask_storeu_ps(d + 16, m1, d1);
    }
    return true;
  }
#endif
  (void)dst, (void)src, (void)n;
  return false;
}

// dxc[ih, iw] += dcol[(c, kh, kw), (oh, ow)]: channel c of one image and
// group, its plane at dxc; dcol rows are ld apart.
template <Conv2DShape S, class T>
void col2im_add(T *RNC_RESTRICT dxc, const T *RNC_RESTRICT dcol, long ld,
                int c) {
  constexpr int H = S.in_h, W = S.in_w, OH = S.out_h(), OW = S.out_w(),
                SW = S.stride_w;
  for (int kh = 0; kh < S.kernel_h; ++kh)
    for (int kw = 0; kw < S.kernel_w; ++kw) {
      const T *src = dcol + (long(c * S.kernel_h + kh) * S.kernel_w + kw) * ld;
      int iw0 = -S.pad_w + kw * S.dilation_w; // input column of ow 0
      int lo = iw0 >= 0 ? 0 : (-iw0 + SW - 1) / SW;
      int hi = iw0 >= W ? 0 : std::min(OW, (W - iw0 + SW - 1) / SW);
      for (int oh = 0; oh < OH; ++oh) {
        int ih = oh * S.stride_h - S.pad_h + kh * S.dilation_h;
        if (ih < 0 || ih >= H)
          continue;
        T *xrow = dxc + long(ih) * W;
        const T *srow = src + long(oh) * OW;
        // Runs of 8 or more through the vectors (d2l_resnet18 96x96's
        // 256->512 1x1 s2 @6, runs of 3, lost 20% that way).
        if constexpr (SW == 2)
          if (hi - lo >= 8 &&
              add_stride2(xrow + iw0 + 2 * lo, srow + lo, hi - lo))
            continue;
        for (int ow = lo; ow < hi; ++ow)
          xrow[iw0 + ow * SW] += srow[ow];
      }
    }
}
#pragma GCC diagnostic pop

template <Conv2DShape S> constexpr double conv_flops(int N) {
  return 2.0 * N * S.out_channels * double(S.out_plane()) * S.col_rows();
}

// Small output planes (7x7, 14x14) make narrow GEMMs that waste most of an
// NR-wide micro-tile; such layers put several images side by side in one
// GEMM. Returns how many chunks of consecutive images the batch is cut into:
// each at least kMinCols/plane images, a multiple of the thread count where
// possible. (Chunking never changes results: see gemm_block.)
inline constexpr long kMinCols = 512;
inline int batch_chunks(int N, long plane, int groups) {
  long want = (kMinCols + plane - 1) / plane;
  if (want <= 1)
    return N;
  int chunks = int(std::max<long>(1, N / want));
  int nt = max_threads();
  if (long(chunks) * groups >= nt && groups % nt != 0)
    chunks = std::max(1, chunks - chunks % nt);
  return chunks;
}

inline void chunk_range(int N, int chunks, int i, int *n0, int *nb) {
  *n0 = int(long(N) * i / chunks);
  *nb = int(long(N) * (i + 1) / chunks) - *n0;
}

// Weight gradient of a convolution with few input channels (a stem: 1 or 3),
// where a GEMM would spend its time packing im2col rows of length 1-3: the
// direct kernel (conv_direct.h) over a fixed number of chunks of images in
// parallel, the chunks' partial gradients then summed in chunk order (the
// same bits for any thread count).
template <Conv2DShape S> constexpr bool use_direct_stem_weight() {
#if RNC_HAVE_VECTOR_EXT && !defined(RNC_CONV_NO_TILED)
  return S.groups == 1 && S.in_channels <= 4;
#else
  return false;
#endif
}

template <Conv2DShape S, class T>
void conv2d_direct_stem_backward_weight(T *dw, const T *dy, const T *x, int N) {
  constexpr long WS = S.weight_size();
  const int chunks = std::min(N, 8);
  T *part = scratch<T>(kSlotWeight, size_t(chunks) * WS);
  run_tasks(chunks, conv_flops<S>(N), [&](long i) {
    int n0, nb;
    chunk_range(N, chunks, int(i), &n0, &nb);
    conv2d_direct_backward_weight_group<S>(
        part + i * WS, dy + long(n0) * S.out_channels * S.out_plane(),
        x + long(n0) * S.in_channels * S.in_plane(), nb, 0);
  });
  for (long k = 0; k < WS; ++k) {
    T sum = part[k];
    for (int i = 1; i < chunks; ++i)
      sum += part[i * WS + k];
    dw[k] = sum;
  }
}

// How conv2d_forward_task reads its weights w: as they are ([out_channels x
// col_rows]); transposed (kTransposed: [col_rows x out_channels], one group:
// a 1x1 layer's own weights, read as its data gradient's); or flipped and
// transposed (kFlipped: the weights of the layer whose stride-1 data
// gradient this forward is, flipped_conv below, read in place by
// FlippedWeightsA).
enum class WeightForm { kPlain, kTransposed, kFlipped };

// The A operand of the forward convolution S = flipped_conv<L>() of a layer
// L, from L's own weights w (group g's): row c (an input channel of L),
// column o * KHW + t = w[o][c][KHW - 1 - t], o an output channel of L. An
// MR-row panel takes, per o, the MR x KHW contiguous values of rows c..,
// so no flipped, transposed copy of the weights is built (9.4 MB a call for
// resnet50's 512->512 3x3 @7). The same values as the copy.
template <Conv2DShape S, class T> struct FlippedWeightsA {
  const T *w;

  template <int MR>
  void pack(T *RNC_RESTRICT dst, int i0, int mc, int p0, int kc) const {
    constexpr int KHW = S.kernel_h * S.kernel_w, Rows = S.out_per_group();
    for (int ip = 0; ip < mc; ip += MR) {
      const int rows = std::min(MR, mc - ip);
      T *d = dst + long(ip) * kc;
      int o = p0 / KHW, t = p0 % KHW;
      for (int p = 0; p < kc; ++p) {
        const T *src = w + (long(o) * Rows + i0 + ip) * KHW + (KHW - 1 - t);
        for (int r = 0; r < rows; ++r)
          d[p * MR + r] = src[r * KHW];
        for (int r = rows; r < MR; ++r)
          d[p * MR + r] = T(0);
        if (++t == KHW) {
          t = 0;
          ++o;
        }
      }
    }
  }
};

// Images [n0, n0 + nb), group g of forward:
// y_ng[out_per_group x plane] = W_g * im2col(x_ng) (+ bias), then the epilogue.
// kW: how w is read (WeightForm).
template <Conv2DShape S, WeightForm kW = WeightForm::kPlain, class T,
          class Epi, class Sums = NoChannelSums>
bool conv2d_forward_task(T *y, const T *x, const T *w, const T *bias, int n0,
                         int nb, int g, const Epi &epi, const Sums &sums = {}) {
  constexpr int Mg = S.out_per_group(), Kg = S.col_rows();
  constexpr long P = S.out_plane();
  static_assert(kW != WeightForm::kTransposed || S.groups == 1);
  const T *xg = x + (long(n0) * S.in_channels + long(g) * S.in_per_group()) *
                        S.in_plane();
  const auto wa = [&] {
    if constexpr (kW == WeightForm::kTransposed)
      return MatrixA<T>{w, Mg, true};
    else if constexpr (kW == WeightForm::kFlipped)
      return FlippedWeightsA<S, T>{w + long(g) * Mg * Kg};
    else
      return MatrixA<T>{w + long(g) * Mg * Kg, Kg, false};
  }();
  const int c0 = g * Mg;
  const long ncols = nb * P;
  constexpr bool kPlain = std::is_same_v<Epi, NoEpilogue>;
  auto gemm = [&](T *out, const auto &store) {
    if (S.pointwise() && nb == 1)
      gemm_packed<T>(Mg, P, Kg, T(1), wa, MatrixB<T>{xg, P, false}, T(0), out,
                     ncols, store);
    else
      gemm_packed<T>(Mg, ncols, Kg, T(1), wa,
                     Im2colB<S, T>{xg, long(S.in_channels) * S.in_plane()},
                     T(0), out, ncols, store);
  };
#if RNC_HAVE_VECTOR_EXT
  // One image whose BN sums are wanted, no bias or epilogue (a convolution
  // before a training batch norm): the sums in the GEMM's stores
  // (conv_store.h), which stream a large output past the cache. Planes of
  // at least 4 vectors (reduce_n's vector steps).
  if constexpr (kPlain && Sums::kActive) {
    if (nb == 1 && bias == nullptr && P >= 4 * Vec<T>::lanes) {
      using Store = ConvStoreSums<T, Sums>;
      auto *acc = scratch<typename Store::V[4][2]>(kSlotCol, Mg);
      std::fill_n(&acc[0][0][0], 8L * Mg, typename Store::V{});
      T *out = y + (long(n0) * S.out_channels + c0) * P;
#if defined(__AVX512F__)
      const bool streaming = long(Mg) * P * long(sizeof(T)) >= (1L << 20) &&
                             P * sizeof(T) % 64 == 0 &&
                             reinterpret_cast<std::uintptr_t>(out) % 64 == 0;
#else
      const bool streaming = false;
#endif
      Store store{n0, c0, P, &sums, acc, streaming};
      gemm(out, store);
#if defined(__AVX512F__)
      if (streaming)
        _mm_sfence(); // the streamed lines visible to every thread
#endif
      for (int i = 0; i < Mg; ++i)
        store.finish(i);
      return true;
    }
  }
#endif
#if defined(__AVX512F__)
  // One image of 1 MB or more, nothing to apply: streamed past the cache, as
  // above (resnet50's 64->256 1x1 at 56x56 writes 3.2 MB an image; an
  // evaluation's forward, or a data gradient without an epilogue).
  if constexpr (kPlain && !Sums::kActive && std::is_same_v<T, float>) {
    T *out = y + (long(n0) * S.out_channels + c0) * P;
    if (nb == 1 && bias == nullptr &&
        long(Mg) * P * long(sizeof(T)) >= (1L << 20) &&
        P * sizeof(T) % 64 == 0 &&
        reinterpret_cast<std::uintptr_t>(out) % 64 == 0) {
      gemm(out, ConvStoreStream<T>{});
      stream_fence();
      return false;
    }
  }
#endif
#if defined(__AVX512F__)
  // Several images, nothing to apply: straight into their planes
  // (conv_store.h); the buffer below takes only the edge tiles.
  if constexpr (kPlain && std::is_same_v<T, float> && P >= 16) {
    if (nb > 1 && bias == nullptr) {
      T *first = y + (long(n0) * S.out_channels + c0) * P;
      gemm(scratch<T>(kSlotCol, size_t(Mg) * ncols),
           ConvStoreImages<T, P>{first, long(S.out_channels) * P});
      if constexpr (Sums::kActive)
        for (int k = 0; k < nb; ++k)
          for (int i = 0; i < Mg; ++i)
            sums.row(n0 + k, c0 + i,
                     first + (long(k) * S.out_channels + i) * P);
      return Sums::kActive;
    }
  }
#endif
  // One image: straight into y. Several: into a [Mg x nb*P] buffer first.
  T *out = nb == 1 ? y + (long(n0) * S.out_channels + c0) * P
                   : scratch<T>(kSlotCol, size_t(Mg) * ncols);
  gemm(out, GemmIdentity{});
  // The bias and the epilogue run after the GEMM, a row (one image and
  // channel) at a time: n and c are fixed along a row, so the compiler
  // vectorizes them (applied element by element in the GEMM's stores, a
  // division per element finding the image and row, they cost 6 times the
  // convolution itself on resnet50's 56x56 1x1 data gradients).
  // Epilogues are pure functions of (n, c, idx, v): the same bits either way.
  // With sums wanted, each row is reduced as soon as it is stored, from L1
  // (an image's rows outgrow L2 at 56x56: after() read them back from
  // memory).
  if (bias == nullptr && kPlain && nb == 1)
    return false;
  for (int k = 0; k < nb; ++k)
    for (int i = 0; i < Mg; ++i) {
      T *dst = y + (long(n0 + k) * S.out_channels + c0 + i) * P;
      const T *src = out + i * ncols + k * P; // == dst when nb == 1
      const int n = n0 + k, c = c0 + i;
      if (bias == nullptr && kPlain)
        std::memcpy(dst, src, P * sizeof(T));
      else
        apply_row_epilogue(dst, src, P, n, c, bias, epi);
      if constexpr (Sums::kActive)
        sums.row(n, c, dst);
    }
  return Sums::kActive;
}

// done(n, c0, c1) of the bf16 AMX kernels (conv_fwd_amx_rows.h,
// conv_dgrad_amx_s2.h): the epilogue and the sums of rows [c0, c1) of image
// n of y ([N][C][P]), just written.
template <class T, class Epi, class Sums>
auto epilogue_sums_rows(T *y, int C, long P, const Epi &epi, const Sums &sums) {
  return [=, &epi, &sums](int n, int c0, int c1) {
    for (int c = c0; c < c1; ++c) {
      T *row = y + (long(n) * C + c) * P;
      if constexpr (!std::is_same_v<Epi, NoEpilogue>)
        apply_row_epilogue(row, row, P, n, c, static_cast<const T *>(nullptr),
                           epi);
      if constexpr (Sums::kActive)
        sums.row(n, c, row);
    }
  };
}

#if RNC_CPU_PRECISION == 2 && defined(__AMX_TILE__) && defined(__AMX_BF16__)
// conv2d_forward_all on the AMX rows kernel (conv_fwd_amx_rows.h), its
// input packed by pack_x (or an image at a time by pack_image): the
// epilogue and the sums on each block of channels as it is done, after()
// per image where no sums are taken.
template <Conv2DShape S, WeightForm kW, class T, class PackX, class Epi,
          class After, class Sums, class PackImage = NoImagePack>
void amx_rows_forward_run(T *y, const PackX &pack_x, const T *w, const T *bias,
                          int N, const Epi &epi, const After &after,
                          const Sums &sums, const PackImage &pack_image = {}) {
  conv2d_amx_forward_rows_from<S, kW>(
      y, pack_x, w, bias, N,
      epilogue_sums_rows(y, S.out_channels, S.out_plane(), epi, sums),
      pack_image);
  if constexpr (!Sums::kActive)
    run_tasks(N, conv_flops<S>(N), [&](long n) { after(int(n), 1, 0); });
}
#endif

// Whether conv2d_forward_all runs S on its GEMM tasks for a batch of N
// (not Winograd, the row or image tiles, or the direct kernel).
template <Conv2DShape S, class T> bool forward_on_gemm_tasks(int N) {
  if constexpr (use_row_tiles<S, T>() || use_direct_conv<S>()) {
    return false;
  } else {
    if constexpr (use_winograd<S, T>())
      if (winograd_batch_ok(N))
        return false;
    if constexpr (use_tiled_forward<S>() && !pointwise_on_gemm<S, T>())
      if (image_tiles_batch_ok<S, false, T>(N))
        return false;
    return true;
  }
}

// conv2d_forward_task over (chunk of images, group) pairs, then after(n0,
// nb, g) in the same task unless the task took `sums` in its stores.
template <Conv2DShape S, WeightForm kW, class T, class Epi, class After,
          class Sums>
void conv2d_forward_gemm_tasks(T *y, const T *x, const T *w, const T *bias,
                               int N, const Epi &epi, const After &after,
                               const Sums &sums) {
  // Operands rounded to bf16 where T takes them (element by element: the
  // same for every WeightForm).
  x = bf16_operand(x, long(N) * S.in_channels * S.in_plane(), kSlotRoundA);
  w = bf16_operand(w, long(S.weight_size()), kSlotRoundB);
  int chunks = batch_chunks(N, S.out_plane(), S.groups);
  run_tasks(long(chunks) * S.groups, conv_flops<S>(N), [&](long t) {
    int n0, nb, g = int(t % S.groups);
    chunk_range(N, chunks, int(t / S.groups), &n0, &nb);
    if (!conv2d_forward_task<S, kW>(y, x, w, bias, n0, nb, g, epi, sums))
      after(n0, nb, g);
  });
}

// Runs conv2d_forward_task over (chunk of images, group) pairs, or the direct
// kernel over (image, group) pairs; then after(n0, nb, g) in the same task,
// unless the task took `sums` in its stores (the images and groups whose
// after() would have computed them). kW: how w is read, as in
// conv2d_forward_task: other than kPlain only where forward_on_gemm_tasks.
template <Conv2DShape S, WeightForm kW = WeightForm::kPlain, class T,
          class Epi, class After, class Sums = NoChannelSums>
void conv2d_forward_all(T *y, const T *x, const T *w, const T *bias, int N,
                        const Epi &epi, const After &after,
                        const Sums &sums = {}) {
#if RNC_CPU_PRECISION == 2 && defined(__AMX_TILE__) && defined(__AMX_BF16__)
  // bf16 stems on AMX: the layer with its kernel rows and column parity
  // folded into channels (conv_stem_amx.h), then the rows kernel below.
  if constexpr (bf16_operands<T>() && amx_stem_fold_shape<S>() &&
                kW == WeightForm::kPlain) {
    if (amx_bf16_ready()) {
      constexpr Conv2DShape F = stem_forward_conv<S>();
      float *wf = scratch<float>(kSlotRoundB, size_t(F.weight_size()));
      stem_fold_weights<S>(wf, w);
      amx_rows_forward_run<F, WeightForm::kPlain>(
          y, [&](uint32_t *xq) { stem_pack_pairs<S>(xq, x, N); }, wf, bias, N,
          epi, after, sums);
      return;
    }
  }
  // bf16 on AMX, positions along the tiles (conv_fwd_amx_rows.h): the large
  // planes, which the image tiles do not take. The epilogue and the sums on
  // each block of channels as it is done.
  if constexpr (bf16_operands<T>() && amx_rows_forward_shape<S>() &&
                kW != WeightForm::kTransposed) {
    // (A data gradient, kFlipped, comes here only where amx_rows_data.)
    if (amx_bf16_ready() &&
        (kW != WeightForm::kPlain || amx_rows_forward_wins<S>(N))) {
      amx_rows_forward_run<S, kW>(
          y, [&](uint32_t *xq) { amx_rows_pack_input<S>(xq, x, N); }, w, bias,
          N, epi, after, sums,
          [&](uint32_t *xqi, int n) {
            amx_rows_pack_input_image<S>(xqi, x, n);
          });
      return;
    }
  }
#endif
  if constexpr (kW != WeightForm::kPlain) {
    static_assert(!use_row_tiles<S, T>() && !use_direct_conv<S>());
    RNC_CHECK((forward_on_gemm_tasks<S, T>(N)),
              "conv2d: weights in another form off the GEMM path");
    conv2d_forward_gemm_tasks<S, kW>(y, x, w, bias, N, epi, after, sums);
    return;
  }
  if constexpr (use_winograd<S, T>()) {
    if (winograd_batch_ok(N)) {
      conv2d_winograd_forward<S>(y, x, w, bias, N, epi, after);
      return;
    }
  }
  if constexpr (use_row_tiles<S, T>()) {
    if constexpr (Sums::kActive && !std::is_same_v<Epi, NoEpilogue>) {
      // Sums after an epilogue (a data gradient with a fan-in epilogue):
      // the epilogue in a pass over each row with its sums instead of in
      // the tiles' stores (conv_store.h; resnet50's 64->64 3x3 @56 at
      // batch 8, kernel-conv-bn-bench: 15.5 -> 11.5-11.8 ms).
      conv2d_row_tiles_forward<S>(
          y, x, w, bias, N, NoEpilogue{}, [&](int n, int, int g) {
            // Once per image (after() comes per group, each image whole).
            if (g == 0)
              epilogue_rows_with_sums(y, n, S.out_channels, S.out_plane(), epi,
                                      sums);
          });
    } else {
      conv2d_row_tiles_forward<S>(y, x, w, bias, N, epi, after);
    }
    return;
  }
  if constexpr (use_tiled_forward<S>() && !pointwise_on_gemm<S, T>()) {
    if (image_tiles_batch_ok<S, false, T>(N)) {
      if constexpr (Sums::kActive && !std::is_same_v<Epi, NoEpilogue> &&
                    S.out_plane() >= kEpilogueRowsMinPlane) {
        // As for the row tiles above.
        conv2d_tiled_forward<S>(y, x, w, bias, N, NoEpilogue{});
        run_tasks(N, conv_flops<S>(N), [&](long n) {
          epilogue_rows_with_sums(y, int(n), S.out_channels, S.out_plane(),
                                  epi, sums);
        });
      } else {
        conv2d_tiled_forward<S>(y, x, w, bias, N, epi);
        run_tasks(N, conv_flops<S>(N), [&](long n) { after(int(n), 1, 0); });
      }
      return;
    }
  }
  if constexpr (use_direct_conv<S>()) {
    // Operands rounded to bf16 where T takes them (the direct kernel rounds
    // x as it packs it).
    w = bf16_operand(w, long(S.weight_size()), kSlotRoundB);
    run_tasks(long(N) * S.groups, conv_flops<S>(N), [&](long t) {
      int n = int(t / S.groups), g = int(t % S.groups);
      conv2d_direct_task<S>(y, x, w, bias, n, g, epi);
      after(n, 1, g);
    });
  } else {
    conv2d_forward_gemm_tasks<S, kW>(y, x, w, bias, N, epi, after, sums);
  }
}

} // namespace detail

// ----------------------------------------------------------------------------
// Forward.
// y [N, out_channels, out_h, out_w] = conv(x [N, in_channels, in_h, in_w],
//     w [out_channels, in_channels/groups, kernel_h, kernel_w]) + bias [out_c]
// bias may be null; epi(n, c, idx, v) is applied to every output after it.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d(T *y, const T *x, const T *w, const std::type_identity_t<T> *bias,
            int N, const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cpu::conv2d: invalid Conv2DShape");
  RNC_CHECK(N > 0 && y && x && w, "conv2d: N > 0 and non-null y, x, w");
  detail::conv2d_forward_all<S>(y, x, w, bias, N, epi, [](int, int, int) {});
}

// Forward that also writes, per output channel, the sum and the sum of squares
// of the stored outputs over N, out_h, out_w (for fused batch-norm statistics).
// Accumulated in T, per image, then over images in order: deterministic.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_bn_train_stats(T *y, T *channel_sum, T *channel_sumsq, const T *x,
                           const T *w, const std::type_identity_t<T> *bias,
                           int N, const Epilogue &epi = {}) {
  static_assert(S.valid(),
                "rnc::cpu::conv2d_bn_train_stats: invalid Conv2DShape");
  RNC_CHECK(N > 0 && y && x && w && channel_sum && channel_sumsq,
            "conv2d_bn_train_stats: N > 0 and non-null pointers");
  constexpr int C = S.out_channels, Mg = S.out_per_group();
  constexpr long P = S.out_plane();
  T *part = scratch<T>(kSlotReduce, size_t(N) * C * 2); // [N][C][sum, sumsq]
  auto terms = [y](int n, int c) {
    return SumSqTerms<T>{y + (long(n) * C + c) * P};
  };
  // Row (n, c) of the stored outputs, read at v (y's row, or a copy of it).
  auto row = [part](int n, int c, const T *v) {
    const long nc = long(n) * C + c;
    reduce_sum_sumsq(v, P, &part[2 * nc], &part[2 * nc + 1]);
  };
  detail::conv2d_forward_all<S>(
      y, x, w, bias, N, epi,
      [&](int n0, int nb, int g) {
        for (int n = n0; n < n0 + nb; ++n)
          for (int c = g * Mg; c < (g + 1) * Mg; ++c)
            row(n, c, y + (long(n) * C + c) * P);
      },
      channel_sums(part, C, terms, row));
  for (int c = 0; c < C; ++c) {
    T s = 0, ss = 0;
    for (int n = 0; n < N; ++n) {
      s += part[2 * (long(n) * C + c)];
      ss += part[2 * (long(n) * C + c) + 1];
    }
    channel_sum[c] = s;
    channel_sumsq[c] = ss;
  }
}

// ----------------------------------------------------------------------------
// Backward. All three write (do not accumulate into) their output.

namespace detail {

// Stride 1 with pad <= dilation*(kernel-1): the data gradient is the
// forward convolution of dy with the flipped, transposed weights, shape
// flipped_conv<S>().
template <Conv2DShape S> constexpr bool data_grad_is_forward() {
  return S.stride_h == 1 && S.stride_w == 1 &&
         S.pad_h <= S.dilation_h * (S.kernel_h - 1) &&
         S.pad_w <= S.dilation_w * (S.kernel_w - 1);
}
template <Conv2DShape S> constexpr Conv2DShape flipped_conv() {
  return Conv2DShape{.in_channels = S.out_channels,
                     .out_channels = S.in_channels,
                     .in_h = S.out_h(),
                     .in_w = S.out_w(),
                     .kernel_h = S.kernel_h,
                     .kernel_w = S.kernel_w,
                     .stride_h = 1,
                     .stride_w = 1,
                     .pad_h = S.dilation_h * (S.kernel_h - 1) - S.pad_h,
                     .pad_w = S.dilation_w * (S.kernel_w - 1) - S.pad_w,
                     .dilation_h = S.dilation_h,
                     .dilation_w = S.dilation_w,
                     .groups = S.groups};
}

// Whether S's data gradient runs as the AMX rows kernel's forward of dy
// with the flipped weights (bf16, conv_fwd_amx_rows.h): where the image
// tiles do not take it, and under 16 images (as amx_rows_forward_wins).
template <Conv2DShape S, class T> bool amx_rows_data(int N) {
#if RNC_CPU_PRECISION == 2 && defined(__AMX_TILE__) && defined(__AMX_BF16__)
  if constexpr (bf16_operands<T>() && data_grad_is_forward<S>()) {
    constexpr Conv2DShape TS = flipped_conv<S>();
    if constexpr (amx_rows_forward_shape<TS>() && !use_direct_conv<TS>() &&
                  !use_row_tiles<TS, T>())
      return amx_bf16_ready() && (!use_tiled_backward_data<S>() || N < 16);
  }
#endif
  (void)N;
  return false;
}

// The two paths of conv2d_grad_input (below). after(n0, nb, g) runs in the
// task that wrote images [n0, n0 + nb) of group g of dx, after the epilogue,
// while they are in cache (as in conv2d_forward_all).
template <Conv2DShape S, class T, class Epilogue, class After,
          class Sums = NoChannelSums>
void conv2d_backward_data_all(T *dx, const T *dy, const T *w, int N,
                              const Epilogue &epi, const After &after,
                              const Sums &sums = {}) {
  constexpr int Mg = S.out_per_group(), Cg = S.in_per_group(),
                Kg = S.col_rows();
  constexpr int KH = S.kernel_h, KW = S.kernel_w;
  constexpr long P = S.out_plane();
#if RNC_CPU_PRECISION == 2 && defined(__AMX_TILE__) && defined(__AMX_BF16__)
  // bf16 stride-2 layers on AMX in four phases (conv_dgrad_amx_s2.h), where
  // the image tiles do not take them and under 16 images.
  if constexpr (bf16_operands<T>() && amx_dgrad_s2_shape<S>()) {
    if (amx_bf16_ready() && (!use_tiled_backward_data<S>() || N < 16)) {
      conv2d_amx_backward_data_s2<S>(
          dx, dy, w, N,
          epilogue_sums_rows(dx, S.in_channels, S.in_plane(), epi, sums));
      if constexpr (!Sums::kActive)
        run_tasks(N, conv_flops<S>(N), [&](long n) { after(int(n), 1, 0); });
      return;
    }
  }
  // Stride 1: the rows kernel's forward of dy with the flipped weights.
  constexpr bool kRowsData = [] {
    if constexpr (bf16_operands<T>() && data_grad_is_forward<S>())
      return !use_direct_conv<flipped_conv<S>()>() &&
             !use_row_tiles<flipped_conv<S>(), T>();
    else
      return false;
  }();
  if constexpr (kRowsData) {
    if (amx_rows_data<S, T>(N)) {
      conv2d_forward_all<flipped_conv<S>(), WeightForm::kFlipped>(
          dx, dy, w, static_cast<const T *>(nullptr), N, epi, after, sums);
      return;
    }
  }
#endif
  // Where the flipped forward takes the row tiles, so does the gradient.
  constexpr bool kFlipRows = [] {
    if constexpr (data_grad_is_forward<S>())
      return use_row_tiles<flipped_conv<S>(), T>();
    else
      return false;
  }();
  if constexpr (use_row_tiles_s2_data<S, T>()) {
    // Each block of an image's channels through the epilogue and into its
    // sums as soon as it is stored.
    conv2d_row_tiles_backward_data_s2<S>(
        dx, dy, w, N, [&](int n, int c0, int c1) {
          for (int c = c0; c < c1; ++c) {
            T *row = dx + (long(n) * S.in_channels + c) * S.in_plane();
            if constexpr (!std::is_same_v<Epilogue, NoEpilogue>)
              apply_row_epilogue(row, row, S.in_plane(), n, c,
                                 static_cast<const T *>(nullptr), epi);
            if constexpr (Sums::kActive)
              sums.row(n, c, row);
          }
        });
    if constexpr (!Sums::kActive)
      run_tasks(N, conv_flops<S>(N), [&](long n) {
        for (int g = 0; g < S.groups; ++g)
          after(int(n), 1, g);
      });
    return;
  }
  if constexpr (use_tiled_backward_data<S>() && !kFlipRows &&
                !pointwise_on_gemm<S, T>()) {
    if (image_tiles_batch_ok<S, true, T>(N)) {
      if constexpr (Sums::kActive && !std::is_same_v<Epilogue, NoEpilogue> &&
                    S.in_plane() >= kEpilogueRowsMinPlane) {
        // As for the forward's tiles.
        conv2d_tiled_backward_data<S>(dx, dy, w, N, NoEpilogue{});
        run_tasks(N, conv_flops<S>(N), [&](long n) {
          epilogue_rows_with_sums(dx, int(n), S.in_channels, S.in_plane(),
                                  epi, sums);
        });
      } else {
        conv2d_tiled_backward_data<S>(dx, dy, w, N, epi);
        run_tasks(N, conv_flops<S>(N), [&](long n) { after(int(n), 1, 0); });
      }
      return;
    }
  }
  if constexpr (data_grad_is_forward<S>() && S.pointwise() && S.groups == 1 &&
                pointwise_on_gemm<flipped_conv<S>(), T>()) {
    // A 1x1 layer's flipped weights are its weights transposed, which the
    // GEMM's packing reads as they are (a transposed copy moved 8 MB for
    // resnet50's 512 x 2048 layers, a tenth of their data gradient).
    conv2d_forward_all<flipped_conv<S>(), WeightForm::kTransposed>(
        dx, dy, w, static_cast<const T *>(nullptr), N, epi, after, sums);
  } else if constexpr (data_grad_is_forward<S>()) {
    constexpr Conv2DShape TS = flipped_conv<S>();
    static_assert(TS.out_h() == S.in_h && TS.out_w() == S.in_w);
    if constexpr (!use_row_tiles<TS, T>() && !use_direct_conv<TS>()) {
      // On the GEMM: its A packing reads the weights flipped in place.
      if (forward_on_gemm_tasks<TS, T>(N)) {
        conv2d_forward_all<TS, WeightForm::kFlipped>(
            dx, dy, w, static_cast<const T *>(nullptr), N, epi, after, sums);
        return;
      }
    }
    // wt[g*Cg + c][o][kh][kw] = w[g*Mg + o][c][KH-1-kh][KW-1-kw], in blocks
    // of 16 x 16 (o, c) pairs whose taps are contiguous on both sides (a
    // pair at a time, the stores of a 1x1 layer's 2048 x 512 weights landed
    // 8 KB apart, in one L1 set: a third of its data gradient).
    constexpr int KHW = KH * KW, B = 16;
    T *wt = scratch<T>(kSlotWeight, size_t(S.weight_size()));
    for (int g = 0; g < S.groups; ++g)
      for (int o0 = 0; o0 < Mg; o0 += B)
        for (int c0 = 0; c0 < Cg; c0 += B)
          for (int c = c0; c < std::min(Cg, c0 + B); ++c)
            for (int o = o0; o < std::min(Mg, o0 + B); ++o) {
              T *d = wt + ((long(g) * Cg + c) * Mg + o) * KHW;
              const T *src = w + ((long(g) * Mg + o) * Cg + c) * KHW;
              for (int t = 0; t < KHW; ++t)
                d[KHW - 1 - t] = src[t];
            }
    // Group g of the transposed convolution writes input channels
    // [g*Cg, (g+1)*Cg): the same (n0, nb, g) as the col2im path.
    conv2d_forward_all<TS>(dx, dy, wt, static_cast<const T *>(nullptr), N, epi,
                           after, sums);
  } else {
    // dy of consecutive images read as one matrix [out_per_group x nb*plane].
    constexpr Conv2DShape YS{.in_channels = S.out_channels,
                             .out_channels = S.out_channels,
                             .in_h = S.out_h(),
                             .in_w = S.out_w()};
    dy = bf16_operand(dy, long(N) * S.out_channels * P, kSlotRoundA);
    w = bf16_operand(w, long(S.weight_size()), kSlotRoundB);
    int chunks = batch_chunks(N, P, S.groups);
    run_tasks(long(chunks) * S.groups, conv_flops<S>(N), [&](long t) {
      int n0, nb, g = int(t % S.groups);
      chunk_range(N, chunks, int(t / S.groups), &n0, &nb);
      long ncols = nb * P;
      const T *dyg = dy + (long(n0) * S.out_channels + long(g) * Mg) * P;
      T *dcol = scratch<T>(kSlotCol, size_t(Kg) * ncols);
      gemm_packed<T>(
          Kg, ncols, Mg, T(1), MatrixA<T>{w + long(g) * Mg * Kg, Kg, true},
          Im2colB<YS, T>{dyg, long(S.out_channels) * P}, T(0), dcol, ncols);
      constexpr long plane = S.in_plane();
      // Images of 1 MB or more (resnet50's 256->512 s2 @56: 3.2 MB) are
      // built a channel at a time in a buffer and streamed out past the
      // cache (a normal store first reads each line from memory); smaller
      // ones in place.
      constexpr bool kStreamable = std::is_same_v<T, float> &&
                                   long(Cg) * plane * long(sizeof(T)) >=
                                       (1L << 20) &&
                                   plane * long(sizeof(T)) % 64 == 0;
      T *buf = kStreamable ? scratch<T>(kSlotRow, size_t(plane)) : nullptr;
      for (int k = 0; k < nb; ++k) {
        const int n = n0 + k;
        T *dxg = dx + (long(n) * S.in_channels + long(g) * Cg) * plane;
        const bool stream =
            kStreamable && reinterpret_cast<std::uintptr_t>(dxg) % 64 == 0;
        // A channel at a time, its plane in L1 from the zeros to its sums
        // (resnet50's 256->512 s2 @56: 3.2 MB an image, which four passes
        // over the image read from memory).
        for (int c = 0; c < Cg; ++c) {
          T *row = stream ? buf : dxg + long(c) * plane;
          std::fill(row, row + plane, T(0));
          col2im_add<S>(row, dcol + k * P, ncols, c);
          if constexpr (!std::is_same_v<Epilogue, NoEpilogue>)
            apply_row_epilogue(row, row, plane, n, g * Cg + c,
                               static_cast<const T *>(nullptr), epi);
          if constexpr (Sums::kActive)
            sums.row(n, g * Cg + c, row);
          if constexpr (kStreamable)
            if (stream)
              stream_copy(dxg + long(c) * plane, row, plane);
        }
        if (stream)
          stream_fence();
        if constexpr (!Sums::kActive)
          after(n, 1, g);
      }
    });
  }
}

} // namespace detail

// dx [N, in_channels, in_h, in_w] = col2im(W_g^T dy_g) per image and group,
// then epi(n, c, idx, v) on every element (e.g. a residual gradient added and
// a ReLU mask: rn.conv2d_grad_input_fanin). Tensors the epilogue reads must
// not alias dx (the GEMM path stores partial sums before the epilogue runs).
// Stride 1 with pad <= dilation*(kernel-1) (3x3 pad 1, every 1x1 stride 1)
// runs instead as the forward convolution of dy with the flipped, transposed
// weights: same GEMM path, no column buffer, no scatter.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_grad_input(T *dx, const T *dy, const T *w, int N,
                       const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cpu::conv2d_grad_input: invalid Conv2DShape");
  RNC_CHECK(N > 0 && dx && dy && w,
            "conv2d_grad_input: N > 0 and non-null pointers");
  detail::conv2d_backward_data_all<S>(dx, dy, w, N, epi, [](int, int, int) {});
}

// conv2d_grad_input whose stored gradient g = dx (after the epilogue) is
// the incoming gradient of a training batch norm with saved input x and
// batch mean: also writes, per input channel c, over N, in_h, in_w,
//   grad_sum[c] = sum g,   grad_dev_sum[c] = sum g * (x - mean[c])
// (rn.conv2d_grad_input_bn_reduce; batch_norm_grad_from_sums takes them).
// Reduced per image and channel as each image is written, then over images
// in order: the order of batch_norm_grad's own reductions, so the sums
// are the same bits, for any thread count. x must not alias dx.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_grad_input_bn_reduce(T *dx, T *grad_sum, T *grad_dev_sum,
                                 const T *dy, const T *w, const T *x,
                                 const T *mean, int N,
                                 const Epilogue &epi = {}) {
  static_assert(S.valid(),
                "rnc::cpu::conv2d_grad_input_bn_reduce: invalid Conv2DShape");
  RNC_CHECK(N > 0 && dx && dy && w && x && mean && grad_sum && grad_dev_sum,
            "conv2d_grad_input_bn_reduce: N > 0 and non-null pointers");
  constexpr int C = S.in_channels, Cg = S.in_per_group();
  constexpr long P = S.in_plane();
  // [N][C][sum, dev_sum]
  T *part = scratch<T>(kSlotReduce, size_t(N) * C * 2);
  auto terms = [dx, x, mean](int n, int c) {
    const long nc = long(n) * C + c;
    return SumDotDevTerms<T>{dx + nc * P, x + nc * P, mean[c]};
  };
  // Row (n, c) of the stored gradient, read at g (dx's row, or a copy).
  auto row = [x, mean, part](int n, int c, const T *g) {
    const long nc = long(n) * C + c;
    reduce_sum_dot_dev(g, x + nc * P, P, mean[c], &part[2 * nc],
                       &part[2 * nc + 1]);
  };
  detail::conv2d_backward_data_all<S>(
      dx, dy, w, N, epi,
      [&](int n0, int nb, int g) {
        for (int n = n0; n < n0 + nb; ++n)
          for (int c = g * Cg; c < (g + 1) * Cg; ++c)
            row(n, c, dx + (long(n) * C + c) * P);
      },
      channel_sums(part, C, terms, row));
  for (int c = 0; c < C; ++c) {
    T s = 0, sd = 0;
    for (int n = 0; n < N; ++n) {
      s += part[2 * (long(n) * C + c)];
      sd += part[2 * (long(n) * C + c) + 1];
    }
    grad_sum[c] = s;
    grad_dev_sum[c] = sd;
  }
}

// dw [out_channels, in_channels/groups, kernel_h, kernel_w] = sum over the
// batch of dy_g * im2col(x_g)^T: one GEMM per group with K = N * out_plane.
template <Conv2DShape S, class T = float>
void conv2d_grad_weight(T *dw, const T *dy, const T *x, int N) {
  static_assert(S.valid(), "rnc::cpu::conv2d_grad_weight: invalid Conv2DShape");
  RNC_CHECK(N > 0 && dw && dy && x,
            "conv2d_grad_weight: N > 0 and non-null pointers");
  constexpr int Mg = S.out_per_group(), Cg = S.in_per_group(),
                Kg = S.col_rows();
  constexpr long P = S.out_plane();
  if constexpr (detail::use_winograd<S, T>()) {
    if (detail::winograd_batch_ok(N)) {
      detail::conv2d_winograd_backward_weight<S>(dw, dy, x, N);
      return;
    }
  }
#if RNC_CPU_PRECISION == 2 && defined(__AMX_TILE__) && defined(__AMX_BF16__)
  // bf16 stems: the folded layer's weight gradient (as in
  // conv2d_forward_all), unfolded.
  if constexpr (bf16_operands<T>() && detail::amx_stem_fold_shape<S>()) {
    if (amx_bf16_ready()) {
      constexpr Conv2DShape F = detail::stem_wgrad_conv<S>();
      float *dwf = scratch<float>(kSlotRoundB, size_t(F.weight_size()));
      detail::conv2d_amx_backward_weight_rows_from<F>(
          dwf, dy, [&](uint16_t *xq) { detail::stem_pack_rows<S>(xq, x, N); },
          N);
      detail::stem_unfold_weights<S>(dw, dwf);
      return;
    }
  }
  // bf16 stride-1 and stride-2 layers on AMX reducing over positions, unless
  // the image-pair tiles waste less of theirs (conv_wgrad_amx_rows.h).
  if constexpr (bf16_operands<T>() && detail::amx_rows_wgrad_shape<S>()) {
    constexpr bool tiled =
        detail::use_tiled_backward_weight<S, T>() &&
        !(S.pointwise() && detail::pointwise_on_gemm<S, T>());
    if (amx_bf16_ready() &&
        detail::amx_rows_wgrad_wins<S>(
            N, tiled && detail::tiled_weight_batch_ok<S, T>(N))) {
      detail::conv2d_amx_backward_weight_rows<S>(dw, dy, x, N);
      return;
    }
  }
#endif
  // Stride-1 1x1 layers: one GEMM over the batch (below), faster than the
  // tiles (resnet50's 256->1024 @14 at batch 8: 6.0-6.5 -> 4.9-5.1 ms; the
  // strided ones keep the tiles: d2l_resnet18's 64->128 s2 @24 at batch 128
  // 2.9-3.1 ms on them, 4.5-5.0 on the GEMM).
  if constexpr (detail::use_tiled_backward_weight<S, T>() &&
                !(S.pointwise() && detail::pointwise_on_gemm<S, T>())) {
    if (detail::tiled_weight_batch_ok<S, T>(N)) {
      detail::conv2d_tiled_backward_weight<S>(dw, dy, x, N);
      return;
    }
  }
  // Operands rounded to bf16 where T takes them (the tiles and the direct
  // kernels round as they pack).
  if constexpr (!detail::use_direct_stem_weight<S>() &&
                !detail::use_direct_conv<S>()) {
    dy = detail::bf16_operand(dy, long(N) * S.out_channels * P, kSlotRoundA);
    x = detail::bf16_operand(x, long(N) * S.in_channels * S.in_plane(),
                             kSlotRoundB);
  }
  if constexpr (detail::use_direct_stem_weight<S>()) {
    detail::conv2d_direct_stem_backward_weight<S>(dw, dy, x, N);
  } else if constexpr (detail::use_direct_conv<S>()) {
    run_tasks(S.groups, detail::conv_flops<S>(N), [&](long g) {
      detail::conv2d_direct_backward_weight_group<S>(dw, dy, x, N, int(g));
    });
  } else if constexpr (detail::use_1x1_wgrad_in_place<S, T>()) {
    // A strided layer's x positions gathered a row at a time.
    detail::conv2d_1x1_backward_weight_in_place<S>(
        dw, dy, x, N, [&](T *dst, int n, int c, long p0, int kc) {
          detail::im2col_row<S, 1>(
              dst, x + long(n) * S.in_channels * S.in_plane(), c, 0, 0, p0, kc);
        });
  } else if constexpr (S.pointwise() && S.groups == 1) {
    detail::conv2d_pointwise_backward_weight<S>(dw, dy, x, N);
  } else {
    long K = long(N) * P;
    RNC_CHECK(K < (1L << 31),
              "conv2d_grad_weight: N * out_plane must fit in int");
    run_tasks(S.groups, detail::conv_flops<S>(N), [&](long g) {
      detail::BatchRowsA<T> a{dy + g * Mg * P, long(S.out_channels) * P, P};
      detail::Im2colBatchTransB<S, T> b{x + g * Cg * S.in_plane(),
                                        long(S.in_channels) * S.in_plane()};
      gemm_packed<T, false, gemm_nv_for<T>(Kg)>(Mg, Kg, int(K), T(1), a, b,
                                                T(0), dw + g * Mg * Kg, Kg);
    });
  }
}

// db [out_channels] = sum of dy over N, out_h, out_w.
template <Conv2DShape S, class T = float>
void conv2d_bias_grad(T *db, const T *dy, int N) {
  static_assert(S.valid(), "rnc::cpu::conv2d_bias_grad: invalid Conv2DShape");
  RNC_CHECK(N > 0 && db && dy, "conv2d_bias_grad: N > 0 and non-null pointers");
  constexpr int C = S.out_channels;
  constexpr long P = S.out_plane();
#pragma omp parallel for schedule(static) if (long(N) * C * P >= kParallelGrain)
  for (int c = 0; c < C; ++c) {
    T s = 0;
    for (int n = 0; n < N; ++n)
      s += reduce_sum(dy + (long(n) * C + c) * P, P);
    db[c] = s;
  }
}

} // namespace rnc::cpu
