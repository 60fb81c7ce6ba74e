// Per-op wall-clock profile of a generated model, on when the environment
// has RNC_PROFILE=1 at rnc_create: each op of the generated train/eval
// functions is timed by an OpTimer, and rnc_destroy prints where the time
// went, by op kind and by op, to stderr. RNC_PROFILE=cpu times the process's
// CPU time instead: on a machine other programs keep busy, with
// OMP_NUM_THREADS=1, time the model was not running does not count.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>
#include <vector>

namespace rnc::cpu {

// One flag per model .so (the generated code is built with hidden
// visibility, so each .so has its own).
inline bool &profiling() {
  static bool on = false;
  return on;
}

// RNC_PROFILE=cpu: process CPU time instead of wall time.
inline bool &profiling_cpu_time() {
  static bool on = false;
  return on;
}

inline double profile_clock() {
  if (profiling_cpu_time()) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  }
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

template <double *Seconds, long *Calls> struct OpTimer {
  explicit OpTimer(int index) : index(index) {
    if (profiling())
      start = profile_clock();
  }
  ~OpTimer() {
    if (!profiling())
      return;
    Seconds[index] += profile_clock() - start;
    ++Calls[index];
  }
  int index;
  double start = 0;
};

// names[i] is "rn.conv2d (layer1.0.conv1)"; the kind is the part before
// " (". Prints the kinds by total time, then the slowest ops (ten, or
// $RNC_PROFILE_OPS).
inline void print_profile(const char *const *names, const double *seconds,
                          const long *calls, int n, std::FILE *out) {
  double total = 0;
  std::map<std::string, double> kinds;
  std::vector<int> order;
  for (int i = 0; i < n; ++i) {
    if (!calls[i])
      continue;
    total += seconds[i];
    std::string name = names[i];
    kinds[name.substr(0, name.find(" ("))] += seconds[i];
    order.push_back(i);
  }
  if (total <= 0)
    return;
  std::fprintf(out, "rnc profile: %.2f s in the model's kernels (%s time)\n",
               total, profiling_cpu_time() ? "CPU" : "wall");
  std::vector<std::pair<double, std::string>> byKind;
  for (auto &[kind, t] : kinds)
    byKind.push_back({t, kind});
  std::sort(byKind.rbegin(), byKind.rend());
  for (auto &[t, kind] : byKind)
    std::fprintf(out, "  %5.1f%%  %8.3f s  %s\n", 100 * t / total, t,
                 kind.c_str());
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return seconds[a] > seconds[b]; });
  // RNC_PROFILE_OPS=N lists N of them (default 10).
  size_t top = 10;
  if (const char *v = std::getenv("RNC_PROFILE_OPS"); v && std::atol(v) > 0)
    top = size_t(std::atol(v));
  std::fprintf(out, "slowest ops (total s, calls):\n");
  for (size_t k = 0; k < order.size() && k < top; ++k)
    std::fprintf(out, "  %8.3f s  %6ld  %s\n", seconds[order[k]],
                 calls[order[k]], names[order[k]]);
}

} // namespace rnc::cpu
