// The stores of a convolution's GEMM for one image: the batch norm's
// per-channel sums taken from the micro-kernel's registers as it stores,
// instead of in a pass over the stored image after the GEMM (a 1x1
// convolution to 256 channels of a 56x56 plane writes 3.2 MB an image, more
// than L2: the pass read it back from memory).
#pragma once

#include "common.h"
#include "epilogue.h"

namespace rnc::cpu {

// No per-channel sums.
struct NoChannelSums {
  static constexpr bool kActive = false;
};

// Per-channel sums of the stored outputs, two per channel and image, into
// part[2 * (n * channels + c) + {0, 1}]. terms(n, c) gives the reduce_n
// terms (common.h: SumSqTerms, SumDotDevTerms) of the row of image n and
// channel c, indexed by the spatial index; row(n, c, v) reduces that row's
// stored values, read at v (the row itself, or a copy of it), with the
// matching entry point (reduce_sum_sumsq, reduce_sum_dot_dev): the same
// bits either way.
template <class T, class Terms, class Row> struct ChannelSums {
  static constexpr bool kActive = true;
  T *part;
  int channels;
  Terms terms;
  Row row;
};
template <class T, class Terms, class Row>
ChannelSums<T, Terms, Row> channel_sums(T *part, int channels, Terms terms,
                                        Row row) {
  return {part, channels, terms, row};
}

// For kernels whose epilogue is scattered over short runs of many channel
// rows (the row and image tiles): image n of y [channels x plane] stored
// without it, then each row through the epilogue and at once into its
// sums, reading the epilogue's operands row by row. The same values as
// the epilogue in the stores followed by the sums.
template <class T, class Epi, class Sums>
void epilogue_rows_with_sums(T *y, int n, int channels, long plane,
                             const Epi &epi, const Sums &sums) {
  for (int c = 0; c < channels; ++c) {
    T *row = y + (long(n) * channels + c) * plane;
    apply_row_epilogue(row, row, plane, n, c, static_cast<const T *>(nullptr),
                       epi);
    sums.row(n, c, row);
  }
}

// The smallest plane on which the tiles leave the epilogue to
// epilogue_rows_with_sums: on smaller ones the calls per row cost more than
// the stores' scatter saves (fashion_resnet's 128-channel 4x4 data gradient
// at batch 128: 2.9 -> 3.3 ms a step; its 64-channel 7x7 one 3.0 -> 2.7).
inline constexpr long kEpilogueRowsMinPlane = 32;

#if RNC_HAVE_VECTOR_EXT
// The GEMM's tile epilogue (gemm.h) for the [rows x plane] output of image
// n, channels [c0, c0 + rows), with no bias or epilogue: each full vector
// stored below reduce_main_end(plane) is added, from the micro-kernel's
// register, to its row's 4 partial sums, vector i / lanes to sum
// (i / lanes) % 4, as reduce_n adds them; the edge tiles (stored by the
// GEMM's scalar path) are read back in tile(). The GEMM brings a row's
// tiles in column order from one thread, so each partial sum sees its
// vectors in reduce_n's order, and finish() ends as reduce_n ends: the same
// bits as reduce_n over the stored row. With `streaming`, full tiles are
// stored non-temporally (nothing reads the image back here; a normal store
// first reads each line from memory: 9.8 GB/s against 25 on this machine).
template <class T, class Sums> struct ConvStoreSums {
  using V = typename Vec<T>::type;
  static constexpr bool kTile = true, kVecStores = true;
  static constexpr int L = Vec<T>::lanes;
  int n, c0;
  long plane;
  const Sums *sums;
  V (*acc)[4][2]; // [rows][4 partial sums][2 terms], zeroed
  bool streaming;

  struct Stores {
    const ConvStoreSums *s;
    int i;
    long j;
    bool streaming() const { return s->streaming; }
    RNC_INLINE void store(int r, int v, V value, T *cp) const {
      const long col = j + long(v) * L;
      if (s->streaming)
        vstream(cp, value);
      else
        vstore(cp, value);
      if (col + L <= reduce_main_end<T>(s->plane))
        s->sums->terms(s->n, s->c0 + i + r)
            .add(s->acc[i + r][(col / L) % 4], value, col);
    }
  };
  Stores vec_stores(int i, long j) const { return {this, i, j}; }

  template <int MR, int NR>
  RNC_INLINE void tile(int i, long j, int mr, int nr, T * /*c*/,
                       long /*ldc*/) const {
    if (mr == MR && nr == NR)
      return; // taken in vec_stores
    const long end = reduce_main_end<T>(plane);
    for (int r = 0; r < mr; ++r) {
      const auto terms = sums->terms(n, c0 + i + r);
      for (int v = 0; v * L + L <= nr; ++v) {
        const long col = j + long(v) * L;
        if (col + L <= end)
          terms.vec(acc[i + r][(col / L) % 4], col);
      }
    }
  }

  // Row r's two sums into sums->part (after the GEMM).
  void finish(int r) const {
    const int ch = c0 + r;
    T *out = sums->part + 2 * (long(n) * sums->channels + ch);
    reduce_n_finish<T, 2>(acc[r], plane, out, sums->terms(n, ch));
  }
};

// The GEMM's stores for the output of images [n0, n0 + nb) at once, C =
// [rows x nb*P] (column k*P + q: image n0 + k, position q), straight into
// their planes in y (rows: channels c0..; image k's row i at y + k *
// image_stride + i * P) instead of into C and then copied (resnet50's 1x1
// layers at 14x14 and 7x7, four images a GEMM at batch 8: the copy was a
// tenth of the call). A vector crossing into the next image is stored in
// two masked parts (P >= lanes: at most two). The edge tiles, which the
// micro-kernel stores into C, are copied in tile(). The same values.
#if defined(__AVX512F__)
template <class T, long P> struct ConvStoreImages {
  static_assert(std::is_same_v<T, float> && P >= 16);
  using V = typename Vec<T>::type;
  static constexpr bool kTile = true, kVecStores = true;
  static constexpr int L = Vec<T>::lanes;
  T *y;
  long image_stride;

  RNC_INLINE T *at(int i, long col) const {
    return y + col / P * image_stride + long(i) * P + col % P;
  }

  struct Stores {
    const ConvStoreImages *s;
    int i;
    long j;
    static constexpr bool streaming() { return false; }
    RNC_INLINE void store(int r, int v, V value, T *) const {
      const long col = j + long(v) * L;
      const long q = col % P;
      T *dst = s->at(i + r, col);
      if (q + L <= P) {
        vstore(dst, value);
        return;
      }
      // Lanes [0, m) end this image's row; the rest start the next one's.
      const int m = int(P - q);
      const __mmask16 lo = __mmask16((1u << m) - 1);
      _mm512_mask_storeu_ps(dst, lo, value);
      _mm512_mask_storeu_ps(dst + s->image_stride - q, __mmask16(0xFFFFu >> m),
                            _mm512_maskz_compress_ps(__mmask16(~lo), value));
    }
  };
  Stores vec_stores(int i, long j) const { return {this, i, j}; }

  template <int MR, int NR>
  RNC_INLINE void tile(int i, long j, int mr, int nr, T *c, long ldc) const {
    if (mr == MR && nr == NR)
      return; // taken in vec_stores
    for (int r = 0; r < mr; ++r)
      for (int t = 0; t < nr; ++t)
        *at(i + r, j + t) = c[r * ldc + t];
  }
};
#endif

// The GEMM's vector stores for an output nothing reads back soon (a plain
// convolution's image of at least 1 MB, ConvStoreSums's `streaming` without
// the sums): full tiles stored non-temporally, the edge tiles as the GEMM
// stores them.
template <class T> struct ConvStoreStream {
  using V = typename Vec<T>::type;
  static constexpr bool kTile = true, kVecStores = true;
  struct Stores {
    static constexpr bool streaming() { return true; }
    RNC_INLINE void store(int, int, V value, T *cp) const {
      vstream(cp, value);
    }
  };
  Stores vec_stores(int, long) const { return {}; }
  template <int MR, int NR>
  RNC_INLINE void tile(int, long, int, int, T *, long) const {}
};
#endif

} // namespace rnc::cpu
