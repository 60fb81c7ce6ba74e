// Per-channel sums over the rows of an NHWC tensor viewed as [rows, C]: the
// building block of bias gradients and batch-norm statistics.
#pragma once

#include "common.cuh"

namespace rnc::cuda::detail {

// ----------------------------------------------------------------------------
// Kernels

// out_s[c] += sum over rows r of f(r, c)[s], s < NS (NS is 1 or 2; out1 is
// unused when NS == 1). Block: 8 warps; lane l of warp w handles channel
// blockIdx.x*32 + l and rows r0 + w, r0 + w + 8, ... of the block's slice, so
// a warp reads 32 consecutive channels of one row. The 8 partial sums of a
// channel are added in shared memory, then once per block into global memory.
template <int C, int NS, class F>
__global__ void __launch_bounds__(256)
    channel_sums_kernel(F f, float *out0, float *out1, long rows,
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
  __shared__ float part[NS][8][32];
#pragma unroll
  for (int s = 0; s < NS; ++s)
    part[s][row_lane][lane] = acc[s];
  __syncthreads();
  if (row_lane == 0 && c < C) {
#pragma unroll
    for (int s = 0; s < NS; ++s) {
      float t = 0.0f;
#pragma unroll
      for (int w = 0; w < 8; ++w)
        t += part[s][w][lane];
      atomicAdd((s == 0 ? out0 : out1) + c, t);
    }
  }
}

// ----------------------------------------------------------------------------
// Launchers

// Zeroes out0[0, C) (and out1 when NS == 2), then adds the sums. f is a
// device functor f(long row, int c, float (&acc)[NS]) that adds row r's
// terms of channel c into acc.
template <int C, int NS, class F>
void launch_channel_sums(const F &f, float *out0, float *out1, long rows) {
  cudaStream_t stream = current_stream();
  record(cudaMemsetAsync(out0, 0, sizeof(float) * C, stream));
  if (NS == 2)
    record(cudaMemsetAsync(out1, 0, sizeof(float) * C, stream));
  const long xblocks = ceil_div(C, 32);
  // At least 32 rows per warp; at most about kTargetBlocks blocks in all.
  long yblocks = ceil_div(rows, 8 * 32);
  yblocks = max_l(1, min_l(yblocks, max_l(1, kTargetBlocks / xblocks)));
  const long per_block = ceil_div(rows, yblocks);
  yblocks = ceil_div(rows, per_block);
  channel_sums_kernel<C, NS, F>
      <<<dim3(unsigned(xblocks), unsigned(yblocks)), 256, 0, stream>>>(
          f, out0, out1, rows, per_block);
  after_launch();
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
