// The data gradient of a stride-2 3x3 convolution on the row tiles, one
// output phase at a time: no column buffer, no col2im.
#pragma once

#include "conv_rows.h"
#include "epilogue.h"
#include "kernels/shapes.h"

namespace rnc::cpu::detail {

// Why: a stride-2 layer's data gradient is not a forward convolution of dy
// (conv.h runs stride 1 that way), so it ran as a GEMM into a column buffer
// (9 x the input channels x dy's positions) scattered back into dx by
// col2im: resnet50's 128->128 3x3 s2 @56 at batch 8 at 56% of the FMA loop
// (PyTorch 68%), resnext50's 512 g32 s2 @28 at 29% (PyTorch 48%).
//
// The parity (a, b) of an input position picks the taps that reach it:
//
//   dx[2i + a][2j + b] = sum over kh = a + 1, kw = b + 1 (mod 2) of
//                        dy[i + (a + 1 - kh) / 2][j + (b + 1 - kw) / 2]
//                        * w[kh][kw]
//
// (pad 1): 1, 2, 2 and 4 taps for the phases (0, 0), (0, 1), (1, 0) and
// (1, 1), 9 in all. Each phase is a stride-1 correlation of dy with its taps,
// dy's size (dx is twice dy on both sides): the row tiles of s2_phase_conv
// over a channels-last copy of dy with a border of one, the weight panels
// packed once from w as it is (reduction over dy's channels, vectors of dx's
// channels), each phase's tiles stored to every other float of dx's rows
// 2i + a (rows_tile_to_columns with PSTR 2). Every element of dx is written
// by one tile of one phase: the result does not depend on the thread count.

// The stride-1 convolution over dy whose row tiles compute the phases: dy's
// channels in, dx's out, dy's plane, a border of one.
template <Conv2DShape S> constexpr Conv2DShape s2_phase_conv() {
  return Conv2DShape{.in_channels = S.out_channels,
                     .out_channels = S.in_channels,
                     .in_h = S.out_h(),
                     .in_w = S.out_w(),
                     .kernel_h = 3,
                     .kernel_w = 3,
                     .pad_h = 1,
                     .pad_w = 1,
                     .groups = S.groups};
}

#if RNC_HAVE_VECTOR_EXT

// The taps of phase p = 2a + b in the copy of dy (from the tile's first
// position, dy's (i, j) at the copy's (i + 1, j + 1)) and their panels
// (w's tap kh * 3 + kw).
struct S2PhaseTaps {
  int off[4][4], tw[4][4], n[4];
  RowTaps operator[](int p) const { return RowTaps{off[p], tw[p], n[p]}; }
};

template <class R> S2PhaseTaps s2_phase_taps() {
  S2PhaseTaps t{};
  for (int p = 0; p < 4; ++p) {
    const int a = p / 2, b = p % 2;
    for (int kh = 0; kh < 3; ++kh)
      for (int kw = 0; kw < 3; ++kw) {
        if ((a + 1 - kh) % 2 != 0 || (b + 1 - kw) % 2 != 0)
          continue;
        const long r = 1 + (a + 1 - kh) / 2, s = 1 + (b + 1 - kw) / 2;
        t.off[p][t.n[p]] = int((r * R::Wp + s) * R::PS);
        t.tw[p][t.n[p]++] = kh * 3 + kw;
      }
  }
  return t;
}

// dx = conv^T(dy, w) for stride 2; rows(n, c0, c1) once dx's channels
// [c0, c1) of image n are stored (a block of vectors of a group's channels,
// its four phases), in the thread that stored them, while they are in
// cache: the epilogue and the BN sums of a training step (conv.h), which
// in a pass over each image afterwards read dx back from memory
// (kernel-conv-bn-bench, resnext50's 1024 g32 s2 @14: 5.7-5.9 ms that way,
// 4.5-4.9 block by block). Like conv2d_row_tiles_forward: whole images per
// thread while the weight panels fit L2 (the copy of dy in the thread's
// buffer), otherwise (vector block, image) items over copies of every image.
template <Conv2DShape S, class T, class Rows>
void conv2d_row_tiles_backward_data_s2(T *dx, const T *dy, const T *w, int N,
                                       const Rows &rows) {
  constexpr Conv2DShape TS = s2_phase_conv<S>();
  using R = RowTiles<TS, T>;
  using Cfg = typename R::Cfg;
  static_assert(S.in_h == 2 * TS.in_h && S.in_w == 2 * TS.in_w && R::fits &&
                !R::kFlat);
  constexpr int G = R::G, Cig = R::Cig, Cog = R::Cog, KHW = 9;
  constexpr long DYS = long(S.out_channels) * S.out_plane();
  using P = TiledProblem<Cig, Cog, TS.in_plane(), TS.out_plane(), KHW>;
  constexpr long panel_stride = R::panel_stride;
  constexpr int BLOCKS = G * Cfg::BLOCKS; // (group, vector block) pairs
  T *wp = scratch<T>(kSlotPanel, size_t(BLOCKS) * panel_stride);
  const S2PhaseTaps taps = s2_phase_taps<R>();
  const bool par = tiles_in_parallel(N, S.in_channels, S.in_plane(), Cig, 2);
  const int threads = par ? max_threads() : 1;
  constexpr bool kPanelsFit =
      BLOCKS * panel_stride * long(sizeof(T)) <= (1L << 20);
  const bool by_image = kPanelsFit && N >= threads;
  T *xp = scratch<T>(kSlotCol, size_t(by_image ? threads : N) * R::IMG);
  // Block gb of image n (its copy at xn): every run and phase, then rows().
  auto block = [&](const T *xn, int n, int gb) {
    const int g = gb / Cfg::BLOCKS, b = gb % Cfg::BLOCKS;
    for (int r = 0; r < R::RUNS; ++r)
      for (int p = 0; p < 4; ++p)
        row_tiles_run<TS, T, NoEpilogue, 2>(dx, xn, wp, taps[p], nullptr, n, g,
                                            b, r, NoEpilogue{}, p / 2, p % 2);
    const int c0 = g * Cog + b * Cfg::NV * Cfg::L;
    rows(n, c0, std::min(c0 + Cfg::NV * Cfg::L, (g + 1) * Cog));
  };
#pragma omp parallel num_threads(threads) if (par)
  {
    // Panel [t][o][c] of w[g * Cig + o][c][t]: the reduction over dy's
    // channels o, vectors of dx's channels c.
    pack_weight_panels<P, Cfg>(wp, w, WeightStrides{1, long(Cog) * KHW, KHW},
                               nullptr, G, long(Cig) * Cog * KHW);
    if (by_image) {
      T *xn = xp + thread_id() * R::IMG;
#pragma omp for schedule(static)
      for (int n = 0; n < N; ++n) {
        row_tiles_stage_image<TS>(xn, dy + n * DYS);
        for (int gb = 0; gb < BLOCKS; ++gb)
          block(xn, n, gb);
      }
    } else {
#pragma omp for schedule(static)
      for (int n = 0; n < N; ++n)
        row_tiles_stage_image<TS>(xp + n * R::IMG, dy + n * DYS);
#pragma omp for collapse(2) schedule(static)
      for (int gb = 0; gb < BLOCKS; ++gb)
        for (int n = 0; n < N; ++n)
          block(xp + n * R::IMG, n, gb);
    }
  }
}

#endif // RNC_HAVE_VECTOR_EXT

// Whether conv2d_grad_input takes the phases above: fp32, a 3x3 pad 1
// stride-2 layer with an even input (dx twice dy on both sides) whose phase
// convolution takes whole rows on the row tiles under use_row_tiles' rules
// for its channels.
template <Conv2DShape S, class T> constexpr bool use_row_tiles_s2_data() {
#if RNC_HAVE_VECTOR_EXT && !defined(RNC_CONV_NO_TILED) &&                      \
    !defined(RNC_CONV_NO_ROWS)
  if constexpr (bf16_operands<T>() || S.kernel_h != 3 || S.kernel_w != 3 ||
                S.stride_h != 2 || S.stride_w != 2 || S.pad_h != 1 ||
                S.pad_w != 1 || S.dilation_h != 1 || S.dilation_w != 1 ||
                S.in_h != 2 * S.out_h() || S.in_w != 2 * S.out_w()) {
    return false;
  } else {
    constexpr Conv2DShape TS = s2_phase_conv<S>();
    using R = RowTiles<TS, T>;
    return R::fits && !R::kFlat &&
           (S.groups == 1 ? TS.in_channels >= 16
                          : TS.in_per_group() >= kRowsMinPerGroup &&
                                TS.out_per_group() % Vec<T>::lanes == 0);
  }
#else
  return false;
#endif
}

} // namespace rnc::cpu::detail
