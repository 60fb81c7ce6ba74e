// Packed, cache-blocked SIMD GEMM (row-major) with epilogue functors.
#pragma once

#include <algorithm>
#include <type_traits>

#include "common.h"
#include "transpose.h"

namespace rnc::cpu {

// ----------------------------------------------------------------------------
// Epilogue of a GEMM: applied once to every element of C after the last K
// block, `(row i, column j, value) -> value`. Kernels built on the GEMM (conv,
// linear) translate their own epilogue contract into this one.

struct GemmIdentity {
  template <class T> T operator()(int /*i*/, long /*j*/, T v) const {
    return v;
  }
};

// A tile epilogue instead: an Epi with `static constexpr bool kTile = true`
// and `template <int MR, int NR> void tile(int i, long j, int mr, int nr,
// T *c, long ldc) const`, called once per micro-tile after its last K block
// is stored (rows [i, i + mr), columns [j, j + nr) of C at c), while the tile
// is in L1. Each row's tiles come in increasing column order from one
// thread: the driver never splits a tile epilogue's C along N.
template <class Epi, class = void> struct TileEpilogueTrait {
  static constexpr bool value = false;
};
template <class Epi>
struct TileEpilogueTrait<Epi, std::void_t<decltype(Epi::kTile)>> {
  static constexpr bool value = Epi::kTile;
};
template <class Epi> constexpr bool is_tile_epilogue() {
  return TileEpilogueTrait<Epi>::value;
}

// A tile epilogue may also take the full tiles' final values from the
// micro-kernel's registers: `epi.vec_stores(i, j)` returns, for the tile at
// row i, column j, an object with `bool streaming() const` (non-temporal
// stores: no prefetch of C) and `store(int r, int v, V value, T *cp)`,
// which stores vector v of row r at cp. tile() then still runs, for every
// tile, after them.
struct NoVecStores {
  static constexpr bool streaming() { return false; }
};
template <class Epi, class = void> struct VecStoresTrait {
  static constexpr bool value = false;
};
template <class Epi>
struct VecStoresTrait<Epi, std::void_t<decltype(Epi::kVecStores)>> {
  static constexpr bool value = Epi::kVecStores;
};

// ----------------------------------------------------------------------------
// Blocking. Micro-tile MR x NR (NR = NV vectors), A block MC x KC in L2, B
// block KC x NC in L3; a KC x NR micro-panel of B is reused across the A block.
// Float on AVX-512: 8 x 48 (24 accumulators), KC 256, MC 96, NC 3072 (tuned
// on Zen 4); on AVX2: 6 x 16 (12 accumulators). The RNC_GEMM_* macros exist
// for tuning runs only. A caller that knows N may ask for another width on
// AVX-512 (gemm_nv_for): 6 x 64 or 12 x 32, the same 24 accumulators, so
// that N = 64 or 256 does not pad its last panel to a multiple of 48. The
// width changes no result: every element of C sums its K products in the
// same order whatever the tile.

#ifndef RNC_GEMM_NV
#define RNC_GEMM_NV (kVecBytes == 64 ? 3 : 2)
#define RNC_GEMM_MR (kVecBytes == 64 ? 8 : 6)
#define RNC_GEMM_KC 256
#define RNC_GEMM_MCB 12
#define RNC_GEMM_NCB 64
#endif

template <class T, int NV_ = RNC_GEMM_NV> struct GemmBlocking {
#if RNC_HAVE_VECTOR_EXT
  static constexpr int lanes = Vec<T>::lanes;
#else
  static constexpr int lanes = 4;
#endif
  static constexpr int NV = NV_;
  static constexpr int NR = NV * lanes;
  static constexpr int MR = NV_ == RNC_GEMM_NV ? RNC_GEMM_MR : 24 / NV_;
  static constexpr int KC = RNC_GEMM_KC * 4 / int(sizeof(T));
  static constexpr int MC = MR * RNC_GEMM_MCB;
  static constexpr int NC = NR * RNC_GEMM_NCB;
};

// The vector width NV of the micro-tile for a GEMM with N columns: the
// default, unless 6 x 64 or 12 x 32 pads the last panel by at least 1/32 of
// N less (AVX-512 only; elsewhere always the default).
template <class T> constexpr int gemm_nv_for(long n) {
  if (kVecBytes != 64 || n <= 0)
    return RNC_GEMM_NV;
  constexpr int L = GemmBlocking<T>::lanes;
  auto pad = [n](int nv) { return (n + nv * L - 1) / (nv * L) * (nv * L) - n; };
  int best = RNC_GEMM_NV;
  for (int nv : {4, 2})
    if ((pad(best) - pad(nv)) * 32 >= n)
      best = nv;
  return best;
}

// ----------------------------------------------------------------------------
// Operand packers. A packer copies a block of op(A) (or op(B)) into panels the
// micro-kernel reads with unit stride: A as MR-row panels, each `kc` groups of
// MR values; B as NR-column panels, each `kc` groups of NR values. Rows or
// columns past the edge are zero. conv.h adds an implicit-im2col B packer.

// op(A) is M x K, stored row-major as M x K (trans false) or K x M (true).
template <class T> struct MatrixA {
  const T *a;
  long ld;
  bool trans;

  template <int MR>
  void pack(T *RNC_RESTRICT dst, int i0, int mc, int p0, int kc) const {
    for (int ip = 0; ip < mc; ip += MR) {
      int rows = std::min(MR, mc - ip);
      T *d = dst + long(ip) * kc;
      if (trans) {
        for (int p = 0; p < kc; ++p) {
          const T *s = a + long(p0 + p) * ld + i0 + ip;
          for (int r = 0; r < rows; ++r)
            d[p * MR + r] = s[r];
          for (int r = rows; r < MR; ++r)
            d[p * MR + r] = T(0);
        }
      } else {
        const T *s[MR];
        for (int r = 0; r < rows; ++r)
          s[r] = a + long(i0 + ip + r) * ld + p0;
        pack_rows_transposed<MR>(d, s, rows, kc);
      }
    }
  }
};

// op(B) is K x N, stored row-major as K x N (trans false) or N x K (true).
template <class T> struct MatrixB {
  const T *b;
  long ld;
  bool trans;

  template <int NR>
  void pack(T *RNC_RESTRICT dst, int p0, int kc, long j0, int nc) const {
    if (!trans) {
      // Row by row, so the source is read sequentially.
      for (int p = 0; p < kc; ++p) {
        const T *s = b + long(p0 + p) * ld + j0;
        for (int jp = 0; jp < nc; jp += NR) {
          int cols = std::min(NR, nc - jp);
          T *d = dst + long(jp) * kc + long(p) * NR;
          for (int c = 0; c < cols; ++c)
            d[c] = s[jp + c];
          for (int c = cols; c < NR; ++c)
            d[c] = T(0);
        }
      }
      return;
    }
    for (int jp = 0; jp < nc; jp += NR) {
      int cols = std::min(NR, nc - jp);
      const T *s[NR];
      for (int c = 0; c < cols; ++c)
        s[c] = b + (j0 + jp + c) * ld + p0;
      pack_rows_transposed<NR>(dst + long(jp) * kc, s, cols, kc);
    }
  }
};

namespace detail {

// Stores the valid mr x nr corner of an MR x NR tile `acc` (row stride NR)
// into C as alpha*acc + beta*C; C is not read when beta == 0.
template <class T, int MR, int NR>
RNC_INLINE void store_tile_scalar(const T *acc, T *c, long ldc, T alpha, T beta,
                                  int mr, int nr) {
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      T v = alpha * acc[i * NR + j];
      c[i * ldc + j] = beta == T(0) ? v : v + beta * c[i * ldc + j];
    }
}

// Portable micro-kernel: plain loops, used when vector extensions are absent
// and by gemm_plain().
template <class T, int MR, int NR>
inline void micro_kernel_plain(int kc, const T *RNC_RESTRICT a,
                               const T *RNC_RESTRICT b, T *c, long ldc, T alpha,
                               T beta, int mr, int nr) {
  T acc[MR * NR] = {};
  for (int p = 0; p < kc; ++p)
    for (int i = 0; i < MR; ++i) {
      T ai = a[p * MR + i];
      for (int j = 0; j < NR; ++j)
        acc[i * NR + j] += ai * b[p * NR + j];
    }
  store_tile_scalar<T, MR, NR>(acc, c, ldc, alpha, beta, mr, nr);
}

// A copy that a micro-kernel call does between its multiply-adds (the
// pipelined B packing of gemm_block_pipelined): none.
struct NoPanelCopy {
  static constexpr bool kActive = false;
};

#if RNC_HAVE_VECTOR_EXT
// Rows [lo, hi) of the next B panel: NV vectors a row from src + r * ld to
// dst + r * NV * L, a few every kPanelCopyStep k steps of the micro-kernel,
// so that the loads overlap its multiply-adds; each copied row's next NV
// vectors (the panel after, at src + NR) are prefetched to L2 first, so
// the copy of that panel in turn finds them there.
inline constexpr int kPanelCopyStep = 8;
template <class T, int NV> struct PanelCopy {
  static constexpr bool kActive = true;
  const T *src;
  long ld;
  T *dst;
  int lo, hi;
  bool ahead; // a panel after the next one: prefetch it

  RNC_INLINE void rows(int r0, int r1) const {
    constexpr int L = Vec<T>::lanes, NR = NV * L;
    for (int r = r0; r < r1; ++r) {
      const T *sr = src + long(r) * ld;
      if (ahead)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
          __builtin_prefetch(sr + NR + v * L, 0, 2);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        vstore(dst + long(r) * NR + v * L, vload(sr + v * L));
    }
  }
};

// SIMD micro-kernel: MR x NV accumulator vectors held in registers; per k
// step, NV loads of B and MR broadcasts of A feed MR*NV fused multiply-adds.
// A is a packed panel (a[p * MR + i]), or with AS > 0 MR rows read in place,
// AS apart (a[i * AS + p]; a broadcast needs no contiguous operand; then
// every row must exist, mr == MR): conv_1x1_wgrad.h.
template <class T, int MR, int NV, class St = NoVecStores,
          class Cp = NoPanelCopy, long AS = 0>
inline void micro_kernel_simd(int kc, const T *RNC_RESTRICT a,
                              const T *RNC_RESTRICT b, T *c, long ldc, T alpha,
                              T beta, int mr, int nr, const St &st = {},
                              const Cp &cp = {}) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  constexpr int NR = NV * L;
  constexpr bool kSt = !std::is_same_v<St, NoVecStores>;
  // C's lines, for writing, while the k loop runs: on large outputs (a 1x1
  // convolution to 256 channels of a 56x56 plane writes 3.2 MB an image)
  // the stores would otherwise wait for each line. Not for non-temporal
  // stores, which bypass the cache.
  if (mr == MR && nr == NR && !st.streaming()) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j)
        __builtin_prefetch(c + i * ldc + j * L, 1);
  }
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      acc[i][j] = V{};
  auto step = [&](int p) RNC_INLINE_LAMBDA {
    V bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      bv[j] = vload(b + p * NR + j * L);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      V av = vbroadcast(AS > 0 ? a[i * AS + p] : a[p * MR + i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j)
        acc[i][j] += av * bv[j];
    }
  };
  if constexpr (Cp::kActive) {
    // The copy's rows spread evenly over chunks of kPanelCopyStep k steps
    // (the same multiply-adds in the same order as below).
    const int chunks = std::max(1, (kc + kPanelCopyStep - 1) / kPanelCopyStep);
    const int per = (cp.hi - cp.lo + chunks - 1) / chunks;
    int r = cp.lo;
    for (int p0 = 0; p0 < kc; p0 += kPanelCopyStep) {
      int r1 = std::min(cp.hi, r + per);
      cp.rows(r, r1);
      r = r1;
      const int pe = std::min(kc, p0 + kPanelCopyStep);
#pragma GCC unroll 8
      for (int p = p0; p < pe; ++p)
        step(p);
    }
  } else {
#pragma GCC unroll kFmaLoopUnroll
    for (int p = 0; p < kc; ++p)
      step(p);
  }
  if constexpr (kSt) {
    if (mr == MR && nr == NR) {
      // The same expressions as the stores below: the same bits.
      V va = vbroadcast(alpha), vb = vbroadcast(beta);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) {
          T *cp = c + i * ldc + j * L;
          st.store(i, j,
                   beta == T(0) ? V(va * acc[i][j])
                                : V(va * acc[i][j] + vb * vload(cp)),
                   cp);
        }
      return;
    }
  }
  if (mr == MR && nr == NR) {
    V va = vbroadcast(alpha);
    if (beta == T(0)) {
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j)
          vstore(c + i * ldc + j * L, va * acc[i][j]);
    } else {
      V vb = vbroadcast(beta);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) {
          T *cp = c + i * ldc + j * L;
          vstore(cp, va * acc[i][j] + vb * vload(cp));
        }
    }
  } else {
    alignas(64) T tile[MR * NR];
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NV; ++j)
        vstore(tile + i * NR + j * L, acc[i][j]);
    store_tile_scalar<T, MR, NR>(tile, c, ldc, alpha, beta, mr, nr);
  }
}
#endif

