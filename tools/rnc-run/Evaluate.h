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

/// Refuses a model whose input or output cannot take `source` (its images
/// have `channels` channels and up to `classes` classes, 0: any): the model
/// would read past the images or never predict some labels.
void checkModelTakes(const Model &model, int channels, int classes,
                     const std::string &source);

/// Runs the model's inference (BN running statistics) over `set` in batches
/// of its max batch; `lo` gives the resize, normalization and limit.
Accuracy evaluate(Model &model, const data::FashionMnist &set,
                  data::LoaderOptions lo);

} // namespace rnc::run
