// Test helper: the largest single `operator new` request since the last reset.
// Kept in its own file so that the compiler never sees the replaced operators
// inlined next to their callers.
#include "LargestAllocation.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<size_t> largest{0};
} // namespace

void *operator new(size_t n) {
  size_t seen = largest.load(std::memory_order_relaxed);
  while (n > seen && !largest.compare_exchange_weak(seen, n)) {
  }
  if (void *p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, size_t) noexcept { std::free(p); }

namespace rnc::data::test {
void resetLargestAllocation() { largest = 0; }
size_t largestAllocation() { return largest.load(); }
} // namespace rnc::data::test
