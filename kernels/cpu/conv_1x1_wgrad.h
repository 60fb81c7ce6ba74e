// Weight gradient of a 1x1 convolution (no padding, groups 1) with the wider
// operand read in place: dw[co][ci] = sum over images n and output
// positions p of dy[n][co][p] x[n][ci][s(p)], s(p) the input position of p.
//
// Both operands are channel planes, contiguous along the sum. The GEMM
// (conv.h) transposes both into panels; but its micro-kernel broadcasts one
// operand a value at a time, and a broadcast needs no contiguous source: MR
// planes read in place, a plane apart, serve as well (micro_kernel_simd
// with AS = the plane). Only the narrower operand (the tile's vectors) is
// transposed into panels: min(Co, Ci) rows instead of Co + Ci. A strided
// layer reads dy in place (its more numerous outputs) and gathers x's
// positions into rows first (`gather`, from conv.h). resnet50 at batch 8
// (kernel-conv-bench, one thread): 256->64 and 64->256 @56 6.4-6.6 -> 4.8-5.0
// ms, 128->512 and 512->128 @28 5.3-5.7 -> 4.6-4.8, 256->1024 and 1024->256
// @14 5.1-5.3 -> 4.7-4.9.
//
// C is dw^T [Ci][Co] when the outputs are the narrower side (copied into
// place, as the GEMM form does), dw itself otherwise. The sum runs over
// images in order and, within each, over equal blocks of the plane; each
// element of C is owned by one thread: the same bits for any thread count.
#pragma once

#include <algorithm>

#include "common.h"
#include "conv_tiled.h"
#include "gemm.h"
#include "kernels/shapes.h"
#include "transpose.h"

