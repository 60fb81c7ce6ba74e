// The cuda-kernels test harness: tolerances, CUDA_CHECK, device buffers, the
// error check after each group of launches, case names.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

constexpr double kGemmTol = RNC_CUDA_PRECISION == 0   ? 1e-5
                            : RNC_CUDA_PRECISION == 1 ? 5e-3
                                                      : 1.5e-2;
constexpr double kTol = 1e-5;

#define CUDA_CHECK(call)                                                       \
  do {                                                                         \
    cudaError_t e_ = (call);                                                   \
    if (e_ != cudaSuccess) {                                                   \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,       \
                   cudaGetErrorString(e_));                                    \
      std::exit(1);                                                            \
    }                                                                          \
  } while (0)

// A device buffer of floats (or ints), poisoned with NaN bytes so an output
// a kernel forgets to write fails the comparison.
template <class T = float> struct Dev {
  T *p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    CUDA_CHECK(cudaMalloc(&p, sizeof(T) * (n ? n : 1)));
    CUDA_CHECK(cudaMemset(p, 0xff, sizeof(T) * (n ? n : 1)));
  }
  explicit Dev(const std::vector<T> &v) : Dev(v.size()) {
    CUDA_CHECK(cudaMemcpy(p, v.data(), sizeof(T) * n, cudaMemcpyHostToDevice));
  }
  Dev(const Dev &) = delete;
  Dev &operator=(const Dev &) = delete;
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    CUDA_CHECK(cudaStreamSynchronize(cu::current_stream()));
    std::vector<T> v(n);
    CUDA_CHECK(cudaMemcpy(v.data(), p, sizeof(T) * n, cudaMemcpyDeviceToHost));
    return v;
  }
  operator T *() const { return p; }
};

// After each group of launches: no launcher recorded an error and the
// kernels ran.
void expect_clean(ct::Report &report, const std::string &what) {
  cudaError_t sync = cudaStreamSynchronize(cu::current_stream());
  cudaError_t launch = cu::last_launch_error();
  bool ok = sync == cudaSuccess && launch == cudaSuccess;
  if (!ok)
    std::printf("     %s: sync %s, launch %s\n", what.c_str(),
                cudaGetErrorString(sync), cudaGetErrorString(launch));
  report.expect(what + ": no CUDA error", ok);
  if (sync != cudaSuccess) { // the context is gone: the next child goes on
    std::fflush(stdout);
    std::exit(ct::kContextLost);
  }
}

template <Conv2DShape S> std::string conv_name() {
  char buf[160];
  std::snprintf(buf, sizeof buf, "conv %d->%d %dx%d k%dx%d s%d p%d g%d",
                S.in_channels, S.out_channels, S.in_h, S.in_w, S.kernel_h,
                S.kernel_w, S.stride_h, S.pad_h, S.groups);
  return buf;
}

} // namespace kernels_test
