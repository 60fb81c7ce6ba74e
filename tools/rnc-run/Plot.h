// Plot.h: the training plot `rnc-run train` writes after training (an SVG file).
#pragma once

#include <string>
#include <vector>

namespace rnc::run {

/// One point per finished epoch; accuracies are fractions in [0, 1].
struct PlotPoint {
  int epoch;
  double trainLoss, trainAcc, testAcc;
};

/// Writes an SVG line chart of train loss, train accuracy and test accuracy
/// against the epoch to `path`, atomically (a temporary file in the same folder
/// then rename, so a reader never sees a half-written image). `title` is shown on top.
/// Throws std::runtime_error with a one-line message naming the file on failure.
void writeTrainingPlot(const std::string &path, const std::vector<PlotPoint> &points,
                       const std::string &title);

/// The path of the plot for a metrics file: "dir/run.jsonl" -> "dir/run.svg"
/// (the extension after the last dot of the file name replaced; ".svg" appended if none,
/// and also if it already is ".svg", so that the plot never overwrites the metrics).
std::string plotPathFor(const std::string &metricsPath);

} // namespace rnc::run
