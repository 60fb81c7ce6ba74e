// Elementwise kernels on flat buffers: ReLU forward/backward, add, add+ReLU,
// accumulate, device copies, and the NCHW <-> NHWC transposes of the inputs
// (one of them gathering a batch from a dataset on the device, resized and
// augmented there: kernels/gather.h).
#pragma once

#include "common.cuh"
#include "kernels/gather.h"

namespace rnc::cuda {

namespace detail {

// ----------------------------------------------------------------------------
// Kernels (grid-stride loops over n elements)

template <class T>
__global__ void relu_forward_kernel(T *y, const T *x, long n) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x) {
    const T v = x[i];
    y[i] = v > T(0) ? v : T(0);
  }
}

template <class T>
__global__ void relu_backward_kernel(T *dx, const T *dy, const T *y, long n) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

template <class T, bool Relu>
__global__ void add_kernel(T *y, const T *a, const T *b, long n) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x) {
    const T v = a[i] + b[i];
    y[i] = Relu ? (v > T(0) ? v : T(0)) : v;
  }
}

// dst [N, HW, C] from src [N, C, HW]; thread i writes dst[i] (coalesced
// writes; the reads are strided by HW).
template <class T>
__global__ void nchw_to_nhwc_kernel(T *dst, const T *src, int C, long HW,
                                    long total) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    const int c = int(i % C);
    const long row = i / C; // n*HW + p
    const long n = row / HW, p = row - n * HW;
    dst[i] = src[(n * C + c) * HW + p];
  }
}

// dst [N, HW, C] from samples index[0..N) of data [count, C, HW], and
// labels[n] = data_labels[index[n]]: a batch gathered from a dataset on
// the device (rnc_train_step_indexed), as nchw_to_nhwc_kernel otherwise.
template <class T>
__global__ void
gather_nchw_to_nhwc_kernel(T *dst, int32_t *labels, const T *data,
                           const int32_t *data_labels, const int32_t *index,
                           int N, int C, long HW, long total) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    const int c = int(i % C);
    const long row = i / C; // n*HW + p
    const long n = row / HW, p = row - n * HW;
    dst[i] = data[(long(index[n]) * C + c) * HW + p];
    if (i < N)
      labels[i] = data_labels[index[i]];
  }
}

// dst [N, HW, C] = lut[c * 256 + pixels[index[n]][p][c]] from 8-bit
// pixels [count, HW, C], and labels[n] = data_labels[index[n]]: the batch of
// a dataset kept as pixels (rnc_set_dataset_u8), normalized while gathered.
// Source and destination are both channels last: element i of the batch is
// element i - n*HW*C of its sample.
__global__ void gather_u8_to_nhwc_kernel(float *dst, int32_t *labels,
                                         const uint8_t *pixels,
                                         const float *lut,
                                         const int32_t *data_labels,
                                         const int32_t *index, int N, int C,
                                         long sample, long total) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    const long n = i / sample, e = i - n * sample;
    const int c = int(e % C);
    dst[i] = lut[c * 256 + pixels[long(index[n]) * sample + e]];
    if (i < N)
      labels[i] = data_labels[index[i]];
  }
}

// gather_u8_to_nhwc of pixels stored at another size (resized: `r`,
// rnc_set_dataset_u8_resized) and/or augmented (aug[n] for sample n,
// rnc_train_step_augmented): each value as kernels/gather.h computes it.
// Element i of the batch is (n, y, x, c) of [N, H, W, C].
__global__ void gather_u8_transformed_to_nhwc_kernel(
    float *dst, int32_t *labels, const uint8_t *pixels, bool resized,
    rnc_resize r, const float *lut, const int32_t *data_labels,
    const int32_t *index, const rnc_augment *aug, int N, int C, int H, int W,
    long sample, long stored, long total) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    const long n = i / sample, e = i - n * sample;
    const int c = int(e % C);
    const long p = e / C;
    const int y = int(p / W), x = int(p - long(y) * W);
    dst[i] = rnc::gathered_value(pixels + long(index[n]) * stored, lut,
                                 resized ? &r : nullptr,
                                 aug ? aug + n : nullptr, C, H, W, y, x, c);
    if (i < N)
      labels[i] = data_labels[index[i]];
  }
}

