// The data of a run: the --data flags, both splits opened and checked against the model, the normalization.
#pragma once

#include "runtime/Model.h"
#include "runtime/data/ImageSet.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rnc::run {

/// The flags that say where data comes from and how it is read. None of
/// them changes the trained weights except --skip-bad-images (which images
/// there are) and --mean/--std.
struct DataFlags {
  std::string dir;             // --data
  std::string format = "auto"; // --data-format
  bool skipBad = false;        // --skip-bad-images
  int threads = 2;             // --threads: loader workers
  int prefetch = 2;            // --prefetch: batches prepared ahead
  uint64_t cacheMb = 2048;     // --cache-mb: decoded images kept in memory
  std::vector<float> mean, std; // --mean/--std; empty: from elsewhere
};

/// Both splits (or the test split alone) ready for loaders.
struct RunData {
  std::string format;     // "idx", "cifar10", "cifar100", "folder"
  std::string formatName; // "IDX", "CIFAR-10", "image folder"
  std::unique_ptr<data::ImageSet> train, test; // train: null for Need::Test
  std::vector<std::string> classes;
  std::vector<float> mean, std; // one per model input channel
  std::string normalizedBy;     // "train set", "--mean/--std", "checkpoint"
  std::vector<std::string> skipped; // "<file>: <reason>", with --skip-bad-images
  std::string cacheNote;        // what is cached in memory, for the log
};

enum class Need { TrainAndTest, Test };

/// Opens the data of `f` for `model`: detects the format, lists the files,
/// checks every image of an image folder once (cached on disk by content),
/// handles bad files (the first stops the run with one line naming it, or
/// with --skip-bad-images each is skipped and reported), checks that the
/// images' channels and class count fit the model, and settles the
/// normalization: --mean/--std if given, else `saved` (a checkpoint's), else
/// the training split's statistics. Prints progress for long scans.
/// Throws DataError or std::runtime_error (one line).
RunData openData(const DataFlags &f, const Model &model, Need need,
                 const std::vector<float> &savedMean = {},
                 const std::vector<float> &savedStd = {});

/// "a, b, c" with %g.
std::string listText(const std::vector<float> &v);

} // namespace rnc::run
