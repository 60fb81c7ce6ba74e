// The implicit-GEMM engine behind every convolution and linear layer: block
// tiles staged through shared memory (operands converted to the precision
// RNC_CUDA_PRECISION selects), wmma tensor cores or SIMT FMA with fp32
// accumulation, then one pass over the finished tile in shared memory that
// hands each value to the problem's store (bias, epilogue, statistics).
//
// A problem ("Op") describes, per group g, C[M x kN] = A[M x K] * B[K x kN]
// with element accessors instead of matrices:
//   static constexpr int kGroups, kN;           // groups (grid z), columns
//   static constexpr bool kAAlongK, kBAlongK;   // fast direction of the loads
//   static constexpr bool kAVec, kBVec;         // 4 consecutive elements along
//                                               // that direction are one
//                                               // aligned float4 in memory
//   static constexpr bool kStats;               // per-column sums wanted
//   float  a(g, m, k), b(g, k, n);              // 0 outside the problem
//   float4 a4(g, m, k), b4(g, k, n);            // only called when k.Vec
//   struct Out;  Out out(g, m, n);              // where C(m, n) goes
//   float  finish(Out, v);                      // bias and epilogue: the
//                                               // value to store (reads
//                                               // memory, never writes)
//   void   write(Out, v);                       // stores it
//                                               // (or, with a constexpr
//                                               // kStoresPerSplit = true,
//                                               // store_split(split, g, m,
//                                               // n, v) for all three)
//   float  second_stat(Out, v);                 // only when kStats: the
//                                               // term of the second sum
//                                               // (v*v for BN statistics)
//   void   add_stats(g, n, block_m, sum,        // only when kStats: the
//                    second);                   // column's sums over the
//                                               // block's rows (block_m:
//                                               // the block's index
//                                               // along M), stored, never
//                                               // added with atomics
// and, optionally, precomputed offsets for the float4 loads of an operand
// staged along k (OperandA/OperandB below):
//   struct ARow, ATap;  ARow a_row(g, m);  ATap a_tap(k);
//   float4 a4_at(ARow, ATap);                   // == a4(g, m, k)
// (and BRow, BTap, b_row(g, n), b_tap(k), b4_at for B).
// The engine masks m >= M, n >= kN and k outside [k_begin, k_end); the Op
// masks what only it knows (convolution padding, stride phases).
#pragma once

#include <type_traits>
#include <utility>

#include <cuda_bf16.h>
#include <mma.h>

#include "common.cuh"
#include "stat_partials.h"

