// Shared plumbing: checks, OpenMP helpers, SIMD types, scratch, reductions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace rnc::cpu {

// ----------------------------------------------------------------------------
// Fail-fast checks: one line with file and line, then abort. Used for runtime
// arguments (batch size, pointers, labels); shapes are checked at compile time.

[[noreturn]] inline void check_failed(const char *file, int line,
                                      const char *what) {
  std::fprintf(stderr, "%s:%d: rnc kernel check failed: %s\n", file, line,
               what);
  std::abort();
}

#define RNC_CHECK(cond, what)                                                  \
  do {                                                                         \
    if (!(cond))                                                               \
      ::rnc::cpu::check_failed(__FILE__, __LINE__, what);                      \
  } while (0)

#if defined(__GNUC__)
#define RNC_RESTRICT __restrict__
#define RNC_INLINE inline __attribute__((always_inline))
#define RNC_NOINLINE __attribute__((noinline))
#define RNC_INLINE_LAMBDA __attribute__((always_inline)) // after the ()
#else
#define RNC_RESTRICT
#define RNC_INLINE inline
#define RNC_NOINLINE
#define RNC_INLINE_LAMBDA
#endif

// ----------------------------------------------------------------------------
// OpenMP helpers (without -fopenmp everything compiles and runs serially).

inline int max_threads() {
#if defined(_OPENMP)
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

inline int thread_id() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// Static split of [0, n) into `parts` contiguous ranges; range i: [*lo, *hi).
inline void split_range(long n, int parts, int i, long *lo, long *hi) {
  long q = n / parts, r = n % parts;
  *lo = i * q + (i < r ? i : r);
  *hi = *lo + q + (i < r ? 1 : 0);
}

// The multiply-add loops (the GEMM's micro-kernel, the row and image tiles'
// channel loops) unrolled twice: each pass's 24 FMAs take 12 cycles on two
// FMA ports, and the loop's own add, compare and branch otherwise took some
// of those ports' slots (the inner loops are nothing but loads, broadcasts
// and FMAs). kernel-conv-bench's 42 shapes, one thread: 931 -> 883 ms in
// all, most shapes 5-14% faster; the same operations in the same order, so
// the same bits. (The direct weight gradient's row loop: four times,
// conv_direct.h.)
inline constexpr int kFmaLoopUnroll = 2;

// Work below this many elements (or flops) is not worth waking the thread team.
inline constexpr long kParallelGrain = 1L << 15;
inline constexpr double kParallelFlops = 4e6;

// Runs task(t) for t in [0, count): across OpenMP threads when there are at
// least as many tasks as threads (each task then runs its GEMM serially),
// otherwise one after another with each GEMM split across the threads.
// Tiny layers (under kParallelFlops in all) stay on the calling thread.
template <class Task>
void run_tasks(long count, double flops, const Task &task) {
  int nt = max_threads();
  if (nt > 1 && count >= nt && flops >= kParallelFlops) {
#pragma omp parallel for schedule(static)
    for (long t = 0; t < count; ++t)
      task(t);
  } else {
    for (long t = 0; t < count; ++t)
      task(t);
  }
}

// ----------------------------------------------------------------------------
// SIMD: GCC/Clang vector extensions, as wide as the target allows. The same
// code compiles to AVX-512, AVX2 or SSE2; the compiler contracts a*b+c to FMA
// where the target has it (C++ mode contracts by default).

#if defined(__AVX512F__)
inline constexpr int kVecBytes = 64, kVecRegs = 32;
#elif defined(__AVX__)
inline constexpr int kVecBytes = 32, kVecRegs = 16;
#else
inline constexpr int kVecBytes = 16, kVecRegs = 16;
#endif

#if defined(__GNUC__)
#define RNC_HAVE_VECTOR_EXT 1
template <class T> struct Vec {
  typedef T type
      __attribute__((vector_size(kVecBytes), aligned(alignof(T)), may_alias));
  static constexpr int lanes = kVecBytes / int(sizeof(T));
};
template <class T> RNC_INLINE typename Vec<T>::type vload(const T *p) {
  return *reinterpret_cast<const typename Vec<T>::type *>(p);
}
template <class T> RNC_INLINE void vstore(T *p, typename Vec<T>::type v) {
  *reinterpret_cast<typename Vec<T>::type *>(p) = v;
}
// A non-temporal store of v at p (64-byte aligned) where AVX-512 has one for
// T, a plain store elsewhere: for outputs nothing reads back soon.
template <class T> RNC_INLINE void vstream(T *p, typename Vec<T>::type v) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && sizeof(v) == 64) {
    _mm512_stream_ps(p, v);
    return;
  }
