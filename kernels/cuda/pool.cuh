// Max, average and global average pooling on NHWC tensors, forward and
// backward. Backward kernels gather (one thread per input element, summing
// over the windows that contain it, in output order), so they need no atomics
// and no zeroing, and add in the same order as the CPU kernels.
#pragma once

#include "common.cuh"

namespace rnc::cuda {

namespace detail {

// ----------------------------------------------------------------------------
// Kernels

// (n, h, w, c) of NHWC element i of a [*, H, W, C] tensor.
template <int C, int H, int W>
__host__ __device__ inline void nhwc_coords(long i, int &n, int &h, int &w,
                                            int &c) {
  c = int(i % C);
  long rest = i / C;
  w = int(rest % W);
  rest /= W;
  h = int(rest % H);
  n = int(rest / H);
}

// Output rows (or columns) whose window [o*stride - pad, + kernel) contains
// input row i: [*lo, *hi] clipped to [0, out - 1] (empty when lo > hi).
__host__ __device__ inline void windows_containing(int i, int kernel,
                                                   int stride, int pad, int out,
                                                   int *lo, int *hi) {
  const int first = i + pad - kernel + 1; // o*stride >= first
  *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  *hi = (i + pad) / stride; // i + pad >= 0
  if (*hi > out - 1)
    *hi = out - 1;
}

// NHWC offset (within image n's plane, channel c) of the first maximum of
// output (oh, ow)'s window; padding is -inf, a NaN wins (as in PyTorch and
// the CPU kernel).
template <Pool2DShape S>
__device__ __forceinline__ long max_pool_argmax(const float *x, int n, int oh,
                                                int ow, int c) {
  const int h0 = oh * S.stride_h - S.pad_h, w0 = ow * S.stride_w - S.pad_w;
  const int hb = h0 > 0 ? h0 : 0, wb = w0 > 0 ? w0 : 0;
  const int he = h0 + S.kernel_h < S.in_h ? h0 + S.kernel_h : S.in_h;
  const int we = w0 + S.kernel_w < S.in_w ? w0 + S.kernel_w : S.in_w;
  const long image = long(n) * S.in_h * S.in_w;
  long best = ((image + long(hb) * S.in_w) + wb) * S.channels + c;
  float m = __ldg(x + best);
  for (int ih = hb; ih < he; ++ih)
    for (int iw = wb; iw < we; ++iw) {
      const long at = ((image + long(ih) * S.in_w) + iw) * S.channels + c;
      const float v = __ldg(x + at);
      if (v > m || (v != v && m == m)) {
        m = v;
        best = at;
      }
    }
  return best;
}

// Window [hb, he) x [wb, we) clipped to the input, and PyTorch's divisor.
template <Pool2DShape S>
__host__ __device__ inline int avg_pool_window(int oh, int ow, int *hb, int *he,
                                               int *wb, int *we) {
  const int h0 = oh * S.stride_h - S.pad_h, w0 = ow * S.stride_w - S.pad_w;
  const int h1 =
      h0 + S.kernel_h < S.in_h + S.pad_h ? h0 + S.kernel_h : S.in_h + S.pad_h;
  const int w1 =
      w0 + S.kernel_w < S.in_w + S.pad_w ? w0 + S.kernel_w : S.in_w + S.pad_w;
  const int padded = (h1 - h0) * (w1 - w0);
  *hb = h0 > 0 ? h0 : 0;
  *wb = w0 > 0 ? w0 : 0;
  *he = h1 < S.in_h ? h1 : S.in_h;
  *we = w1 < S.in_w ? w1 : S.in_w;
  return S.count_include_pad ? padded : (*he - *hb) * (*we - *wb);
}

template <class Shape>
__global__ void max_pool_forward_kernel(float *y, const float *x, long total) {
  constexpr Pool2DShape S = Shape::value;
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    int n, oh, ow, c;
    nhwc_coords<S.channels, S.out_h(), S.out_w()>(i, n, oh, ow, c);
    y[i] = __ldg(x + max_pool_argmax<S>(x, n, oh, ow, c));
  }
}

template <class Shape>
__global__ void max_pool_backward_kernel(float *dx, const float *dy,
                                         const float *x, long total) {
  constexpr Pool2DShape S = Shape::value;
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    int n, ih, iw, c;
    nhwc_coords<S.channels, S.in_h, S.in_w>(i, n, ih, iw, c);
    int oh0, oh1, ow0, ow1;
    windows_containing(ih, S.kernel_h, S.stride_h, S.pad_h, S.out_h(), &oh0,
                       &oh1);
    windows_containing(iw, S.kernel_w, S.stride_w, S.pad_w, S.out_w(), &ow0,
                       &ow1);
    float g = 0.0f;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow)
        if (max_pool_argmax<S>(x, n, oh, ow, c) == i)
          g += __ldg(
              dy + ((long(n) * S.out_h() + oh) * S.out_w() + ow) * S.channels +
              c);
    dx[i] = g;
  }
}

template <class Shape>
__global__ void avg_pool_forward_kernel(float *y, const float *x, long total) {
  constexpr Pool2DShape S = Shape::value;
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    int n, oh, ow, c;
    nhwc_coords<S.channels, S.out_h(), S.out_w()>(i, n, oh, ow, c);
    int hb, he, wb, we;
    const int div = avg_pool_window<S>(oh, ow, &hb, &he, &wb, &we);
    float s = 0.0f;
    for (int ih = hb; ih < he; ++ih)
      for (int iw = wb; iw < we; ++iw)
        s +=
            __ldg(x + ((long(n) * S.in_h + ih) * S.in_w + iw) * S.channels + c);
    y[i] = s / float(div);
  }
}