namespace rnc::cuda::detail {

namespace wmma = nvcuda::wmma;

// ----------------------------------------------------------------------------
// Precision policy: the element type of the staged tiles, the tile depth BK,
// the MMA depth, and the conversion done while staging.

#if RNC_CUDA_PRECISION == 2
using MmaElem = __nv_bfloat16;
inline constexpr int kTileK = 32;
inline constexpr int kMmaK = 16;
__host__ __device__ __forceinline__ MmaElem to_mma(float v) {
  return __float2bfloat16_rn(v);
}
#elif RNC_CUDA_PRECISION == 1
using MmaElem = float;
inline constexpr int kTileK = 16;
inline constexpr int kMmaK = 8;
// Round to nearest tf32 once, while staging (the MMA would truncate). The
// host (emulation only) keeps fp32.
__host__ __device__ __forceinline__ MmaElem to_mma(float v) {
#ifdef __CUDA_ARCH__
  return wmma::__float_to_tf32(v);
#else
  return v;
#endif
}
#else
using MmaElem = float;
inline constexpr int kTileK = 16;
inline constexpr int kMmaK = 1;
__host__ __device__ __forceinline__ MmaElem to_mma(float v) { return v; }
#endif

inline constexpr bool kTensorCores = RNC_CUDA_PRECISION != 0;
// 16 bytes of padding per shared-memory row: rows of a wmma fragment then
// fall into different banks, and every row stays 16-byte aligned.
inline constexpr int kSmemPad = 16 / int(sizeof(MmaElem));

// ----------------------------------------------------------------------------
// Block tile: BM x BN outputs, WarpsM x WarpsN warps of WM x WN each, BK
// deep slices of the reduction.

template <int BM_, int BN_, int WarpsM, int WarpsN, int BK_ = kTileK>
struct TileCfg {
  static constexpr int BM = BM_, BN = BN_, BK = BK_;
  static constexpr int kWarpsM = WarpsM, kWarpsN = WarpsN;
  static constexpr int WM = BM / WarpsM, WN = BN / WarpsN;
  static constexpr int kThreads = 32 * WarpsM * WarpsN;
  static constexpr int LDC = BN + 4; // floats per row of the output tile
  static_assert(BM % WarpsM == 0 && BN % WarpsN == 0 && WM % 16 == 0 &&
                    WN % 16 == 0,
                "warp tiles are multiples of 16x16");
  static_assert(kThreads % BN == 0,
                "the store pass gives every thread one column");
  static_assert(BK % kMmaK == 0 && BK % 4 == 0, "BK is whole MMA steps");
};

// Slice depth: 16 when the whole reduction fits (a 3x3 stem on one input
// channel has K = 9), else the precision's kTileK.
template <int K> inline constexpr int kSliceFor = K <= 16 ? 16 : kTileK;

// Forward and backward-data tiles, by the number of columns (channels per
// group) and the reduction depth K: kColsBM x 64 with 8 warps, or narrower
// for small groups. Every one is kColsBM rows high, so the number of blocks
// along M (and of statistics partial sums, stat_partials.h) depends on M
// alone.
// RNC_CUDA_WARPS_128X64=4 builds the widest tile with 4 warps of 64x32
// instead of 8 of 32x32 (twice the MMAs per staged element and per
// fragment load, half the warps): an experiment for a GPU to time
// (scripts/gpu-check.sh tiles), not the default.
#ifndef RNC_CUDA_WARPS_128X64
#define RNC_CUDA_WARPS_128X64 8
#endif
static_assert(RNC_CUDA_WARPS_128X64 == 8 || RNC_CUDA_WARPS_128X64 == 4,
              "RNC_CUDA_WARPS_128X64 is 8 (32x32 warp tiles) or 4 (64x32)");
inline constexpr int kWideWarpsM = RNC_CUDA_WARPS_128X64 == 8 ? 4 : 2;

template <int Cols, int K>
using ColsCfg = std::conditional_t<
    (Cols > 32), TileCfg<kColsBM, 64, kWideWarpsM, 2, kSliceFor<K>>,
    std::conditional_t<(Cols > 16), TileCfg<kColsBM, 32, 4, 1, kSliceFor<K>>,
                       TileCfg<kColsBM, 16, 4, 1, kSliceFor<K>>>>;

// Weight-gradient tiles, by the number of rows (output channels per group);
// the long K (N * out_plane) is split across blocks instead.
template <int Rows>
using RowsCfg =
    std::conditional_t<(Rows > 32), TileCfg<64, 64, 2, 2>,
                       std::conditional_t<(Rows > 16), TileCfg<32, 64, 1, 4>,
                                          TileCfg<16, 64, 1, 4>>>;

// ----------------------------------------------------------------------------
// Staging of one operand tile: BK (k) x D (m for A, n for B). Each thread
// fetches its elements from global memory into registers (already converted),
// then commits them to one of two shared-memory buffers. Consecutive threads
// take consecutive elements along the fast direction (k if AlongK, else d),
// four at a time when the Op allows float4 loads. The shared layout follows
// the load direction, so commits are contiguous:
//   AlongK:  [D][BK + pad]  (k contiguous)
//   !AlongK: [BK][D + pad]  (d contiguous)

template <int N> struct alignas(N * sizeof(MmaElem)) ElemVec { MmaElem e[N]; };

// How a Stager reads operand A or B of problem Op (group g): get1(k, d) and
// get4(k, d) through the Op's accessors, and, where the Op opts in with
// precomputed offsets (types ARow/ATap or BRow/BTap), row(d) -> Row once per
// block and load, tap(k) -> Tap once per slice, get4(Row, Tap) per load:
// the operand's index arithmetic (image, pixel, tap and padding decode)
// mostly leaves the main loop.
// (An Op whose A offsets hold for some shapes only sets kPrepareA.)
template <class Op, class = void> struct HasARows : std::false_type {};
template <class Op>
struct HasARows<Op, std::void_t<typename Op::ARow>> : std::true_type {};
template <class Op, class = void> struct PrepareA : std::true_type {};
template <class Op>
struct PrepareA<Op, std::void_t<decltype(Op::kPrepareA)>>
    : std::bool_constant<Op::kPrepareA> {};
template <class Op, class = void> struct HasBRows : std::false_type {};
template <class Op>
struct HasBRows<Op, std::void_t<typename Op::BRow>> : std::true_type {};
// B staged along d (not k) with precomputed offsets: the Op's b_col(g, d)
// once per block, b_pix(k) once per block and b_pix_advance<Delta> after,
// b4_col(Col, Pix) per load (ConvBwdWeightOp, where kPrepareBCols).
template <class Op, class = void> struct HasBCols : std::false_type {};
template <class Op>
struct HasBCols<Op, std::void_t<typename Op::BCol>>
    : std::bool_constant<Op::kPrepareBCols> {};

struct NoRow {};

// A (IsB false) or B of problem Op in group g, as a Stager reads it.
template <class Op, bool IsB> struct Operand {
  const Op &op;
  int g;
  static constexpr bool kPrepared =
      IsB ? HasBRows<Op>::value : HasARows<Op>::value && PrepareA<Op>::value;
  static constexpr bool kPreparedCols = IsB && HasBCols<Op>::value;
  __host__ __device__ __forceinline__ float get1(int k, int d) const {
    if constexpr (IsB)
      return op.b(g, k, d);
    else
      return op.a(g, d, k);
  }
  __host__ __device__ __forceinline__ float4 get4(int k, int d) const {
    if constexpr (IsB)
      return op.b4(g, k, d);
    else
      return op.a4(g, d, k);
  }
  __host__ __device__ __forceinline__ auto row(int d) const {
    if constexpr (IsB)
      return op.b_row(g, d);
    else
      return op.a_row(g, d);
  }
  __host__ __device__ __forceinline__ auto tap(int k) const {
    if constexpr (IsB)
      return op.b_tap(k);
    else
      return op.a_tap(k);
  }
  template <class R, class T>
  __host__ __device__ __forceinline__ float4 get4(const R &r,
                                                  const T &t) const {
    if constexpr (IsB)
      return op.b4_at(r, t);
    else
      return op.a4_at(r, t);
  }
  // Along d (kPreparedCols): the column, the pixel, its advance, the load.
  __host__ __device__ __forceinline__ auto col(int d) const {
    return op.b_col(g, d);
  }
  __host__ __device__ __forceinline__ static auto pix(int k) {
    return Op::b_pix(k);
  }
  template <int Delta, class P>
  __host__ __device__ __forceinline__ static void advance(P &p) {
    Op::template b_pix_advance<Delta>(p);
  }
  template <class Col, class P>
  __host__ __device__ __forceinline__ float4 get4_col(const Col &c,
                                                      const P &p) const {
    return op.b4_col(c, p);
  }
};
template <class Op> using OperandA = Operand<Op, false>;
template <class Op> using OperandB = Operand<Op, true>;

// The Row type of an operand view (NoRow where it is not prepared).
template <class View, bool = View::kPrepared> struct RowOf {
  using type = NoRow;
};
template <class View> struct RowOf<View, true> {
  using type = decltype(std::declval<View>().row(0));
};
// The Col and Pix types of a view prepared along d (NoRow where it is not).
template <class View, bool = View::kPreparedCols> struct ColsOf {
  using Col = NoRow;
  using Pix = NoRow;
};
template <class View> struct ColsOf<View, true> {
  using Col = decltype(std::declval<View>().col(0));
  using Pix = decltype(View::pix(0));
};

template <class Cfg, int D, bool AlongK, bool WantVec, class View>
struct Stager {
  static constexpr int BK = Cfg::BK, kThreads = Cfg::kThreads;
  static constexpr bool kAlongK = AlongK;
  // float4 loads only when the tile splits into whole quads per thread.
  static constexpr bool kVec = WantVec && (BK * D) % (4 * kThreads) == 0;
  static constexpr int V = kVec ? 4 : 1;
  static_assert((BK * D) % (V * kThreads) == 0,
                "operand tile does not split evenly over the threads");
  static constexpr int kLoads = BK * D / (V * kThreads);
  static constexpr int LD = AlongK ? BK + kSmemPad : D + kSmemPad;
  static constexpr int kElems = AlongK ? D * LD : BK * LD; // one buffer

