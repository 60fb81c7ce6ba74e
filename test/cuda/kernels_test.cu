// GPU numerics test of kernels/cuda: every launcher on random inputs against
// the CPU kernels of kernels/cpu (NCHW; inputs and outputs transposed), one
// line per compared tensor with its largest difference.
//
//   kernels_test [--list] [--no-fork] [--case-timeout S] [FILTER...]
//
// The checks are grouped in cases (one launcher family on one shape: "conv
// 64->64 56x56 k3x3 s1 p1 g1 N=4", "batch_norm C=10 P=49 N=37", ...);
// FILTERs pick the cases whose name contains one of them. A case that
// faults, hangs past --case-timeout (default 120 s) or dies is one CRASH
// line and the cases after it still run (test/cuda/case_runner.h);
// --no-fork runs them all in one process (for compute-sanitizer).
// Exit status: 0 all pass, 1 a failure, 77 no GPU (one line "SKIPPED: no
// CUDA GPU (...)"), 2 bad arguments.
//
// Tolerances (normwise relative error ||gpu - cpu|| / ||cpu||):
//   convolution and linear GEMMs: fp32 1e-5, tf32 5e-3, bf16 1.5e-2
//     (operands rounded to 10 or 7 explicit mantissa bits, fp32 sums; on
//     random data the error is about the unit roundoff, 5e-4 and 2e-3);
//   everything else computes in fp32 (or double) on both sides, only the
//     summation order differs: 1e-5.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/cpu/rnc_cpu.h"
#include "kernels/cuda/rnc_cuda.cuh"
#include "test/cuda/case_runner.h"
#include "test/cuda/test_util.h"

namespace cu = rnc::cuda;
namespace cpu = rnc::cpu;
using rnc::BatchNormShape;
using rnc::Conv2DShape;
using rnc::LinearShape;
using rnc::Pool2DShape;

namespace {

constexpr double kGemmTol = RNC_CUDA_PRECISION == 0   ? 1e-5
                            : RNC_CUDA_PRECISION == 1 ? 5e-3
                                                      : 1.5e-2;
constexpr double kTol = 1e-5;

#define CUDA_CHECK(call)                                                       \
  do {                                                                         \
    cudaError_t e_ = (call);                                                   \
    if (e_ != cudaSuccess) {                                                   \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,       \
                   cudaGetErrorString(e_));                                    \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

// A device buffer of floats (or ints), poisoned with NaN bytes so an output
// a kernel forgets to write fails the comparison.
template <class T = float> struct Dev {
  T *p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    CUDA_CHECK(cudaMalloc(&p, sizeof(T) * (n ? n : 1)));
    CUDA_CHECK(cudaMemset(p, 0xff, sizeof(T) * (n ? n : 1)));
  }
  explicit Dev(const std::vector<T> &v) : Dev(v.size()) {
    CUDA_CHECK(cudaMemcpy(p, v.data(), sizeof(T) * n, cudaMemcpyHostToDevice));
  }
  Dev(const Dev &) = delete;
  Dev &operator=(const Dev &) = delete;
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    CUDA_CHECK(cudaStreamSynchronize(cu::current_stream()));
    std::vector<T> v(n);
    CUDA_CHECK(cudaMemcpy(v.data(), p, sizeof(T) * n, cudaMemcpyDeviceToHost));
    return v;
  }
  operator T *() const { return p; }
};

// After each group of launches: no launcher recorded an error and the
// kernels ran.
void expect_clean(ct::Report &report, const std::string &what) {
  cudaError_t sync = cudaStreamSynchronize(cu::current_stream());
  cudaError_t launch = cu::last_launch_error();
  bool ok = sync == cudaSuccess && launch == cudaSuccess;
  if (!ok)
    std::printf("     %s: sync %s, launch %s\n", what.c_str(),
                cudaGetErrorString(sync), cudaGetErrorString(launch));
  report.expect(what + ": no CUDA error", ok);
  if (sync != cudaSuccess) { // the context is gone: the next child goes on
    std::fflush(stdout);
    std::exit(ct::kContextLost);
  }
}

template <Conv2DShape S> std::string conv_name() {
  char buf[160];
  std::snprintf(buf, sizeof buf, "conv %d->%d %dx%d k%dx%d s%d p%d g%d",
                S.in_channels, S.out_channels, S.in_h, S.in_w, S.kernel_h,
                S.kernel_w, S.stride_h, S.pad_h, S.groups);
  return buf;
}

// ----------------------------------------------------------------------------
// Convolutions: forward (bias, eval-BN epilogues), forward with statistics,
// backward data (plain and fan-in epilogue), backward weight, bias gradient.

