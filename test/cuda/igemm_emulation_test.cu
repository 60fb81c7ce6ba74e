// Runs the implicit-GEMM engine of kernels/cuda on the host, one emulated
// thread at a time, and compares the convolutions (forward with bias,
// epilogue and BN statistics; backward data with the fan-in epilogue;
// backward weight with its K split) with the CPU kernels of kernels/cpu.
//
// What this checks without a GPU: every index computation of the problems in
// conv.cuh (padding, strides, dilation, groups, NHWC/KCRS addressing, the
// stride holes of the data gradient), the staging of operand tiles (thread
// coordinates, float4 quads, masking of M, N and K edges and of K splits,
// shared-memory layouts), the grid, the store pass and the statistics. What
// it cannot check: the wmma fragments (emulated by a scalar product over the
// same shared-memory layouts), the real concurrency (barriers, atomics) and
// the tf32 rounding (the host keeps fp32). Exit status 0 when all pass.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/rnc_cpu.h"
#include "kernels/cuda/rnc_cuda.cuh"
#include "test/cuda/test_util.h"

namespace cu = rnc::cuda;
namespace cd = rnc::cuda::detail;
namespace cpu = rnc::cpu;

using rnc::Conv2DShape;

namespace {

// Tolerance of the emulated GEMM against the CPU's fp32: only rounding of
// the staged operands differs (bf16 keeps 8 bits of mantissa).
constexpr double kTol = RNC_CUDA_PRECISION == 2 ? 1e-2 : 2e-5;

// Executes igemm_kernel<Op, Cfg>'s block program for every block of the grid
// on the host. Shared memory is poisoned before every commit and checked
// after it: every (k, d) of both tiles must have been written.
template <class Op, class Cfg>
bool emulate_igemm(const Op &op, int M, int K, int splits, int k_split) {
  using SA = cd::StagerA<Op, Cfg>;
  using SB = cd::StagerB<Op, Cfg>;
  constexpr int BK = Cfg::BK, BM = Cfg::BM, BN = Cfg::BN;
  if (!cd::quads_whole<Op, Cfg>(M, K, k_split)) {
    std::printf("launch_igemm would refuse this GEMM: a float4 quad crosses "
                "its edge (quads_whole)\n");
    return false;
  }
  const dim3 grid = cd::igemm_grid<Op, Cfg>(M, splits);
  std::vector<cd::MmaElem> As(SA::kElems), Bs(SB::kElems);
  std::vector<SA> sa(Cfg::kThreads);
  std::vector<SB> sb(Cfg::kThreads);
  std::vector<float> Cs(BM * Cfg::LDC);
  std::vector<float> sums(Cfg::kThreads), sumsqs(Cfg::kThreads);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  bool covered = true;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        const int g = int(z) % Op::kGroups, split = int(z) / Op::kGroups;
        const int m0 = int(bx) * BM, n0 = int(by) * BN;
        const int k_begin = split * k_split;
        const int k_end = int(cd::min_l(K, long(k_begin) + k_split));
        const cd::OperandA<Op> va{op, g};
        const cd::OperandB<Op> vb{op, g};
        std::fill(Cs.begin(), Cs.end(), 0.0f);
        for (int t = 0; t < Cfg::kThreads; ++t) {
          sa[t].prepare(t, m0, va);
          sb[t].prepare(t, n0, vb);
        }
        for (int k0 = k_begin; k0 < k_end; k0 += BK) {
          for (int t = 0; t < Cfg::kThreads; ++t) {
            sa[t].fetch(t, k0, m0, k_end, M, va);
            sb[t].fetch(t, k0, n0, k_end, Op::kN, vb);
            sa[t].convert();
            sb[t].convert();
          }
          std::fill(As.begin(), As.end(), cd::to_mma(nan));
          std::fill(Bs.begin(), Bs.end(), cd::to_mma(nan));
          for (int t = 0; t < Cfg::kThreads; ++t) {
            sa[t].commit(t, As.data());
            sb[t].commit(t, Bs.data());
          }
          for (int kk = 0; kk < BK; ++kk) {
            for (int m = 0; m < BM; ++m)
              covered &= !std::isnan(float(As[SA::offset(kk, m)]));
            for (int n = 0; n < BN; ++n)
              covered &= !std::isnan(float(Bs[SB::offset(kk, n)]));
          }
          for (int m = 0; m < BM; ++m)
            for (int n = 0; n < BN; ++n) {
              float acc = 0.0f;
              for (int kk = 0; kk < BK; ++kk)
                acc +=
                    float(As[SA::offset(kk, m)]) * float(Bs[SB::offset(kk, n)]);
              Cs[m * Cfg::LDC + n] += acc;
            }
        }
        for (int t = 0; t < Cfg::kThreads; ++t) {
          sums[t] = sumsqs[t] = 0.0f;
          cd::store_tile_column<Op, Cfg>(op, Cs.data(), t, g, split, m0, n0, M,
                                         sums[t], sumsqs[t]);
        }
        // The block's column sums, its row steps added in order.
        if constexpr (Op::kStats)
          for (int col = 0; col < BN && n0 + col < Op::kN; ++col) {
            float s = 0.0f, ss = 0.0f;
            for (int t = col; t < Cfg::kThreads; t += BN)
              s += sums[t], ss += sumsqs[t];
            op.add_stats(g, n0 + col, int(bx), s, ss);
          }
      }
  return covered;
}

