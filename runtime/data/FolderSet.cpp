// Image folder trees (torchvision's ImageFolder layout) as an ImageSet: JPEG and PNG files, one folder per class.
//
//   DIR/train/<class>/**/<image>     DIR/val/<class>/... (or DIR/test/...)
//
// Classes are the train/ subfolders in byte order; files are found
// recursively and sorted by (folder, name) as torchvision's make_dataset
// sorts os.walk. Names starting with '.' are ignored, as are plain files
// directly in train/ or val/. The images are interleaved across classes
// (the first of each class, then the second of each, ...), so that the
// first N images (--train-limit N) cover every class.
#include "runtime/CacheDir.h"
#include "runtime/data/DataError.h"
#include "runtime/data/Decode.h"
#include "runtime/data/Formats.h"
#include "runtime/data/Resample.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace rnc::data {

namespace fs = std::filesystem;

namespace {

constexpr int kMaxDepth = 32;

struct Entry {
  std::string path;
  int32_t label;
};

bool hidden(const fs::path &p) {
  std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

// The sub-folders of `dir` (following symbolic links), hidden ones left out,
// in byte order. Problems with `dir` itself throw; an entry that cannot be
// examined is not a class, and is reported to `bad` when given.
std::vector<std::string> subfolders(const fs::path &dir, BadData *bad) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec)
    throw DataError(dir.string(), "cannot read folder: " + ec.message());
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec)
      throw DataError(dir.string(), "cannot read folder: " + ec.message());
    if (hidden(it->path()))
      continue;
    std::error_code sec;
    fs::file_status st = fs::status(it->path(), sec);
    if (sec) {
      if (bad)
        bad->report(it->path().string(), "cannot read: " + sec.message());
      continue;
    }
    if (fs::is_directory(st))
      names.push_back(it->path().filename().string());
  }
  if (ec)
    throw DataError(dir.string(), "cannot read folder: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

// Every non-hidden file under `dir`, as (folder, name) pairs. Returns false
// when `dir` itself cannot be read (reported to `bad`).
bool walk(const fs::path &dir, int depth,
          std::vector<std::pair<std::string, std::string>> &files,
          BadData &bad) {
  if (depth > kMaxDepth) {
    bad.report(dir.string(), "folders nested deeper than " +
                                 std::to_string(kMaxDepth) +
                                 " levels (a symbolic link loop?)");
    return true;
  }
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    bad.report(dir.string(), "cannot read folder: " + ec.message());
    return false;
  }
  std::vector<fs::path> dirs;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (hidden(it->path()))
      continue;
    std::error_code sec;
    fs::file_status st = fs::status(it->path(), sec);
    if (sec) {
      bad.report(it->path().string(), "cannot read: " + sec.message());
      continue;
    }
    if (fs::is_directory(st))
      dirs.push_back(it->path());
    else
      files.emplace_back(dir.string(), it->path().filename().string());
  }
  if (ec) {
    bad.report(dir.string(), "cannot read folder: " + ec.message());
    return false;
  }
  for (const fs::path &d : dirs)
    walk(d, depth + 1, files, bad);
  return true;
}

class FolderSet : public ImageSet {
public:
  FolderSet(int height, int width)
      : ImageSet("image folder", Shape{3, height, width}) {}

  void setEntries(std::vector<Entry> entries, const std::string &stamp) {
    entries_ = std::move(entries);
    stamp_ = stamp;
  }
  size_t size() const override { return entries_.size(); }
  int32_t label(size_t i) const override { return entries_[i].label; }
  Image loadNative(size_t i) const override {
    return fitTo(decodeImageFile(entries_[i].path), shape_.height,
                 shape_.width);
  }
  std::string name(size_t i) const override { return entries_[i].path; }
  std::string fingerprint() const override {
    return "folder " + stamp_ + " " + std::to_string(shape_.height) + "x" +
           std::to_string(shape_.width);
  }
  void retain(const std::vector<bool> &keep) override {
    std::vector<Entry> kept;
    for (size_t i = 0; i < entries_.size(); ++i)
      if (keep[i])
        kept.push_back(std::move(entries_[i]));
    entries_ = std::move(kept);
  }

private:
  std::vector<Entry> entries_;
  std::string stamp_;
};

fs::path splitFolder(const std::string &root, Split split) {
  std::error_code ec;
  if (split == Split::Train)
    return fs::path(root) / "train";
  if (fs::is_directory(fs::path(root) / "val", ec))
    return fs::path(root) / "val";
  return fs::path(root) / "test";
}

} // namespace

std::vector<std::string> folderClassNames(const std::string &root,
                                          BadData *bad) {
  fs::path train = splitFolder(root, Split::Train);
  std::vector<std::string> names = subfolders(train, bad);
  if (names.empty())
    throw DataError(train.string(), "no class folders (expected " +
                                        train.string() + "/<class>/<image>)");
  return names;
}

std::unique_ptr<ImageSet> openFolder(const std::string &root, Split split,
                                     int height, int width, BadData &bad,
                                     const std::vector<std::string> *trainClasses) {
  std::vector<std::string> classes =
      trainClasses && split == Split::Test ? *trainClasses
                                           : folderClassNames(root, &bad);
  fs::path dir = splitFolder(root, split);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw DataError(split == Split::Train ? dir.string() : root,
                    split == Split::Train
                        ? "no such folder (an image folder data set needs "
                          "train/<class>/<image>)"
                        : "no val/ or test/ folder for the test split");
  std::map<std::string, int32_t> labelOf;
  for (size_t c = 0; c < classes.size(); ++c)
    labelOf[classes[c]] = static_cast<int32_t>(c);

  std::vector<std::vector<Entry>> perClass(classes.size());
  std::vector<std::string> folders =
      split == Split::Train ? classes : subfolders(dir, &bad);
  if (folders.empty())
    throw DataError(dir.string(), "no class folders (expected " +
                                      dir.string() + "/<class>/<image>)");
  for (const std::string &cls : folders) {
    auto found = labelOf.find(cls);
    if (found == labelOf.end())
      throw DataError((dir / cls).string(),
                      "class '" + cls + "' is not one of the " +
                          std::to_string(classes.size()) + " classes of " +
                          (fs::path(root) / "train").string());
    std::vector<std::pair<std::string, std::string>> files;
    bool readable = walk(dir / cls, 0, files, bad);
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      if (readable)
        bad.report((dir / cls).string(), "empty class folder: no images");
      continue;
    }
    for (auto &[folder, name] : files)
      perClass[static_cast<size_t>(found->second)].push_back(
          {(fs::path(folder) / name).string(), found->second});
  }

  // Interleave the classes; fingerprint every file by name, size and time.
  std::vector<Entry> entries;
  CacheKey hash; // over every file's name, size and time
  for (size_t r = 0;; ++r) {
    bool any = false;
    for (auto &list : perClass) {
      if (r >= list.size())
        continue;
      any = true;
      hash.add(fileStamp(list[r].path));
      entries.push_back(std::move(list[r]));
    }
    if (!any)
      break;
  }
  auto set = std::make_unique<FolderSet>(height, width);
  set->setEntries(std::move(entries),
                  std::to_string(classes.size()) + " classes, " +
                      hash.hex());
  set->setClassNames(classes);
  return set;
}

} // namespace rnc::data
