// Run-to-run determinism: every launcher that reduces across blocks (the BN
// statistics in the convolutions' epilogues, the data gradients' BN sums,
// the weight gradients' K splits, the channel sums of batch norm and bias
// gradients) called twice on the same inputs must write the same bits. The
// shapes have hundreds of blocks along M, so an atomic or an order that
// depends on timing shows.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

#include <cstring>

namespace kernels_test {

// Whether two runs wrote the same bits (NaN included).
inline bool same_bits(const std::vector<float> &a,
                      const std::vector<float> &b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

// Calls run(out) twice, each time into fresh NaN-poisoned outputs, and
// expects the same bits in every output.
template <class Run>
void expect_repeatable(ct::Report &report, const std::string &what,
                       std::vector<size_t> sizes, const Run &run) {
  std::vector<std::vector<float>> first;
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<std::unique_ptr<Dev<>>> outs;
    for (size_t n : sizes)
      outs.push_back(std::make_unique<Dev<>>(n));
    run(outs);
    expect_clean(report, what + (pass ? " (second run)" : " (first run)"));
    for (size_t i = 0; i < outs.size(); ++i) {
      std::vector<float> got = outs[i]->get();
      if (pass == 0)
        first.push_back(std::move(got));
      else
        report.expect(what + ": output " + std::to_string(i) +
                          " bit-identical in two runs",
                      same_bits(first[i], got));
    }
  }
}

template <Conv2DShape S> void test_conv_determinism(ct::Report &report, int N) {
  constexpr int Ci = S.in_channels, Co = S.out_channels;
  constexpr long Pi = S.in_plane(), Po = S.out_plane();
  const std::string name = conv_name<S>() + " N=" + std::to_string(N);
  Dev<> x(ct::random_vec(size_t(N) * Ci * Pi, 11));
  Dev<> w(ct::random_vec(size_t(S.weight_size()), 12));
  Dev<> dy(ct::random_vec(size_t(N) * Co * Po, 13));
  Dev<> mask(ct::random_vec(size_t(N) * Ci * Pi, 14));
  Dev<> mean(ct::random_vec(Ci, 15));
  const size_t xs = size_t(N) * Ci * Pi, ys = size_t(N) * Co * Po;
  expect_repeatable(report, name + " forward_stats",
                    {ys, size_t(Co), size_t(Co)}, [&](auto &o) {
                      cu::conv2d_bn_train_stats<S>(o[0]->p, o[1]->p, o[2]->p,
                                                   x.p, w.p, nullptr, N);
                    });
  expect_repeatable(report, name + " backward data + BN sums",
                    {xs, size_t(Ci), size_t(Ci)}, [&](auto &o) {
                      cu::conv2d_grad_input_bn_reduce<S>(
                          o[0]->p, o[1]->p, o[2]->p, dy.p, w.p, x.p, mean.p, N,
                          cu::ReluMaskEpilogue<float>{mask, Ci, Pi});
                    });
  expect_repeatable(
      report, name + " backward weight", {size_t(S.weight_size())},
      [&](auto &o) { cu::conv2d_grad_weight<S>(o[0]->p, dy.p, x.p, N); });
  expect_repeatable(
      report, name + " bias gradient", {size_t(Co)},
      [&](auto &o) { cu::conv2d_bias_grad<S>(o[0]->p, dy.p, N); });
}

template <BatchNormShape S>
void test_bn_determinism(ct::Report &report, int N) {
  constexpr int C = S.channels;
  const size_t n = size_t(N) * C * S.plane;
  const std::string name = "batch_norm C=" + std::to_string(C) +
                           " P=" + std::to_string(S.plane) +
                           " N=" + std::to_string(N);
  Dev<> x(ct::random_vec(n, 21)), gamma(ct::random_vec(C, 22)),
      beta(ct::random_vec(C, 23));
  expect_repeatable(
      report, name + " train forward", {n, size_t(C), size_t(C)}, [&](auto &o) {
        cu::batch_norm_train<S>(o[0]->p, o[1]->p, o[2]->p, nullptr, nullptr,
                                x.p, gamma.p, beta.p, N);
      });
}

void test_determinism(ct::Report &report) {
  test_conv_determinism<k3x3>(report, 8);    // 196 blocks along M
  test_conv_determinism<k3x3s2>(report, 16); // four phases' rows
  test_bn_determinism<kBn>(report, 8);
}

} // namespace kernels_test