  __host__ __device__ static constexpr int offset(int k, int d) {
    return AlongK ? d * LD + k : k * LD + d;
  }

  // Tile coordinates of the first element of load i of thread t; its V
  // elements follow along the fast direction.
  __host__ __device__ static constexpr void coords(int t, int i, int &k,
                                                   int &d) {
    int q = t + i * kThreads;
    if constexpr (AlongK) {
      k = q % (BK / V) * V;
      d = q / (BK / V);
    } else {
      d = q % (D / V) * V;
      k = q / (D / V);
    }
  }

  // Precomputed offsets: float4 loads along k, where a thread's loads all
  // have the same k (kThreads a multiple of BK/4), and a View that offers
  // them.
  static constexpr bool kPrepared =
      View::kPrepared && AlongK && kVec && kThreads % (BK / V) == 0;
  using Row = std::conditional_t<kPrepared, typename RowOf<View>::type, NoRow>;

  // Precomputed offsets along d: float4 loads along d, where a thread's
  // loads all have the same d (kThreads a multiple of D/4) and k steps of
  // kStepK, and a View that offers them. The pixel of the first load is
  // decoded at the block's first slice and advanced after: fetch() on the
  // slice after the last one it fetched advances it, any other k0 decodes.
  static constexpr bool kPreparedCols =
      View::kPreparedCols && !AlongK && kVec && kThreads % (D / V) == 0;
  static constexpr int kStepK = kThreads / (D / V > 0 ? D / V : 1);
  using Col = typename ColsOf<View, kPreparedCols>::Col;
  using Pix = typename ColsOf<View, kPreparedCols>::Pix;

