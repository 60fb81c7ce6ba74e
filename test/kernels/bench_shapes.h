// Shapes the kernel benchmarks and tests share.
#pragma once

#include "kernels/shapes.h"

// A 3x3, pad 1 convolution from c to c channels of an hw x hw plane.
constexpr rnc::Conv2DShape conv3x3(int c, int hw, int stride = 1,
                                   int groups = 1) {
  return rnc::Conv2DShape{.in_channels = c,
                          .out_channels = c,
                          .in_h = hw,
                          .in_w = hw,
                          .kernel_h = 3,
                          .kernel_w = 3,
                          .stride_h = stride,
                          .stride_w = stride,
                          .pad_h = 1,
                          .pad_w = 1,
                          .groups = groups};
}

// A 1x1 convolution from ci to co channels of an hw x hw plane.
constexpr rnc::Conv2DShape conv1x1(int ci, int co, int hw, int stride = 1) {
  return rnc::Conv2DShape{.in_channels = ci,
                          .out_channels = co,
                          .in_h = hw,
                          .in_w = hw,
                          .stride_h = stride,
                          .stride_w = stride};
}
