// Does this CPU run AVX512-BF16 code, and AMX-BF16 tiles? (`rnc compile
// --precision bf16` and a bf16 model's rnc_create ask; the bf16 conv kernels
// pick AMX when it is ready; RNC_CPU_FEATURES_FOR_TEST=no-bf16 / no-amx say
// no, for tests.)
#pragma once

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace rnc::cpu {

// True when RNC_CPU_FEATURES_FOR_TEST contains `what`.
inline bool cpu_feature_masked(const char *what) {
  const char *t = std::getenv("RNC_CPU_FEATURES_FOR_TEST");
  return t && std::strstr(t, what);
}

// True when the processor has AVX512-BF16 (cpuid leaf 7 subleaf 1, EAX bit
// 5) and AVX512-F, and the operating system saves the 512-bit registers
// (XCR0 bits 1, 2, 5, 6, 7). The environment variable
// RNC_CPU_FEATURES_FOR_TEST, when it contains "no-bf16", makes it false, so
// that the refusals can be tested on a machine that has the feature.
inline bool cpu_has_avx512_bf16() {
  if (cpu_feature_masked("no-bf16"))
    return false;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) // OSXSAVE
    return false;
  unsigned lo; // XCR0's low half (the high half, edx, is not needed)
  __asm__("xgetbv" : "=a"(lo) : "c"(0) : "edx");
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

// True when AMX tiles with bf16 dot products can run in this process: the
// CPU has AMX-TILE and AMX-BF16 (cpuid leaf 7, EDX bits 24 and 22), the
// operating system enables the tile state (XCR0 bits 17, 18), and Linux
// grants this process the tile data (arch_prctl ARCH_REQ_XCOMP_PERM, asked
// once). RNC_CPU_FEATURES_FOR_TEST=no-amx makes it false.
inline bool amx_bf16_ready() {
  if (cpu_feature_masked("no-amx"))
    return false;
#if defined(__linux__) && defined(__x86_64__)
  static const bool ready = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) // OSXSAVE
      return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) ||
        (d & (1u << 22 | 1u << 24)) != (1u << 22 | 1u << 24))
      return false;
    unsigned lo;
    __asm__("xgetbv" : "=a"(lo) : "c"(0) : "edx");
    if ((lo & (3u << 17)) != (3u << 17))
      return false;
    constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ready;
#else
  return false;
#endif
}

} // namespace rnc::cpu