#endif
  vstore(p, v);
}
template <class T> RNC_INLINE typename Vec<T>::type vbroadcast(T x) {
  // x - 0 folds to a plain broadcast; x + 0 would not (-0 + 0 is +0).
  return x - typename Vec<T>::type{};
}
#else
#define RNC_HAVE_VECTOR_EXT 0
#endif

// dst[0, n) = src[0, n), for an output nothing reads back soon: with
// AVX-512, non-temporal stores past the cache (a normal store first reads
// each line from memory: 9 against 24 GB/s on this project's machine),
// dst 64-byte aligned and n a multiple of 16; elsewhere memcpy. Then
// stream_fence() before another thread reads dst.
inline void stream_copy(float *dst, const float *src, long n) {
#if defined(__AVX512F__)
  for (long i = 0; i < n; i += 16)
    vstream(dst + i, vload(src + i));
#else
  std::memcpy(dst, src, size_t(n) * sizeof(float));
#endif
}
inline void stream_fence() {
#if defined(__AVX512F__)
  _mm_sfence();
#endif
}

// ----------------------------------------------------------------------------
// 64-byte aligned memory for std::free; from 2 MB on, aligned to and rounded
// up to 2 MB and advised as transparent huge pages where Linux has them
// (its default "madvise" mode backs only advised ranges): a training step
// sweeps far more memory than 4 KB pages' TLB reach, and in a virtual
// machine each TLB miss walks two page tables.
inline void *alloc_large(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (bytes < kHuge)
    return std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  size_t cap = (bytes + kHuge - 1) / kHuge * kHuge;
  void *p = std::aligned_alloc(kHuge, cap);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (p)
    madvise(p, cap, MADV_HUGEPAGE);
#endif
  return p;
}

// ----------------------------------------------------------------------------
// Per-thread scratch: grow-only, 64-byte aligned, one buffer per slot. Kernels
// use it for packed GEMM panels and im2col columns, so no workspace argument
// is needed. Slots: see ScratchSlot below.

class Scratch {
public:
  static constexpr int kSlots = 10;
  ~Scratch() {
    for (auto &b : bufs_)
      std::free(b.ptr);
  }
  void *get(int slot, size_t bytes) {
    Buf &b = bufs_[slot];
    if (bytes > b.cap) {
      std::free(b.ptr);
      size_t cap = (bytes + 4095) & ~size_t(4095);
      b.ptr = alloc_large(cap);
      RNC_CHECK(b.ptr != nullptr, "out of memory for kernel scratch");
      b.cap = cap;
    }
    return b.ptr;
  }

private:
  struct Buf {
    void *ptr = nullptr;
    size_t cap = 0;
  };
  Buf bufs_[kSlots];
};

template <class T> inline T *scratch(int slot, size_t count) {
  thread_local Scratch s;
  return static_cast<T *>(s.get(slot, count * sizeof(T)));
}

enum ScratchSlot : int {
  kSlotPackA = 0,
  kSlotPackB = 1,
  kSlotCol = 2,
  kSlotReduce = 3,
  kSlotWeight = 4,
  kSlotTaps = 5,
  kSlotPanel = 6,
  kSlotRoundA = 7, // operands rounded to bf16 (--precision bf16, conv.h)
  kSlotRoundB = 8,
  kSlotRow = 9 // one channel's plane, built before it is streamed out
};

// ----------------------------------------------------------------------------
// Reductions in a fixed order: 4 x lanes partial sums combined the same way on
// every run, so results never depend on timing or thread count. The entry
// points are never inlined: one compiled body per type, so that fused and
// unfused kernels that reduce the same data get the same bits whatever the
// compiler does around the call (contraction into FMA differs by context).

template <class T> RNC_INLINE T combine_lanes(T *part, int count) {
  // Pairwise, fixed order.
  for (int w = count / 2; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i)
      part[i] += part[i + w];
  return part[0];
}