// One micro-tile of C at row i, column j (rows [i, i + mr), columns
// [j, j + nr)): the micro-kernel on the packed panels a and b, then the
// epilogue after the last K block; cp is the micro-kernel's panel copy.
template <class T, bool Plain, int NV, class Epi, class Cp = NoPanelCopy>
RNC_INLINE void gemm_tile(int kc, const T *a, const T *b, T *C, long ldc, int i,
                          long j, int mr, int nr, T alpha, T beta_k, bool last,
                          const Epi &epi, const Cp &cp = {}) {
  using B = GemmBlocking<T, NV>;
  constexpr int MR = B::MR, NR = B::NR;
  constexpr bool kIdentity = std::is_same_v<Epi, GemmIdentity>;
  T *c = C + long(i) * ldc + j;
#if RNC_HAVE_VECTOR_EXT
  if constexpr (!Plain && VecStoresTrait<Epi>::value) {
    if (last)
      micro_kernel_simd<T, MR, B::NV>(kc, a, b, c, ldc, alpha, beta_k, mr, nr,
                                      epi.vec_stores(i, j), cp);
    else
      micro_kernel_simd<T, MR, B::NV>(kc, a, b, c, ldc, alpha, beta_k, mr, nr,
                                      NoVecStores{}, cp);
  } else if constexpr (!Plain)
    micro_kernel_simd<T, MR, B::NV>(kc, a, b, c, ldc, alpha, beta_k, mr, nr,
                                    NoVecStores{}, cp);
  else
#endif
  {
    static_assert(!Cp::kActive,
                  "gemm_tile: a panel copy needs the SIMD kernel");
    micro_kernel_plain<T, MR, NR>(kc, a, b, c, ldc, alpha, beta_k, mr, nr);
  }
  if constexpr (is_tile_epilogue<Epi>()) {
    if (last)
      epi.template tile<MR, NR>(i, j, mr, nr, c, ldc);
  } else if constexpr (!kIdentity) {
    if (last)
      for (int r = 0; r < mr; ++r)
        for (int q = 0; q < nr; ++q)
          c[r * ldc + q] = epi(i + r, j + q, c[r * ldc + q]);
  }
}

