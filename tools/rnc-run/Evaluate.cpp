// Test-set accuracy of a model, overall and per class (see Evaluate.h).
#include "Evaluate.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace rnc::run {

std::string Accuracy::table() const {
  const auto &names = data::FashionMnist::classNames();
  std::string out = "class          accuracy   correct / total\n";
  char line[96];
  for (int c = 0; c < kClasses; ++c) {
    double acc = classTotal[c] ? 100.0 * classCorrect[c] / classTotal[c] : 0;
    std::snprintf(line, sizeof line, "%-13s  %7.2f%%   %7zu / %zu\n", names[c],
                  acc, classCorrect[c], classTotal[c]);
    out += line;
  }
  return out;
}

void checkModelTakes(const Model &model, int channels, int classes,
                     const std::string &source) {
  const rnc_model_info &info = model.info();
  if (info.input_c != channels)
    throw std::runtime_error(
        model.path() + ": takes " + std::to_string(info.input_c) +
        "-channel input but " + source + " has " + std::to_string(channels) +
        (channels == 1 ? " channel" : " channels") + "; compile it with "
        "--input " + std::to_string(channels) + "x" +
        std::to_string(info.input_h) + "x" + std::to_string(info.input_w));
  if (classes > 0 && info.num_classes < classes)
    throw std::runtime_error(model.path() + ": has " +
                             std::to_string(info.num_classes) + " classes, " +
                             source + " needs " + std::to_string(classes));
}

Accuracy evaluate(Model &model, const data::FashionMnist &set,
                  data::LoaderOptions lo) {
  const rnc_model_info &info = model.info();
  lo.batchSize = info.max_batch;
  lo.shuffle = false;
  data::Loader loader(set, lo);
  std::vector<float> x(loader.batchFloats());
  std::vector<int32_t> y(static_cast<size_t>(lo.batchSize));
  std::vector<float> logits(static_cast<size_t>(info.max_batch) *
                            info.num_classes);
  Accuracy a;
  while (size_t b = loader.next(x.data(), y.data())) {
    model.eval(x, static_cast<int32_t>(b), logits);
    for (size_t i = 0; i < b; ++i) {
      const float *row = logits.data() + i * info.num_classes;
      bool hit = std::max_element(row, row + info.num_classes) - row == y[i];
      a.correct += hit;
      ++a.total;
      if (y[i] >= 0 && y[i] < Accuracy::kClasses) {
        a.classCorrect[y[i]] += hit;
        ++a.classTotal[y[i]];
      }
    }
  }
  return a;
}

} // namespace rnc::run