#if RNC_HAVE_VECTOR_EXT
// Where reduce_n's vector steps end: the vectors [i, i + lanes) with
// i + lanes <= reduce_main_end(n) go to the 4 partial sums, vector i / lanes
// to partial sum (i / lanes) % 4; the rest is the scalar tail. n < 4 * lanes
// has no vector step.
template <class T> constexpr long reduce_main_end(long n) {
  constexpr int L = Vec<T>::lanes;
  return n < 4 * L ? 0 : n - n % (4 * L);
}

// The scalar tail of reduce_n: tail[s] = the sums over [from, n), from 0.
// Never inlined: one compiled body per `load` type, so that every kernel
// that ends a reduction (reduce_n's callers, conv_store.h's stores) gets
// the same bits. Inlined, they depended on the code around it: GCC packed a
// tail's two sums into one vector add in some bodies (losing the
// multiply-add's contraction) and not in others, and -O2 and -O3 differed.
template <class T, int NS, class Load>
RNC_NOINLINE void reduce_tail(long from, long n, T *tail, const Load &load) {
  for (int s = 0; s < NS; ++s)
    tail[s] = T(0);
  for (long i = from; i < n; ++i)
    load.scalar(tail, i);
}

// The end of reduce_n: the 4 partial sums acc[u][s] combined (lane i plus
// lane i + 2L, then plus lane i + L, as vector adds; then combine_lanes),
// plus the scalar tail [reduce_main_end(n), n) read through `load`. Kernels
// that accumulate acc from their own stores (conv_store.h) end here too:
// the same bits as a reduce_n over the stored data. n >= 4 * lanes.
template <class T, int NS, class Load>
RNC_INLINE void reduce_n_finish(const typename Vec<T>::type (*acc)[NS], long n,
                                T *out, const Load &load) {
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  T lanes[L];
  for (int s = 0; s < NS; ++s) {
    const V v = (acc[0][s] + acc[2][s]) + (acc[1][s] + acc[3][s]);
    for (int l = 0; l < L; ++l)
      lanes[l] = v[l];
    out[s] = combine_lanes(lanes, L);
  }
  T tail[NS];
  reduce_tail<T, NS>(reduce_main_end<T>(n), n, tail, load);
  for (int s = 0; s < NS; ++s)
    out[s] += tail[s];
}

#endif

// NS running sums over i in [0, n): `load.vec(acc, i)` adds the terms of
// elements [i, i + lanes) into vector sums acc[0..NS), `load.scalar(acc, i)`
// those of element i into scalar sums (the tail).
template <class T, int NS, class Load>
RNC_INLINE void reduce_n(long n, T *out, const Load &load) {
#if RNC_HAVE_VECTOR_EXT
  using V = typename Vec<T>::type;
  constexpr int L = Vec<T>::lanes;
  if (n < 4 * L) {
    // No vector step: the lanes would combine to +0, so the sums are 0 +
    // the tail's, the same bits without building and combining 4 * L
    // zeros (most of the time of a call on the 1x1 to 4x4 planes of a
    // small-image ResNet's last layers, where there is one per channel and
    // image).
    T tail[NS] = {};
    for (long i = 0; i < n; ++i)
      load.scalar(tail, i);
    for (int s = 0; s < NS; ++s)
      out[s] = T(0) + tail[s];
    return;
  }
  V acc[4][NS];
  for (int u = 0; u < 4; ++u)
    for (int s = 0; s < NS; ++s)
      acc[u][s] = V{};
  const long main_end = reduce_main_end<T>(n);
  for (long i = 0; i < main_end; i += 4 * L)
    for (int u = 0; u < 4; ++u)
      load.vec(acc[u], i + u * L);
  reduce_n_finish<T, NS>(acc, n, out, load);
#else
  for (int s = 0; s < NS; ++s)
    out[s] = T(0);
  for (long i = 0; i < n; ++i)
    load.scalar(out, i);
#endif
}

// The terms (reduce_n's `load`) of reduce_sum_sumsq and reduce_sum_dot_dev,
// named so that kernels accumulating the same sums from their own stores
// (conv_store.h) add exactly these.
// add(a, v, i) adds the terms of the values v of elements [i, i + lanes)
// (what vec() loads), for a kernel that has them in a register.
template <class T> struct SumSqTerms { // sum x, sum x^2
  const T *x;
#if RNC_HAVE_VECTOR_EXT
  using V = typename Vec<T>::type;
  RNC_INLINE void add(V *a, V v, long) const {
    a[0] += v;
    a[1] += v * v;
  }
  RNC_INLINE void vec(V *a, long i) const { add(a, vload(x + i), i); }
#endif
  RNC_INLINE void scalar(T *a, long i) const {
    a[0] += x[i];
    a[1] += x[i] * x[i];
  }
};

