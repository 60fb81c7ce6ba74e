// Elementwise, layout and copy launchers against the CPU kernels.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

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

} // namespace kernels_test
