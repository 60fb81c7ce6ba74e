// Training augmentation (random crop with padding, horizontal flip, random erasing) and normalization to float.
#pragma once

#include "runtime/data/Image.h"

#include <cstdint>
#include <string>
#include <vector>

namespace rnc::data {

/// Fashion-MNIST training-set statistics of x/255 over all 60000 x 784
/// pixels (population standard deviation): what the scan of the training
/// split computes (checked against the real files by DatasetTest.cpp).
constexpr float kFashionMnistMean = 0.2860406f;
constexpr float kFashionMnistStd = 0.3530242f;

/// The augmentations, each off by default, applied in torchvision's order:
/// RandomCrop(size, padding=cropPadding) (zero fill), RandomHorizontalFlip(
/// p=0.5), ToTensor, Normalize, RandomErasing(p=erasing, scale=(0.02,
/// 0.33), ratio=(0.3, 3.3), value=0).
struct Augment {
  int cropPadding = 0; // pixels of zero padding on each side; 0: no crop
  bool hflip = false;
  float erasing = 0;   // probability; 0: never
  bool any() const { return cropPadding > 0 || hflip || erasing > 0; }
  /// "crop 4, flip, erasing 0.5" or "none".
  std::string text() const;
};

/// The random stream of one image in one epoch: a splitmix64 sequence from
/// (seed, epoch, image index), so the draws do not depend on which thread
/// prepares the image, or when.
class SampleRng {
public:
  SampleRng(uint64_t seed, uint64_t epoch, uint64_t index);
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double uniform();
  /// Uniform integer in [0, n) (n >= 1).
  int below(int n);

private:
  uint64_t state_;
};

/// What the augmentation decided for one image.
struct Draw {
  int top = 0, left = 0; // crop offset into the padded image, in [0, 2P]
  bool flip = false;
  bool erase = false;
  int eraseTop = 0, eraseLeft = 0, eraseHeight = 0, eraseWidth = 0;
};

/// Draws crop offsets, flip and the erased rectangle for an image of
/// height x width, as torchvision's transforms draw them (RandomErasing
/// tries 10 rectangles of area U(0.02, 0.33) and log aspect U(log 0.3,
/// log 3.3), h = round(sqrt(area * ratio)), w = round(sqrt(area / ratio)),
/// and erases the first that fits strictly inside).
Draw drawAugment(const Augment &a, int height, int width, SampleRng &rng);

/// Per-channel lookup tables: table[c][v] = (v / 255 - mean[c]) / std[c]
/// in float, the arithmetic of torchvision's ToTensor then Normalize.
struct Normalizer {
  Normalizer(const std::vector<float> &mean, const std::vector<float> &std,
             int channels);
  std::vector<float> table; // [channels][256]
};

/// One uint8 image [H][W][C] at `shape` to the network's float input
/// [C][H][W], with the crop, flip and erasing of `d` (Draw{} is none) and
/// normalized by `n`. `padding` is the crop padding `d` was drawn for.
void toTensor(const uint8_t *hwc, const Shape &shape, int padding,
              const Draw &d, const Normalizer &n, float *chw);

} // namespace rnc::data
