// Pooling launchers against the CPU kernels.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

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

} // namespace kernels_test