template <Conv2DShape S> void test_conv(ct::Report &report, int N) {
  constexpr int Ci = S.in_channels, Co = S.out_channels;
  constexpr long Pi = S.in_plane(), Po = S.out_plane();
  const std::string name = conv_name<S>();
  auto x = ct::random_vec(size_t(N) * Ci * Pi, 1);
  auto w = ct::random_vec(size_t(S.weight_size()), 2, -0.5f, 0.5f);
  auto bias = ct::random_vec(Co, 3);
  auto res = ct::random_vec(size_t(N) * Co * Po, 4);
  auto dy = ct::random_vec(size_t(N) * Co * Po, 5);
  auto res_in = ct::random_vec(size_t(N) * Ci * Pi, 6);
  auto mask_in = ct::random_vec(size_t(N) * Ci * Pi, 7);
  auto scale = ct::random_vec(Co, 8, 0.5f, 1.5f);
  auto shift = ct::random_vec(Co, 9);
  Dev<> dx_h(ct::to_nhwc(x, N, Ci, Pi)), dw(w), dbias(bias);
  Dev<> dres(ct::to_nhwc(res, N, Co, Po)), ddy(ct::to_nhwc(dy, N, Co, Po));
  Dev<> dres_in(ct::to_nhwc(res_in, N, Ci, Pi));
  Dev<> dmask_in(ct::to_nhwc(mask_in, N, Ci, Pi));
  Dev<> dscale(scale), dshift(shift);

  // Forward with bias.
  {
    std::vector<float> want(size_t(N) * Co * Po);
    cpu::conv2d<S>(want.data(), x.data(), w.data(), bias.data(), N);
    Dev<> y(want.size());
    cu::conv2d<S>(y.p, dx_h.p, dw.p, dbias.p, N);
    expect_clean(report, name + " forward");
    report.compare(name + " forward + bias", ct::to_nchw(y.get(), N, Co, Po),
                   want, kGemmTol);
  }
  // Forward with the eval-BN epilogue chain: affine, residual add, ReLU.
  {
    std::vector<float> want(size_t(N) * Co * Po);
    using CA = cpu::Compose<cpu::ChannelAffineEpilogue<float>,
                            cpu::ResidualAddEpilogue<float>>;
    cpu::conv2d<S>(
        want.data(), x.data(), w.data(), nullptr, N,
        cpu::Compose<CA, cpu::ReluEpilogue>{
            CA{{scale.data(), shift.data()}, {res.data(), Co, Po}}, {}});
    Dev<> y(want.size());
    using GA = cu::Compose<cu::ChannelAffineEpilogue<float>,
                           cu::ResidualAddEpilogue<float>>;
    cu::conv2d<S>(y.p, dx_h.p, dw.p, nullptr, N,
                  cu::Compose<GA, cu::ReluEpilogue>{
                      GA{{dscale.p, dshift.p}, {dres.p, Co, Po}}, {}});
    expect_clean(report, name + " forward (affine, add, relu)");
    report.compare(name + " forward (affine, add, relu)",
                   ct::to_nchw(y.get(), N, Co, Po), want, kGemmTol);
  }
  // Forward with statistics: y as the CPU's, the sums as those of the
  // stored y (what the kernel must add up).
  {
    std::vector<float> want(size_t(N) * Co * Po), s_ref(Co), ss_ref(Co);
    cpu::conv2d_bn_train_stats<S>(want.data(), s_ref.data(), ss_ref.data(),
                                  x.data(), w.data(), bias.data(), N);
    Dev<> y(want.size()), sum(Co), sumsq(Co);
    cu::conv2d_bn_train_stats<S>(y.p, sum.p, sumsq.p, dx_h.p, dw.p, dbias.p, N);
    expect_clean(report, name + " forward_stats");
    auto got = y.get();
    report.compare(name + " forward_stats y", ct::to_nchw(got, N, Co, Po), want,
                   kGemmTol);
    std::vector<double> s(Co), ss(Co);
    for (size_t i = 0; i < got.size(); ++i) {
      s[i % Co] += got[i];
      ss[i % Co] += double(got[i]) * got[i];
    }
    report.compare(name + " forward_stats sum", sum.get(),
                   std::vector<float>(s.begin(), s.end()), kTol);
    report.compare(name + " forward_stats sumsq", sumsq.get(),
                   std::vector<float>(ss.begin(), ss.end()), kTol);
  }
  // Backward data, plain and with the fan-in epilogue.
  {
    std::vector<float> want(size_t(N) * Ci * Pi);
    cpu::conv2d_grad_input<S>(want.data(), dy.data(), w.data(), N);
    Dev<> dx(want.size());
    cu::conv2d_grad_input<S>(dx.p, ddy.p, dw.p, N);
    expect_clean(report, name + " backward data");
    report.compare(name + " backward data", ct::to_nchw(dx.get(), N, Ci, Pi),
                   want, kGemmTol);
    cpu::conv2d_grad_input<S>(
        want.data(), dy.data(), w.data(), N,
        cpu::Compose<cpu::ResidualAddEpilogue<float>,
                     cpu::ReluMaskEpilogue<float>>{{res_in.data(), Ci, Pi},
                                                   {mask_in.data(), Ci, Pi}});
    cu::conv2d_grad_input<S>(
        dx.p, ddy.p, dw.p, N,
        cu::Compose{cu::ResidualAddEpilogue<float>{dres_in.p, Ci, Pi},
                    cu::ReluMaskEpilogue<float>{dmask_in.p, Ci, Pi}});
    expect_clean(report, name + " backward data (fan-in)");
    report.compare(name + " backward data (add, relu mask)",
                   ct::to_nchw(dx.get(), N, Ci, Pi), want, kGemmTol);
  }
  // Backward data with the fan-in epilogue and the BN backward sums
  // (rn.conv2d_grad_input_bn_reduce): the sums against those of the stored
  // gradient and against the CPU kernel's.
  {
    auto mean = ct::random_vec(Ci, 10);
    std::vector<float> want(size_t(N) * Ci * Pi), gs_ref(Ci), gds_ref(Ci);
    cpu::conv2d_grad_input_bn_reduce<S>(
        want.data(), gs_ref.data(), gds_ref.data(), dy.data(), w.data(),
        x.data(), mean.data(), N,
        cpu::Compose<cpu::ResidualAddEpilogue<float>,
                     cpu::ReluMaskEpilogue<float>>{{res_in.data(), Ci, Pi},
                                                   {mask_in.data(), Ci, Pi}});
    Dev<> dx(want.size()), dmean(mean), gs(Ci), gds(Ci);
    cu::conv2d_grad_input_bn_reduce<S>(
        dx.p, gs.p, gds.p, ddy.p, dw.p, dx_h.p, dmean.p, N,
        cu::Compose{cu::ResidualAddEpilogue<float>{dres_in.p, Ci, Pi},
                    cu::ReluMaskEpilogue<float>{dmask_in.p, Ci, Pi}});
    expect_clean(report, name + " backward data + BN sums");
    auto got = dx.get();
    report.compare(name + " backward data + BN sums dx",
                   ct::to_nchw(got, N, Ci, Pi), want, kGemmTol);
    auto xh = ct::to_nhwc(x, N, Ci, Pi);
    std::vector<double> s(Ci), sd(Ci);
    for (size_t i = 0; i < got.size(); ++i) {
      s[i % Ci] += got[i];
      sd[i % Ci] += double(got[i]) * (xh[i] - mean[i % Ci]);
    }
    report.compare(name + " backward data + BN sums: sum g", gs.get(),
                   std::vector<float>(s.begin(), s.end()), kTol);
    report.compare(name + " backward data + BN sums: sum g (x - mean)",
                   gds.get(), std::vector<float>(sd.begin(), sd.end()), kTol);
    if (RNC_CUDA_PRECISION != 2) // bf16: the sums cancel, see emulation test
      report.compare(name + " backward data + BN sums: sums vs cpu", gs.get(),
                     gs_ref, kGemmTol);
  }
  // Backward weight and bias.
  {
    std::vector<float> want(w.size());
    cpu::conv2d_grad_weight<S>(want.data(), dy.data(), x.data(), N);
    Dev<> dwg(w.size());
    cu::conv2d_grad_weight<S>(dwg.p, ddy.p, dx_h.p, N);
    expect_clean(report, name + " backward weight");
    report.compare(name + " backward weight", dwg.get(), want, kGemmTol);
    std::vector<float> db_ref(Co);
    cpu::conv2d_bias_grad<S>(db_ref.data(), dy.data(), N);
    Dev<> db(Co);
    cu::conv2d_bias_grad<S>(db.p, ddy.p, N);
    expect_clean(report, name + " backward bias");
    report.compare(name + " backward bias", db.get(), db_ref, kTol);
  }
}

