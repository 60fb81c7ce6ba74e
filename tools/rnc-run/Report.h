// What `rnc-run train` prints while it runs and writes to --metrics.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace rnc::run {

/// The results of one epoch. Accuracies are fractions in [0, 1].
struct EpochStats {
  int epoch = 0; // 1-based
  int epochs = 0;
  double trainLoss = 0, trainAcc = 0, testAcc = 0;
  double imagesPerSec = 0; // training images over training time
  double seconds = 0;      // the whole epoch, evaluation included
  double lr = 0;           // the lr of the epoch's first step
  double dataWait = 0;     // fraction of the training time spent waiting
                           // for the data loader
};

/// `epoch 3/10  loss 0.412  train acc 85.1%  test acc 86.0%  1234 img/s  48.6 s  data wait 0.3%`
std::string formatEpoch(const EpochStats &s);

/// The progress of the current epoch on stdout: on a terminal a bar, one
/// line rewritten in place (at most ~10 times a second), otherwise a plain
/// line at every tenth of the epoch (CI logs, pipes). Both show the running
/// loss, accuracy, images/s, the share of the time spent waiting for data
/// and the ETA of the whole run's training.
///   epoch 2/4 [#########.........] 212/469  loss 0.412  acc 85.1%  1234 img/s  data wait 0.2%  ETA 3:05
class Progress {
public:
  /// Detects whether stdout is a terminal; `plain` forces plain lines (a
  /// rank under mpirun writes to Open MPI's pseudo-terminal, whatever the
  /// job's output is redirected to).
  explicit Progress(bool plain = false);
  ~Progress() { endEpoch(); } // an error must not print after a half line
  void step(int epoch, int epochs, int64_t step, int64_t steps, double loss,
            double acc, double imagesPerSec, double dataWait,
            double etaSeconds);
  /// Clears the in-place line before the epoch summary is printed.
  void endEpoch();

private:
  bool tty_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_{};
};

/// --metrics: one JSON object per epoch and line. The whole file is
/// rewritten atomically (runtime/OutputFile.h) as soon as an epoch ends, so
/// an interrupted run keeps its finished epochs and nothing in an existing
/// file is lost before the first epoch of this run is done.
class MetricsFile {
public:
  /// Remembers `path` ("": write nothing); writes nothing yet.
  explicit MetricsFile(const std::string &path) : path_(path) {}
  /// Adds an epoch without writing (the epochs a resumed run already has).
  void add(const EpochStats &s);
  /// Adds an epoch and rewrites the file. Throws std::runtime_error.
  void write(const EpochStats &s);

private:
  std::string path_;
  std::string text_;
};

} // namespace rnc::run
