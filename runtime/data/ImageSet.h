// ImageSet: one split of a labelled data set, each image fitted to the network's input, optionally cached.
#pragma once

#include "runtime/data/Image.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rnc::data {

/// One split (train or test) of a data set: `size()` images with labels in
/// [0, classNames().size()), each produced at shape() (the network's input:
/// resized and center-cropped by the format's reader). Thread-safe for
/// reading once built: the loader's workers call load() concurrently.
class ImageSet {
public:
  virtual ~ImageSet();

  virtual size_t size() const = 0;
  virtual int32_t label(size_t i) const = 0;
  /// Image i fitted to shape().height x shape().width, in its own channels
  /// (1 or 3, before any conversion to shape().channels). Throws DataError
  /// naming the file.
  virtual Image loadNative(size_t i) const = 0;
  /// Where image i comes from, for messages: "train/cat/001.jpg",
  /// "data_batch_2.bin record 17", "train-images-idx3-ubyte.gz image 5".
  virtual std::string name(size_t i) const = 0;
  /// Says what identifies the split's contents (files, sizes, modification
  /// times, the target size): equal fingerprints mean equal images.
  virtual std::string fingerprint() const = 0;
  /// Keeps only the images whose `keep` entry is true (bad files skipped).
  virtual void retain(const std::vector<bool> &keep);
  /// Whether load() costs enough (decoding, resizing) to be worth a memory
  /// cache: not for IDX or CIFAR images at their own size.
  virtual bool worthCaching() const { return true; }
  /// The shape every image of the split is stored at before fitting, in
  /// its own channels, where all share one (IDX: 1x28x28, CIFAR: 3x32x32);
  /// channels 0 where each image has its own size (folders).
  virtual Shape storedShape() const { return Shape{0, 0, 0}; }
  /// Image i as stored (storedShape()), before fitting. Only where
  /// storedShape().channels > 0.
  virtual Image loadStored(size_t i) const;

  /// Whether a model that resizes images itself while it gathers a batch
  /// (rnc_set_dataset_u8_resized) should keep this split at its stored
  /// size: all images share one (storedShape()) in shape()'s channels, with
  /// fewer pixels than at shape().
  bool keepStoredInModel() const;
  /// Image i as stored, as uint8 [height][width][channels] of
  /// storedShape() into `dst`. Only where keepStoredInModel().
  void loadStoredInto(size_t i, uint8_t *dst) const;

  /// Image i at shape(): loadNative, gray copied to R, G, B when shape() has
  /// 3 channels, as uint8 [height][width][channels] into `dst`
  /// (shape().values() bytes). Served from the memory cache when enabled.
  void load(size_t i, uint8_t *dst) const;

  Shape shape() const { return shape_; }
  /// The channels the images are delivered in: 1, or 3 (then gray images
  /// are copied to R, G and B). Set by the reader or after a scan.
  void setChannels(int channels) { shape_.channels = channels; }
  const std::vector<std::string> &classNames() const { return classes_; }
  void setClassNames(std::vector<std::string> names) {
    classes_ = std::move(names);
  }
  /// "Fashion-MNIST (IDX)", "CIFAR-10", "image folder".
  const std::string &formatName() const { return format_; }

  /// Keeps every image load() produces in memory (shape().values() bytes
  /// each) when all of them fit in `budgetBytes`; returns whether it does.
  /// Call before loading; later calls drop what was cached.
  bool enableCache(uint64_t budgetBytes);
  bool cached() const { return cache_ != nullptr; }

protected:
  ImageSet(std::string format, Shape shape)
      : shape_(shape), format_(std::move(format)) {}

  Shape shape_;
  std::vector<std::string> classes_;
  std::string format_;

private:
  struct Cache {
    std::vector<uint8_t> bytes;
    std::unique_ptr<std::atomic<uint8_t>[]> state; // 0 empty, 1 filling, 2 ready
  };
  std::unique_ptr<Cache> cache_;
};

} // namespace rnc::data