// [rows + 1][2][C] partial sums, NaN: the GEMMs must store rows [0, rows)
// and leave the last one alone.
std::vector<float> nan_partials(long rows, int C) {
  return std::vector<float>(size_t(rows + 1) * 2 * C,
                            std::numeric_limits<float>::quiet_NaN());
}

// The two per-channel sums of the `rows` rows of nan_partials (as
// sum_stat_partials adds them on the GPU, up to the order); *exact false
// when an entry of those rows is still NaN (a row no block stored) or one of
// the extra row is not (a block stored past the rows).
std::vector<float> partial_sums(const std::vector<float> &partial, long rows,
                                int C, bool *exact) {
  std::vector<float> out(2 * size_t(C), 0.0f);
  for (long r = 0; r <= rows; ++r)
    for (int i = 0; i < 2 * C; ++i) {
      const float v = partial[size_t(r) * 2 * C + i];
      *exact &= std::isnan(v) == (r == rows);
      if (r < rows)
        out[size_t(i)] += v;
    }
  return out;
}

// partial_sums, expecting every row stored and none past them ("what:
// every block stored ..."); the first and the second sums.
std::pair<std::vector<float>, std::vector<float>>
checked_partial_sums(ct::Report &report, const std::string &what,
                     const std::vector<float> &partial, long rows, int C) {
  bool exact = true;
  const std::vector<float> sums = partial_sums(partial, rows, C, &exact);
  report.expect(what + ": every block stored its row of partial sums, none "
                       "past them",
                exact);
  return {std::vector<float>(sums.begin(), sums.begin() + C),
          std::vector<float>(sums.begin() + C, sums.end())};
}

// One GEMM of a data gradient (cd::data_gradient_gemms), emulated with the
// tile config the launcher picks for it.
template <class Op> bool emulate_data_gemm(const Op &op, int M) {
  return emulate_igemm<Op, cd::ColsCfg<Op::kN, Op::kK>>(op, M, Op::kK, 1,
                                                        Op::kK);
}

// Stride phases that hold input pixels.
template <Conv2DShape S> int data_phases() {
  int n = 0;
  for (int py = 0; py < S.stride_h; ++py)
    for (int px = 0; px < S.stride_w; ++px)
      n += py < S.in_h && px < S.in_w;
  return n;
}

template <Conv2DShape S> std::string conv_name() {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%d->%d %dx%d k%dx%d s%d,%d p%d,%d d%d g%d",
                S.in_channels, S.out_channels, S.in_h, S.in_w, S.kernel_h,
                S.kernel_w, S.stride_h, S.stride_w, S.pad_h, S.pad_w,
                S.dilation_h, S.groups);
  return buf;
}