  float raw[kLoads * V];   // fetched, fp32
  MmaElem reg[kLoads * V]; // converted, for commit
  Row rows[kPrepared ? kLoads : 1];
  Col col;
  Pix pix;    // the first load's pixel at k = next_k - BK
  int next_k; // the k0 whose pixel is one advance away

  // Once per block whose tile starts at row d0: each load's row context.
  __host__ __device__ __forceinline__ void prepare(int t, int d0,
                                                   const View &view) {
    if constexpr (kPrepared) {
#pragma unroll
      for (int i = 0; i < kLoads; ++i) {
        int k, d;
        coords(t, i, k, d);
        rows[i] = view.row(d0 + d);
      }
    }
    if constexpr (kPreparedCols) {
      int k, d;
      coords(t, 0, k, d);
      col = view.col(d0 + d);
      next_k = -1;
    }
  }

  // Thread t's part of the tile whose corner is (k0, d0), loaded as fp32
  // into raw; elements with k >= kend or d >= dend are zero. After
  // prepare(t, d0, view). Nothing reads a loaded value before convert():
  // all of a slice's loads (both operands') are in flight together, instead
  // of each conversion waiting for its load before the next load issues.
  __host__ __device__ __forceinline__ void
  fetch(int t, int k0, int d0, int kend, int dend, const View &view) {
    [[maybe_unused]] auto tap = [&] {
      if constexpr (kPrepared) {
        int k, d;
        coords(t, 0, k, d);
        return view.tap(k0 + k); // the same k for every load
      } else {
        return NoRow{};
      }
    }();
    [[maybe_unused]] Pix p;
    if constexpr (kPreparedCols) {
      if (k0 == next_k) {
        View::template advance<BK>(pix);
      } else {
        int k, d;
        coords(t, 0, k, d);
        pix = View::pix(k0 + k);
      }
      next_k = k0 + BK;
      p = pix;
    }
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      int k, d;
      coords(t, i, k, d);
      const int gk = k0 + k, gd = d0 + d;
      if constexpr (kPreparedCols)
        if (i > 0)
          View::template advance<kStepK>(p);
      if constexpr (V == 1) {
        raw[i] = gk < kend && gd < dend ? view.get1(gk, gd) : 0.0f;
      } else {
        // A quad is wholly inside or outside (quads_whole: the extent along
        // the quads is a multiple of 4), so there is no element path.
        float4 q = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (gk < kend && gd < dend) {
          if constexpr (kPrepared)
            q = view.get4(rows[i], tap);
          else if constexpr (kPreparedCols)
            q = view.get4_col(col, p);
          else
            q = view.get4(gk, gd);
        }
        raw[i * 4] = q.x, raw[i * 4 + 1] = q.y;
        raw[i * 4 + 2] = q.z, raw[i * 4 + 3] = q.w;
      }
    }
  }

