// The CIFAR-10 and CIFAR-100 binary batches as an ImageSet: labels in memory, pixels read from disk.
//
// A record is the label byte(s) (CIFAR-10: the class; CIFAR-100: the coarse
// then the fine class, rnc uses the fine one) and 3072 bytes of pixels: the
// 32x32 red plane, then green, then blue, rows top to bottom.
#include "runtime/data/DataError.h"
#include "runtime/data/Formats.h"
#include "runtime/data/Resample.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rnc::data {

namespace {

constexpr int kSide = 32, kPlane = kSide * kSide, kPixelBytes = 3 * kPlane;

const char *const kCifar10Names[] = {"airplane", "automobile", "bird", "cat",
                                     "deer",     "dog",        "frog", "horse",
                                     "ship",     "truck"};

std::string plural(uint64_t n, const char *one, const char *many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

class CifarSet : public ImageSet {
public:
  CifarSet(bool cifar100, int height, int width)
      : ImageSet(cifar100 ? "CIFAR-100" : "CIFAR-10",
                 Shape{3, height, width}),
        labelBytes_(cifar100 ? 2 : 1), classCount_(cifar100 ? 100 : 10) {}
  ~CifarSet() override {
    for (const File &f : files_)
      if (f.fd >= 0)
        ::close(f.fd);
  }

  // Reads the labels of every whole record of `path`, checks them, and
  // remembers where each good record is.
  void addFile(const std::string &path, BadData &bad) {
    const size_t record = labelBytes_ + kPixelBytes;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw DataError(path, std::string("cannot open: ") +
                                std::strerror(errno) +
                                (errno == ENOENT ? " (the " + format_ +
                                                       " files of this split)"
                                                 : ""));
    files_.push_back({path, fd});
    const uint32_t fileIndex = static_cast<uint32_t>(files_.size() - 1);
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      throw DataError(path, "not a regular file");
    const uint64_t bytes = static_cast<uint64_t>(st.st_size);
    if (bytes == 0)
      bad.report(path, "empty file (no " + format_ + " records)");
    const uint64_t records = bytes / record;
    if (bytes % record != 0)
      bad.report(path, "truncated: " + plural(bytes, "byte", "bytes") +
                           " is not a whole number of " +
                           std::to_string(record) + "-byte records (record " +
                           std::to_string(records) + " is cut short after " +
                           plural(bytes % record, "byte", "bytes") + ")");
    std::vector<uint8_t> chunk(record * 1024);
    for (uint64_t r = 0; r < records;) {
      uint64_t n = std::min<uint64_t>(1024, records - r);
      readAt(fd, path, chunk.data(), n * record, r * record);
      for (uint64_t k = 0; k < n; ++k) {
        const uint8_t *rec = chunk.data() + k * record;
        int coarse = rec[0], fine = rec[labelBytes_ - 1];
        if (labelBytes_ == 2 && coarse >= 20) {
          bad.report(path, "record " + std::to_string(r + k) +
                               ": coarse label " + std::to_string(coarse) +
                               " is out of range [0, 19]");
          continue;
        }
        if (fine >= classCount_) {
          bad.report(path, "record " + std::to_string(r + k) + ": label " +
                               std::to_string(fine) + " is out of range [0, " +
                               std::to_string(classCount_ - 1) + "]");
          continue;
        }
        samples_.push_back({fileIndex, static_cast<uint32_t>(r + k)});
        labels_.push_back(static_cast<uint8_t>(fine));
      }
      r += n;
    }
    stamp_ += fileStamp(path) + " ";
  }

  size_t size() const override { return samples_.size(); }
  int32_t label(size_t i) const override { return labels_[i]; }
  Image loadNative(size_t i) const override {
    return fitTo(loadStored(i), shape_.height, shape_.width);
  }
  Shape storedShape() const override { return Shape{3, kSide, kSide}; }
  Image loadStored(size_t i) const override {
    const Sample s = samples_[i];
    const File &f = files_[s.file];
    const size_t record = labelBytes_ + kPixelBytes;
    uint8_t planes[kPixelBytes];
    readAt(f.fd, f.path, planes, kPixelBytes,
           static_cast<uint64_t>(s.record) * record + labelBytes_);
    Image img(kSide, kSide, 3);
    for (int p = 0; p < kPlane; ++p)
      for (int c = 0; c < 3; ++c)
        img.pixels[static_cast<size_t>(p) * 3 + c] = planes[c * kPlane + p];
    return img;
  }
  std::string name(size_t i) const override {
    return files_[samples_[i].file].path + " record " +
           std::to_string(samples_[i].record);
  }
  bool worthCaching() const override {
    return shape_.height != kSide || shape_.width != kSide;
  }
  std::string fingerprint() const override {
    return format_ + " " + stamp_ + std::to_string(shape_.height) + "x" +
           std::to_string(shape_.width);
  }

private:
  struct File {
    std::string path;
    int fd;
  };
  struct Sample {
    uint32_t file, record;
  };

  static void readAt(int fd, const std::string &path, uint8_t *dst, size_t n,
                     uint64_t offset) {
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd, dst + done, n - done,
                            static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        throw DataError(path, std::string("read error: ") +
                                  std::strerror(errno));
      if (got == 0)
        throw DataError(path, "the file became shorter while being read");
      done += static_cast<size_t>(got);
    }
  }

  size_t labelBytes_;
  int classCount_;
  std::vector<File> files_;
  std::vector<Sample> samples_;
  std::vector<uint8_t> labels_;
  std::string stamp_;
};

} // namespace

std::vector<std::string> cifarClassNames(const std::string &root,
                                         bool cifar100) {
  std::vector<std::string> names = readNameFile(
      root + (cifar100 ? "/fine_label_names.txt" : "/batches.meta.txt"));
  const size_t want = cifar100 ? 100 : 10;
  if (names.size() == want)
    return names;
  names.clear();
  for (size_t c = 0; c < want; ++c)
    names.push_back(cifar100 ? std::to_string(c) : kCifar10Names[c]);
  return names;
}

std::unique_ptr<ImageSet> openCifar(const std::string &root, bool cifar100,
                                    Split split, int height, int width,
                                    BadData &bad) {
  auto set = std::make_unique<CifarSet>(cifar100, height, width);
  std::vector<std::string> files;
  if (cifar100)
    files = {split == Split::Train ? "train.bin" : "test.bin"};
  else if (split == Split::Train)
    for (int b = 1; b <= 5; ++b)
      files.push_back("data_batch_" + std::to_string(b) + ".bin");
  else
    files = {"test_batch.bin"};
  for (const std::string &f : files)
    set->addFile(root + "/" + f, bad);
  set->setClassNames(cifarClassNames(root, cifar100));
  return set;
}

} // namespace rnc::data
