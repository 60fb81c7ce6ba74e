// Per-op wall-clock profile of a generated model, on when the environment
// has RNC_PROFILE=1 at rnc_create: each op of the generated train/eval
// functions is timed by an OpTimer, and rnc_destroy prints where the time
// went, by op kind and by op, to stderr.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
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

template <double *Seconds, long *Calls> struct OpTimer {
  explicit OpTimer(int index) : index(index) {
    if (profiling())
      start = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (!profiling())
      return;
    Seconds[index] += std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    ++Calls[index];
  }
  int index;
  std::chrono::steady_clock::time_point start;
};

// names[i] is "rn.conv2d (layer1.0.conv1)"; the kind is the part before
// " (". Prints the kinds by total time, then the ten slowest ops.
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
  std::fprintf(out, "rnc profile: %.2f s in the model's kernels\n", total);
  std::vector<std::pair<double, std::string>> byKind;
  for (auto &[kind, t] : kinds)
    byKind.push_back({t, kind});
  std::sort(byKind.rbegin(), byKind.rend());
  for (auto &[t, kind] : byKind)
    std::fprintf(out, "  %5.1f%%  %8.3f s  %s\n", 100 * t / total, t,
                 kind.c_str());
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return seconds[a] > seconds[b]; });
  std::fprintf(out, "slowest ops (total s, calls):\n");
  for (size_t k = 0; k < order.size() && k < 10; ++k)
    std::fprintf(out, "  %8.3f s  %6ld  %s\n", seconds[order[k]],
                 calls[order[k]], names[order[k]]);
}

} // namespace rnc::cpu
