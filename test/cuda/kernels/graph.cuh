// CUDA graph capture and replay of fused launchers.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

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

} // namespace kernels_test
