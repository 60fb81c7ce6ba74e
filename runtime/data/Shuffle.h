// Deterministic epoch orders: Fisher-Yates over std::mt19937_64, no library distributions.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace rnc::data {

/// A uniform integer in [0, bound) from `rng`, unbiased (rejection of the
/// low 2^64 mod bound values). Written out rather than taken from
/// std::uniform_int_distribution, whose algorithm differs between standard
/// libraries. `bound` must be at least 1.
uint64_t uniformBelow(std::mt19937_64 &rng, uint64_t bound);

/// The order in which epoch `epoch` visits samples 0..n-1: a Fisher-Yates
/// shuffle (i from n-1 down to 1, swap i with uniformBelow(i + 1)) driven by
/// std::mt19937_64 seeded with splitmix64(seed ^ splitmix64(epoch)). The
/// same (n, seed, epoch) gives the same order on every platform.
std::vector<uint32_t> shuffledOrder(uint32_t n, uint64_t seed, uint64_t epoch);

/// 0, 1, ..., n-1.
std::vector<uint32_t> sequentialOrder(uint32_t n);

/// The splitmix64 finalizer: a bijective 64-bit mix.
uint64_t splitmix64(uint64_t x);

} // namespace rnc::data
