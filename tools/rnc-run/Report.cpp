// What `rnc-run train` prints while it runs and writes to --metrics.
#include "Report.h"

#include "runtime/OutputFile.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <unistd.h>

namespace rnc::run {

namespace {

template <class... Args>
std::string format(const char *fmt, Args... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

} // namespace

std::string formatEpoch(const EpochStats &s) {
  return format("epoch %d/%d  loss %.3f  train acc %.1f%%  test acc %.1f%%  "
                "%.0f img/s  %.1f s  data wait %.1f%%",
                s.epoch, s.epochs, s.trainLoss, 100 * s.trainAcc,
                100 * s.testAcc, s.imagesPerSec, s.seconds, 100 * s.dataWait);
}

Progress::Progress(bool plain)
    : tty_(!plain && ::isatty(STDOUT_FILENO) == 1) {}

// 75 s -> "1:15", 3725 s -> "1:02:05".
std::string hms(double seconds) {
  long s = seconds > 0 && seconds < 1e7 ? long(seconds + 0.5) : 0;
  if (s >= 3600)
    return format("%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return format("%ld:%02ld", s / 60, s % 60);
}

void Progress::step(int epoch, int epochs, int64_t step, int64_t steps,
                    double loss, double acc, double imagesPerSec,
                    double dataWait, double etaSeconds) {
  std::string stats =
      format("loss %.3f  train acc %.1f%%  %.0f img/s  data wait %.1f%%  ETA %s",
             loss, 100 * acc, imagesPerSec, 100 * dataWait,
             hms(etaSeconds).c_str());
  std::string line;
  if (tty_) {
    constexpr int kWidth = 20;
    int filled = steps > 0 ? int(kWidth * step / steps) : kWidth;
    line = format("epoch %d/%d [%s%s] %lld/%lld  ", epoch, epochs,
                  std::string(filled, '#').c_str(),
                  std::string(kWidth - filled, '.').c_str(),
                  static_cast<long long>(step), static_cast<long long>(steps)) +
           stats;
  } else {
    line = format("epoch %d/%d  step %lld/%lld  ", epoch, epochs,
                  static_cast<long long>(step), static_cast<long long>(steps)) +
           stats;
  }
  if (tty_) {
    auto now = std::chrono::steady_clock::now();
    if (step != steps && now - last_ < std::chrono::milliseconds(100))
      return;
    last_ = now;
    // \033[K clears what a longer earlier line left behind.
    std::fputs(("\r" + line + "\033[K").c_str(), stdout);
    std::fflush(stdout);
    dirty_ = true;
    return;
  }
  // A line when the step crosses a tenth of the epoch; the last tenth is
  // left to the epoch summary.
  if (step < steps && step * 10 / steps != (step - 1) * 10 / steps) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
}

void Progress::endEpoch() {
  if (dirty_)
    std::fputs("\r\033[K", stdout);
  dirty_ = false;
}

void MetricsFile::add(const EpochStats &s) {
  // %.7g: about a float's precision. The values are finite (train() stops
  // at a non-finite loss or weight), so the line is valid JSON.
  text_ += format("{\"epoch\": %d, \"train_loss\": %.7g, \"train_acc\": %.7g, "
                  "\"test_acc\": %.7g, \"images_per_sec\": %.7g, "
                  "\"seconds\": %.7g, \"lr\": %.7g, \"data_wait\": %.7g}\n",
                  s.epoch, s.trainLoss, s.trainAcc, s.testAcc, s.imagesPerSec,
                  s.seconds, s.lr, s.dataWait);
}

void MetricsFile::write(const EpochStats &s) {
  add(s);
  if (path_.empty())
    return;
  writeFileAtomically(path_, "metrics", [&](int fd) {
    return writeAll(fd, text_.data(), text_.size());
  });
}

} // namespace rnc::run
