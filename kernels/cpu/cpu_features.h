// Does this CPU run AVX512-BF16 code? (`rnc compile --precision bf16` and a
// bf16 model's rnc_create ask; RNC_CPU_FEATURES_FOR_TEST=no-bf16 says no.)
#pragma once

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace rnc::cpu {

// True when the processor has AVX512-BF16 (cpuid leaf 7 subleaf 1, EAX bit
// 5) and AVX512-F, and the operating system saves the 512-bit registers
// (XCR0 bits 1, 2, 5, 6, 7). The environment variable
// RNC_CPU_FEATURES_FOR_TEST, when it contains "no-bf16", makes it false, so
// that the refusals can be tested on a machine that has the feature.
inline bool cpu_has_avx512_bf16() {
  if (const char *t = std::getenv("RNC_CPU_FEATURES_FOR_TEST"))
    if (std::strstr(t, "no-bf16"))
      return false;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) // OSXSAVE
    return false;
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xe6) != 0xe6)
    return false;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 16)))
    return false; // AVX512-F
  if (a < 1 || !__get_cpuid_count(7, 1, &a, &b, &c, &d))
    return false;
  return (a & (1u << 5)) != 0;
#else
  return false;
#endif
}

} // namespace rnc::cpu