template <Conv2DShape S> void check_conv(ct::Report &report, int N) {
  constexpr int Ci = S.in_channels, Co = S.out_channels;
  constexpr long Pi = S.in_plane(), Po = S.out_plane();
  const std::string name = conv_name<S>();
  std::vector<float> x = ct::random_vec(size_t(N) * Ci * Pi, 1);
  std::vector<float> w = ct::random_vec(size_t(S.weight_size()), 2);
  std::vector<float> bias = ct::random_vec(Co, 3);
  std::vector<float> res = ct::random_vec(size_t(N) * Co * Po, 4);
  std::vector<float> dy = ct::random_vec(size_t(N) * Co * Po, 5);
  std::vector<float> res_in = ct::random_vec(size_t(N) * Ci * Pi, 6);
  std::vector<float> mask_in = ct::random_vec(size_t(N) * Ci * Pi, 7);
  const auto x_h = ct::to_nhwc(x, N, Ci, Pi),
             res_h = ct::to_nhwc(res, N, Co, Po);
  const auto dy_h = ct::to_nhwc(dy, N, Co, Po);
  // The weights as the forward and data-gradient GEMMs read them (the KRSC
  // copy krsc_weights makes on the GPU, by the same index function).
  std::vector<float> w_staged = w;
  if constexpr (cd::ConvDims<S>::kKrsc)
    for (long i = 0; i < S.weight_size(); ++i)
      w_staged[cd::ConvDims<S>::krsc_of_kcrs(i)] = w[i];
  const auto res_in_h = ct::to_nhwc(res_in, N, Ci, Pi);
  const auto mask_in_h = ct::to_nhwc(mask_in, N, Ci, Pi);

  // Forward with bias, a residual epilogue and the statistics.
  std::vector<float> y_ref(size_t(N) * Co * Po), sum_ref(Co), sumsq_ref(Co);
  cpu::conv2d_bn_train_stats<S>(
      y_ref.data(), sum_ref.data(), sumsq_ref.data(), x.data(), w.data(),
      bias.data(), N, cpu::ResidualAddEpilogue<float>{res.data(), Co, Po});
  {
    using Epi = cu::ResidualAddEpilogue<float>;
    using Op = cd::ConvFwdOp<S, Epi, true>;
    std::vector<float> y(y_ref.size());
    // One row of column sums per block along M, NaN until stored.
    const long rows = cd::forward_stat_rows(S, N);
    std::vector<float> partial = nan_partials(rows, Co);
    report.expect(name + " forward: partial sums fit stat_partial_floats",
                  rows * 2 * Co <= cu::stat_partial_floats(S, N));
    Op op{y.data(),    x_h.data(),     w_staged.data(),
          bias.data(), partial.data(), Epi{res_h.data(), Co, Po}};
    const int M = int(N * Po);
    bool covered = emulate_igemm<Op, cd::ColsCfg<Op::kN, Op::kK>>(op, M, Op::kK,
                                                                  1, Op::kK);
    report.expect(name + " forward: tiles fully staged", covered);
    const auto [sum, sumsq] =
        checked_partial_sums(report, name + " forward", partial, rows, Co);
    report.compare(name + " forward y", ct::to_nchw(y, N, Co, Po), y_ref, kTol);
    // The sums of what was stored (exactly what the kernel must add up).
    std::vector<float> s_own(Co), ss_own(Co);
    for (size_t i = 0; i < y.size(); ++i) {
      s_own[i % Co] += y[i];
      ss_own[i % Co] += y[i] * y[i];
    }
    report.compare(name + " forward channel sums", sum, s_own, 1e-5);
    report.compare(name + " forward channel sums of squares", sumsq, ss_own,
                   1e-5);
  }

  // Backward data with the fan-in epilogue (residual gradient, ReLU mask).
  std::vector<float> dx_ref(size_t(N) * Ci * Pi);
  cpu::conv2d_grad_input<S>(
      dx_ref.data(), dy.data(), w.data(), N,
      cpu::Compose<cpu::ResidualAddEpilogue<float>,
                   cpu::ReluMaskEpilogue<float>>{{res_in.data(), Ci, Pi},
                                                 {mask_in.data(), Ci, Pi}});
  {
    auto epi =
        cu::Compose{cu::ResidualAddEpilogue<float>{res_in_h.data(), Ci, Pi},
                    cu::ReluMaskEpilogue<float>{mask_in_h.data(), Ci, Pi}};
    // NaN where no GEMM stores: every pixel of every stride phase must.
    std::vector<float> dx(dx_ref.size(),
                          std::numeric_limits<float>::quiet_NaN());
    bool covered = true;
    int gemms = 0;
    cd::data_gradient_gemms<S, decltype(epi), false>(
        [&](const auto &op, int M) {
          covered &= emulate_data_gemm(op, M);
          ++gemms;
        },
        dx.data(), dy_h.data(), w_staged.data(), N, epi, nullptr, nullptr,
        nullptr);
    report.expect(name + " backward data: tiles fully staged", covered);
    report.expect(name + " backward data: one GEMM per stride phase",
                  gemms == (cd::kDataPhases<S> ? data_phases<S>() : 1));
    report.compare(name + " backward data dx", ct::to_nchw(dx, N, Ci, Pi),
                   dx_ref, kTol);
  }

  // The same with the BN backward sums (conv2d_grad_input_bn_reduce): the
  // stored gradient, sum g and sum g * (x - mean) per input channel.
  {
    std::vector<float> mean = ct::random_vec(Ci, 8);
    std::vector<float> dx_sums_ref(dx_ref.size()), gs_ref(Ci), gds_ref(Ci);
    cpu::conv2d_grad_input_bn_reduce<S>(
        dx_sums_ref.data(), gs_ref.data(), gds_ref.data(), dy.data(), w.data(),
        x.data(), mean.data(), N,
        cpu::Compose<cpu::ResidualAddEpilogue<float>,
                     cpu::ReluMaskEpilogue<float>>{{res_in.data(), Ci, Pi},
                                                   {mask_in.data(), Ci, Pi}});
    auto epi =
        cu::Compose{cu::ResidualAddEpilogue<float>{res_in_h.data(), Ci, Pi},
                    cu::ReluMaskEpilogue<float>{mask_in_h.data(), Ci, Pi}};
    std::vector<float> dx(dx_ref.size(),
                          std::numeric_limits<float>::quiet_NaN());
    // The phases' rows of partial sums follow one another: every one is
    // stored once (NaN until then) and none lies past data_stat_rows.
    const long rows = cd::data_stat_rows(S, N);
    std::vector<float> partial = nan_partials(rows, Ci);
    report.expect(name + " backward data: partial sums fit stat_partial_floats",
                  rows * 2 * Ci <= cu::stat_partial_floats(S, N));
    long rows_used = 0;
    cd::data_gradient_gemms<S, decltype(epi), true>(
        [&](const auto &op, int M) {
          emulate_data_gemm(op, M);
          rows_used = std::max(rows_used, op.stat_row0 + cd::blocks_of_rows(M));
        },
        dx.data(), dy_h.data(), w_staged.data(), N, epi, x_h.data(),
        mean.data(), partial.data());
    report.expect(name + " backward data + BN sums: rows of partial sums",
                  rows_used == rows);
    const auto [gs, gds] = checked_partial_sums(
        report, name + " backward data + BN sums", partial, rows, Ci);
    report.compare(name + " backward data + BN sums: dx",
                   ct::to_nchw(dx, N, Ci, Pi), dx_sums_ref, kTol);
    // The sums of what was stored, and against the cpu kernel's sums.
    std::vector<float> s_own(Ci), sd_own(Ci);
    for (size_t i = 0; i < dx.size(); ++i) {
      s_own[i % Ci] += dx[i];
      sd_own[i % Ci] += dx[i] * (x_h[i] - mean[i % Ci]);
    }
    report.compare(name + " backward data + BN sums: sum g", gs, s_own, 1e-5);
    report.compare(name + " backward data + BN sums: sum g (x - mean)", gds,
                   sd_own, 1e-5);
    // Against the cpu kernel's sums only where the operands are (nearly)
    // exact: with bf16 operands each g moves by ~2^-8 relative, and these
    // sums cancel (a 1-channel sum of ~1,000 signed terms), so their relative
    // error is not bounded by kTol; dx and the sums of what was stored are
    // checked above in every precision.
    if (RNC_CUDA_PRECISION != 2) {
      report.compare(name + " backward data + BN sums: sum g vs cpu", gs,
                     gs_ref, kTol);
      report.compare(name + " backward data + BN sums: sum g (x - mean) vs cpu",
                     gds, gds_ref, kTol);
    }
  }

  // Backward weight, split over K exactly as the launcher splits it (its
  // plan with a large split scratch, and with room for one weight: unsplit),
  // the partial sums added up as sum_splits_kernel does.
  std::vector<float> dw_ref(w.size());
  cpu::conv2d_grad_weight<S>(dw_ref.data(), dy.data(), x.data(), N);
  for (long scratch : {long(cu::kSplitScratchFloats), long(S.weight_size())}) {
    using Op = cd::ConvBwdWeightOp<S>;
    using Cfg = cd::RowsCfg<Op::kM>;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    int k_split = 0;
    const int splits = cd::weight_grad_plan<S>(N, scratch, &k_split);
    std::vector<float> dw(w.size(), nan);
    std::vector<float> partial(splits > 1 ? splits * w.size() : 0, nan);
    bool covered =
        emulate_igemm<Op, Cfg>(Op{dw.data(), dy_h.data(), x_h.data(),
                                  splits > 1 ? partial.data() : nullptr},
                               Op::kM, int(long(N) * Po), splits, k_split);
    if (splits > 1)
      for (long i = 0; i < long(w.size()); ++i)
        dw[i] = cd::split_sum(partial.data(), splits, long(w.size()), i);
    const std::string how =
        std::to_string(splits) + " K splits of " + std::to_string(k_split);
    report.expect(name + " backward weight: tiles fully staged (" + how + ")",
                  covered);
    report.compare(name + " backward weight dw (" + how + ")", dw, dw_ref,
                   kTol);
  }
}

