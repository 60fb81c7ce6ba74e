// Resizing stored 8-bit images to the model's input inside a model (the
// dataset of rnc_set_dataset_u8_resized, runtime/rnc_abi.h), in the integer
// arithmetic of Pillow's BILINEAR resize, so that a step gathers exactly the
// pixels the loader's fitTo (runtime/data/Resample.h) would have made. One
// header for both targets: the cpu glue (kernels/cpu/model_abi.h) and the
// cuda gather (kernels/cuda/elementwise.cuh) call the same function.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/rnc_abi.h"

#ifdef __CUDACC__
#define RNC_HOST_DEVICE __host__ __device__
#else
#define RNC_HOST_DEVICE
#endif

namespace rnc {

// Fraction bits of the taps' fixed-point weights (Pillow's PRECISION_BITS).
inline constexpr int kResizeFractionBits = 22;

// A pass's sum, rounded to 8 bits: v >> 22 clamped to [0, 255].
RNC_HOST_DEVICE inline int resize_clip8(int64_t v) {
  if (v >= (int64_t(256) << kResizeFractionBits))
    return 255;
  if (v <= 0)
    return 0;
  return int(v >> kResizeFractionBits);
}

// Channel c of output row y, column x of `image` ([r.height][r.width][C]):
// the horizontal pass on each source row the vertical taps read, rounded,
// then the vertical pass. Sums in 64 bits (a checked table cannot overflow
// them; Pillow's 32 bits give the same values for its own weights).
RNC_HOST_DEVICE inline uint8_t resized_pixel(const uint8_t *image, int C,
                                             const rnc_resize &r, int y, int x,
                                             int c) {
  const int64_t half = int64_t(1) << (kResizeFractionBits - 1);
  const int32_t *wy = r.weights_y + long(y) * r.taps_y;
  const int32_t *wx = r.weights_x + long(x) * r.taps_x;
  const long row = long(r.width) * C;
  const uint8_t *col = image + long(r.first_x[x]) * C + c;
  const int ny = r.count_y[y], nx = r.count_x[x];
  int64_t acc = half;
  for (int k = 0; k < ny; ++k) {
    const uint8_t *s = col + long(r.first_y[y] + k) * row;
    int64_t h = half;
    for (int j = 0; j < nx; ++j)
      h += int64_t(s[long(j) * C]) * wx[j];
    acc += int64_t(resize_clip8(h)) * wy[k];
  }
  return uint8_t(resize_clip8(acc));
}

// A model keeps a table's six arrays (for an H x W input) one after another
// in one int32 block: first_y, count_y, weights_y, first_x, count_x,
// weights_x. Its length:
inline long resize_table_ints(const rnc_resize &r, int H, int W) {
  return 2L * H + long(H) * r.taps_y + 2L * W + long(W) * r.taps_x;
}

// Copies r's arrays into `block` (resize_table_ints long).
inline void pack_resize(const rnc_resize &r, int H, int W, int32_t *block) {
  long at = 0;
  auto put = [&](const int32_t *src, long n) {
    std::memcpy(block + at, src, sizeof(int32_t) * size_t(n));
    at += n;
  };
  put(r.first_y, H);
  put(r.count_y, H);
  put(r.weights_y, long(H) * r.taps_y);
  put(r.first_x, W);
  put(r.count_x, W);
  put(r.weights_x, long(W) * r.taps_x);
}

// r (its sizes) with its arrays where pack_resize put them in `block`: in
// host memory, or the block's copy in device memory.
inline rnc_resize packed_resize(const rnc_resize &r, int H, int W,
                                const int32_t *block) {
  rnc_resize out = r;
  out.first_y = block;
  out.count_y = out.first_y + H;
  out.weights_y = out.count_y + H;
  out.first_x = out.weights_y + long(H) * r.taps_y;
  out.count_x = out.first_x + W;
  out.weights_x = out.count_x + W;
  return out;
}

} // namespace rnc
