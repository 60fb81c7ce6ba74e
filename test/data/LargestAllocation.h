// Test helper: the largest single `operator new` request since the last reset.
#pragma once

#include <cstddef>

namespace rnc::data::test {

/// The test binary replaces the global operator new (LargestAllocation.cpp)
/// to record its largest request, so tests can check that a header claiming
/// a huge array does not make the reader allocate it.
void resetLargestAllocation();
size_t largestAllocation();

} // namespace rnc::data::test