// Calls f(jc, nc, pc, kc, last, beta_k) for every block of C's columns
// [jc, jc + nc) (NC wide) and, within it, every one of the nk K blocks
// [pc, pc + kc), in order: K cut into equal blocks independent of the
// rectangle; beta_k is beta for the first K block, 1 after it.
template <class T, class F>
RNC_INLINE void for_each_gemm_block(long j_begin, long j_end, long NC, int K,
                                    int nk, T beta, F &&f) {
  for (long jc = j_begin; jc < j_end; jc += NC) {
    int nc = int(std::min<long>(NC, j_end - jc));
    for (int kb = 0; kb < nk; ++kb) {
      int pc = int(long(K) * kb / nk);
      int kc = int(long(K) * (kb + 1) / nk) - pc;
      f(jc, nc, pc, kc, kb == nk - 1, kb == 0 ? beta : T(1));
    }
  }
}

// The blocked loop nest (BLIS order) over the rectangle [i_begin, i_end) x
// [j_begin, j_end) of C, single-threaded. K is cut into equal blocks of at
// most KC independent of the rectangle, so every element of C sees the same
// sequence of operations however the caller splits C among threads.
template <class T, bool Plain, int NV, class PA, class PB, class Epi>
void gemm_block(int i_begin, int i_end, long j_begin, long j_end, int K,
                T alpha, const PA &pa, const PB &pb, T beta, T *C, long ldc,
                const Epi &epi) {
  using B = GemmBlocking<T, NV>;
  constexpr int MR = B::MR, NR = B::NR;
  if (i_end <= i_begin || j_end <= j_begin)
    return;
  int nk = std::max(1, (K + B::KC - 1) / B::KC);
  int kc_max = (K + nk - 1) / nk;
  int mc_max = std::min(B::MC, (i_end - i_begin + MR - 1) / MR * MR);
  // With one block of rows (M <= MC), each packed B block serves one pass
  // of the micro-kernels right after its packing: blocks of 16 panels stay
  // in L2 between the two (resnet50's 256->64 1x1 at 56x56, M = 64: 6.9 ->
  // 5.9 ms); with more rows, every row block reads it again, and larger
  // blocks pack less often.
  const long NC =
      i_end - i_begin <= B::MC ? std::min<long>(B::NC, 16L * NR) : long(B::NC);
  long nc_max = std::min<long>(NC, (j_end - j_begin + NR - 1) / NR * NR);
  T *ap = scratch<T>(kSlotPackA, size_t(mc_max) * std::max(kc_max, 1));
  T *bp = scratch<T>(kSlotPackB, size_t(nc_max) * std::max(kc_max, 1));

  for_each_gemm_block(
      j_begin, j_end, NC, K, nk, beta,
      [&](long jc, int nc, int pc, int kc, bool last, T beta_k) {
        pb.template pack<NR>(bp, pc, kc, jc, nc);
        for (int ic = i_begin; ic < i_end; ic += B::MC) {
          int mc = std::min(B::MC, i_end - ic);
          pa.template pack<MR>(ap, ic, mc, pc, kc);
          for (int jr = 0; jr < nc; jr += NR) {
            int nr = std::min(NR, nc - jr);
            for (int ir = 0; ir < mc; ir += MR)
              gemm_tile<T, Plain, NV>(
                  kc, ap + long(ir) * kc, bp + long(jr) * kc, C, ldc, ic + ir,
                  jc + jr, std::min(MR, mc - ir), nr, alpha, beta_k, last, epi);
          }
        }
      });
}