// ----------------------------------------------------------------------------
// Batch norm.

template <BatchNormShape S> void test_batch_norm(ct::Report &report, int N) {
  constexpr int C = S.channels;
  constexpr long P = S.plane;
  const size_t total = size_t(N) * C * P;
  const long count = long(N) * P;
  const std::string name =
      "batch_norm C=" + std::to_string(C) + " P=" + std::to_string(P);
  auto x = ct::random_vec(total, 11, -2.0f, 3.0f);
  auto gamma = ct::random_vec(C, 12, 0.5f, 1.5f);
  auto beta = ct::random_vec(C, 13);
  auto res = ct::random_vec(total, 14);
  auto dy = ct::random_vec(total, 15);
  auto relu_out = ct::random_vec(total, 16);
  auto rmean = ct::random_vec(C, 17);
  auto rvar = ct::random_vec(C, 18, 0.5f, 2.0f);
  Dev<> dx_in(ct::to_nhwc(x, N, C, P)), dgamma(gamma), dbeta(beta);
  Dev<> dres(ct::to_nhwc(res, N, C, P)), ddy(ct::to_nhwc(dy, N, C, P));
  Dev<> drelu(ct::to_nhwc(relu_out, N, C, P));

  // Statistics from sums (of x, as the conv would give them).
  std::vector<float> sum(C), sumsq(C);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (long p = 0; p < P; ++p) {
        float v = x[(long(n) * C + c) * P + p];
        sum[c] += v;
        sumsq[c] += v * v;
      }
  std::vector<float> mean(C), inv_std(C), var(C);
  cpu::batch_norm_stats_from_sums(mean.data(), inv_std.data(), var.data(),
                                  sum.data(), sumsq.data(), C, count, 1e-5f);
  Dev<> dmean(C), dinv(C), dvar(C), dsum(sum), dsumsq(sumsq);
  cu::batch_norm_stats_from_sums(dmean.p, dinv.p, dvar.p, dsum.p, dsumsq.p, C,
                                 count, 1e-5f);
  expect_clean(report, name + " stats_from_sums");
  report.compare(name + " stats_from_sums mean", dmean.get(), mean, kTol);
  report.compare(name + " stats_from_sums inv_std", dinv.get(), inv_std, kTol);
  report.compare(name + " stats_from_sums var", dvar.get(), var, kTol);

  // Apply with each epilogue the emitter writes.
  auto apply = [&](const char *what, const auto &cpu_epi, const auto &gpu_epi) {
    std::vector<float> want(total);
    cpu::batch_norm_apply<S>(want.data(), x.data(), mean.data(), inv_std.data(),
                             gamma.data(), beta.data(), N, cpu_epi);
    Dev<> y(total);
    cu::batch_norm_apply<S>(y.p, dx_in.p, dmean.p, dinv.p, dgamma.p, dbeta.p, N,
                            gpu_epi);
    expect_clean(report, name + " apply " + what);
    report.compare(name + " apply " + what, ct::to_nchw(y.get(), N, C, P), want,
                   kTol);
  };
  apply("", cpu::NoEpilogue{}, cu::NoEpilogue{});
  apply("relu", cpu::ReluEpilogue{}, cu::ReluEpilogue{});
  apply("add", cpu::ResidualAddEpilogue<float>{res.data(), C, P},
        cu::ResidualAddEpilogue<float>{dres.p, C, P});
  apply("add relu",
        cpu::Compose<cpu::ResidualAddEpilogue<float>, cpu::ReluEpilogue>{
            {res.data(), C, P}, {}},
        cu::Compose<cu::ResidualAddEpilogue<float>, cu::ReluEpilogue>{
            {dres.p, C, P}, {}});

  // Fold for eval, with and without a conv bias.
  {
    auto cbias = ct::random_vec(C, 19);
    Dev<> drm(rmean), drv(rvar), dcb(cbias), s(C), t(C);
    std::vector<float> s_ref(C), t_ref(C);
    for (int with_bias = 0; with_bias < 2; ++with_bias) {
      cpu::conv2d_bn_eval_fold(s_ref.data(), t_ref.data(), gamma.data(),
                               beta.data(), rmean.data(), rvar.data(),
                               with_bias ? cbias.data() : nullptr, C, 1e-5);
      cu::conv2d_bn_eval_fold(s.p, t.p, dgamma.p, dbeta.p, drm.p, drv.p,
                              with_bias ? dcb.p : nullptr, C, 1e-5);
      expect_clean(report, name + " fold_eval");
      const std::string b = with_bias ? " (bias)" : "";
      report.compare(name + " fold_eval scale" + b, s.get(), s_ref, kTol);
      report.compare(name + " fold_eval shift" + b, t.get(), t_ref, kTol);
    }
  }
  // Eval forward.
  {
    std::vector<float> want(total);
    cpu::batch_norm<S>(want.data(), x.data(), gamma.data(), beta.data(),
                       rmean.data(), rvar.data(), N, 1e-5f);
    Dev<> drm(rmean), drv(rvar), y(total);
    cu::batch_norm<S>(y.p, dx_in.p, dgamma.p, dbeta.p, drm.p, drv.p, N, 1e-5f);
    expect_clean(report, name + " forward_eval");
    report.compare(name + " forward_eval", ct::to_nchw(y.get(), N, C, P), want,
                   kTol);
  }
  // Train forward, without and with the running update.
  for (int update = 0; update < 2; ++update) {
    std::vector<float> want(total), m_ref(C), i_ref(C), rm_ref = rmean,
                                                        rv_ref = rvar;
    cpu::batch_norm_train<S>(want.data(), m_ref.data(), i_ref.data(),
                             update ? rm_ref.data() : nullptr,
                             update ? rv_ref.data() : nullptr, x.data(),
                             gamma.data(), beta.data(), N, 1e-5f, 0.1f);
    Dev<> y(total), m(C), is(C), drm(rmean), drv(rvar);
    cu::batch_norm_train<S>(y.p, m.p, is.p, update ? drm.p : nullptr,
                            update ? drv.p : nullptr, dx_in.p, dgamma.p,
                            dbeta.p, N, 1e-5f, 0.1f);
    expect_clean(report, name + " forward_train");
    const std::string u = update ? " (running update)" : "";
    report.compare(name + " forward_train y" + u, ct::to_nchw(y.get(), N, C, P),
                   want, kTol);
    report.compare(name + " forward_train mean" + u, m.get(), m_ref, kTol);
    report.compare(name + " forward_train inv_std" + u, is.get(), i_ref, kTol);
    if (update) {
      report.compare(name + " forward_train running_mean", drm.get(), rm_ref,
                     kTol);
      report.compare(name + " forward_train running_var", drv.get(), rv_ref,
                     kTol);
    }
  }
  // Running update from inv_std.
  {
    std::vector<float> rm_ref = rmean, rv_ref = rvar;
    cpu::batch_norm_running_update(rm_ref.data(), rv_ref.data(), mean.data(),
                                   inv_std.data(), C, count, 1e-5, 0.1f);
    Dev<> drm(rmean), drv(rvar);
    cu::batch_norm_running_update(drm.p, drv.p, dmean.p, dinv.p, C, count, 1e-5,
                                  0.1f);
    expect_clean(report, name + " running_update_from_inv_std");
    report.compare(name + " running_update running_mean", drm.get(), rm_ref,
                   kTol);
    report.compare(name + " running_update running_var", drv.get(), rv_ref,
                   kTol);
  }
  // Backward, plain and through a ReLU.
  for (int relu = 0; relu < 2; ++relu) {
    std::vector<float> dx_ref(total), dg_ref(C), db_ref(C);
    if (relu)
      cpu::batch_norm_relu_grad<S>(dx_ref.data(), dg_ref.data(), db_ref.data(),
                                   dy.data(), relu_out.data(), x.data(),
                                   mean.data(), inv_std.data(), gamma.data(),
                                   N);
    else
      cpu::batch_norm_grad<S>(dx_ref.data(), dg_ref.data(), db_ref.data(),
                              dy.data(), x.data(), mean.data(), inv_std.data(),
                              gamma.data(), N);
    Dev<> dx(total), dg(C), db(C);
    if (relu)
      cu::batch_norm_relu_grad<S>(dx.p, dg.p, db.p, ddy.p, drelu.p, dx_in.p,
                                  dmean.p, dinv.p, dgamma.p, N);
    else
      cu::batch_norm_grad<S>(dx.p, dg.p, db.p, ddy.p, dx_in.p, dmean.p, dinv.p,
                             dgamma.p, N);
    expect_clean(report, name + " backward");
    const std::string r = relu ? " relu_grad" : " backward";
    report.compare(name + r + " dx", ct::to_nchw(dx.get(), N, C, P), dx_ref,
                   kTol);
    report.compare(name + r + " dgamma", dg.get(), dg_ref, kTol);
    report.compare(name + r + " dbeta", db.get(), db_ref, kTol);
  }
  // Backward from sums taken elsewhere (rn.batch_norm_grad_from_sums): the
  // CPU's sums of dy and dy (x - mean) in, the CPU's backward out.
  if constexpr (P > 1) {
    std::vector<float> gs(C), gds(C);
    for (size_t i = 0; i < total; ++i) {
      const int c = int((long(i) / P) % C); // NCHW on the host
      gs[c] += dy[i];
      gds[c] += dy[i] * (x[i] - mean[c]);
    }
    std::vector<float> dx_ref(total), dg_ref(C), db_ref(C);
    cpu::batch_norm_grad_from_sums<S>(
        dx_ref.data(), dg_ref.data(), db_ref.data(), dy.data(), x.data(),
        mean.data(), inv_std.data(), gamma.data(), gs.data(), gds.data(), N);
    Dev<> dx(total), dg(C), db(C), dgs(gs), dgds(gds);
    cu::batch_norm_grad_from_sums<S>(dx.p, dg.p, db.p, ddy.p, dx_in.p, dmean.p,
                                     dinv.p, dgamma.p, dgs.p, dgds.p, N);
    expect_clean(report, name + " backward_from_sums");
    report.compare(name + " backward_from_sums dx",
                   ct::to_nchw(dx.get(), N, C, P), dx_ref, kTol);
    report.compare(name + " backward_from_sums dgamma", dg.get(), dg_ref, kTol);
    report.compare(name + " backward_from_sums dbeta", db.get(), db_ref, kTol);
  }
}

