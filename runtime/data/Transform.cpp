// Image preprocessing: bilinear resize (PyTorch/PIL semantics) and normalization.
#include "runtime/data/Transform.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace rnc::data {

namespace {
constexpr int kMaxSide = 4096;
} // namespace

std::vector<ResizeTap> resizeTaps(int in, int out) {
  // Float arithmetic throughout, as PyTorch does for float tensors.
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  std::vector<ResizeTap> taps(static_cast<size_t>(out));
  for (int d = 0; d < out; ++d) {
    float src = scale * (static_cast<float>(d) + 0.5f) - 0.5f;
    src = std::max(src, 0.0f);
    int i0 = std::min(static_cast<int>(src), in - 1);
    float w1 = std::clamp(src - static_cast<float>(i0), 0.0f, 1.0f);
    ResizeTap &t = taps[static_cast<size_t>(d)];
    t.i0 = i0;
    t.i1 = i0 < in - 1 ? i0 + 1 : i0;
    t.w0 = 1.0f - w1;
    t.w1 = w1;
  }
  return taps;
}

ResizePlan::ResizePlan(int inHeight, int inWidth, int outHeight, int outWidth)
    : inH(inHeight), inW(inWidth), outH(outHeight), outW(outWidth) {
  for (int side : {inH, inW, outH, outW}) {
    if (side < 1 || side > kMaxSide)
      throw std::invalid_argument(
          "resize: sizes must be in [1, " + std::to_string(kMaxSide) +
          "], got " + std::to_string(inH) + "x" + std::to_string(inW) +
          " -> " + std::to_string(outH) + "x" + std::to_string(outW));
  }
  rows = resizeTaps(inH, outH);
  cols = resizeTaps(inW, outW);
}

void resizeBilinear(const ResizePlan &plan, const uint8_t *src, float *dst) {
  for (int y = 0; y < plan.outH; ++y) {
    const ResizeTap &ty = plan.rows[static_cast<size_t>(y)];
    const uint8_t *r0 = src + static_cast<size_t>(ty.i0) * plan.inW;
    const uint8_t *r1 = src + static_cast<size_t>(ty.i1) * plan.inW;
    float *out = dst + static_cast<size_t>(y) * plan.outW;
    for (int x = 0; x < plan.outW; ++x) {
      const ResizeTap &tx = plan.cols[static_cast<size_t>(x)];
      float top = tx.w0 * r0[tx.i0] + tx.w1 * r0[tx.i1];
      float bottom = tx.w0 * r1[tx.i0] + tx.w1 * r1[tx.i1];
      out[x] = ty.w0 * top + ty.w1 * bottom;
    }
  }
}

void normalize(float *x, size_t n, float mean, float std) {
  for (size_t i = 0; i < n; ++i)
    x[i] = (x[i] / 255.0f - mean) / std;
}

void Preprocess::operator()(const uint8_t *src, float *dst) const {
  resizeBilinear(plan, src, dst);
  normalize(dst, static_cast<size_t>(plan.outH) * plan.outW, mean, std);
}

} // namespace rnc::data
