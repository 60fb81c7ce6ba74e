// Kernel-test helpers: random data, NaN poison, errors, finite differences.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/init.h"

namespace kt {

// Uniform values in [lo, hi), never exactly zero, deterministic per seed.
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

// A buffer every element of which is NaN: an output the kernel forgets to write
// fails the comparison.
template <class T = float> std::vector<T> poisoned(size_t n) {
  return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

template <class A, class B> std::vector<B> cast(const std::vector<A> &a) {
  return std::vector<B>(a.begin(), a.end());
}

// ||a - b|| / ||b|| (NaN in a gives NaN, which fails every EXPECT_LT).
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
  if (den == 0)
    return std::sqrt(num);
  return std::sqrt(num / den);
}

template <class T>
double dot(const std::vector<T> &a, const std::vector<T> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += double(a[i]) * double(b[i]);
  return s;
}

// Central differences of the scalar function f() with respect to every element
// of v (changed and restored in place).
template <class F>
std::vector<double> numeric_grad(std::vector<double> &v, const F &f,
                                 double h = 1e-6) {
  std::vector<double> g(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    double keep = v[i];
    v[i] = keep + h;
    double fp = f();
    v[i] = keep - h;
    double fm = f();
    v[i] = keep;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

} // namespace kt
