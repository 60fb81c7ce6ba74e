// One value of a batch a model gathers from its 8-bit dataset
// (rnc_train_step_indexed, rnc_train_step_augmented; runtime/rnc_abi.h):
// the pixel where the augmentation moved it (or the crop's padding), resized
// from the stored size where the set is kept at another one, looked up in
// the normalization table, erased where the augmentation says. One function
// for every gather: the cpu glue (kernels/cpu/model_abi.h), the cuda
// kernels (kernels/cuda/elementwise.cuh) and the host tests.
#pragma once

#include <cstdint>

#include "kernels/resize.h"
#include "runtime/rnc_abi.h"

namespace rnc {

// Whether output (y, x) lies in the augmentation's erased rectangle.
RNC_HOST_DEVICE inline bool augment_erases(const rnc_augment &a, int y, int x) {
  return y >= a.erase_top && y < a.erase_top + a.erase_height &&
         x >= a.erase_left && x < a.erase_left + a.erase_width;
}

// Output (y, x, c) of a batch sample: `image` is the sample ([H][W][C] at
// the model's input size, or with `resize` at [resize->height]
// [resize->width][C]), `lut` the table [C][256], `aug` the sample's
// augmentation (null: none).
RNC_HOST_DEVICE inline float gathered_value(const uint8_t *image,
                                            const float *lut,
                                            const rnc_resize *resize,
                                            const rnc_augment *aug, int C,
                                            int H, int W, int y, int x, int c) {
  int sy = y, sx = x;
  if (aug) {
    if (augment_erases(*aug, y, x))
      return 0.0f;
    sy = y + aug->shift_y;
    sx = (aug->flip ? W - 1 - x : x) + aug->shift_x;
    if (sy < 0 || sy >= H || sx < 0 || sx >= W)
      return lut[c * 256]; // the crop's zero padding
  }
  const int pixel = resize ? resized_pixel(image, C, *resize, sy, sx, c)
                           : image[(long(sy) * W + sx) * C + c];
  return lut[c * 256 + pixel];
}

} // namespace rnc