template <class T> struct SumDotDevTerms { // sum dy, sum dy * (x - mean)
  const T *dy;
  const T *x;
  T mean;
#if RNC_HAVE_VECTOR_EXT
  using V = typename Vec<T>::type;
  RNC_INLINE void add(V *a, V g, long i) const {
    a[0] += g;
    a[1] += g * (vload(x + i) - mean);
  }
  RNC_INLINE void vec(V *a, long i) const { add(a, vload(dy + i), i); }
#endif
  RNC_INLINE void scalar(T *a, long i) const {
    a[0] += dy[i];
    a[1] += dy[i] * (x[i] - mean);
  }
};

// sum_i x[i]
template <class T> RNC_NOINLINE inline T reduce_sum(const T *x, long n) {
  struct {
    const T *x;
#if RNC_HAVE_VECTOR_EXT
    RNC_INLINE void vec(typename Vec<T>::type *a, long i) const {
      a[0] += vload(x + i);
    }
#endif
    RNC_INLINE void scalar(T *a, long i) const { a[0] += x[i]; }
  } f{x};
  T out[1];
  reduce_n<T, 1>(n, out, f);
  return out[0];
}

// sum_i x[i] and sum_i x[i]^2
template <class T>
RNC_NOINLINE inline void reduce_sum_sumsq(const T *x, long n, T *sum,
                                          T *sumsq) {
  SumSqTerms<T> f{x};
  T out[2];
  reduce_n<T, 2>(n, out, f);
  *sum = out[0];
  *sumsq = out[1];
}

// sum_i (x[i] - mean)^2
template <class T>
RNC_NOINLINE inline T reduce_sq_dev(const T *x, long n, T mean) {
  struct {
    const T *x;
    T mean;
#if RNC_HAVE_VECTOR_EXT
    RNC_INLINE void vec(typename Vec<T>::type *a, long i) const {
      auto d = vload(x + i) - mean;
      a[0] += d * d;
    }
#endif
    RNC_INLINE void scalar(T *a, long i) const {
      a[0] += (x[i] - mean) * (x[i] - mean);
    }
  } f{x, mean};
  T out[1];
  reduce_n<T, 1>(n, out, f);
  return out[0];
}

// sum_i dy[i] and sum_i dy[i] * (x[i] - mean)
template <class T>
RNC_NOINLINE inline void reduce_sum_dot_dev(const T *dy, const T *x, long n,
                                            T mean, T *sum_dy, T *sum_dy_dev) {
  SumDotDevTerms<T> f{dy, x, mean};
  T out[2];
  reduce_n<T, 2>(n, out, f);
  *sum_dy = out[0];
  *sum_dy_dev = out[1];
}

// The same sums with dy masked by a ReLU: dy[i] counts only where
// relu_out[i] > 0 (the ReLU's gradient, fused into the BN backward).
template <class T>
RNC_NOINLINE inline void
reduce_sum_dot_dev_masked(const T *dy, const T *relu_out, const T *x, long n,
                          T mean, T *sum_dy, T *sum_dy_dev) {
  struct {
    const T *dy;
    const T *y;
    const T *x;
    T mean;
#if RNC_HAVE_VECTOR_EXT
    RNC_INLINE void vec(typename Vec<T>::type *a, long i) const {
      using V = typename Vec<T>::type;
      V zero = {};
      V g = vload(y + i) > zero ? vload(dy + i) : zero;
      a[0] += g;
      a[1] += g * (vload(x + i) - mean);
    }
#endif
    RNC_INLINE void scalar(T *a, long i) const {
      T g = y[i] > T(0) ? dy[i] : T(0);
      a[0] += g;
      a[1] += g * (x[i] - mean);
    }
  } f{dy, relu_out, x, mean};
  T out[2];
  reduce_n<T, 2>(n, out, f);
  *sum_dy = out[0];
  *sum_dy_dev = out[1];
}

} // namespace rnc::cpu