  // The fetched values in the MMA's element type, for commit().
  __host__ __device__ __forceinline__ void convert() {
#pragma unroll
    for (int i = 0; i < kLoads * V; ++i)
      reg[i] = to_mma(raw[i]);
  }

  __host__ __device__ __forceinline__ void commit(int t, MmaElem *s) const {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      int k, d;
      coords(t, i, k, d);
      if constexpr (V == 1) {
        s[offset(k, d)] = reg[i];
      } else {
        // offset is a multiple of 4 elements (k or d is, and so is LD).
        ElemVec<4> q;
#pragma unroll
        for (int j = 0; j < 4; ++j)
          q.e[j] = reg[i * 4 + j];
        *reinterpret_cast<ElemVec<4> *>(s + offset(k, d)) = q;
      }
    }
  }
};

// The stagers of problem Op's operands with tile config Cfg.
template <class Op, class Cfg>
using StagerA = Stager<Cfg, Cfg::BM, Op::kAAlongK, Op::kAVec, OperandA<Op>>;
template <class Op, class Cfg>
using StagerB = Stager<Cfg, Cfg::BN, Op::kBAlongK, Op::kBVec, OperandB<Op>>;

// ----------------------------------------------------------------------------
// Warp-level multiply of one staged BK slice: tensor cores (wmma) or SIMT.

#if RNC_CUDA_PRECISION != 0
// wmma::load_matrix_sync from shared memory, spelled out: nvcc emits the
// API's loads with a generic address (PTX wmma.load without a state space),
// which ptxas turns into one generic 32-bit LD per register and 64-bit
// address arithmetic; with .shared and a 32-bit shared address it can use
// shared-memory loads (LDS/LDSM). Same instruction otherwise, so the same
// fragment layout as the API's. A (Which 'a') or B ('b'), row- or
// column-major in shared memory, ldm in elements.
template <char Which, bool RowMajor, class Frag>
__device__ __forceinline__ void load_shared(Frag &f, const MmaElem *p,
                                            unsigned ldm) {
  static_assert(sizeof(f.x) == 4 * sizeof(unsigned),
                "bf16 m16n16k16 and tf32 m16n16k8 A and B fragments are four "
                "32-bit registers");
  unsigned *r = reinterpret_cast<unsigned *>(&f.x[0]);
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(p));
#if RNC_CUDA_PRECISION == 2
#define RNC_WMMA_SHAPE "m16n16k16.shared.bf16"
#else
#define RNC_WMMA_SHAPE "m16n16k8.shared.tf32"
#endif
#define RNC_WMMA_LOAD(OP, LAYOUT)                                              \
  asm volatile("wmma.load." OP ".sync.aligned." LAYOUT "." RNC_WMMA_SHAPE      \
               " {%0, %1, %2, %3}, [%4], %5;"                                  \
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])                \
               : "r"(addr), "r"(ldm))
  if constexpr (Which == 'a' && RowMajor)
    RNC_WMMA_LOAD("a", "row");
  else if constexpr (Which == 'a')
    RNC_WMMA_LOAD("a", "col");
  else if constexpr (RowMajor)
    RNC_WMMA_LOAD("b", "row");
  else
    RNC_WMMA_LOAD("b", "col");
#undef RNC_WMMA_LOAD
#undef RNC_WMMA_SHAPE
}