template <class Shape>
__global__ void avg_pool_backward_kernel(float *dx, const float *dy,
                                         long total) {
  constexpr Pool2DShape S = Shape::value;
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    int n, ih, iw, c;
    nhwc_coords<S.channels, S.in_h, S.in_w>(i, n, ih, iw, c);
    int oh0, oh1, ow0, ow1;
    windows_containing(ih, S.kernel_h, S.stride_h, S.pad_h, S.out_h(), &oh0,
                       &oh1);
    windows_containing(iw, S.kernel_w, S.stride_w, S.pad_w, S.out_w(), &ow0,
                       &ow1);
    float g = 0.0f;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow) {
        int hb, he, wb, we;
        const int div = avg_pool_window<S>(oh, ow, &hb, &he, &wb, &we);
        g += __ldg(dy +
                   ((long(n) * S.out_h() + oh) * S.out_w() + ow) * S.channels +
                   c) /
             float(div);
      }
    dx[i] = g;
  }
}

// y[n, c] = mean over the plane of x [N, Plane, C]; thread per (n, c).
template <int C, long Plane>
__global__ void global_avg_pool_forward_kernel(float *y, const float *x,
                                               long total) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    const long n = i / C;
    const int c = int(i - n * C);
    const float *p = x + n * Plane * C + c;
    float s = 0.0f;
    for (long q = 0; q < Plane; ++q)
      s += __ldg(p + q * C);
    y[i] = s / float(Plane);
  }
}

template <int C, long Plane>
__global__ void global_avg_pool_backward_kernel(float *dx, const float *dy,
                                                long total) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    const long n = i / (Plane * C);
    const int c = int(i % C);
    dx[i] = __ldg(dy + n * C + c) / float(Plane);
  }
}

template <class Kernel, class... Args>
void launch_elements(Kernel kernel, long total, Args... args) {
  kernel<<<element_blocks(total), kElementThreads, 0, current_stream()>>>(
      args..., total);
  after_launch();
}

} // namespace detail

// ----------------------------------------------------------------------------
// Launchers. x [N, in_h, in_w, C], y [N, out_h, out_w, C] (NHWC).

// y = max over each window (floor mode, -inf padding).
template <Pool2DShape S, class T = float>
void max_pool2d(T *y, const T *x, int N) {
  static_assert(S.valid(), "rnc::cuda::max_pool2d: invalid Pool2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "max_pool2d");
  if (!detail::check_args(N > 0 && y && x))
    return;
  detail::launch_elements(detail::max_pool_forward_kernel<detail::ShapeOf<S>>,
                          long(N) * S.out_plane() * S.channels, y, x);
}

// dx = dy routed to the first maximum of each window (recomputed from x);
// overlapping windows add. Writes dx.
template <Pool2DShape S, class T = float>
void max_pool2d_grad(T *dx, const T *dy, const T *x, int N) {
  static_assert(S.valid(), "rnc::cuda::max_pool2d_grad: invalid Pool2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "max_pool2d_grad");
  if (!detail::check_args(N > 0 && dx && dy && x))
    return;
  detail::launch_elements(detail::max_pool_backward_kernel<detail::ShapeOf<S>>,
                          long(N) * S.in_plane() * S.channels, dx, dy, x);
}

// y = window sum / divisor (S.count_include_pad as in PyTorch).
template <Pool2DShape S, class T = float>
void avg_pool2d(T *y, const T *x, int N) {
  static_assert(S.valid(), "rnc::cuda::avg_pool2d: invalid Pool2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "avg_pool2d");
  if (!detail::check_args(N > 0 && y && x))
    return;
  detail::launch_elements(detail::avg_pool_forward_kernel<detail::ShapeOf<S>>,
                          long(N) * S.out_plane() * S.channels, y, x);
}

// dx[window] += dy / divisor for every output. Writes dx.
template <Pool2DShape S, class T = float>
void avg_pool2d_grad(T *dx, const T *dy, int N) {
  static_assert(S.valid(), "rnc::cuda::avg_pool2d_grad: invalid Pool2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "avg_pool2d_grad");
  if (!detail::check_args(N > 0 && dx && dy))
    return;
  detail::launch_elements(detail::avg_pool_backward_kernel<detail::ShapeOf<S>>,
                          long(N) * S.in_plane() * S.channels, dx, dy);
}

// y [N, C] = mean of x [N, Plane, C] over the plane.
template <int Channels, long Plane, class T = float>
void global_avg_pool(T *y, const T *x, int N) {
  static_assert(Channels > 0 && Plane > 0,
                "rnc::cuda::global_avg_pool: bad shape");
  RNC_CUDA_FLOAT_ONLY(T, "global_avg_pool");
  if (!detail::check_args(N > 0 && y && x))
    return;
  detail::launch_elements(
      detail::global_avg_pool_forward_kernel<Channels, Plane>,
      long(N) * Channels, y, x);
}

// dx [N, Plane, C] = dy [N, C] / Plane, broadcast. Writes dx.
template <int Channels, long Plane, class T = float>
void global_avg_pool_grad(T *dx, const T *dy, int N) {
  static_assert(Channels > 0 && Plane > 0,
                "rnc::cuda::global_avg_pool_grad: bad shape");
  RNC_CUDA_FLOAT_ONLY(T, "global_avg_pool_grad");
  if (!detail::check_args(N > 0 && dx && dy))
    return;
  detail::launch_elements(
      detail::global_avg_pool_backward_kernel<Channels, Plane>,
      long(N) * Plane * Channels, dx, dy);
}

} // namespace rnc::cuda
