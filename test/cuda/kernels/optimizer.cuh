// The SGD launcher against the CPU kernels.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

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

} // namespace kernels_test