// dst [N, C, HW] from src [N, HW, C].
template <class T>
__global__ void nhwc_to_nchw_kernel(T *dst, const T *src, int C, long HW,
                                    long total) {
  for (long i = long(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x) {
    const long p = i % HW;
    const long nc = i / HW; // n*C + c
    const long n = nc / C, c = nc - n * C;
    dst[i] = src[(n * HW + p) * C + c];
  }
}

} // namespace detail

// ----------------------------------------------------------------------------
// Launchers (n <= 0 enqueues nothing).

// y[i] = max(x[i], 0); y may alias x.
template <class T = float> void relu(T *y, const T *x, long n) {
  RNC_CUDA_FLOAT_ONLY(T, "relu");
  if (n <= 0 || !detail::check_args(y && x))
    return;
  detail::relu_forward_kernel<T>
      <<<detail::element_blocks(n), detail::kElementThreads, 0,
         current_stream()>>>(y, x, n);
  detail::after_launch();
}

// dx[i] = dy[i] where y[i] > 0, else 0 (y: the forward output or input); dx
// may alias dy.
template <class T = float>
void relu_grad(T *dx, const T *dy, const T *y, long n) {
  RNC_CUDA_FLOAT_ONLY(T, "relu_grad");
  if (n <= 0 || !detail::check_args(dx && dy && y))
    return;
  detail::relu_backward_kernel<T>
      <<<detail::element_blocks(n), detail::kElementThreads, 0,
         current_stream()>>>(dx, dy, y, n);
  detail::after_launch();
}

// y[i] = a[i] + b[i]; y may alias a or b.
template <class T = float> void add(T *y, const T *a, const T *b, long n) {
  RNC_CUDA_FLOAT_ONLY(T, "add");
  if (n <= 0 || !detail::check_args(y && a && b))
    return;
  detail::add_kernel<T, false>
      <<<detail::element_blocks(n), detail::kElementThreads, 0,
         current_stream()>>>(y, a, b, n);
  detail::after_launch();
}

// y[i] = max(a[i] + b[i], 0).
template <class T = float> void add_relu(T *y, const T *a, const T *b, long n) {
  RNC_CUDA_FLOAT_ONLY(T, "add_relu");
  if (n <= 0 || !detail::check_args(y && a && b))
    return;
  detail::add_kernel<T, true>
      <<<detail::element_blocks(n), detail::kElementThreads, 0,
         current_stream()>>>(y, a, b, n);
  detail::after_launch();
}

// dst[i] += src[i].
template <class T = float> void accumulate(T *dst, const T *src, long n) {
  add<T>(dst, dst, src, n);
}

// dst[0, n) = src[0, n), device to device, asynchronous.
inline void copy_floats(float *dst, const float *src, long n) {
  if (n <= 0 || !detail::check_args(dst && src))
    return;
  detail::record(cudaMemcpyAsync(dst, src, sizeof(float) * size_t(n),
                                 cudaMemcpyDeviceToDevice, current_stream()));
}

// dst [N, HW, C] (NHWC) = src [N, C, HW] (NCHW): the input images.
inline void nchw_to_nhwc(float *dst, const float *src, int N, int C, long HW) {
  if (!detail::check_args(dst && src && N > 0 && C > 0 && HW > 0))
    return;
  const long total = long(N) * C * HW;
  detail::nchw_to_nhwc_kernel<float>
      <<<detail::element_blocks(total), detail::kElementThreads, 0,
         current_stream()>>>(dst, src, C, HW, total);
  detail::after_launch();
}