// ----------------------------------------------------------------------------
// Pooling. Inputs on a coarse grid (multiples of 1/8) so windows have ties:
// the first maximum must win, as on the CPU.

template <Pool2DShape S> void test_pool(ct::Report &report, int N, bool max) {
  constexpr int C = S.channels;
  constexpr long Pi = S.in_plane(), Po = S.out_plane();
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s_pool2d C=%d %dx%d k%d s%d p%d%s",
                max ? "max" : "avg", C, S.in_h, S.in_w, S.kernel_h, S.stride_h,
                S.pad_h, !max && !S.count_include_pad ? " exclude-pad" : "");
  const std::string name = buf;
  auto x = ct::random_vec(size_t(N) * C * Pi, 21, -1.0f, 1.0f);
  for (float &v : x)
    v = std::round(v * 8.0f) / 8.0f;
  auto dy = ct::random_vec(size_t(N) * C * Po, 22);
  Dev<> dx_in(ct::to_nhwc(x, N, C, Pi)), ddy(ct::to_nhwc(dy, N, C, Po));
  std::vector<float> y_ref(size_t(N) * C * Po), dx_ref(size_t(N) * C * Pi);
  Dev<> y(y_ref.size()), dx(dx_ref.size());
  if (max) {
    cpu::max_pool2d<S>(y_ref.data(), x.data(), N);
    cpu::max_pool2d_grad<S>(dx_ref.data(), dy.data(), x.data(), N);
    cu::max_pool2d<S>(y.p, dx_in.p, N);
    cu::max_pool2d_grad<S>(dx.p, ddy.p, dx_in.p, N);
  } else {
    cpu::avg_pool2d<S>(y_ref.data(), x.data(), N);
    cpu::avg_pool2d_grad<S>(dx_ref.data(), dy.data(), N);
    cu::avg_pool2d<S>(y.p, dx_in.p, N);
    cu::avg_pool2d_grad<S>(dx.p, ddy.p, N);
  }
  expect_clean(report, name);
  report.compare(name + " forward", ct::to_nchw(y.get(), N, C, Po), y_ref,
                 kTol);
  report.compare(name + " backward", ct::to_nchw(dx.get(), N, C, Pi), dx_ref,
                 kTol);
}