// Stem-like, odd sizes, every tile config, vector and scalar paths, groups
// with 1, 3, 4, 8 and 12 channels per group, dilation.
constexpr Conv2DShape kStem{.in_channels = 3,
                            .out_channels = 16,
                            .in_h = 19,
                            .in_w = 19,
                            .kernel_h = 7,
                            .kernel_w = 7,
                            .stride_h = 2,
                            .stride_w = 2,
                            .pad_h = 3,
                            .pad_w = 3};
constexpr Conv2DShape kStemGray{.in_channels = 1,
                                .out_channels = 8,
                                .in_h = 12,
                                .in_w = 13,
                                .kernel_h = 7,
                                .kernel_w = 7,
                                .stride_h = 2,
                                .stride_w = 2,
                                .pad_h = 3,
                                .pad_w = 3};
constexpr Conv2DShape k3x3{.in_channels = 32,
                           .out_channels = 64,
                           .in_h = 10,
                           .in_w = 10,
                           .kernel_h = 3,
                           .kernel_w = 3,
                           .pad_h = 1,
                           .pad_w = 1};
constexpr Conv2DShape k3x3s2{.in_channels = 24,
                             .out_channels = 40,
                             .in_h = 11,
                             .in_w = 11,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .stride_h = 2,
                             .stride_w = 2,
                             .pad_h = 1,
                             .pad_w = 1};
