// Linear layer launchers against the CPU kernels.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

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

} // namespace kernels_test
