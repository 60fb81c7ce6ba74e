// Test-set accuracy of a model, overall and per class.
#pragma once

#include "runtime/Model.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/Loader.h"

#include <array>
#include <cstddef>
#include <string>

namespace rnc::run {

struct Accuracy {
  static constexpr int kClasses = data::FashionMnist::kClasses;
  size_t correct = 0, total = 0;
  std::array<size_t, kClasses> classCorrect{}, classTotal{};
  double fraction() const { return total ? double(correct) / total : 0.0; }
  /// A table: class name, accuracy, correct / total, one class per line.
  std::string table() const;
};

/// Runs the model's inference (BN running statistics) over `set` in batches
/// of its max batch; `lo` gives the resize, normalization and limit.
Accuracy evaluate(Model &model, const data::FashionMnist &set,
                  data::LoaderOptions lo);

} // namespace rnc::run