constexpr Conv2DShape k1x1s2{.in_channels = 64,
                             .out_channels = 72,
                             .in_h = 12,
                             .in_w = 12,
                             .stride_h = 2,
                             .stride_w = 2};
constexpr Conv2DShape k1x1{
    .in_channels = 20, .out_channels = 36, .in_h = 9, .in_w = 7};
constexpr Conv2DShape kWide{.in_channels = 48,
                            .out_channels = 160,
                            .in_h = 5,
                            .in_w = 5,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1};
constexpr Conv2DShape kGrouped4{.in_channels = 32,
                                .out_channels = 32,
                                .in_h = 8,
                                .in_w = 8,
                                .kernel_h = 3,
                                .kernel_w = 3,
                                .pad_h = 1,
                                .pad_w = 1,
                                .groups = 8};
constexpr Conv2DShape kGrouped12{.in_channels = 48,
                                 .out_channels = 48,
                                 .in_h = 9,
                                 .in_w = 9,
                                 .kernel_h = 3,
                                 .kernel_w = 3,
                                 .stride_h = 2,
                                 .stride_w = 2,
                                 .pad_h = 1,
                                 .pad_w = 1,
                                 .groups = 4};
constexpr Conv2DShape kGrouped3{.in_channels = 9,
                                .out_channels = 15,
                                .in_h = 7,
                                .in_w = 6,
                                .kernel_h = 3,
                                .kernel_w = 3,
                                .pad_h = 1,
                                .pad_w = 1,
                                .groups = 3};
constexpr Conv2DShape kResNeXt{.in_channels = 128,
                               .out_channels = 128,
                               .in_h = 7,
                               .in_w = 7,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .pad_h = 1,
                               .pad_w = 1,
                               .groups = 32};
constexpr Conv2DShape kDilated{.in_channels = 8,
                               .out_channels = 24,
                               .in_h = 9,
                               .in_w = 9,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .pad_h = 2,
                               .pad_w = 2,
                               .dilation_h = 2,
                               .dilation_w = 2};
constexpr Conv2DShape kNoPad5{.in_channels = 12,
                              .out_channels = 20,
                              .in_h = 11,
                              .in_w = 9,
                              .kernel_h = 5,
                              .kernel_w = 3,
                              .stride_h = 3,
                              .stride_w = 2};
