// Compile-time kernel shapes shared by every target (kernels/cpu, kernels/cuda).
//
// Generated code names one constexpr value of these structs per distinct
// kernel shape and passes it as a template argument, so every loop bound of a
// kernel is a constant. NCHW here means the logical layout of the `rn` IR; a
// target may store activations differently (the CUDA target uses NHWC).
#pragma once

namespace rnc {

// Compile-time shape of a 2-D convolution. Input [N, in_channels, in_h, in_w],
// weight [out_channels, in_channels/groups, kernel_h, kernel_w], optional bias
// [out_channels], output [N, out_channels, out_h(), out_w()] (PyTorch's floor).
struct Conv2DShape {
  int in_channels = 0, out_channels = 0, in_h = 0, in_w = 0, kernel_h = 1,
      kernel_w = 1;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1,
      dilation_w = 1, groups = 1;

  constexpr int out_h() const {
    return (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
  }
  constexpr int out_w() const {
    return (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
  }
  constexpr int in_per_group() const { return in_channels / groups; }
  constexpr int out_per_group() const { return out_channels / groups; }
  // Rows of the (per-group) im2col matrix: the GEMM's K in forward.
  constexpr int col_rows() const {
    return in_per_group() * kernel_h * kernel_w;
  }
  constexpr long in_plane() const { return long(in_h) * in_w; }
  constexpr long out_plane() const { return long(out_h()) * out_w(); }
  constexpr long weight_size() const { return long(out_channels) * col_rows(); }
  // 1x1, stride 1, no padding: the input already is the im2col matrix.
  constexpr bool pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 &&
           pad_h == 0 && pad_w == 0;
  }
  constexpr bool valid() const {
    return in_channels > 0 && out_channels > 0 && in_h > 0 && in_w > 0 &&
           kernel_h > 0 && kernel_w > 0 && stride_h > 0 && stride_w > 0 &&
           pad_h >= 0 && pad_w >= 0 && dilation_h > 0 && dilation_w > 0 &&
           groups > 0 && in_channels % groups == 0 &&
           out_channels % groups == 0 &&
           in_h + 2 * pad_h >= dilation_h * (kernel_h - 1) + 1 &&
           in_w + 2 * pad_w >= dilation_w * (kernel_w - 1) + 1;
  }
};

// Compile-time shape of batch norm over x [N, channels, plane], plane = H*W
// (1 for rank 2).
struct BatchNormShape {
  int channels = 0;
  long plane = 1;
  constexpr bool valid() const { return channels > 0 && plane > 0; }
};

// Compile-time shape of a 2-D pooling window over x [N, channels, in_h, in_w];
// output [N, channels, out_h(), out_w()] (floor mode, no dilation).
// count_include_pad only matters for average pooling (PyTorch's default: true).
struct Pool2DShape {
  int channels = 0, in_h = 0, in_w = 0, kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool count_include_pad = true;

  constexpr int out_h() const {
    return (in_h + 2 * pad_h - kernel_h) / stride_h + 1;
  }
  constexpr int out_w() const {
    return (in_w + 2 * pad_w - kernel_w) / stride_w + 1;
  }
  constexpr long in_plane() const { return long(in_h) * in_w; }
  constexpr long out_plane() const { return long(out_h()) * out_w(); }
  // PyTorch requires pad <= kernel/2: no window lies wholly in the padding.
  constexpr bool valid() const {
    return channels > 0 && in_h > 0 && in_w > 0 && kernel_h > 0 &&
           kernel_w > 0 && stride_h > 0 && stride_w > 0 && pad_h >= 0 &&
           pad_w >= 0 && 2 * pad_h <= kernel_h && 2 * pad_w <= kernel_w &&
           in_h + 2 * pad_h >= kernel_h && in_w + 2 * pad_w >= kernel_w;
  }
};

// A linear layer: x [N, in_features], w [out_features, in_features].
struct LinearShape {
  int in_features = 0, out_features = 0;
  constexpr bool valid() const { return in_features > 0 && out_features > 0; }
};

} // namespace rnc
