// Resize, center crop and channel conversion of 8-bit images, computed as Pillow and torchvision do.
#pragma once

#include "runtime/data/Image.h"

namespace rnc::data {

/// The largest side an image or a resize target may have.
constexpr int kMaxSide = 16384;

/// Pillow's `Image.resize((width, height), Image.BILINEAR)` for an 8-bit
/// image: a triangle filter whose support grows with the downscaling factor
/// (antialiasing), separable, horizontal pass first, weights in 22-bit fixed
/// point, each pass rounded and clamped to 0..255. The same size is a copy.
/// Throws std::invalid_argument for sizes outside [1, kMaxSide].
Image resizeBilinear(const Image &in, int height, int width);

/// The size `in` is resized to before a center crop to height x width:
/// torchvision's Resize(size) on the short side, `long = int(size * long /
/// short)`, generalized to a non-square target by scaling so that the image
/// covers it (the side that needs the larger scale gets the target size).
void coverSize(int inHeight, int inWidth, int height, int width, int &outHeight,
               int &outWidth);

/// torchvision's CenterCrop((height, width)) of an image at least that large:
/// top = round((H - height) / 2), left = round((W - width) / 2), rounding
/// half to even as Python's round() does.
Image centerCrop(const Image &in, int height, int width);

/// The training and test geometry of every format: resizeBilinear to
/// coverSize, then centerCrop. An image already height x width is returned
/// unchanged.
Image fitTo(const Image &in, int height, int width);

/// fitTo's arithmetic as per-axis taps, for a model that resizes stored
/// images itself while it gathers a batch (rnc_set_dataset_u8_resized,
/// kernels/resize.h): output row y of `height` reads countY[y] stored rows
/// from firstY[y] with weights weightsY[y * tapsY + k] (fixed point, 22
/// fraction bits), the center crop applied; the same for columns. An axis
/// that keeps its size gets one tap of weight 1, which passes a value
/// through unchanged. Evaluated as kernels/resize.h does, the taps give
/// fitTo(image, height, width) exactly, for any image inHeight x inWidth.
struct FitTaps {
  int inHeight = 0, inWidth = 0;
  int tapsY = 0, tapsX = 0; // the most taps any output row / column reads
  std::vector<int32_t> firstY, countY, weightsY; // [height], [height][tapsY]
  std::vector<int32_t> firstX, countX, weightsX; // [width], [width][tapsX]
};
FitTaps fitTaps(int inHeight, int inWidth, int height, int width);

/// Pillow's convert("L") (L = (19595 R + 38470 G + 7471 B + 2^15) >> 16) for
/// channels 1, convert("RGB") (gray copied to R, G, B) for channels 3.
Image convertChannels(const Image &in, int channels);

} // namespace rnc::data