// The 3x3 stem of a one-channel image (K = 9: 16-deep slices).
constexpr Conv2DShape kStem3x3{.in_channels = 1,
                               .out_channels = 32,
                               .in_h = 10,
                               .in_w = 9,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .pad_h = 1,
                               .pad_w = 1};
// linear 50 -> 10 as the launchers run it.
constexpr Conv2DShape kLinear{
    .in_channels = 50, .out_channels = 10, .in_h = 1, .in_w = 1};

} // namespace

// The row partition of the channel sums (reduce.cuh): every row in exactly
// one block's slice, and the block partial sums (yblocks * 2 * C, for more
// than one block) within the reduce scratch, from one row to ResNet-50's
// largest activation and from 1 to 4096 channels.
void check_channel_sums_plans(ct::Report &report) {
  bool covers = true, fits = true;
  int plans = 0;
  for (long rows :
       {1L, 7L, 255L, 256L, 257L, 1000L, 65536L, 802816L, 3211264L, 51380224L})
    for (int C : {1, 3, 31, 32, 33, 64, 100, 256, 1000, 2048, 4096}) {
      const cd::ChannelSumsPlan p = cd::channel_sums_plan(rows, C);
      covers &= p.yblocks >= 1 && p.per_block >= 1 &&
                p.per_block * p.yblocks >= rows &&
                p.per_block * (p.yblocks - 1) < rows;
      fits &= p.yblocks == 1 || p.yblocks * 2 * C <= cu::kReduceScratchFloats;
      ++plans;
    }
  report.expect("channel sums: every row in one block (" +
                    std::to_string(plans) + " plans)",
                covers);
  report.expect("channel sums: block partial sums fit the reduce scratch",
                fits);
}

// The weight gradient's pixel walk (ConvBwdWeightOp::b_pix_advance, the
// Stager's steps along the pixels) against a fresh decode: for every pixel
// k of four images, advancing by Delta lands where b_pix(k + Delta) does.
template <Conv2DShape S, int... Deltas>
void check_pixel_advance(ct::Report &report) {
  using Op = cd::ConvBwdWeightOp<S>;
  const int pixels = 4 * S.out_plane();
  bool ok = true;
  auto one = [&]<int Delta>() {
    for (int k = 0; k < pixels; ++k) {
      typename Op::BPix p = Op::b_pix(k);
      Op::template b_pix_advance<Delta>(p);
      const typename Op::BPix want = Op::b_pix(k + Delta);
      ok &= p.n == want.n && p.oh == want.oh && p.ow == want.ow;
    }
  };
  (one.template operator()<Deltas>(), ...);
  report.expect("pixel walk of the " + std::to_string(S.out_h()) + "x" +
                    std::to_string(S.out_w()) +
                    " weight gradient: every advance equals a fresh decode",
                ok);
}

int main() {
  ct::Report report;
  check_channel_sums_plans(report);
  check_pixel_advance<kResNeXt, 1, 7, 8, 16, 32, 48, 49, 50, 64, 97, 98>(
      report);
  check_pixel_advance<kNoPad5, 1, 3, 4, 8, 16, 32, 64, 100>(report);
  check_pixel_advance<k3x3, 1, 8, 10, 16, 32, 64, 100, 128>(report);
  std::printf("igemm emulation, RNC_CUDA_PRECISION=%d (BK %d)\n",
              RNC_CUDA_PRECISION, cd::kTileK);
  check_conv<kStem>(report, 2);
  check_conv<kStemGray>(report, 3);
  check_conv<k3x3>(report, 3);
  check_conv<k3x3s2>(report, 2);
  check_conv<k1x1s2>(report, 2);
  check_conv<k1x1>(report, 5);
  check_conv<kWide>(report, 2);
  check_conv<kGrouped4>(report, 2);
  check_conv<kGrouped12>(report, 2);
  check_conv<kGrouped3>(report, 3);
  check_conv<kResNeXt>(report, 2);
  check_conv<kDilated>(report, 2);
  check_conv<kNoPad5>(report, 2);
  check_conv<kStem3x3>(report, 3);
  check_conv<kLinear>(report, 37);
  std::printf("%d of %d checks failed\n", report.failures, report.checks);
  return report.failures == 0 ? 0 : 1;
}
