// Batch norm launchers against the CPU kernels.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

// SyncBN with a twin: a "second rank" whose data are this rank's, so every
// sum over the ranks is twice the local one and the global batch is 2N. The
// CPU kernels with the same twin are the reference (kernels/cpu/batchnorm.h
// and kernels/cuda/batchnorm.cuh take the same kind of sync argument).
struct CpuTwinSync {
  bool active() const { return true; }
  template <class T> void operator()(T *sums, int n) const {
    for (int i = 0; i < n; ++i)
      sums[i] *= T(2);
  }
  int batch(int N) const { return 2 * N; }
};

__global__ void twin_sum_kernel(float *sums, int n) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n)
    sums[i] *= 2.0f;
}

struct GpuTwinSync {
  float *scratch_;
  bool active() const { return true; }
  void operator()(float *sums, int n) const {
    twin_sum_kernel<<<(n + 127) / 128, 128, 0, cu::current_stream()>>>(sums, n);
  }
  int batch(int N) const { return 2 * N; }
  float *scratch() const { return scratch_; }
};

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
  // SyncBN (twin): the train forward with the running update, and the
  // three backward forms; dgamma and dbeta stay this rank's, dx takes the
  // global sums and count.
  {
    const std::string t = name + " sync(twin)";
    Dev<> scratch(2 * C);
    std::vector<float> want(total), m_ref(C), i_ref(C), rm_ref = rmean,
                                                        rv_ref = rvar;
    cpu::batch_norm_train<S>(want.data(), m_ref.data(), i_ref.data(),
                             rm_ref.data(), rv_ref.data(), x.data(),
                             gamma.data(), beta.data(), N, 1e-5f, 0.1f,
                             cpu::NoEpilogue{}, CpuTwinSync{});
    Dev<> y(total), m(C), is(C), drm(rmean), drv(rvar);
    cu::batch_norm_train<S>(y.p, m.p, is.p, drm.p, drv.p, dx_in.p, dgamma.p,
                            dbeta.p, N, 1e-5f, 0.1f, cu::NoEpilogue{},
                            GpuTwinSync{scratch.p});
    expect_clean(report, t + " forward_train");
    report.compare(t + " forward_train y", ct::to_nchw(y.get(), N, C, P), want,
                   kTol);
    report.compare(t + " forward_train inv_std", is.get(), i_ref, kTol);
    report.compare(t + " forward_train running_var", drv.get(), rv_ref, kTol);
    for (int form = 0; form < 3; ++form) {
      if (form == 2 && P == 1)
        break; // from_sums runs after a conv: planes > 1
      std::vector<float> dx_ref(total), dg_ref(C), db_ref(C), gs(C), gds(C);
      for (size_t i = 0; i < total; ++i) {
        const int c = int((long(i) / P) % C); // NCHW on the host
        gs[c] += dy[i];
        gds[c] += dy[i] * (x[i] - mean[c]);
      }
      Dev<> dx(total), dg(C), db(C), dgs(gs), dgds(gds);
      const char *what[] = {" backward", " relu_grad", " backward_from_sums"};
      if (form == 0) {
        cpu::batch_norm_grad<S>(dx_ref.data(), dg_ref.data(), db_ref.data(),
                                dy.data(), x.data(), mean.data(),
                                inv_std.data(), gamma.data(), N, CpuTwinSync{});
        cu::batch_norm_grad<S>(dx.p, dg.p, db.p, ddy.p, dx_in.p, dmean.p,
                               dinv.p, dgamma.p, N, GpuTwinSync{scratch.p});
      } else if (form == 1) {
        cpu::batch_norm_relu_grad<S>(
            dx_ref.data(), dg_ref.data(), db_ref.data(), dy.data(),
            relu_out.data(), x.data(), mean.data(), inv_std.data(),
            gamma.data(), N, CpuTwinSync{});
        cu::batch_norm_relu_grad<S>(dx.p, dg.p, db.p, ddy.p, drelu.p, dx_in.p,
                                    dmean.p, dinv.p, dgamma.p, N,
                                    GpuTwinSync{scratch.p});
      } else {
        cpu::batch_norm_grad_from_sums<S>(
            dx_ref.data(), dg_ref.data(), db_ref.data(), dy.data(), x.data(),
            mean.data(), inv_std.data(), gamma.data(), gs.data(), gds.data(),
            N, CpuTwinSync{});
        cu::batch_norm_grad_from_sums<S>(dx.p, dg.p, db.p, ddy.p, dx_in.p,
                                         dmean.p, dinv.p, dgamma.p, dgs.p,
                                         dgds.p, N, GpuTwinSync{scratch.p});
      }
      expect_clean(report, t + what[form]);
      report.compare(t + what[form] + " dx", ct::to_nchw(dx.get(), N, C, P),
                     dx_ref, kTol);
      report.compare(t + what[form] + " dgamma", dg.get(), dg_ref, kTol);
      report.compare(t + what[form] + " dbeta", db.get(), db_ref, kTol);
    }
  }
}

} // namespace kernels_test
