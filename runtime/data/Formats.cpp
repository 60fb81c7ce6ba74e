// The data set formats rnc reads (IDX, CIFAR-10/100 binary, image folders): detection and opening.
#include "runtime/data/Formats.h"

#include "runtime/data/DataError.h"
#include "runtime/data/Idx.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace rnc::data {

namespace fs = std::filesystem;

namespace {

bool isFile(const fs::path &p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}
bool isDir(const fs::path &p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

} // namespace

const char *formatFlag(Format f) {
  switch (f) {
  case Format::Auto: return "auto";
  case Format::Idx: return "idx";
  case Format::Cifar10: return "cifar10";
  case Format::Cifar100: return "cifar100";
  case Format::Folder: return "folder";
  }
  return "?";
}

std::optional<Format> parseFormat(const std::string &name) {
  for (Format f : {Format::Auto, Format::Idx, Format::Cifar10,
                   Format::Cifar100, Format::Folder})
    if (name == formatFlag(f))
      return f;
  return std::nullopt;
}

std::string formatRoot(const std::string &dir, Format format) {
  const char *sub = format == Format::Cifar10    ? "cifar-10-batches-bin"
                    : format == Format::Cifar100 ? "cifar-100-binary"
                                                 : nullptr;
  if (sub && isDir(fs::path(dir) / sub) &&
      !isFile(fs::path(dir) / (format == Format::Cifar10 ? "data_batch_1.bin"
                                                         : "train.bin")))
    return (fs::path(dir) / sub).string();
  return dir;
}

Format detectFormat(const std::string &dir) {
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (ec || !fs::exists(st))
    throw DataError(dir, "no such folder" + missingFileHint(dir + "/x"));
  if (!fs::is_directory(st))
    throw DataError(dir, "not a folder (--data names the folder of a data "
                         "set)");
  fs::path d(dir);
  // Present in any form: an IDX name that is a FIFO or a device is then
  // refused by the reader, by name, rather than taken for no data at all.
  auto present = [](const fs::path &p) {
    std::error_code e;
    return fs::exists(fs::status(p, e));
  };
  if (present(d / "train-images-idx3-ubyte.gz") ||
      present(d / "train-images-idx3-ubyte"))
    return Format::Idx;
  for (const fs::path &c : {d, d / "cifar-10-batches-bin"})
    if (isFile(c / "data_batch_1.bin"))
      return Format::Cifar10;
  for (const fs::path &c : {d, d / "cifar-100-binary"})
    if (isFile(c / "train.bin"))
      return Format::Cifar100;
  if (isDir(d / "train"))
    return Format::Folder;
  throw DataError(dir, "no data set found: expected IDX files "
                       "(train-images-idx3-ubyte.gz), CIFAR-10 "
                       "(data_batch_1.bin), CIFAR-100 (train.bin) or an "
                       "image folder tree (train/<class>/<image>)");
}

void BadData::report(const std::string &file, const std::string &reason) {
  if (!skip)
    throw BadDataError(file, reason);
  skipped.push_back(file + ": " + reason);
}

std::string fileStamp(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return path + "@missing";
  return path + "@" + std::to_string(st.st_size) + ":" +
         std::to_string(static_cast<long long>(st.st_mtim.tv_sec) *
                            1000000000ll +
                        st.st_mtim.tv_nsec);
}

std::vector<std::string> readNameFile(const std::string &path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    size_t b = line.find_first_not_of(" \t\r");
    size_t e = line.find_last_not_of(" \t\r");
    if (b != std::string::npos)
      names.push_back(line.substr(b, e - b + 1));
  }
  return names;
}

std::unique_ptr<ImageSet> openSplit(const std::string &dir, Format format,
                                    Split split, int height, int width,
                                    BadData &bad,
                                    const std::vector<std::string> *trainClasses) {
  if (format == Format::Auto)
    format = detectFormat(dir);
  std::string root = formatRoot(dir, format);
  switch (format) {
  case Format::Idx:
    return openIdx(root, split, height, width);
  case Format::Cifar10:
  case Format::Cifar100:
    return openCifar(root, format == Format::Cifar100, split, height, width,
                     bad);
  case Format::Folder:
    return openFolder(root, split, height, width, bad, trainClasses);
  case Format::Auto:
    break;
  }
  throw DataError(dir, "unknown data format");
}

std::vector<std::string> classNamesOf(const std::string &dir, Format format) {
  if (format == Format::Auto)
    format = detectFormat(dir);
  std::string root = formatRoot(dir, format);
  switch (format) {
  case Format::Idx:
    return idxClassNames(root);
  case Format::Cifar10:
  case Format::Cifar100:
    return cifarClassNames(root, format == Format::Cifar100);
  case Format::Folder:
    return folderClassNames(root);
  case Format::Auto:
    break;
  }
  return {};
}

} // namespace rnc::data
