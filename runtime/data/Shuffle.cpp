// Deterministic epoch orders: Fisher-Yates over std::mt19937_64, no library distributions.
#include "runtime/data/Shuffle.h"

#include <numeric>
#include <utility>

namespace rnc::data {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t uniformBelow(std::mt19937_64 &rng, uint64_t bound) {
  // 2^64 mod bound, computed in 64 bits: values below it are rejected so
  // the remaining 2^64 - threshold values split evenly into `bound` classes.
  const uint64_t threshold = (0 - bound) % bound;
  uint64_t r;
  do {
    r = rng();
  } while (r < threshold);
  return r % bound;
}

std::vector<uint32_t> sequentialOrder(uint32_t n) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  return order;
}

std::vector<uint32_t> shuffledOrder(uint32_t n, uint64_t seed, uint64_t epoch) {
  std::vector<uint32_t> order = sequentialOrder(n);
  std::mt19937_64 rng(splitmix64(seed ^ splitmix64(epoch)));
  for (uint32_t i = n; i > 1; --i) {
    uint64_t j = uniformBelow(rng, i);
    std::swap(order[i - 1], order[static_cast<size_t>(j)]);
  }
  return order;
}

} // namespace rnc::data
