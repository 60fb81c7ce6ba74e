// Host helpers of the CUDA kernel tests: random data, NCHW <-> NHWC, and the
// comparison that prints the largest difference per tensor.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "test/common/reference_data.h"

namespace ct {

// Uniform values in [lo, hi), deterministic per seed: the same values the
// CPU kernel tests draw (test/common/reference_data.h).
inline std::vector<float> random_vec(size_t n, uint64_t seed, float lo = -1.0f,
                                     float hi = 1.0f) {
  return rnc_test::random_vec<float>(n, seed, lo, hi);
}

// [N, C, P] <-> [N, P, C].
inline std::vector<float> to_nhwc(const std::vector<float> &src, int N, int C,
                                  long P) {
  std::vector<float> dst(src.size());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (long p = 0; p < P; ++p)
        dst[(long(n) * P + p) * C + c] = src[(long(n) * C + c) * P + p];
  return dst;
}

inline std::vector<float> to_nchw(const std::vector<float> &src, int N, int C,
                                  long P) {
  std::vector<float> dst(src.size());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (long p = 0; p < P; ++p)
        dst[(long(n) * C + c) * P + p] = src[(long(n) * P + p) * C + c];
  return dst;
}

// Compares `got` with `want`: the largest absolute difference, and the
// normwise relative error ||got - want|| / ||want|| that the tolerance
// applies to (NaN anywhere fails). Prints one line; returns pass/fail.
struct Report {
  int failures = 0;
  int checks = 0;

  bool compare(const std::string &name, const std::vector<float> &got,
               const std::vector<float> &want, double tol) {
    ++checks;
    double num = 0, den = 0, max_abs = 0;
    long worst = -1;
    bool nan = got.size() != want.size();
    for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
      double d = double(got[i]) - double(want[i]);
      if (std::isnan(d)) // in either: a kernel (or reference) bug
        nan = true;
      if (!std::isnan(d) && std::fabs(d) > max_abs) {
        max_abs = std::fabs(d);
        worst = long(i);
      }
      if (!std::isnan(d))
        num += d * d;
      den += double(want[i]) * double(want[i]);
    }
    double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
    bool ok = !nan && rel <= tol;
    std::printf("%-4s %-58s max|diff| %.3e (at %ld)  rel %.3e  tol %.1e%s\n",
                ok ? "ok" : "FAIL", name.c_str(), max_abs, worst, rel, tol,
                nan ? "  (NaN or size mismatch)" : "");
    if (!ok)
      ++failures;
    return ok;
  }

  bool expect(const std::string &name, bool ok) {
    ++checks;
    std::printf("%-4s %s\n", ok ? "ok" : "FAIL", name.c_str());
    if (!ok)
      ++failures;
    return ok;
  }
};

} // namespace ct
