// The data of a run: the --data flags, both splits opened and checked against the model, the normalization.
#include "Data.h"

#include "runtime/data/DataError.h"
#include "runtime/data/Formats.h"
#include "runtime/data/Scan.h"
#include "runtime/data/ScanCache.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <stdexcept>

namespace rnc::run {

namespace {

constexpr const char *kSkipHint = " (--skip-bad-images skips bad files)";
constexpr size_t kSkippedShown = 20;

std::string channelsText(int c) {
  return c == 1 ? "gray (1 channel)" : "RGB (3 channels)";
}

// Scans a split when its images must be checked (image folders: every file
// decoded once, the result cached on disk) or its statistics are needed.
// Drops the bad images with --skip-bad-images, stops at the first without.
data::ScanResult check(data::ImageSet &set, const std::string &what,
                       bool folder, bool needStats, const DataFlags &f,
                       std::vector<std::string> &skipped) {
  data::ScanResult r;
  if (!folder && !needStats) {
    r.images = set.size();
    r.channels = set.shape().channels;
    return r;
  }
  const std::string fingerprint = set.fingerprint();
  std::optional<data::ScanResult> cached;
  if (folder)
    cached = data::readScanCache(fingerprint);
  if (cached) {
    r = *cached;
  } else {
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    const auto start = std::chrono::steady_clock::now();
    if (folder) {
      std::printf("data   checking the %zu images of %s (each decoded once; "
                  "the result is cached)\n",
                  set.size(), what.c_str());
      std::fflush(stdout);
    }
    auto progress = [&](size_t done, size_t total) {
      if (folder && tty) {
        std::printf("\r       %zu / %zu\033[K", done, total);
        std::fflush(stdout);
      }
    };
    r = data::scan(set, f.threads, !f.skipBad, progress);
    if (folder) {
      double s = std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - start)
                     .count();
      std::printf("%sdata   checked in %.1f s: %zu good, %zu bad\n",
                  tty ? "\r\033[K" : "", s, r.images, r.bad.size());
      std::fflush(stdout);
    }
    bool complete = f.skipBad || r.bad.empty();
    if (folder && complete) {
      std::string err = data::writeScanCache(fingerprint, r);
      if (!err.empty())
        std::fprintf(stderr, "rnc-run: note: the scan is not cached: %s\n",
                     err.c_str());
    }
  }
  if (!r.bad.empty()) {
    if (!f.skipBad)
      throw std::runtime_error(r.reasons[0] + kSkipHint);
    if (!folder) // IDX and CIFAR records fail here only on read errors
      throw std::runtime_error(r.reasons[0]);
    std::vector<bool> keep(set.size(), true);
    for (size_t i : r.bad)
      keep[i] = false;
    set.retain(keep);
    skipped.insert(skipped.end(), r.reasons.begin(), r.reasons.end());
  }
  if (set.size() == 0)
    throw data::DataError(what, "no images" +
                                    std::string(r.bad.empty() ? "" :
                                    " left after skipping the bad ones"));
  return r;
}

std::vector<float> perChannel(const std::vector<float> &v, int channels,
                              const char *flag) {
  if (v.size() == 1)
    return std::vector<float>(static_cast<size_t>(channels), v[0]);
  if (v.size() != static_cast<size_t>(channels))
    throw std::runtime_error(std::string("rnc-run: ") + flag + ": " +
                             std::to_string(v.size()) + " values for " +
                             std::to_string(channels) + " input channel" +
                             (channels == 1 ? "" : "s") +
                             " (give one value, or one per channel)");
  return v;
}

} // namespace

std::string listText(const std::vector<float> &v) {
  std::string s;
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.4g", i ? ", " : "", v[i]);
    s += buf;
  }
  return s;
}