template <int C, long P> void test_global_pool(ct::Report &report, int N) {
  const std::string name =
      "global_avg_pool C=" + std::to_string(C) + " P=" + std::to_string(P);
  auto x = ct::random_vec(size_t(N) * C * P, 23);
  auto dy = ct::random_vec(size_t(N) * C, 24);
  std::vector<float> y_ref(size_t(N) * C), dx_ref(x.size());
  cpu::global_avg_pool<C, P>(y_ref.data(), x.data(), N);
  cpu::global_avg_pool_grad<C, P>(dx_ref.data(), dy.data(), N);
  Dev<> dx_in(ct::to_nhwc(x, N, C, P)), ddy(dy), y(y_ref.size()),
      dx(dx_ref.size());
  cu::global_avg_pool<C, P>(y.p, dx_in.p, N);
  cu::global_avg_pool_grad<C, P>(dx.p, ddy.p, N);
  expect_clean(report, name);
  report.compare(name + " forward", y.get(), y_ref, kTol);
  report.compare(name + " backward", ct::to_nchw(dx.get(), N, C, P), dx_ref,
                 kTol);
}

// ----------------------------------------------------------------------------
// Linear layer.

template <LinearShape S> void test_linear(ct::Report &report, int N) {
  constexpr int I = S.in_features, O = S.out_features;
  const std::string name =
      "linear " + std::to_string(I) + "->" + std::to_string(O);
  auto x = ct::random_vec(size_t(N) * I, 31);
  auto w = ct::random_vec(size_t(O) * I, 32, -0.2f, 0.2f);
  auto b = ct::random_vec(O, 33);
  auto dy = ct::random_vec(size_t(N) * O, 34);
  Dev<> dx_in(x), dw(w), db(b), ddy(dy);
  std::vector<float> y_ref(size_t(N) * O), dx_ref(x.size()), dw_ref(w.size()),
      db_ref(O);
  Dev<> y(y_ref.size()), dx(dx_ref.size()), dwg(w.size()), dbg(O);
  for (int with_bias = 0; with_bias < 2; ++with_bias) {
    cpu::linear<S>(y_ref.data(), x.data(), w.data(),
                   with_bias ? b.data() : nullptr, N);
    cu::linear<S>(y.p, dx_in.p, dw.p, with_bias ? db.p : nullptr, N);
    expect_clean(report, name + " forward");
    report.compare(name + (with_bias ? " forward + bias" : " forward"), y.get(),
                   y_ref, kGemmTol);
  }
  cpu::linear_grad_input<S>(dx_ref.data(), dy.data(), w.data(), N);
  cpu::linear_grad_weight<S>(dw_ref.data(), dy.data(), x.data(), N);
  cpu::linear_bias_grad<S>(db_ref.data(), dy.data(), N);
  cu::linear_grad_input<S>(dx.p, ddy.p, dw.p, N);
  cu::linear_grad_weight<S>(dwg.p, ddy.p, dx_in.p, N);
  cu::linear_bias_grad<S>(dbg.p, ddy.p, N);
  expect_clean(report, name + " backward");
  report.compare(name + " backward data", dx.get(), dx_ref, kGemmTol);
  report.compare(name + " backward weight", dwg.get(), dw_ref, kGemmTol);
  report.compare(name + " backward bias", dbg.get(), db_ref, kTol);
}

// ----------------------------------------------------------------------------
// Loss.

