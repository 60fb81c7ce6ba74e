// The data set formats rnc reads (IDX, CIFAR-10/100 binary, image folders): detection and opening.
#pragma once

#include "runtime/data/DataError.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/ImageSet.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rnc::data {

enum class Format { Auto, Idx, Cifar10, Cifar100, Folder };

/// "auto", "idx", "cifar10", "cifar100", "folder" (the --data-format values).
const char *formatFlag(Format f);
std::optional<Format> parseFormat(const std::string &name);

/// What `dir` holds, from the files in it: IDX (train-images-idx3-ubyte[.gz]),
/// CIFAR-10 (data_batch_1.bin), CIFAR-100 (train.bin), or an image folder
/// tree (a train/ folder). A CIFAR folder may also be the one that holds
/// cifar-10-batches-bin/ or cifar-100-binary/ (as the archives unpack).
/// Throws DataError(dir, ...) when it is none of these.
Format detectFormat(const std::string &dir);

/// The folder the files of `format` are in: `dir`, or its
/// cifar-10-batches-bin/ (cifar-100-binary/) when the files are there.
std::string formatRoot(const std::string &dir, Format format);

/// A bad image, record, or class folder (the kind --skip-bad-images skips).
class BadDataError : public DataError {
public:
  using DataError::DataError;
};

/// Bad images and records met while reading: with `skip` they are counted
/// and described (`<file>: <reason>`, in file order); without, the first
/// one throws BadDataError.
struct BadData {
  bool skip = false;
  std::vector<std::string> skipped;
  /// Throws BadDataError(file, reason) unless `skip`; else records it.
  void report(const std::string &file, const std::string &reason);
};

/// Opens one split of a data set of a known format (not Auto), its images
/// fitted to height x width. Class names: for image folders the train/
/// subfolders (the test split maps its folders to them by name: pass
/// `trainClasses`, or it lists train/); for CIFAR batches.meta.txt or
/// fine_label_names.txt, else the standard names; for IDX a classes.txt,
/// else Fashion-MNIST's names when the folder's path says "fashion", else
/// the digits 0-9. Throws DataError naming the file or folder.
std::unique_ptr<ImageSet> openSplit(const std::string &dir, Format format,
                                    Split split, int height, int width,
                                    BadData &bad,
                                    const std::vector<std::string> *trainClasses =
                                        nullptr);

/// The class names of a data set without reading its images.
std::vector<std::string> classNamesOf(const std::string &dir, Format format);

// The readers behind openSplit (IdxSet.cpp, CifarSet.cpp, FolderSet.cpp).
std::unique_ptr<ImageSet> openIdx(const std::string &dir, Split split,
                                  int height, int width);
std::unique_ptr<ImageSet> openCifar(const std::string &root, bool cifar100,
                                    Split split, int height, int width,
                                    BadData &bad);
std::unique_ptr<ImageSet> openFolder(const std::string &root, Split split,
                                     int height, int width, BadData &bad,
                                     const std::vector<std::string> *trainClasses);
std::vector<std::string> idxClassNames(const std::string &dir);
std::vector<std::string> cifarClassNames(const std::string &root, bool cifar100);
/// The train/ subfolders; entries that cannot be read are no class (and
/// are reported to `bad` when given).
std::vector<std::string> folderClassNames(const std::string &root,
                                          BadData *bad = nullptr);

/// `<path>@<size>:<mtime ns>`, or `<path>@missing`: a cheap identity of a
/// file's contents for fingerprints.
std::string fileStamp(const std::string &path);

/// Lines of a small text file (class names), trimmed, empty lines dropped;
/// empty when the file does not exist.
std::vector<std::string> readNameFile(const std::string &path);

} // namespace rnc::data
