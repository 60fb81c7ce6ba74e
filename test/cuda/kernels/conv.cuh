// Convolution launchers against the CPU kernels.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

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

} // namespace kernels_test