template <class Cfg, class SA, class SB> struct WarpMma {
  static constexpr int FM = Cfg::WM / 16, FN = Cfg::WN / 16;
#if RNC_CUDA_PRECISION == 2
  using FragElem = __nv_bfloat16;
#else
  using FragElem = wmma::precision::tf32;
#endif
  // A tile [m][k] is row-major A; [k][m] is column-major A. B tile [n][k] is
  // column-major B; [k][n] is row-major B.
  using ALayout =
      std::conditional_t<SA::kAlongK, wmma::row_major, wmma::col_major>;
  using BLayout =
      std::conditional_t<SB::kAlongK, wmma::col_major, wmma::row_major>;

  wmma::fragment<wmma::accumulator, 16, 16, kMmaK, float> acc[FM][FN];

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j)
        wmma::fill_fragment(acc[i][j], 0.0f);
  }

  __device__ __forceinline__ void step(const MmaElem *As, const MmaElem *Bs,
                                       int wm0, int wn0) {
#pragma unroll
    for (int kk = 0; kk < Cfg::BK; kk += kMmaK) {
      wmma::fragment<wmma::matrix_a, 16, 16, kMmaK, FragElem, ALayout> a[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, kMmaK, FragElem, BLayout> b[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i)
        load_shared<'a', SA::kAlongK>(a[i], As + SA::offset(kk, wm0 + i * 16),
                                      SA::LD);
#pragma unroll
      for (int j = 0; j < FN; ++j)
        load_shared<'b', !SB::kAlongK>(b[j], Bs + SB::offset(kk, wn0 + j * 16),
                                       SB::LD);
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j)
          wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
  }

  // Writes the warp's WM x WN results into the row-major output tile.
  __device__ __forceinline__ void store(float *Cs, int wm0, int wn0) {
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j)
        wmma::store_matrix_sync(Cs + (wm0 + i * 16) * Cfg::LDC + wn0 + j * 16,
                                acc[i][j], Cfg::LDC, wmma::mem_row_major);
  }
};
#endif

// SIMT: the 32 lanes of a warp as 8 (rows) x 4 (columns); lane (lm, ln) owns
// rows wm0 + lm*TM + [0, TM) and columns wn0 + ln*TN + [0, TN).
template <class Cfg, class SA, class SB> struct WarpFma {
  static constexpr int TM = Cfg::WM / 8, TN = Cfg::WN / 4;
  float acc[TM][TN];

  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j)
        acc[i][j] = 0.0f;
  }

  __device__ __forceinline__ void step(const MmaElem *As, const MmaElem *Bs,
                                       int wm0, int wn0) {
    const int lane = threadIdx.x % 32;
    const int mr = wm0 + lane / 4 * TM, nc = wn0 + lane % 4 * TN;
#pragma unroll 4
    for (int k = 0; k < Cfg::BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i)
        a[i] = float(As[SA::offset(k, mr + i)]);
#pragma unroll
      for (int j = 0; j < TN; ++j)
        b[j] = float(Bs[SB::offset(k, nc + j)]);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j)
          acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }

  __device__ __forceinline__ void store(float *Cs, int wm0, int wn0) {
    const int lane = threadIdx.x % 32;
    const int mr = wm0 + lane / 4 * TM, nc = wn0 + lane % 4 * TN;
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j)
        Cs[(mr + i) * Cfg::LDC + nc + j] = acc[i][j];
  }
};

template <class Cfg, class SA, class SB>
#if RNC_CUDA_PRECISION != 0
using WarpMath = WarpMma<Cfg, SA, SB>;
#else
using WarpMath = WarpFma<Cfg, SA, SB>;
#endif

// ----------------------------------------------------------------------------
// Whether Op stores per K split (op.store_split(split, g, m, n, v): a
// weight gradient's partial sums) instead of op.out, finish and write.
template <class Op, class = void> struct StoresPerSplit : std::false_type {};
template <class Op>
struct StoresPerSplit<Op, std::void_t<decltype(Op::kStoresPerSplit)>>
    : std::bool_constant<Op::kStoresPerSplit> {};

