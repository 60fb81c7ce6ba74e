// Loss launchers against the CPU kernels.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

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

} // namespace kernels_test