namespace rnc::cpu::detail {

// The tile: 6 rows of C x 64 columns (4 vectors), 24 accumulators.
inline constexpr int k1x1WgradNV = 4, k1x1WgradMR = 6;
// Rows of C a block (the in-place rows reused from L2 across the B panels).
inline constexpr int k1x1WgradMC = 16 * k1x1WgradMR;
// The packed B block (a block of the plane x the narrower side) at most this
// many floats (512 KB: in L2 with the in-place rows); blocks of at most 800
// positions (resnet50's 56x56 plane in four).
inline constexpr long k1x1WgradBlockFloats = 1L << 17;
inline constexpr int k1x1WgradMaxKc = 800;

// Output planes of 196 positions or more (at 7x7 the per-image blocks are 49
// long and C, read back after each, costs more than the transposes saved:
// 2048->512 @7 5.5 -> 12.9 ms in a harness), the narrower side a whole
// number of tiles; strided layers only with more outputs than inputs (x,
// whose positions are not a plane's, is then the packed side).
template <Conv2DShape S, class T> constexpr bool use_1x1_wgrad_in_place() {
#if defined(__AVX512F__) && !defined(RNC_CONV_NO_TILED)
  constexpr int narrow = std::min(S.out_channels, S.in_channels);
  return std::is_same_v<T, float> && S.kernel_h == 1 && S.kernel_w == 1 &&
         S.pad_h == 0 && S.pad_w == 0 && S.groups == 1 &&
         S.out_plane() >= 196 && narrow % (k1x1WgradNV * 16) == 0 &&
         (S.pointwise() || S.out_channels > S.in_channels);
#else
  return false;
#endif
}

// gather(dst, n, c, p0, kc): dst[t] = x at output position p0 + t of image n,
// channel c (t < kc); called only for strided layers.
template <Conv2DShape S, class T, class Gather>
void conv2d_1x1_backward_weight_in_place(T *dw, const T *dy, const T *x, int N,
                                         const Gather &gather) {
  static_assert(use_1x1_wgrad_in_place<S, T>());
  constexpr int Co = S.out_channels, Ci = S.in_channels;
  constexpr long P = S.out_plane(), Pin = S.in_plane();
  constexpr bool dy_is_b = Co <= Ci;    // dy the vectors, x broadcast
  constexpr int Nc = dy_is_b ? Co : Ci; // C's columns (the panels)
  constexpr int Mc = dy_is_b ? Ci : Co; // C's rows (read in place)
  constexpr int MR = k1x1WgradMR, NV = k1x1WgradNV;
  constexpr int NR = NV * Vec<T>::lanes;
  constexpr long kc_cap =
      std::min<long>(k1x1WgradMaxKc, k1x1WgradBlockFloats / Nc);
  constexpr int nkb = int((P + kc_cap - 1) / kc_cap);
  constexpr int KC = int((P + nkb - 1) / nkb);
  const T *a_base = dy_is_b ? x : dy; // [N][Mc][P]

  // The panel's NR rows of B at image n, positions [p0, p0 + kc).
  auto b_rows = [&](const T **src, T *buf, int n, int jp, long p0, int kc) {
    for (int r = 0; r < NR; ++r) {
      if constexpr (dy_is_b) {
        src[r] = dy + (long(n) * Co + jp + r) * P + p0;
      } else if constexpr (S.pointwise()) {
        src[r] = x + (long(n) * Ci + jp + r) * Pin + p0;
      } else {
        gather(buf + long(r) * kc, n, jp + r, p0, kc);
        src[r] = buf + long(r) * kc;
      }
    }
  };
  T *C = dy_is_b ? scratch<T>(kSlotCol, size_t(Mc) * Nc) : dw;

  // Rows [i0, i1) of C over every image and block of the plane.
  auto rows = [&](int i0, int i1) {
    T *bp = scratch<T>(kSlotPackB, size_t(KC) * Nc);
    T *ap = scratch<T>(kSlotPackA, size_t(KC) * MR);
    T *buf = S.pointwise() ? nullptr : scratch<T>(kSlotRow, size_t(KC) * NR);
    const T *src[NR];
    for (int n = 0; n < N; ++n)
      for (long p0 = 0; p0 < P; p0 += KC) {
        const int kc = int(std::min<long>(KC, P - p0));
        const T beta = n == 0 && p0 == 0 ? T(0) : T(1);
        for (int jp = 0; jp < Nc; jp += NR) {
          b_rows(src, buf, n, jp, p0, kc);
          pack_rows_transposed<NR>(bp + long(jp) * kc, src, NR, kc);
        }
        for (int ic = i0; ic < i1; ic += k1x1WgradMC) {
          const int ie = std::min(i1, ic + k1x1WgradMC);
          for (int jr = 0; jr < Nc; jr += NR)
            for (int ir = ic; ir < ie; ir += MR) {
              const int mr = std::min(MR, ie - ir);
              const T *a = a_base + (long(n) * Mc + ir) * P + p0;
              T *c = C + long(ir) * Nc + jr;
              const T *b = bp + long(jr) * kc;
              if (mr == MR) {
                micro_kernel_simd<T, MR, NV, NoVecStores, NoPanelCopy, P>(
                    kc, a, b, c, Nc, T(1), beta, MR, NR);
              } else {
                // The last rows: a zero-padded panel (no rows past Mc read).
                for (int r = 0; r < mr; ++r)
                  src[r] = a + r * P;
                pack_rows_transposed<MR>(ap, src, mr, kc);
                micro_kernel_simd<T, MR, NV>(kc, ap, b, c, Nc, T(1), beta, mr,
                                             NR);
              }
            }
        }
      }
  };
  const long strips = (Mc + MR - 1) / MR;
  int nt = max_threads();
  if (2.0 * Co * Ci * double(P) * N < kParallelFlops)
    nt = 1;
  nt = int(std::min<long>(nt, strips));
  if (nt <= 1) {
    rows(0, Mc);
  } else {
#pragma omp parallel num_threads(nt)
    {
      long lo, hi;
      split_range(strips, num_threads(), thread_id(), &lo, &hi);
      rows(int(lo * MR), int(std::min<long>(Mc, hi * MR)));
    }
  }
  if constexpr (dy_is_b)
    copy_strided(dw, 1, Ci, C, Co, 1, Ci, Co);
}

} // namespace rnc::cpu::detail
