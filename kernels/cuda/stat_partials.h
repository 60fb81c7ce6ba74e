// How many partial sums the convolutions' BN statistics leave in the split
// scratch (stream.cuh): one row of column sums per block along M of each
// GEMM with statistics (conv.cuh). Plain C++, so that a model's glue sizes
// the scratch on the host (model_abi.cuh, also built against the mock CUDA
// runtime) with the same arithmetic the launchers use.
#pragma once

#include "kernels/shapes.h"

namespace rnc::cuda {

namespace detail {

// Rows of every forward and data-gradient tile (igemm.cuh's ColsCfg), so
// the number of blocks along M depends on M alone.
inline constexpr int kColsBM = 128;

constexpr long blocks_of_rows(long rows) {
  return (rows + kColsBM - 1) / kColsBM;
}

// Extent along one axis of the stride phase p (pixels p, p + stride, ...
// below size): ConvBwdDataPhaseOp's plane.
constexpr int phase_extent(int size, int p, int stride) {
  return p < size ? (size - p + stride - 1) / stride : 0;
}

// Whether a data gradient runs as one GEMM per stride phase
// (ConvBwdDataPhaseOp): strided, dilation 1.
constexpr bool data_phases(const Conv2DShape &s) {
  return (s.stride_h > 1 || s.stride_w > 1) && s.dilation_h == 1 &&
         s.dilation_w == 1;
}

// Rows of partial sums of the forward GEMM of s at batch N, and of its
// data-gradient GEMMs (one per stride phase with pixels, in phase order).
constexpr long forward_stat_rows(const Conv2DShape &s, long N) {
  return blocks_of_rows(N * s.out_plane());
}
constexpr long data_stat_rows(const Conv2DShape &s, long N) {
  if (!data_phases(s))
    return blocks_of_rows(N * s.in_plane());
  long rows = 0;
  for (int py = 0; py < s.stride_h; ++py)
    for (int px = 0; px < s.stride_w; ++px)
      rows += blocks_of_rows(N * phase_extent(s.in_h, py, s.stride_h) *
                             phase_extent(s.in_w, px, s.stride_w));
  return rows;
}

} // namespace detail

// Floats of split scratch the statistics of a convolution of shape s need
// at batch N (two sums per channel and row): a model's glue gives the
// largest over its convolutions, or kSplitScratchFloats if that is more.
constexpr long stat_partial_floats(const Conv2DShape &s, long N) {
  const long fwd = detail::forward_stat_rows(s, N) * 2 * s.out_channels;
  const long data = detail::data_stat_rows(s, N) * 2 * s.in_channels;
  return fwd > data ? fwd : data;
}

} // namespace rnc::cuda
