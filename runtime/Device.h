// Is there a CUDA GPU here? Asked of the NVIDIA driver through dlopen, so
// the runtime neither links nor needs the CUDA toolkit.
#pragma once

#include <string>

namespace rnc {

struct GpuProbe {
  bool present = false;
  std::string name;   // "NVIDIA H100 80GB HBM3" when present
  std::string reason; // why not, in a few words, when absent
};

/// Loads libcuda.so.1, calls cuInit and cuDeviceGetCount, and names device 0.
/// Never throws; the result is computed once per process.
const GpuProbe &probeGpu();

} // namespace rnc
