// The thread walk of the per-channel elementwise passes (batch-norm apply,
// the BN backward's dx pass) over an NHWC tensor viewed as [rows, C].
//
// Each thread owns one group of V consecutive channels (V = 4: a float4 per
// row, where C % 4 == 0 and the pointers are 16-byte aligned; else V = 1)
// for the whole kernel and walks the rows with a fixed stride, so its
// per-channel coefficients (scale and shift, or the five of the BN backward)
// are loaded once and not per element, and every index is a 32-bit row
// number: a row's image and position are one division by the constant
// plane. The grid-stride loops these replace decoded each element with
// 64-bit divisions and reloaded its channel's coefficients (29-72 SASS
// instructions per element in resnet50's build).
//
// Block of kThreads threads: with G = C / V groups per row, a block covers
// kThreads / G rows per step when G < kThreads (the threads past
// G * (kThreads / G) idle), else one row of kThreads groups, the grid's y
// picking which. The body is __host__ __device__ (a ThreadIndex instead of
// the built-ins) so test/cuda/channel_rows_emulation_test.cu can run every
// thread of a grid on the host.
#pragma once

#include "common.cuh"

namespace rnc::cuda::detail {

// The built-in indices a thread body needs, passed in so the host can run it.
struct ThreadIndex {
  unsigned block_x, block_y, thread, grid_x;
};
__device__ __forceinline__ ThreadIndex this_thread() {
  return {blockIdx.x, blockIdx.y, threadIdx.x, gridDim.x};
}

template <int C, int V> struct ChannelRows {
  static_assert(V == 1 || V == 4, "groups of 1 or 4 channels");
  static_assert(C % V == 0, "whole groups per row");
  static constexpr int kThreads = 256;
  static constexpr int kGroups = C / V;
  static constexpr int kRowsPerStep =
      kGroups < kThreads ? kThreads / kGroups : 1;
  static constexpr int kColumnBlocks =
      kGroups < kThreads ? 1 : int(ceil_div(kGroups, kThreads));
  // Blocks along the rows at most: two waves of 8 blocks an SM on a 132-SM
  // GPU, fewer where the rows run out first.
  static constexpr long kMaxRowBlocks = 2112;

  // A thread's channel group and first row, and the row stride of its walk;
  // `active` is false for the idle threads.
  struct Walk {
    int group, row, stride;
    bool active;
  };
  __host__ __device__ static Walk walk(const ThreadIndex &t) {
    if constexpr (kGroups < kThreads) {
      const int g = int(t.thread) % kGroups, r = int(t.thread) / kGroups;
      return {g, int(t.block_x) * kRowsPerStep + r,
              int(t.grid_x) * kRowsPerStep, r < kRowsPerStep};
    } else {
      const int g = int(t.block_y) * kThreads + int(t.thread);
      return {g, int(t.block_x), int(t.grid_x), g < kGroups};
    }
  }

  static dim3 grid(long rows) {
    const long x = min_l(max_l(1, ceil_div(rows, kRowsPerStep)),
                         max_l(1, kMaxRowBlocks / kColumnBlocks));
    return dim3(unsigned(x), unsigned(kColumnBlocks));
  }
};

// The group width of a pass over C channels: 4 (float4 loads and stores)
// where C % 4 == 0 and `vector_ok` (every tensor pointer, the epilogue's
// included, 16-byte aligned), else 1.
template <int C> constexpr int channel_group_width(bool vector_ok) {
  return C % 4 == 0 && vector_ok ? 4 : 1;
}

// Rows a per-channel pass takes: its row numbers, plus one stride (at most
// kMaxRowBlocks * kThreads), are ints.
inline bool channel_rows_fit(long rows) {
  return rows <= (1L << 31) - (1L << 20);
}

} // namespace rnc::cuda::detail
