// Benchmark (not a test): the convolutions as a training step calls them
// around a batch norm, on memory as cold as in the step. kernel-conv-bench
// times each kernel on the same buffers again and again, which stay in the
// cache; a ResNet-50 step at batch 8 moves 670 MB of workspace, so there
// every output is written to, and every input read from, memory. Here each
// kernel runs over kSets sets of tensors in turn (308 MB for a 25.7 MB
// output), best of 5 passes:
//   forward          conv2d alone
//   forward + sums   conv2d_bn_train_stats (the BN's sum and sum of squares)
//   data grad + sums conv2d_grad_input_bn_reduce with the residual-add and
//                    ReLU-mask epilogue of a bottleneck's first 1x1 layer
// Usage: kernel-conv-bn-bench [--filter TEXT] (CPU time of the process)
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "bench_shapes.h"
#include "bench_tensor.h"
#include "kernels/cpu/rnc_cpu.h"

namespace {

using rnc::Conv2DShape;
using namespace rnc::cpu;

std::string g_filter;
constexpr int kSets = 12;

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Best over 5 passes of the time per call of f(set), each pass calling it
// on every set in turn.
template <class F> double best_per_call(const F &f) {
  double best = 1e30;
  for (int pass = 0; pass < 5; ++pass) {
    double t = cpu_seconds();
    for (int s = 0; s < kSets; ++s)
      f(s);
    best = std::min(best, (cpu_seconds() - t) / kSets);
  }
  return best;
}

using Sets = std::vector<std::unique_ptr<BenchTensor>>;
Sets make_sets(size_t count, float v) {
  Sets sets;
  for (int s = 0; s < kSets; ++s)
    sets.push_back(std::make_unique<BenchTensor>(count, v));
  return sets;
}

template <Conv2DShape S> void bench(const char *what, int N) {
  if (!g_filter.empty() && !std::strstr(what, g_filter.c_str()))
    return;
  constexpr int C = S.in_channels, O = S.out_channels;
  constexpr long XP = S.in_plane(), YP = S.out_plane();
  const size_t xs = size_t(N) * C * XP, ys = size_t(N) * O * YP;
  Sets x = make_sets(xs, 0.5f), y = make_sets(ys, 0.25f), dx = make_sets(xs, 0);
  Sets residual = make_sets(xs, 0.125f), relu = make_sets(xs, 1.0f);
  BenchTensor w(S.weight_size(), 0.01f), sums(4 * size_t(std::max(C, O))),
      mean(size_t(C), 0.1f);
  const double flops =
      2.0 * N * double(O) * YP * (C / S.groups) * S.kernel_h * S.kernel_w;
  const double tf = best_per_call([&](int s) {
    conv2d<S>(y[s]->data(), x[s]->data(), w.data(), nullptr, N);
  });
  const double ts = best_per_call([&](int s) {
    conv2d_bn_train_stats<S>(y[s]->data(), sums.data(), sums.data() + O,
                             x[s]->data(), w.data(), nullptr, N);
  });
  using Fanin = Compose<ResidualAddEpilogue<float>, ReluMaskEpilogue<float>>;
  const double td = best_per_call([&](int s) {
    conv2d_grad_input_bn_reduce<S>(
        dx[s]->data(), sums.data(), sums.data() + C, y[s]->data(), w.data(),
        x[s]->data(), mean.data(), N,
        Fanin{{residual[s]->data(), C, XP}, {relu[s]->data(), C, XP}});
  });
  auto col = [&](double t) {
    std::printf(" | %6.2f ms %6.1f", t * 1e3, flops / t * 1e-9);
  };
  std::printf("| %-26s | %2d", what, N);
  col(tf);
  col(ts);
  col(td);
  std::printf(" |\n");
  std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) {
      g_filter = argv[++i];
    } else {
      std::fprintf(stderr,
                   "%s: unknown argument '%s' (or --filter without TEXT); "
                   "usage: %s [--filter TEXT]: convolutions around a batch "
                   "norm on cold memory (CPU time, ms and GFLOP/s per call)\n",
                   argv[0], argv[i], argv[0]);
      return 2;
    }
  }
  std::printf("threads %d, CPU time, tensors rotated through %d sets\n\n",
              max_threads(), kSets);
  std::printf("| shape | N | forward | forward + BN sums | data grad + "
              "add/mask + BN sums |\n|---|---|---|---|---|\n");
  // fashion_resnet (the main job) at batch 128
  bench<Conv2DShape{32, 32, 14, 14, 3, 3, 1, 1, 1, 1}>("fr 32->32 3x3 @14",
                                                       128);
  bench<Conv2DShape{32, 64, 14, 14, 3, 3, 2, 2, 1, 1}>("fr 32->64 3x3 s2 @14",
                                                       128);
  bench<Conv2DShape{64, 64, 7, 7, 3, 3, 1, 1, 1, 1}>("fr 64->64 3x3 @7", 128);
  // resnet50 at batch 8
  bench<Conv2DShape{64, 64, 56, 56, 3, 3, 1, 1, 1, 1}>("r50 64->64 3x3 @56", 8);
  bench<Conv2DShape{128, 128, 28, 28, 3, 3, 1, 1, 1, 1}>("r50 128->128 3x3 @28",
                                                         8);
  bench<Conv2DShape{64, 256, 56, 56, 1, 1}>("r50 64->256 1x1 @56", 8);
  bench<Conv2DShape{256, 64, 56, 56, 1, 1}>("r50 256->64 1x1 @56", 8);
  bench<Conv2DShape{128, 512, 28, 28, 1, 1}>("r50 128->512 1x1 @28", 8);
  bench<Conv2DShape{512, 128, 28, 28, 1, 1}>("r50 512->128 1x1 @28", 8);
  bench<Conv2DShape{256, 512, 56, 56, 1, 1, 2, 2}>("r50 256->512 1x1 s2 @56",
                                                   8);
  bench<Conv2DShape{256, 1024, 14, 14, 1, 1}>("r50 256->1024 1x1 @14", 8);
  // stride-2 3x3 layers (resnet50 v1.5's, resnext50's grouped ones)
  bench<conv3x3(128, 56, 2)>("r50 128->128 3x3 s2 @56", 8);
  bench<conv3x3(256, 28, 2)>("r50 256->256 3x3 s2 @28", 8);
  bench<conv3x3(512, 28, 2, 32)>("rx50 512 g32 3x3 s2 @28", 8);
  bench<conv3x3(1024, 14, 2, 32)>("rx50 1024 g32 3x3 s2 @14", 8);
  return 0;
}
