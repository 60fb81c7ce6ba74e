// Parameter init (PyTorch schemes) from a counter-based RNG: host code that
// both targets run (the cuda target initializes on the host and uploads), so
// a seed gives the same weights on every target.
#pragma once

#include <cmath>
#include <cstdint>

#include <type_traits>

#include "kernels/shapes.h"

namespace rnc::init {

// Tensors at least this large are filled by OpenMP threads.
constexpr long kInitParallelGrain = 1L << 15;

// ----------------------------------------------------------------------------
// RNG. Draw k of parameter `index` under `seed` is mix(key + (k+1)*golden),
// key = mix(seed ^ mix(index)): any element can be computed on its own, so the
// values do not depend on threads or on the order parameters are visited.

inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t rng_key(uint64_t seed, uint64_t param_index) {
  return splitmix64_mix(seed ^
                        splitmix64_mix(param_index + 0x632be59bd9b4e019ULL));
}

// Uniform double in the open interval (0, 1) from draw k.
inline double rng_uniform01(uint64_t key, uint64_t k) {
  uint64_t bits = splitmix64_mix(key + (k + 1) * 0x9e3779b97f4a7c15ULL);
  return (double(bits >> 11) + 0.5) * 0x1.0p-53;
}

// Standard normal for element i (Box-Muller on draws 2i and 2i+1).
inline double rng_normal(uint64_t key, uint64_t i) {
  double u1 = rng_uniform01(key, 2 * i), u2 = rng_uniform01(key, 2 * i + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// ----------------------------------------------------------------------------
// Fans as PyTorch computes them (torch.nn.init._calculate_fan_in_and_fan_out):
// conv weight [O, I/groups, KH, KW]: fan_in = I/groups*KH*KW,
// fan_out = O*KH*KW; linear weight [out, in]: fan_in = in, fan_out = out.

constexpr long fan_in(const Conv2DShape &s) {
  return long(s.in_per_group()) * s.kernel_h * s.kernel_w;
}
constexpr long fan_out(const Conv2DShape &s) {
  return long(s.out_channels) * s.kernel_h * s.kernel_w;
}
constexpr long fan_in(const LinearShape &s) { return s.in_features; }
constexpr long fan_out(const LinearShape &s) { return s.out_features; }

namespace detail {
template <class T, class F> void init_fill(T *w, long n, const F &f) {
#pragma omp parallel for schedule(static) if (n >= kInitParallelGrain)
  for (long i = 0; i < n; ++i)
    w[i] = T(f(uint64_t(i)));
}
} // namespace detail

// w[i] ~ U(lo, hi)
template <class T = float>
void init_uniform(T *w, long n, double lo, double hi, uint64_t seed,
                  uint64_t param_index) {
  uint64_t key = rng_key(seed, param_index);
  detail::init_fill(
      w, n, [&](uint64_t i) { return lo + (hi - lo) * rng_uniform01(key, i); });
}

// w[i] ~ N(mean, std^2)
template <class T = float>
void init_normal(T *w, long n, double mean, double std, uint64_t seed,
                 uint64_t param_index) {
  uint64_t key = rng_key(seed, param_index);
  detail::init_fill(
      w, n, [&](uint64_t i) { return mean + std * rng_normal(key, i); });
}

// kaiming_normal_(mode='fan_out', nonlinearity='relu') as torchvision's ResNet
// uses for conv weights: N(0, 2 / fan_out); pass fan_out(shape).
template <class T = float>
void init_kaiming_normal_fan_out(T *w, long n, long fan_out, uint64_t seed,
                                 uint64_t param_index) {
  init_normal(w, n, 0.0, std::sqrt(2.0 / double(fan_out)), seed, param_index);
}

// PyTorch's default conv/linear weight init, kaiming_uniform_(a=sqrt(5)):
// gain = sqrt(2 / (1 + a^2)) = sqrt(1/3),
// bound = gain * sqrt(3 / fan_in) = 1/sqrt(fan_in).
template <class T = float>
void init_kaiming_uniform_default(T *w, long n, long fan_in, uint64_t seed,
                                  uint64_t param_index) {
  double bound = 1.0 / std::sqrt(double(fan_in));
  init_uniform(w, n, -bound, bound, seed, param_index);
}

// PyTorch's default conv/linear bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
template <class T = float>
void init_bias_uniform(T *b, long n, long fan_in, uint64_t seed,
                       uint64_t param_index) {
  double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
  init_uniform(b, n, -bound, bound, seed, param_index);
}

template <class T = float>
void init_constant(T *w, long n, std::type_identity_t<T> value) {
  for (long i = 0; i < n; ++i)
    w[i] = value;
}
template <class T = float> void init_zeros(T *w, long n) {
  init_constant(w, n, T(0));
}
template <class T = float> void init_ones(T *w, long n) {
  init_constant(w, n, T(1));
}

} // namespace rnc::init
