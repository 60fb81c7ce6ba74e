// GEMM against a naive float64 product; epilogue and thread invariance.
#include <gtest/gtest.h>
#include <omp.h>

#include "kernels/cpu/gemm.h"
#include "test_util.h"

namespace {

using rnc::cpu::gemm;

// C = alpha op(A) op(B) + beta C in float64, C with leading dimension ldc.
template <class T>
std::vector<double> gemm_ref(bool ta, bool tb, int M, int N, int K,
                             double alpha, const std::vector<T> &A, long lda,
                             const std::vector<T> &B, long ldb, double beta,
                             const std::vector<T> &C, long ldc) {
  std::vector<double> out(C.begin(), C.end());
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int k = 0; k < K; ++k) {
        double a = ta ? A[size_t(k) * lda + i] : A[size_t(i) * lda + k];
        double b = tb ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j];
        s += a * b;
      }
      double old = beta == 0 ? 0.0 : double(C[size_t(i) * ldc + j]);
      out[size_t(i) * ldc + j] = alpha * s + beta * old;
    }
  return out;
}

struct Case {
  bool ta, tb;
  int M, N, K;
  float alpha, beta;
  int pad; // extra leading-dimension padding
};

template <class T, bool Plain = false>
void check(const Case &c, uint64_t seed, double tol) {
  long lda = (c.ta ? c.M : c.K) + c.pad, ldb = (c.tb ? c.K : c.N) + c.pad,
       ldc = c.N + c.pad;
  auto A = kt::random_vec<T>(size_t(c.ta ? c.K : c.M) * lda, seed);
  auto B = kt::random_vec<T>(size_t(c.tb ? c.N : c.K) * ldb, seed + 1);
  auto C = c.beta == 0 ? kt::poisoned<T>(size_t(c.M) * ldc)
                       : kt::random_vec<T>(size_t(c.M) * ldc, seed + 2);
  auto ref = gemm_ref(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A, lda, B, ldb,
                      c.beta, C, ldc);
  if (Plain)
    rnc::cpu::gemm_plain<T>(c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), A.data(),
                            lda, B.data(), ldb, T(c.beta), C.data(), ldc);
  else
    gemm<T>(c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), A.data(), lda, B.data(), ldb,
            T(c.beta), C.data(), ldc);
  // Compare only the M x N part; the padding columns must be untouched.
  std::vector<double> got, want;
  for (int i = 0; i < c.M; ++i)
    for (int j = 0; j < ldc; ++j) {
      size_t k = size_t(i) * ldc + j;
      if (j < c.N) {
        got.push_back(C[k]);
        want.push_back(ref[k]);
      } else if (c.beta != 0) {
        EXPECT_EQ(double(C[k]), ref[k]) << "padding column written";
      }
    }
  EXPECT_LT(kt::rel_err(got, want), tol)
      << "ta=" << c.ta << " tb=" << c.tb << " M=" << c.M << " N=" << c.N
      << " K=" << c.K;
}

const Case kCases[] = {
    {false, false, 1, 1, 1, 1.0f, 0.0f, 0},
    {false, false, 37, 53, 71, 1.0f, 0.0f, 0},
    {true, false, 37, 53, 71, 1.0f, 0.0f, 3},
    {false, true, 37, 53, 71, 1.0f, 0.0f, 5},
    {true, true, 37, 53, 71, 1.0f, 0.0f, 1},
    {false, false, 64, 64, 64, 0.5f, 1.0f, 0},
    {false, true, 13, 7, 300, -1.5f, 0.25f, 2},
    {true, false, 130, 49, 257, 1.0f, 0.0f, 0},
    {false, false, 5, 3200, 40, 1.0f, 0.0f, 0},
    {false, false, 100, 3100, 300, 1.0f, 0.0f, 0},
    {false, false, 8, 48, 0, 1.0f, 0.5f, 0},
};

TEST(Gemm, FloatMatchesReference) {
  uint64_t seed = 1;
  for (const Case &c : kCases)
    check<float>(c, seed++, 1e-5);
}