template <int K> void test_loss(ct::Report &report, int N) {
  const std::string name = "softmax_cross_entropy K=" + std::to_string(K);
  auto logits = ct::random_vec(size_t(N) * K, 41, -4.0f, 4.0f);
  std::vector<int32_t> labels(N);
  for (int n = 0; n < N; ++n) {
    // Every third row labelled with its argmax, so `correct` is non-trivial.
    int am = 0;
    for (int j = 1; j < K; ++j)
      if (logits[size_t(n) * K + j] > logits[size_t(n) * K + am])
        am = j;
    labels[n] = n % 3 == 0 ? am : int((n * 7919L) % K);
  }
  float loss_ref;
  int correct_ref;
  cpu::softmax_cross_entropy<K>(&loss_ref, &correct_ref, logits.data(),
                                labels.data(), N);
  std::vector<float> d_ref(logits.size());
  cpu::softmax_cross_entropy_grad<K>(d_ref.data(), logits.data(), labels.data(),
                                     N);
  Dev<> dl(logits), loss(1), dlog(logits.size());
  Dev<int32_t> dlab(labels), correct(1);
  cu::softmax_cross_entropy<K>(loss.p, correct.p, dl.p, dlab.p, N);
  cu::softmax_cross_entropy_grad<K>(dlog.p, dl.p, dlab.p, N);
  expect_clean(report, name);
  report.compare(name + " loss", loss.get(), {loss_ref}, 1e-6);
  const int got = correct.get()[0];
  report.expect(name + " correct = " + std::to_string(got) + " (cpu " +
                    std::to_string(correct_ref) + ")",
                got == correct_ref);
  report.compare(name + " backward", dlog.get(), d_ref, 1e-6);
  // Only the count (the emitter's rn.count_correct).
  cu::softmax_cross_entropy<K, float>(nullptr, correct.p, dl.p, dlab.p, N);
  expect_clean(report, name + " count only");
  report.expect(name + " count only", correct.get()[0] == correct_ref);
}

// ----------------------------------------------------------------------------
// Elementwise, layout, copy.

void test_elementwise(ct::Report &report) {
  const long n = 100003;
  auto a = ct::random_vec(n, 51), b = ct::random_vec(n, 52);
  Dev<> da(a), db(b), y(n);
  std::vector<float> want(n);
  cpu::relu(want.data(), a.data(), n);
  cu::relu(y.p, da.p, n);
  expect_clean(report, "relu");
  report.compare("relu", y.get(), want, 0.0);
  cpu::relu_grad(want.data(), b.data(), a.data(), n);
  cu::relu_grad(y.p, db.p, da.p, n);
  expect_clean(report, "relu_grad");
  report.compare("relu_grad", y.get(), want, 0.0);
  cpu::add(want.data(), a.data(), b.data(), n);
  cu::add(y.p, da.p, db.p, n);
  expect_clean(report, "add");
  report.compare("add", y.get(), want, 0.0);
  cpu::add_relu(want.data(), a.data(), b.data(), n);
  cu::add_relu(y.p, da.p, db.p, n);
  expect_clean(report, "add_relu");
  report.compare("add_relu", y.get(), want, 0.0);
  cu::copy_floats(y.p, da.p, n);
  cu::accumulate(y.p, db.p, n);
  cpu::add(want.data(), a.data(), b.data(), n);
  expect_clean(report, "copy_floats + accumulate");
  report.compare("copy_floats + accumulate", y.get(), want, 0.0);
  // In place: y aliases x.
  cu::relu(da.p, da.p, n);
  cpu::relu(want.data(), a.data(), n);
  expect_clean(report, "relu in place");
  report.compare("relu in place", da.get(), want, 0.0);

  const int N = 3, C = 3;
  const long HW = 37 * 29;
  auto img = ct::random_vec(size_t(N) * C * HW, 53);
  Dev<> dimg(img), nhwc(img.size()), back(img.size());
  cu::nchw_to_nhwc(nhwc.p, dimg.p, N, C, HW);
  cu::nhwc_to_nchw(back.p, nhwc.p, N, C, HW);
  expect_clean(report, "nchw_to_nhwc");
  report.compare("nchw_to_nhwc", nhwc.get(), ct::to_nhwc(img, N, C, HW), 0.0);
  report.compare("nhwc_to_nchw", back.get(), img, 0.0);
}

// ----------------------------------------------------------------------------
// Optimizer: one launch over a table of tensors in one state block, with
// hyper-parameters read from device memory (changed between two steps).

void test_sgd(ct::Report &report) {
  const long sizes[] = {64 * 3 * 7 * 7, 64, 64, 2359296, 10, 5121, 1};
  constexpr int kCount = 7;
  cu::SgdTable<kCount> table{};
  long at = 0;
  for (int i = 0; i < kCount; ++i) {
    auto place = [&](long n) {
      long o = at;
      at += (n + 15) / 16 * 16;
      return o;
    };
    table.t[i] = {place(sizes[i]), place(sizes[i]), place(sizes[i]), sizes[i]};
  }
  auto state = ct::random_vec(size_t(at), 61);
  std::vector<float> want = state;
  Dev<> S(state);
  const float h1[3] = {0.1f, 0.9f, 5e-4f}, h2[3] = {0.05f, 0.8f, 1e-4f};
  Dev<> hyper(std::vector<float>(h1, h1 + 3));
  for (int step = 0; step < 2; ++step) {
    const float *h = step == 0 ? h1 : h2;
    if (step == 1)
      CUDA_CHECK(cudaMemcpy(hyper.p, h2, sizeof h2, cudaMemcpyHostToDevice));
    for (const cu::SgdTensor &t : table.t)
      cpu::sgd_update(want.data() + t.param, want.data() + t.momentum,
                      want.data() + t.grad, t.numel, h[0], h[1], h[2]);
    cu::sgd_update_all(S.p, table, hyper.p);
  }
  expect_clean(report, "sgd_update_all");
  report.compare("sgd_update_all (7 tensors, 2 steps)", S.get(), want, 1e-6);
  // One tensor with host scalars.
  auto p = ct::random_vec(1000, 62), m = ct::random_vec(1000, 63),
       g = ct::random_vec(1000, 64);
  Dev<> dp(p), dm(m), dg(g);
  cpu::sgd_update(p.data(), m.data(), g.data(), 1000, 0.1f, 0.9f, 5e-4f);
  cu::sgd_update(dp.p, dm.p, dg.p, 1000, 0.1f, 0.9f, 5e-4f);
  expect_clean(report, "sgd_update");
  report.compare("sgd_update param", dp.get(), p, 1e-6);
  report.compare("sgd_update momentum", dm.get(), m, 1e-6);
}

