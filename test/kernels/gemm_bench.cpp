// Prints the GFLOP/s of rnc's CPU SGEMM for square and conv-shaped problems (a benchmark, not a test).
#include <chrono>
#include <cstdio>
#include <vector>

#include "codegen/cpu/rnc_cpu.h"

namespace {

double now_s() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Best-of-`reps` time of C = op(A) op(B) for the given shape, in GFLOP/s.
double bench(bool ta, bool tb, int M, int N, int K, int reps) {
  std::vector<float> A(size_t(M) * K), B(size_t(K) * N), C(size_t(M) * N);
  for (size_t i = 0; i < A.size(); ++i) A[i] = float((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < B.size(); ++i) B[i] = float((i * 104729) % 1000) / 1000.0f - 0.5f;
  long lda = ta ? M : K, ldb = tb ? K : N;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    double t0 = now_s();
    rnc::cpu::gemm<float>(ta, tb, M, N, K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, C.data(), N);
    best = std::min(best, now_s() - t0);
  }
  return 2.0 * M * double(N) * K / best * 1e-9;
}

}  // namespace

int main() {
  struct Case {
    const char* what;
    bool ta, tb;
    int M, N, K;
  } cases[] = {
      {"square 512", false, false, 512, 512, 512},
      {"square 1024", false, false, 1024, 1024, 1024},
      {"square 2048", false, false, 2048, 2048, 2048},
      {"conv 64->64 3x3 @56x56 (fwd)", false, false, 64, 3136, 576},
      {"conv 128->128 3x3 @28x28 (fwd)", false, false, 128, 784, 1152},
      {"conv 256->256 3x3 @14x14 (fwd)", false, false, 256, 196, 2304},
      {"conv 512->512 3x3 @7x7 (fwd)", false, false, 512, 49, 4608},
      {"conv 256->64 1x1 @56x56 (fwd)", false, false, 64, 3136, 256},
      {"conv 64->64 3x3 @56x56 (dW, B^T)", false, true, 64, 576, 3136},
      {"conv 64->64 3x3 @56x56 (dX, A^T)", true, false, 576, 3136, 64},
      {"linear 32x2048->1000 (fwd, B^T)", false, true, 32, 1000, 2048},
  };
  std::printf("%-36s %6s %6s %6s %9s\n", "case", "M", "N", "K", "GFLOP/s");
  for (const Case& c : cases) {
    int reps = c.M * double(c.N) * c.K > 1e9 ? 3 : 10;
    std::printf("%-36s %6d %6d %6d %9.1f\n", c.what, c.M, c.N, c.K, bench(c.ta, c.tb, c.M, c.N, c.K, reps));
  }
  return 0;
}