#if RNC_HAVE_VECTOR_EXT
// Whether gemm_block_pipelined takes a GEMM: B a plain row-major matrix
// (a 1x1 convolution's input or output gradient planes, one image) and at
// most kPipelinedMaxM rows of C. Its B packing is then a plain copy, as
// long as the multiply-adds of 8 rows or more per element: with more rows
// it is a small share (64->256 1x1 @56: 6.0 -> 6.2 ms pipelined, no gain).
inline constexpr int kPipelinedMaxM = 128;
template <class T, bool Plain, class PB>
bool use_gemm_pipelined(int m, const PB &pb) {
  if constexpr (Plain || !std::is_same_v<PB, MatrixB<T>>)
    return false;
  else
    return !pb.trans && m <= kPipelinedMaxM;
}

// gemm_block with the B packing pipelined: the whole A block (every row,
// one K block) packed once; B packed a panel at a time into two buffers,
// panel q + 1 copied by the micro-kernel calls of panel q between their
// multiply-adds (PanelCopy), panel q + 2 prefetched to L2 by the same
// calls. The packing's loads then overlap the multiply-adds instead of
// preceding them: resnet50's 256->64 1x1 @56 forward (M 64, K 256) 7.2 ->
// 5.4 ms, 512->128 @28 6.0 -> 4.9 (a harness, one thread). The same
// K blocks, tiles and tile order as gemm_block: the same bits.
template <class T, int NV, class PA, class Epi>
void gemm_block_pipelined(int i_begin, int i_end, long j_begin, long j_end,
                          int K, T alpha, const PA &pa, const MatrixB<T> &pb,
                          T beta, T *C, long ldc, const Epi &epi) {
  using B = GemmBlocking<T, NV>;
  constexpr int MR = B::MR, NR = B::NR;
  if (i_end <= i_begin || j_end <= j_begin)
    return;
  const int m = i_end - i_begin;
  int nk = std::max(1, (K + B::KC - 1) / B::KC);
  int kc_max = (K + nk - 1) / nk;
  // One K block: the panels run across every column (C is written once).
  // Several: C is read back for each, so blocks of 16 panels keep it in L2.
  const long NC = nk == 1 ? j_end - j_begin : 16L * NR;
  T *ap = scratch<T>(kSlotPackA,
                     size_t((m + MR - 1) / MR * MR) * std::max(kc_max, 1));
  T *bp = scratch<T>(kSlotPackB, size_t(2) * NR * std::max(kc_max, 1));

  for_each_gemm_block(
      j_begin, j_end, NC, K, nk, beta,
      [&](long jc, int nc, int pc, int kc, bool last, T beta_k) {
        pa.template pack<MR>(ap, i_begin, m, pc, kc);
        pb.template pack<NR>(bp, pc, kc, jc, std::min(NR, nc));
        const int calls = (m + MR - 1) / MR;
        for (int jr = 0, q = 0; jr < nc; jr += NR, ++q) {
          const int nr = std::min(NR, nc - jr);
          T *cur = bp + long(q & 1) * NR * kc,
            *next = bp + long(~q & 1) * NR * kc;
          // The next panel, if it is whole, copied during these calls.
          const int next_nr = std::min(NR, nc - jr - NR);
          const bool copy = next_nr == NR && kc > 0;
          const T *src = pb.b + long(pc) * pb.ld + jc + jr + NR;
          const bool ahead = nc - jr - 2 * NR > 0;
          for (int t = 0; t < calls; ++t) {
            const int ir = t * MR;
            auto tile = [&](const auto &cp) {
              gemm_tile<T, false, NV>(
                  kc, ap + long(ir) * kc, cur, C, ldc, i_begin + ir, jc + jr,
                  std::min(MR, m - ir), nr, alpha, beta_k, last, epi, cp);
            };
            if (copy)
              tile(PanelCopy<T, B::NV>{src, pb.ld, next,
                                       int(long(kc) * t / calls),
                                       int(long(kc) * (t + 1) / calls), ahead});
            else
              tile(NoPanelCopy{});
          }
          // A last, partial panel: packed (zero-padded) here.
          if (next_nr > 0 && !copy)
            pb.template pack<NR>(next, pc, kc, jc + jr + NR, next_nr);
        }
      });
}
#endif

} // namespace detail