// ----------------------------------------------------------------------------
// CUDA graph capture: the fused conv + BN training forward and the
// optimizer, captured once and replayed, must equal the direct launches
// (memsets and kernels only; nothing that synchronizes).

void test_graph(ct::Report &report) {
  constexpr Conv2DShape S{.in_channels = 32,
                          .out_channels = 64,
                          .in_h = 14,
                          .in_w = 14,
                          .kernel_h = 3,
                          .kernel_w = 3,
                          .pad_h = 1,
                          .pad_w = 1};
  constexpr BatchNormShape B{.channels = 64, .plane = S.out_plane()};
  const int N = 8;
  auto x = ct::random_vec(size_t(N) * 32 * S.in_plane(), 71);
  auto w = ct::random_vec(size_t(S.weight_size()), 72, -0.3f, 0.3f);
  auto gb = ct::random_vec(128, 73);
  Dev<> dx_in(x), dw(w), dgb(gb), y(size_t(N) * 64 * S.out_plane()), z(y.n),
      sum(64), sumsq(64), mean(64), inv(64);
  auto run = [&] {
    cu::conv2d_bn_train_stats<S>(y.p, sum.p, sumsq.p, dx_in.p, dw.p, nullptr,
                                 N);
    cu::batch_norm_stats_from_sums(mean.p, inv.p, static_cast<float *>(nullptr),
                                   sum.p, sumsq.p, 64, long(N) * B.plane,
                                   1e-5f);
    cu::batch_norm_apply<B>(z.p, y.p, mean.p, inv.p, dgb.p, dgb.p + 64, N,
                            cu::ReluEpilogue{});
  };
  run();
  expect_clean(report, "graph: direct run");
  auto direct = z.get();
  CUDA_CHECK(cudaMemset(z.p, 0xff, sizeof(float) * z.n));
  cudaStream_t stream = cu::current_stream();
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  run();
  CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  report.expect("graph: capture recorded no error",
                cu::last_launch_error() == cudaSuccess);
  CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int i = 0; i < 2; ++i)
    CUDA_CHECK(cudaGraphLaunch(exec, stream));
  expect_clean(report, "graph: replay");
  // The statistics use atomics: equal up to rounding, not bit for bit.
  report.compare("graph: replay equals direct run", z.get(), direct, 1e-5);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

// ----------------------------------------------------------------------------
// Shapes: the stems, 3x3 stride 1 and 2, 1x1 stride 1 and 2, ResNeXt groups
// (4 and 8 channels per group), odd channel counts, a ragged batch.

constexpr Conv2DShape kStemRgb{.in_channels = 3,
                               .out_channels = 64,
                               .in_h = 64,
                               .in_w = 64,
                               .kernel_h = 7,
                               .kernel_w = 7,
                               .stride_h = 2,
                               .stride_w = 2,
                               .pad_h = 3,
                               .pad_w = 3};
constexpr Conv2DShape kStemGray{.in_channels = 1,
                                .out_channels = 64,
                                .in_h = 96,
                                .in_w = 96,
                                .kernel_h = 7,
                                .kernel_w = 7,
                                .stride_h = 2,
                                .stride_w = 2,
                                .pad_h = 3,
                                .pad_w = 3};
constexpr Conv2DShape kStem3x3{.in_channels = 1,
                               .out_channels = 32,
                               .in_h = 28,
                               .in_w = 28,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .pad_h = 1,
                               .pad_w = 1};
constexpr Conv2DShape k3x3{.in_channels = 64,
                           .out_channels = 64,
                           .in_h = 56,
                           .in_w = 56,
                           .kernel_h = 3,
                           .kernel_w = 3,
                           .pad_h = 1,
                           .pad_w = 1};
constexpr Conv2DShape k3x3s2{.in_channels = 128,
                             .out_channels = 128,
                             .in_h = 28,
                             .in_w = 28,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .stride_h = 2,
                             .stride_w = 2,
                             .pad_h = 1,
                             .pad_w = 1};
constexpr Conv2DShape k1x1{
    .in_channels = 64, .out_channels = 256, .in_h = 28, .in_w = 28};
constexpr Conv2DShape k1x1s2{.in_channels = 256,
                             .out_channels = 512,
                             .in_h = 14,
                             .in_w = 14,
                             .stride_h = 2,
                             .stride_w = 2};
constexpr Conv2DShape kDeep{.in_channels = 512,
                            .out_channels = 512,
                            .in_h = 7,
                            .in_w = 7,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1};
constexpr Conv2DShape kGrouped4{.in_channels = 128,
                                .out_channels = 128,
                                .in_h = 28,
                                .in_w = 28,
                                .kernel_h = 3,
                                .kernel_w = 3,
                                .pad_h = 1,
                                .pad_w = 1,
                                .groups = 32};
constexpr Conv2DShape kGrouped8s2{.in_channels = 256,
                                  .out_channels = 256,
                                  .in_h = 14,
                                  .in_w = 14,
                                  .kernel_h = 3,
                                  .kernel_w = 3,
                                  .stride_h = 2,
                                  .stride_w = 2,
                                  .pad_h = 1,
                                  .pad_w = 1,
                                  .groups = 32};