TEST(Gemm, DoubleMatchesReference) {
  uint64_t seed = 100;
  for (const Case &c : kCases)
    check<double>(c, seed++, 1e-13);
}

TEST(Gemm, PlainFallbackMatchesReference) {
  uint64_t seed = 200;
  for (const Case &c : kCases)
    check<float, true>(c, seed++, 1e-5);
}

TEST(Gemm, EpilogueSeesEveryElementOnce) {
  int M = 29, N = 101,
      K = 300; // K spans two blocks: the epilogue runs after the last only
  auto A = kt::random_vec<float>(size_t(M) * K, 7),
       B = kt::random_vec<float>(size_t(K) * N, 8);
  auto C = kt::poisoned<float>(size_t(M) * N),
       R = kt::poisoned<float>(size_t(M) * N);
  gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
              R.data(), N);
  std::vector<int> seen(size_t(M) * N, 0);
  gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
              C.data(), N, [&](int i, long j, float v) {
                seen[size_t(i) * N + j]++;
                return 2.0f * v + float(i);
              });
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      ASSERT_EQ(seen[size_t(i) * N + j], 1);
      ASSERT_FLOAT_EQ(C[size_t(i) * N + j],
                      2.0f * R[size_t(i) * N + j] + float(i));
    }
}

TEST(Gemm, BitIdenticalForAnyThreadCount) {
  int M = 70, N = 900, K = 600;
  auto A = kt::random_vec<float>(size_t(M) * K, 9),
       B = kt::random_vec<float>(size_t(K) * N, 10);
  std::vector<float> C1(size_t(M) * N), C2(size_t(M) * N);
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
              C1.data(), N);
  omp_set_num_threads(std::max(2, saved));
  gemm<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
              C2.data(), N);
  omp_set_num_threads(saved);
  EXPECT_EQ(C1, C2);
}

#if RNC_HAVE_VECTOR_EXT
// The pipelined loop (B panels copied during the micro-kernels: plain
// row-major B, at most kPipelinedMaxM rows) against the blocked loop it
// replaces: the same K blocks, tiles and order, so the same bits; sizes
// with partial row tiles and last panels, one panel, and two K blocks.
TEST(Gemm, PipelinedSameBitsAsBlocked) {
  using rnc::cpu::MatrixA, rnc::cpu::MatrixB;
  namespace d = rnc::cpu::detail;
  const MatrixB<float> plain{nullptr, 1, false}, trans{nullptr, 1, true};
  ASSERT_TRUE((d::use_gemm_pipelined<float, false>(64, plain)));
  ASSERT_FALSE((d::use_gemm_pipelined<float, false>(64, trans)));
  ASSERT_FALSE(
      (d::use_gemm_pipelined<float, false>(d::kPipelinedMaxM + 1, plain)));
  struct Size {
    int M, N, K;
  };
  const Size sizes[] = {{64, 3136, 256}, {128, 784, 512}, {100, 200, 300},
                        {8, 48, 64},     {37, 97, 71},    {128, 1000, 40},
                        {1, 145, 600},   {64, 96, 3}};
  uint64_t seed = 300;
  for (Size z : sizes) {
    auto A = kt::random_vec<float>(size_t(z.M) * z.K, seed++),
         B = kt::random_vec<float>(size_t(z.K) * z.N, seed++);
    std::vector<float> piped(size_t(z.M) * z.N), blocked(size_t(z.M) * z.N);
    MatrixA<float> a{A.data(), z.K, false};
    MatrixB<float> b{B.data(), z.N, false};
    constexpr int NV = rnc::cpu::GemmBlocking<float>::NV;
    d::gemm_block_pipelined<float, NV>(0, z.M, 0, z.N, z.K, 1.0f, a, b, 0.0f,
                                       piped.data(), z.N,
                                       rnc::cpu::GemmIdentity{});
    d::gemm_block<float, false, NV>(0, z.M, 0, z.N, z.K, 1.0f, a, b, 0.0f,
                                    blocked.data(), z.N,
                                    rnc::cpu::GemmIdentity{});
    EXPECT_EQ(piped, blocked) << "M=" << z.M << " N=" << z.N << " K=" << z.K;
  }
}
#endif

} // namespace