// dst [N, HW, C] (NHWC) and labels [N]: samples index[0..N) (device
// memory, each in [0, count)) of data [count, C, HW] (NCHW) and data_labels
// [count]. The same values as nchw_to_nhwc on those samples.
inline void gather_nchw_to_nhwc(float *dst, int32_t *labels, const float *data,
                                const int32_t *data_labels,
                                const int32_t *index, int N, int C, long HW) {
  if (!detail::check_args(dst && labels && data && data_labels && index &&
                          N > 0 && C > 0 && HW > 0))
    return;
  const long total = long(N) * C * HW; // >= N: every label is written
  detail::gather_nchw_to_nhwc_kernel<float>
      <<<detail::element_blocks(total), detail::kElementThreads, 0,
         current_stream()>>>(dst, labels, data, data_labels, index, N, C, HW,
                             total);
  detail::after_launch();
}

// dst [N, HW, C] (NHWC) and labels [N]: samples index[0..N) (device
// memory, each in [0, count)) of pixels [count, HW, C] (uint8), each pixel
// v of channel c as lut[c * 256 + v] (lut [C][256], device memory).
inline void gather_u8_to_nhwc(float *dst, int32_t *labels,
                              const uint8_t *pixels, const float *lut,
                              const int32_t *data_labels, const int32_t *index,
                              int N, int C, long HW) {
  if (!detail::check_args(dst && labels && pixels && lut && data_labels &&
                          index && N > 0 && C > 0 && HW > 0))
    return;
  const long sample = long(C) * HW;
  const long total = long(N) * sample; // >= N: every label is written
  detail::gather_u8_to_nhwc_kernel<<<detail::element_blocks(total),
                                     detail::kElementThreads, 0,
                                     current_stream()>>>(
      dst, labels, pixels, lut, data_labels, index, N, C, sample, total);
  detail::after_launch();
}

// gather_u8_to_nhwc of a dataset of pixels stored at the model's H x W, or
// with `resize` (its arrays in device memory; the struct itself may be on
// the host) at [count, resize->height, resize->width, C], resized while
// gathered; each sample n augmented as aug[n] says (device memory; null:
// none). The tables are checked by the caller (kernels/abi_checks.h).
inline void gather_u8_transformed_to_nhwc(
    float *dst, int32_t *labels, const uint8_t *pixels,
    const rnc_resize *resize, const float *lut, const int32_t *data_labels,
    const int32_t *index, const rnc_augment *aug, int N, int C, int H, int W) {
  if (!detail::check_args(dst && labels && pixels && lut && data_labels &&
                          index && N > 0 && C > 0 && H > 0 && W > 0 &&
                          (!resize || (resize->first_y && resize->count_y &&
                                       resize->weights_y && resize->first_x &&
                                       resize->count_x && resize->weights_x))))
    return;
  const long sample = long(C) * H * W;
  const long stored =
      resize ? long(C) * resize->height * resize->width : sample;
  const long total = long(N) * sample; // >= N: every label is written
  detail::gather_u8_transformed_to_nhwc_kernel<<<detail::element_blocks(total),
                                                 detail::kElementThreads, 0,
                                                 current_stream()>>>(
      dst, labels, pixels, resize != nullptr, resize ? *resize : rnc_resize{},
      lut, data_labels, index, aug, N, C, H, W, sample, stored, total);
  detail::after_launch();
}

// dst [N, C, HW] (NCHW) = src [N, HW, C] (NHWC).
inline void nhwc_to_nchw(float *dst, const float *src, int N, int C, long HW) {
  if (!detail::check_args(dst && src && N > 0 && C > 0 && HW > 0))
    return;
  const long total = long(N) * C * HW;
  detail::nhwc_to_nchw_kernel<float>
      <<<detail::element_blocks(total), detail::kElementThreads, 0,
         current_stream()>>>(dst, src, C, HW, total);
  detail::after_launch();
}

} // namespace rnc::cuda
