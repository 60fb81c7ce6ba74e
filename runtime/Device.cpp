// GPU detection through the driver API, loaded at run time (Device.h).
#include "runtime/Device.h"

#include <dlfcn.h>

namespace rnc {

namespace {

// The three driver entry points used, with the driver's own C types.
using CuInit = int (*)(unsigned);
using CuDeviceGetCount = int (*)(int *);
using CuDeviceGet = int (*)(int *, int);
using CuDeviceGetName = int (*)(char *, int, int);
using CuGetErrorString = int (*)(int, const char **);

std::string driverError(void *lib, int code) {
  auto text = reinterpret_cast<CuGetErrorString>(dlsym(lib, "cuGetErrorString"));
  const char *s = nullptr;
  if (text && text(code, &s) == 0 && s)
    return s;
  return "CUDA driver error " + std::to_string(code);
}

GpuProbe probe() {
  GpuProbe p;
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    p.reason = "no NVIDIA driver: libcuda.so.1 not found";
    return p;
  }
  auto init = reinterpret_cast<CuInit>(dlsym(lib, "cuInit"));
  auto count = reinterpret_cast<CuDeviceGetCount>(dlsym(lib, "cuDeviceGetCount"));
  auto get = reinterpret_cast<CuDeviceGet>(dlsym(lib, "cuDeviceGet"));
  auto name = reinterpret_cast<CuDeviceGetName>(dlsym(lib, "cuDeviceGetName"));
  if (!init || !count || !get || !name) {
    p.reason = "libcuda.so.1 lacks the driver API";
    return p;
  }
  if (int rc = init(0); rc != 0) {
    p.reason = "the NVIDIA driver does not start: " + driverError(lib, rc);
    return p;
  }
  int n = 0; // checked with the return code: it is not written on failure
  if (int rc = count(&n); rc != 0 || n < 1) {
    p.reason = rc ? driverError(lib, rc) : "the driver sees no GPU";
    return p;
  }
  int device = 0;
  char text[256] = {0};
  if (get(&device, 0) == 0 && name(text, sizeof text - 1, device) == 0)
    p.name = text;
  else
    p.name = "CUDA device 0";
  p.present = true;
  return p; // the driver stays loaded: the model will use it
}

} // namespace

const GpuProbe &probeGpu() {
  static const GpuProbe result = probe();
  return result;
}

} // namespace rnc