constexpr Conv2DShape kOdd{.in_channels = 5,
                           .out_channels = 7,
                           .in_h = 13,
                           .in_w = 11,
                           .kernel_h = 3,
                           .kernel_w = 3,
                           .stride_h = 2,
                           .stride_w = 2,
                           .pad_h = 1,
                           .pad_w = 1};

constexpr BatchNormShape kBn{.channels = 64, .plane = 56 * 56};
constexpr BatchNormShape kBnOdd{.channels = 10, .plane = 7 * 7};
constexpr BatchNormShape kBnRank2{.channels = 512, .plane = 1};

constexpr Pool2DShape kMaxPool{.channels = 64,
                               .in_h = 56,
                               .in_w = 56,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .stride_h = 2,
                               .stride_w = 2,
                               .pad_h = 1,
                               .pad_w = 1};
constexpr Pool2DShape kMaxPool2{.channels = 32,
                                .in_h = 28,
                                .in_w = 28,
                                .kernel_h = 2,
                                .kernel_w = 2,
                                .stride_h = 2,
                                .stride_w = 2};
constexpr Pool2DShape kAvgPool{.channels = 32,
                               .in_h = 15,
                               .in_w = 15,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .stride_h = 2,
                               .stride_w = 2,
                               .pad_h = 1,
                               .pad_w = 1};
constexpr Pool2DShape kAvgPoolEx{.channels = 32,
                                 .in_h = 15,
                                 .in_w = 15,
                                 .kernel_h = 3,
                                 .kernel_w = 3,
                                 .stride_h = 2,
                                 .stride_w = 2,
                                 .pad_h = 1,
                                 .pad_w = 1,
                                 .count_include_pad = false};

constexpr LinearShape kFc{.in_features = 512, .out_features = 10};
constexpr LinearShape kFcWide{.in_features = 2048, .out_features = 1000};

// ----------------------------------------------------------------------------
// The cases, in order. A name must say which launchers and which shape.

using ct::Case;

template <Conv2DShape S> Case conv_case(int N) {
  return {conv_name<S>() + " N=" + std::to_string(N),
          [N](ct::Report &r) { test_conv<S>(r, N); }};
}
template <BatchNormShape S> Case bn_case(int N) {
  return {"batch_norm C=" + std::to_string(S.channels) +
              " P=" + std::to_string(S.plane) + " N=" + std::to_string(N),
          [N](ct::Report &r) { test_batch_norm<S>(r, N); }};
}
template <Pool2DShape S> Case pool_case(int N, bool max) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s_pool2d C=%d %dx%d k%d s%d p%d%s N=%d",
                max ? "max" : "avg", S.channels, S.in_h, S.in_w, S.kernel_h,
                S.stride_h, S.pad_h,
                !max && !S.count_include_pad ? " exclude-pad" : "", N);
  return {buf, [N, max](ct::Report &r) { test_pool<S>(r, N, max); }};
}

std::vector<Case> all_cases() {
  return {
      conv_case<kStemRgb>(2),
      conv_case<kStemGray>(3),
      conv_case<kStem3x3>(5),
      conv_case<k3x3>(4),
      conv_case<k3x3s2>(3),
      conv_case<k1x1>(3),
      conv_case<k1x1s2>(5),
      conv_case<kDeep>(9),
      conv_case<kGrouped4>(3),
      conv_case<kGrouped8s2>(4),
      conv_case<kOdd>(7),
      bn_case<kBn>(4),
      bn_case<kBnOdd>(37),
      bn_case<kBnRank2>(33),
      pool_case<kMaxPool>(3, true),
      pool_case<kMaxPool2>(5, true),
      pool_case<kAvgPool>(3, false),
      pool_case<kAvgPoolEx>(3, false),
      {"global_avg_pool C=512 P=49 N=6",
       [](ct::Report &r) { test_global_pool<512, 49>(r, 6); }},
      {"global_avg_pool C=64 P=1 N=5",
       [](ct::Report &r) { test_global_pool<64, 1>(r, 5); }},
      {"linear 512->10 N=37", [](ct::Report &r) { test_linear<kFc>(r, 37); }},
      {"linear 2048->1000 N=16",
       [](ct::Report &r) { test_linear<kFcWide>(r, 16); }},
      {"softmax_cross_entropy K=10 N=129",
       [](ct::Report &r) { test_loss<10>(r, 129); }},
      {"softmax_cross_entropy K=1000 N=33",
       [](ct::Report &r) { test_loss<1000>(r, 33); }},
      {"elementwise and layout", test_elementwise},
      {"sgd_update_all", test_sgd},
      {"graph capture and replay", test_graph},
      {"argument errors",
       [](ct::Report &r) {
         // A bad argument is recorded, not fatal, and nothing is launched.
         cu::relu<float>(nullptr, nullptr, 10);
         r.expect("a null pointer is reported by last_launch_error()",
                  cu::last_launch_error() == cudaErrorInvalidValue);
         r.expect("last_launch_error() clears",
                  cu::last_launch_error() == cudaSuccess);
       }},
  };
}

// The GPU, once; the stream every case launches on.
cudaStream_t g_stream = nullptr;

int begin(bool first) {
  int devices = 0;
  cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    // The count is garbage when the call fails (no driver).
    std::printf("SKIPPED: no CUDA GPU (%s)\n",
                cudaGetErrorString(e != cudaSuccess ? e : cudaErrorNoDevice));
    return 77;
  }
  if (first) {
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("rnc::cuda kernels on %s (sm_%d%d), RNC_CUDA_PRECISION=%d\n",
                prop.name, prop.major, prop.minor, RNC_CUDA_PRECISION);
  }
  CUDA_CHECK(cudaStreamCreate(&g_stream));
  cu::set_stream(g_stream);
  return 0;
}

void end() {
  cu::set_stream(nullptr);
  CUDA_CHECK(cudaStreamDestroy(g_stream));
}

} // namespace

int main(int argc, char **argv) {
  return ct::case_main(argc, argv, all_cases(), {begin, end});
}
