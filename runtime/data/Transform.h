// Image preprocessing: bilinear resize (PyTorch/PIL semantics) and normalization.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rnc::data {

/// Fashion-MNIST training-set statistics of x/255 over all 60000 x 784
/// pixels (population standard deviation). Checked against the real files
/// by test/data/DatasetTest.cpp.
constexpr float kFashionMnistMean = 0.2860406f;
constexpr float kFashionMnistStd = 0.3530242f;

/// Where one output row (or column) reads from: two source indices and
/// their weights, w0 + w1 = 1.
struct ResizeTap {
  int32_t i0, i1;
  float w0, w1;
};

/// The taps for resizing one axis from `in` to `out` samples, the way
/// torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
/// computes them: half-pixel centres, src = (dst + 0.5) * in/out - 0.5,
/// clamped at 0 below and to the last sample above. For upsampling this is
/// also exactly PIL's BILINEAR filter (a triangle of support 1, renormalized
/// at the borders), hence torchvision's Resize; for downsampling PIL and
/// torchvision (antialias=True) average over more pixels and differ.
std::vector<ResizeTap> resizeTaps(int in, int out);

/// A precomputed resize of inH x inW images to outH x outW.
struct ResizePlan {
  int inH, inW, outH, outW;
  std::vector<ResizeTap> rows, cols;
  /// Throws std::invalid_argument unless every size is in [1, 4096].
  ResizePlan(int inHeight, int inWidth, int outHeight, int outWidth);
};

/// Bilinear resize of a uint8 image to float, values staying in [0, 255]:
/// out = wy0 * (wx0 * p00 + wx1 * p01) + wy1 * (wx0 * p10 + wx1 * p11).
/// H = W = input size is the identity. `dst` holds outH * outW floats.
void resizeBilinear(const ResizePlan &plan, const uint8_t *src, float *dst);

/// x = (x / 255 - mean) / std for n values, as torchvision's ToTensor then
/// Normalize(mean, std) compute it.
void normalize(float *x, size_t n, float mean, float std);

/// Resize then normalize: one uint8 image to the network's float input.
struct Preprocess {
  ResizePlan plan;
  float mean = kFashionMnistMean;
  float std = kFashionMnistStd;
  /// `dst` holds plan.outH * plan.outW floats.
  void operator()(const uint8_t *src, float *dst) const;
};

} // namespace rnc::data
