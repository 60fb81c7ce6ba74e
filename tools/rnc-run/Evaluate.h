// Test-set accuracy of a model, overall and per class.
#pragma once

#include "runtime/Model.h"
#include "runtime/data/ImageSet.h"
#include "runtime/data/Loader.h"

#include <cstddef>
#include <string>
#include <vector>

namespace rnc::run {

struct Accuracy {
  std::vector<std::string> names; // one per class
  size_t correct = 0, total = 0;
  std::vector<size_t> classCorrect, classTotal;
  double fraction() const { return total ? double(correct) / total : 0.0; }
  /// A table: class name, accuracy, correct / total, one class per line.
  std::string table() const;
};

/// Runs the model's inference (BN running statistics) over `set` in batches
/// of its max batch, in order, without augmentation; `lo` gives the
/// normalization, threads and limit.
Accuracy evaluate(Model &model, const data::ImageSet &set,
                  data::LoaderOptions lo);

} // namespace rnc::run
