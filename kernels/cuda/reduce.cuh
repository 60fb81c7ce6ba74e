// Per-channel sums over the rows of an NHWC tensor viewed as [rows, C]: the
// building block of bias gradients, batch-norm statistics and the sums of
// the convolutions' block partial sums. Deterministic: the rows are split
// over blocks the same way on every run (it depends on rows and C only),
// each block adds its rows in a fixed order, and the blocks' partial sums
// are added in block order by a second kernel (no float atomics).
#pragma once

#include "common.cuh"

namespace rnc::cuda::detail {

// ----------------------------------------------------------------------------
// Kernels

// The sum over rows r of f(r, c)[s], s < NS (NS is 1 or 2; out1 is unused
// when NS == 1), of block y's slice of rows: into out_s[c] when the grid has
// one row of blocks, else into part[(y * NS + s) * C + c]. Block: 8 warps;
// lane l of warp w handles channel blockIdx.x*32 + l and rows r0 + w, r0 + w
// + 8, ... of the slice, so a warp reads 32 consecutive channels of one row.
// The 8 partial sums of a channel are added in warp order.
template <int C, int NS, class F>
__global__ void __launch_bounds__(256)
    channel_sums_kernel(F f, float *out0, float *out1, float *part, long rows,
                        long rows_per_block) {
  static_assert(NS == 1 || NS == 2, "one or two sums per channel");
  const int lane = int(threadIdx.x) % 32, row_lane = int(threadIdx.x) / 32;
  const int c = int(blockIdx.x) * 32 + lane;
  const long r0 = long(blockIdx.y) * rows_per_block;
  const long r1 = min_l(rows, r0 + rows_per_block);
  float acc[NS];
#pragma unroll
  for (int s = 0; s < NS; ++s)
    acc[s] = 0.0f;
  if (c < C)
    for (long r = r0 + row_lane; r < r1; r += 8)
      f(r, c, acc);
  __shared__ float warp_part[NS][8][32];
#pragma unroll
  for (int s = 0; s < NS; ++s)
    warp_part[s][row_lane][lane] = acc[s];
  __syncthreads();
  if (row_lane == 0 && c < C) {
#pragma unroll
    for (int s = 0; s < NS; ++s) {
      float t = 0.0f;
#pragma unroll
      for (int w = 0; w < 8; ++w)
        t += warp_part[s][w][lane];
      if (gridDim.y == 1)
        (s == 0 ? out0 : out1)[c] = t;
      else
        part[(long(blockIdx.y) * NS + s) * C + c] = t;
    }
  }
}

// out_s[c] = the sum of the `blocks` partial sums part[(y * NS + s) * C + c]
// in block order y = 0, 1, ...: one thread per (s, c).
template <int C, int NS>
__global__ void __launch_bounds__(256)
    channel_sums_finish_kernel(const float *__restrict__ part, int blocks,
                               float *out0, float *out1) {
  const int i = int(blockIdx.x) * 256 + int(threadIdx.x);
  if (i >= NS * C)
    return;
  const int s = i / C, c = i - s * C;
  float t = 0.0f;
  for (int y = 0; y < blocks; ++y)
    t += part[(long(y) * NS + s) * C + c];
  (s == 0 ? out0 : out1)[c] = t;
}

// ----------------------------------------------------------------------------
// Launchers

// Rows per block and blocks along the rows of a sum of `rows` rows of C
// channels: at least 32 rows per warp, at most about kTargetBlocks blocks in
// all (so the partial sums, yblocks * C per sum, fit kReduceScratchFloats).
struct ChannelSumsPlan {
  long per_block, yblocks;
};
__host__ __device__ constexpr ChannelSumsPlan channel_sums_plan(long rows,
                                                                int C) {
  const long xblocks = ceil_div(C, 32);
  long yblocks = ceil_div(rows, 8 * 32);
  yblocks = max_l(1, min_l(yblocks, max_l(1, kTargetBlocks / xblocks)));
  const long per_block = ceil_div(rows, yblocks);
  return {per_block, ceil_div(rows, per_block)};
}
static_assert(kReduceScratchFloats >= 2 * 32 * kTargetBlocks,
              "the reduce scratch holds any plan's partial sums");

// Writes out0[0, C) (and out1 when NS == 2) with the sums (rows >= 1). f is
// a device functor f(long row, int c, float (&acc)[NS]) that adds row r's
// terms of channel c into acc. More than one block along the rows needs the
// reduce scratch (stream.cuh); without it nothing runs (recorded).
template <int C, int NS, class F>
void launch_channel_sums(const F &f, float *out0, float *out1, long rows) {
  cudaStream_t stream = current_stream();
  const ChannelSumsPlan plan = channel_sums_plan(rows, C);
  const DeviceScratch &scratch = reduce_scratch();
  float *part = plan.yblocks > 1 ? scratch.data : nullptr;
  if (plan.yblocks > 1 &&
      !check_args(part && scratch.floats >= plan.yblocks * NS * C))
    return;
  channel_sums_kernel<C, NS, F>
      <<<dim3(unsigned(ceil_div(C, 32)), unsigned(plan.yblocks)), 256, 0,
         stream>>>(f, out0, out1, part, rows, plan.per_block);
  after_launch();
  if (part) {
    channel_sums_finish_kernel<C, NS>
        <<<unsigned(ceil_div(NS * C, 256)), 256, 0, stream>>>(
            part, int(plan.yblocks), out0, out1);
    after_launch();
  }
}

// Row sums of a plain [rows, C] matrix: the bias gradients.
struct PlainSum {
  const float *src;
  int channels;
  __device__ void operator()(long r, int c, float (&acc)[1]) const {
    acc[0] += src[r * channels + c];
  }
};

} // namespace rnc::cuda::detail
