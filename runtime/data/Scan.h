// Scan: one pass over a split that decodes every image, finds the bad ones and measures the per-channel mean and std.
#pragma once

#include "runtime/data/ImageSet.h"

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace rnc::data {

struct ScanResult {
  size_t images = 0;  // images that decoded
  int channels = 0;   // 3 when any image is RGB, else 1 (0: no images)
  /// Per channel (of `channels`), over every pixel of every good image at
  /// the network's input size, values x/255: the mean and the population
  /// standard deviation. Gray images count in R, G and B of an RGB set.
  std::vector<double> mean, std;
  /// Indices of the images that failed, in order, and why
  /// ("<file>: <reason>").
  std::vector<size_t> bad;
  std::vector<std::string> reasons;
};

/// Decodes every image of `set` (loadNative) on `threads` threads. With
/// `stopAtFirstBad`, returns as soon as the first bad image in index order
/// is known (then `bad` holds exactly that one and the statistics are
/// incomplete). The result does not depend on the number of threads: the
/// sums are exact integers. `progress(done, total)` is called now and then
/// from the calling thread.
ScanResult scan(const ImageSet &set, int threads, bool stopAtFirstBad,
                const std::function<void(size_t, size_t)> &progress = {});

} // namespace rnc::data
