// Denormal floats flushed to zero while a generated model's step runs.
//
// x86 cores take a microcode assist, about a hundred cycles, for each
// multiply-add whose operand or result is denormal (below 1.2e-38 in
// magnitude). A training step meets such values where gradients shrink
// (resnet50 at batch 8, seed 0, trained on one fixed batch: one 256->256
// convolution's forward took 21 ms a call instead of 11, and the whole
// step 1-4% longer). FlushDenormals sets FTZ (results flushed to zero) and DAZ
// (denormal operands read as zero) in MXCSR on the calling thread and on
// every thread of its OpenMP team, and gives each its previous MXCSR back
// when it ends, so the caller's own arithmetic is untouched. Values that
// large are unchanged; training sees no difference but the speed. The
// environment's RNC_FLUSH_DENORMALS=0 at rnc_create keeps IEEE denormals
// (kernels/cpu/model_abi.h).
#pragma once

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define RNC_HAVE_MXCSR 1
#else
#define RNC_HAVE_MXCSR 0
#endif

namespace rnc::cpu {

// One flag per model .so, like profiling() (profile.h).
inline bool &flush_denormals() {
  static bool on = true;
  return on;
}

namespace detail {

#if RNC_HAVE_MXCSR
inline constexpr unsigned kMxcsrFtzDaz = 0x8040; // FTZ (bit 15), DAZ (bit 6)

struct SavedMxcsr {
  unsigned value = 0; // the MXCSR before the outermost scope
  int depth = 0;      // scopes open on this thread
};
inline SavedMxcsr &saved_mxcsr() {
  thread_local SavedMxcsr s;
  return s;
}
#endif

// f() once on every thread of the team the kernels' parallel regions use,
// the calling thread included.
template <class F> void on_every_thread(const F &f) {
#ifdef _OPENMP
#pragma omp parallel
  f();
#else
  f();
#endif
}

} // namespace detail

class FlushDenormals {
public:
  explicit FlushDenormals(bool on) : on_(on && RNC_HAVE_MXCSR) {
#if RNC_HAVE_MXCSR
    if (on_)
      detail::on_every_thread([] {
        detail::SavedMxcsr &s = detail::saved_mxcsr();
        if (s.depth++ > 0)
          return; // a nested scope: the outermost one restores
        s.value = _mm_getcsr();
        _mm_setcsr(s.value | detail::kMxcsrFtzDaz);
      });
#endif
  }
  ~FlushDenormals() {
#if RNC_HAVE_MXCSR
    if (on_)
      detail::on_every_thread([] {
        detail::SavedMxcsr &s = detail::saved_mxcsr();
        if (s.depth == 0 || --s.depth > 0)
          return;
        // The modes go back; the exception flags (bits 0-5) the step
        // raised stay raised, as they would without the scope.
        _mm_setcsr((s.value & ~0x3fu) | (_mm_getcsr() & 0x3fu));
      });
#endif
  }
  FlushDenormals(const FlushDenormals &) = delete;
  FlushDenormals &operator=(const FlushDenormals &) = delete;

private:
  bool on_;
};

} // namespace rnc::cpu