RunData openData(const DataFlags &f, const Model &model, Need need,
                 const std::vector<float> &savedMean,
                 const std::vector<float> &savedStd) {
  const rnc_model_info &info = model.info();
  data::Format format = *data::parseFormat(f.format);
  if (format == data::Format::Auto)
    format = data::detectFormat(f.dir);
  const bool folder = format == data::Format::Folder;
  const std::string root = data::formatRoot(f.dir, format);
  RunData d;
  d.format = data::formatFlag(format);
  data::BadData bad;
  bad.skip = f.skipBad;
  const bool statsGiven = !f.mean.empty() && !f.std.empty();
  const bool statsSaved = !savedMean.empty() && !savedStd.empty();

  auto open = [&](data::Split split,
                  const std::vector<std::string> *classes) {
    try {
      return data::openSplit(f.dir, format, split, info.input_h, info.input_w,
                             bad, classes);
    } catch (const data::BadDataError &e) {
      throw std::runtime_error(e.what() + std::string(kSkipHint));
    }
  };
  const std::string trainWhat =
      folder ? root + "/train" : f.dir + " (train split)";
  data::ScanResult trainScan;
  if (need == Need::TrainAndTest || (!statsGiven && !statsSaved)) {
    std::unique_ptr<data::ImageSet> train = open(data::Split::Train, nullptr);
    trainScan = check(*train, trainWhat, folder, !statsGiven, f, d.skipped);
    if (need == Need::TrainAndTest)
      d.train = std::move(train);
    d.classes = d.train ? d.train->classNames()
                        : data::classNamesOf(f.dir, format);
  } else {
    d.classes = data::classNamesOf(f.dir, format);
  }
  std::unique_ptr<data::ImageSet> test = open(data::Split::Test, &d.classes);
  d.formatName = test->formatName();
  std::error_code ec;
  const std::string testWhat =
      folder ? root + (std::filesystem::is_directory(root + "/val", ec)
                           ? "/val"
                           : "/test")
             : f.dir + " (test split)";
  data::ScanResult testScan = check(*test, testWhat, folder, false, f,
                                    d.skipped);
  d.test = std::move(test);

  // The images' channels must be the model's (gray images may join RGB
  // ones: they are copied to R, G, B).
  const int dataChannels =
      trainScan.channels ? trainScan.channels : testScan.channels;
  const int c = info.input_c;
  if ((trainScan.channels && trainScan.channels != c) ||
      testScan.channels > c)
    throw std::runtime_error(
        f.dir + ": the images are " +
        channelsText(std::max(dataChannels, testScan.channels)) + ", but " +
        model.path() + " takes " + std::to_string(c) +
        "-channel input; compile it with --input " +
        std::to_string(std::max(dataChannels, testScan.channels)) + "x" +
        std::to_string(info.input_h) + "x" + std::to_string(info.input_w));
  if (info.num_classes < static_cast<int>(d.classes.size()))
    throw std::runtime_error(model.path() + ": has " +
                             std::to_string(info.num_classes) +
                             " classes, the data set " + f.dir + " has " +
                             std::to_string(d.classes.size()));

  // Memory cache of decoded images, train first.
  uint64_t budget = f.cacheMb << 20;
  for (data::ImageSet *s : {d.train.get(), d.test.get()}) {
    if (!s)
      continue;
    s->setChannels(c);
    if (!s->worthCaching())
      continue;
    uint64_t need = static_cast<uint64_t>(s->size()) * s->shape().values();
    bool on = s->enableCache(budget);
    if (on)
      budget -= need;
    d.cacheNote += std::string(d.cacheNote.empty() ? "" : ", ") +
                   (s == d.train.get() ? "train " : "test ") +
                   (on ? "cached in memory (" + std::to_string(need >> 20) +
                             " MB)"
                       : "streamed from disk (" + std::to_string(need >> 20) +
                             " MB > --cache-mb)");
  }

  if (statsGiven) {
    d.mean = perChannel(f.mean, c, "--mean");
    d.std = perChannel(f.std, c, "--std");
    d.normalizedBy = "--mean/--std";
  } else if (statsSaved) {
    d.mean = perChannel(savedMean, c, "the checkpoint's mean");
    d.std = perChannel(savedStd, c, "the checkpoint's std");
    d.normalizedBy = "checkpoint";
  } else {
    std::vector<float> mean(trainScan.mean.begin(), trainScan.mean.end());
    std::vector<float> std(trainScan.std.begin(), trainScan.std.end());
    d.mean = perChannel(mean, c, "the training set's mean");
    d.std = perChannel(std, c, "the training set's std");
    d.normalizedBy = "train set";
  }
  for (float s : d.std)
    if (!(s > 0))
      throw std::runtime_error("rnc-run: the normalization std is " +
                               listText(d.std) +
                               " (constant images?); give --std");

  d.skipped.insert(d.skipped.begin(), bad.skipped.begin(), bad.skipped.end());
  for (size_t i = 0; i < d.skipped.size() && i < kSkippedShown; ++i)
    std::fprintf(stderr, "rnc-run: skipped %s\n", d.skipped[i].c_str());
  if (d.skipped.size() > kSkippedShown)
    std::fprintf(stderr, "rnc-run: ... and %zu more\n",
                 d.skipped.size() - kSkippedShown);
  return d;
}

} // namespace rnc::run