// ----------------------------------------------------------------------------
// Driver: splits C among OpenMP threads along N in NR-wide strips (each
// thread then packs all of A) or along M in MR-high strips (each packs all of
// B), whichever duplicates the smaller operand while keeping every thread
// busy (a tile epilogue: always along M). Runs single-threaded inside a
// parallel region or when small.
// Results are bit-identical for any thread count.

template <class T, bool Plain = false, int NV = RNC_GEMM_NV, class PA, class PB,
          class Epi = GemmIdentity>
void gemm_packed(int M, long N, int K, T alpha, const PA &pa, const PB &pb,
                 T beta, T *C, long ldc, const Epi &epi = {}) {
  static_assert(NV == RNC_GEMM_NV || kVecBytes == 64,
                "rnc::cpu::gemm_packed: another tile width needs AVX-512");
  using B = GemmBlocking<T, NV>;
  if (M <= 0 || N <= 0)
    return;
  int nt = max_threads();
  double flops = 2.0 * M * double(N) * K;
  if (flops < kParallelFlops)
    nt = 1;
  long n_strips = (N + B::NR - 1) / B::NR;
  long m_strips = (M + B::MR - 1) / B::MR;
  bool split_n = M <= N ? n_strips >= nt || n_strips >= m_strips
                        : m_strips < nt && n_strips > m_strips;
  if constexpr (is_tile_epilogue<Epi>())
    split_n = false; // a row's tiles in order, from one thread
  nt = int(std::min<long>(nt, split_n ? n_strips : m_strips));
  // One thread's rectangle: the pipelined loop where it applies.
  auto block = [&](int i0, int i1, long j0, long j1) {
#if RNC_HAVE_VECTOR_EXT
    if constexpr (std::is_same_v<PB, MatrixB<T>>)
      if (detail::use_gemm_pipelined<T, Plain>(M, pb)) {
        detail::gemm_block_pipelined<T, NV>(i0, i1, j0, j1, K, alpha, pa, pb,
                                            beta, C, ldc, epi);
        return;
      }
#endif
    detail::gemm_block<T, Plain, NV>(i0, i1, j0, j1, K, alpha, pa, pb, beta, C,
                                     ldc, epi);
  };
  if (nt <= 1) {
    block(0, M, 0, N);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    long lo, hi;
    split_range(split_n ? n_strips : m_strips, num_threads(), thread_id(), &lo,
                &hi);
    if (split_n)
      block(0, M, lo * B::NR, std::min(N, hi * B::NR));
    else
      block(int(lo * B::MR), int(std::min<long>(M, hi * B::MR)), 0, N);
  }
}