// The store pass of thread t over the finished BM x BN tile Cs (row-major,
// LDC floats per row) of K split `split`: t owns column t % BN and rows t /
// BN, + kThreads/BN, ..., so a warp stores consecutive columns (channels,
// contiguous in NHWC). Adds the stored values of its column to sum and sumsq
// when Op::kStats.
template <class Op, class Cfg>
__host__ __device__ __forceinline__ void
store_tile_column(const Op &op, const float *Cs, int t, int g, int split,
                  int m0, int n0, int M, float &sum, float &sumsq) {
  constexpr int kRowStep = Cfg::kThreads / Cfg::BN;
  const int col = t % Cfg::BN;
  const int n = n0 + col;
  if (n >= Op::kN)
    return;
  if constexpr (StoresPerSplit<Op>::value) {
    for (int r = t / Cfg::BN; r < Cfg::BM; r += kRowStep) {
      const int m = m0 + r;
      if (m >= M)
        break;
      op.store_split(split, g, m, n, Cs[r * Cfg::LDC + col]);
    }
  } else {
    // kUnroll rows at a time: first every row's value (the epilogue's and
    // the statistics' loads, with no store between them to keep them from
    // being in flight together), then the stores, and the sums in row order.
    constexpr int kRows = Cfg::BM / kRowStep;
    constexpr int kUnroll = kRows < 8 ? kRows : 8;
    for (int r0 = t / Cfg::BN; r0 < Cfg::BM; r0 += kUnroll * kRowStep) {
      typename Op::Out o[kUnroll];
      float v[kUnroll], second[kUnroll];
      bool in[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int r = r0 + u * kRowStep, m = m0 + r;
        in[u] = r < Cfg::BM && m < M;
        if (in[u]) {
          o[u] = op.out(g, m, n);
          v[u] = op.finish(o[u], Cs[r * Cfg::LDC + col]);
          if constexpr (Op::kStats)
            second[u] = op.second_stat(o[u], v[u]);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        if (in[u]) {
          op.write(o[u], v[u]);
          if constexpr (Op::kStats) {
            sum += v[u];
            sumsq += second[u];
          }
        }
    }
  }
}

// Grid of a GEMM of M rows in `splits` K slices: x = M tiles, y = kN tiles,
// z = split * kGroups + group.
template <class Op, class Cfg> inline dim3 igemm_grid(int M, int splits) {
  return dim3(unsigned(ceil_div(M, Cfg::BM)),
              unsigned(ceil_div(Op::kN, Cfg::BN)),
              unsigned(Op::kGroups * splits));
}

// ----------------------------------------------------------------------------
// The kernel. Grid: x = M tiles, y = kN tiles, z = split * kGroups + group.
// Split s covers k in [s * k_split, min(K, (s + 1) * k_split)); k_split is a
// multiple of BK (or >= K).

template <class Op, class Cfg>
__global__ void __launch_bounds__(Cfg::kThreads)
    igemm_kernel(const Op op, int M, int K, int k_split) {
  using SA = StagerA<Op, Cfg>;
  using SB = StagerB<Op, Cfg>;
  constexpr int BK = Cfg::BK;
  constexpr int kMainBytes =
      2 * (SA::kElems + SB::kElems) * int(sizeof(MmaElem));
  constexpr int kTileBytes = Cfg::BM * Cfg::LDC * int(sizeof(float));
  __shared__ __align__(128) unsigned char
      smem[kMainBytes > kTileBytes ? kMainBytes : kTileBytes];
  // The store pass's partial column sums, [sum][row step][column].
  constexpr int kRowStep = Cfg::kThreads / Cfg::BN;
  __shared__ float stats[2][Op::kStats ? kRowStep : 1]
                        [Op::kStats ? Cfg::BN : 1];

  MmaElem *const As = reinterpret_cast<MmaElem *>(smem);
  MmaElem *const Bs = As + 2 * SA::kElems;
  const int g = int(blockIdx.z) % Op::kGroups;
  const int split = int(blockIdx.z) / Op::kGroups;
  const int m0 = int(blockIdx.x) * Cfg::BM, n0 = int(blockIdx.y) * Cfg::BN;
  const int k_begin = split * k_split;
  const int k_end = int(min_l(K, long(k_begin) + k_split));
  const int warp = int(threadIdx.x) / 32;
  const int wm0 = warp / Cfg::kWarpsN * Cfg::WM;
  const int wn0 = warp % Cfg::kWarpsN * Cfg::WN;

  const int t = int(threadIdx.x);

  const OperandA<Op> va{op, g};
  const OperandB<Op> vb{op, g};

  SA sa;
  SB sb;
  WarpMath<Cfg, SA, SB> math;
  math.zero();
  const int slices = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
  if (slices > 0) {
    sa.prepare(t, m0, va);
    sb.prepare(t, n0, vb);
    sa.fetch(t, k_begin, m0, k_end, M, va);
    sb.fetch(t, k_begin, n0, k_end, Op::kN, vb);
    sa.convert();
    sb.convert();
    sa.commit(t, As);
    sb.commit(t, Bs);
    __syncthreads();
    // Double buffer: the next slice is loaded into registers while this one
    // is multiplied, then committed to the other buffer. One barrier per
    // slice: it both publishes the commit and retires the reads of `cur`.
    for (int s = 0; s < slices; ++s) {
      const int cur = s & 1;
      const bool more = s + 1 < slices;
      if (more) {
        const int k = k_begin + (s + 1) * BK;
        sa.fetch(t, k, m0, k_end, M, va);
        sb.fetch(t, k, n0, k_end, Op::kN, vb);
        sa.convert();
        sb.convert();
      }
      math.step(As + cur * SA::kElems, Bs + cur * SB::kElems, wm0, wn0);
      if (more) {
        sa.commit(t, As + (cur ^ 1) * SA::kElems);
        sb.commit(t, Bs + (cur ^ 1) * SB::kElems);
      }
      __syncthreads();
    }
  }

  // The staging buffers are free (the loop ended with a barrier): reuse them
  // for the output tile, then store it.
  float *const Cs = reinterpret_cast<float *>(smem);
  math.store(Cs, wm0, wn0);
  __syncthreads();
  float sum = 0.0f, sumsq = 0.0f;
  store_tile_column<Op, Cfg>(op, Cs, t, g, split, m0, n0, M, sum, sumsq);
  if constexpr (Op::kStats) {
    // The kRowStep partial sums of each column added in row-step order (no
    // atomics: the same bits every run), then stored as the block's.
    stats[0][t / Cfg::BN][t % Cfg::BN] = sum;
    stats[1][t / Cfg::BN][t % Cfg::BN] = sumsq;
    __syncthreads();
    if (t < Cfg::BN && n0 + t < Op::kN) {
      float s = 0.0f, s2 = 0.0f;
#pragma unroll
      for (int r = 0; r < kRowStep; ++r) {
        s += stats[0][r][t];
        s2 += stats[1][r][t];
      }
      op.add_stats(g, n0 + t, int(blockIdx.x), s, s2);
    }
  }
}

// Whether every float4 quad the stagers of a GEMM of M rows, K deep in
// splits of k_split read is wholly inside or outside the operand, as their
// fetch assumes: along k, K and the split length are multiples of 4; along
// d, the extent (M for A, Op::kN for B) is. An Op sets kAVec or kBVec only
// where its channels per group are a multiple of 4, which makes all of them
// so; launch_igemm refuses anything else.
template <class Op, class Cfg>
__host__ __device__ constexpr bool quads_whole(int M, int K, int k_split) {
  using SA = StagerA<Op, Cfg>;
  using SB = StagerB<Op, Cfg>;
  const bool along_k = (SA::kVec && SA::kAlongK) || (SB::kVec && SB::kAlongK);
  return (!along_k || (K % 4 == 0 && k_split % 4 == 0)) &&
         (!(SA::kVec && !SA::kAlongK) || M % 4 == 0) &&
         (!(SB::kVec && !SB::kAlongK) || Op::kN % 4 == 0);
}

// Enqueues one implicit GEMM: M rows, K deep, split into `splits` slices of
// k_split (splits == 1: k_split = K).
template <class Op, class Cfg>
void launch_igemm(const Op &op, int M, int K, int splits, int k_split) {
  if (!check_args(quads_whole<Op, Cfg>(M, K, k_split)))
    return;
  const dim3 grid = igemm_grid<Op, Cfg>(M, splits);
  igemm_kernel<Op, Cfg>
      <<<grid, Cfg::kThreads, 0, current_stream()>>>(op, M, K, k_split);
  after_launch();
}

} // namespace rnc::cuda::detail
