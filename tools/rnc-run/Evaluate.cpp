// Test-set accuracy of a model, overall and per class (see Evaluate.h).
#include "Evaluate.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace rnc::run {

std::string Accuracy::table() const {
  size_t width = 13;
  for (const std::string &n : names)
    width = std::max(width, std::min<size_t>(n.size(), 40));
  std::string out = "class" + std::string(width - 5, ' ') +
                    "  accuracy   correct / total\n";
  char line[160];
  for (size_t c = 0; c < names.size(); ++c) {
    double acc = classTotal[c] ? 100.0 * classCorrect[c] / classTotal[c] : 0;
    std::snprintf(line, sizeof line, "%-*.40s  %7.2f%%   %7zu / %zu\n",
                  static_cast<int>(width), names[c].c_str(), acc,
                  classCorrect[c], classTotal[c]);
    out += line;
  }
  return out;
}

Accuracy evaluate(Model &model, const data::ImageSet &set,
                  data::LoaderOptions lo) {
  const rnc_model_info &info = model.info();
  lo.batchSize = info.max_batch;
  lo.shuffle = false;
  lo.augment = {}; // evaluation never augments
  data::Loader loader(set, lo);
  std::vector<float> x(loader.batchFloats());
  std::vector<int32_t> y(static_cast<size_t>(lo.batchSize));
  std::vector<float> logits(static_cast<size_t>(info.max_batch) *
                            info.num_classes);
  Accuracy a;
  a.names = set.classNames();
  a.classCorrect.assign(a.names.size(), 0);
  a.classTotal.assign(a.names.size(), 0);
  while (size_t b = loader.next(x.data(), y.data())) {
    model.eval(x, static_cast<int32_t>(b), logits);
    for (size_t i = 0; i < b; ++i) {
      const float *row = logits.data() + i * info.num_classes;
      bool hit = std::max_element(row, row + info.num_classes) - row == y[i];
      a.correct += hit;
      ++a.total;
      size_t c = static_cast<size_t>(y[i]);
      if (c < a.names.size()) {
        a.classCorrect[c] += hit;
        ++a.classTotal[c];
      }
    }
  }
  return a;
}

} // namespace rnc::run
