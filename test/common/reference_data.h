// Test data and error measure shared by the CPU kernel tests (test/kernels)
// and the CUDA kernel tests (test/cuda): the same inputs for the same seed,
// drawn from the parameter init rules' counter-based generator
// (kernels/init.h), and one normwise relative error.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/init.h"

namespace rnc_test {

/// Uniform values in [lo, hi), never exactly zero, deterministic per seed.
template <class T = float>
std::vector<T> random_vec(size_t n, uint64_t seed, double lo = -1.0,
                          double hi = 1.0) {
  std::vector<T> v(n);
  uint64_t key = rnc::init::rng_key(seed, 12345);
  for (size_t i = 0; i < n; ++i) {
    double u = lo + (hi - lo) * rnc::init::rng_uniform01(key, i);
    if (u == 0.0)
      u = 0.5 * (hi - lo) / 1024;
    v[i] = T(u);
  }
  return v;
}

/// ||a - b|| / ||b|| (||a - b|| when b is zero); NaN in `a` gives NaN, which
/// fails every comparison; different sizes give infinity.
template <class A, class B>
double rel_err(const std::vector<A> &a, const std::vector<B> &b) {
  if (a.size() != b.size())
    return std::numeric_limits<double>::infinity();
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

} // namespace rnc_test
