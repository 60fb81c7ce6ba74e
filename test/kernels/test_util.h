// Kernel-test helpers: random data, NaN poison, errors, finite differences.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <vector>

#include "test/common/reference_data.h"

namespace kt {

using rnc_test::random_vec; // test/common/reference_data.h

// A buffer every element of which is NaN: an output the kernel forgets to write
// fails the comparison.
template <class T = float> std::vector<T> poisoned(size_t n) {
  return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

// The same, 64-byte aligned as the runtime's workspace is (kernels stream
// large outputs to such memory non-temporally); vec() copies it out.
class AlignedPoisoned {
public:
  explicit AlignedPoisoned(size_t n)
      : p_(static_cast<float *>(
               std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64)),
           std::free),
        n_(n) {
    std::fill(p_.get(), p_.get() + n_, std::numeric_limits<float>::quiet_NaN());
  }
  float *data() { return p_.get(); }
  std::vector<float> vec() const { return {p_.get(), p_.get() + n_}; }

private:
  std::unique_ptr<float, void (*)(void *)> p_;
  size_t n_;
};

template <class A, class B> std::vector<B> cast(const std::vector<A> &a) {
  return std::vector<B>(a.begin(), a.end());
}

using rnc_test::rel_err;

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