// C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C, all row-major.
// op(A) = A (A is M x K, lda >= K) or A^T (A is K x M, lda >= M); likewise B.
// C is not read when beta == 0. `epi(i, j, v)` is applied to each final value.
template <class T = float, class Epi = GemmIdentity>
void gemm(bool trans_a, bool trans_b, int M, int N, int K,
          std::type_identity_t<T> alpha, const T *A, long lda, const T *B,
          long ldb, std::type_identity_t<T> beta, T *C, long ldc,
          const Epi &epi = {}) {
  gemm_packed<T>(M, N, K, alpha, MatrixA<T>{A, lda, trans_a},
                 MatrixB<T>{B, ldb, trans_b}, beta, C, ldc, epi);
}

// Same contract with the portable scalar micro-kernel (the fallback path).
template <class T = float, class Epi = GemmIdentity>
void gemm_plain(bool trans_a, bool trans_b, int M, int N, int K,
                std::type_identity_t<T> alpha, const T *A, long lda, const T *B,
                long ldb, std::type_identity_t<T> beta, T *C, long ldc,
                const Epi &epi = {}) {
  gemm_packed<T, true>(M, N, K, alpha, MatrixA<T>{A, lda, trans_a},
                       MatrixB<T>{B, ldb, trans_b}, beta, C, ldc, epi);
}

} // namespace rnc::cpu
