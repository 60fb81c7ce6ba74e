// Model: a compiled model .so loaded through the rnc ABI (runtime/rnc_abi.h).
#pragma once

#include "runtime/rnc_abi.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace rnc {

/// Anything wrong with a model file or reported by the model itself. what()
/// is one line, starting with the model file, ready to print as it is.
class ModelError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A training step that sums over the ranks did not finish within the
/// collectives' timeout (RNC_STEP_TIMED_OUT): a rank never reached the sum,
/// or a kernel hangs. The model can only be destroyed.
class StepTimedOut : public ModelError {
public:
  using ModelError::ModelError;
};

/// A model .so, opened and checked, holding at most one live instance.
///
///   Model m("model.so");          // dlopen, ABI version check, symbols
///   m.create(); m.init(seed);
///   rnc_step_result r = m.trainStep(x, y, batch, sgd);
///
/// The constructor reads the file, checks its integrity record
/// (ModelStamp.h) and loads that checked copy; it calls rnc_abi_version()
/// before touching any other symbol and refuses a mismatch. Every wrapper
/// checks that its buffers hold `batch` inputs of the model's shape (the
/// model reads and writes that much) and turns a non-zero return into a
/// ModelError carrying rnc_last_error().
class Model {
public:
  explicit Model(const std::string &path);
  ~Model();
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  const std::string &path() const { return path_; }
  /// The SHA-256 of the file (from its integrity record), 64 hex digits:
  /// the same for the same .so on every machine.
  const std::string &digest() const { return digest_; }
  const rnc_model_info &info() const { return *info_; }
  /// Every tensor the model owns, in rnc_tensor() order.
  const std::vector<rnc_tensor_info> &tensors() const { return tensors_; }
  /// The tensor called `name`, or nullptr.
  const rnc_tensor_info *tensor(const std::string &name) const;

  /// Allocates the instance (replacing an earlier one).
  void create();
  void init(uint64_t seed);
  /// images: [batch, C, H, W] (at least), labels: [batch].
  rnc_step_result trainStep(const std::vector<float> &images,
                            const std::vector<int32_t> &labels, int32_t batch,
                            const rnc_sgd &opt);
  /// logits: [batch, num_classes] (at least).
  void eval(const std::vector<float> &images, int32_t batch,
            std::vector<float> &logits);
  /// Whether the .so has rnc_set_dataset and rnc_train_step_indexed
  /// (optional: models compiled before them lack them).
  bool hasDataset() const { return api_.setDataset && api_.trainStepIndexed; }
  /// Copies `count` samples (images [count, C, H, W], labels [count]) into
  /// the model (the cuda target: device memory), replacing any earlier set;
  /// count 0 frees it. Throws ModelError where the model lacks the
  /// functions, a label is bad, or the samples do not fit.
  void setDataset(const std::vector<float> &images,
                  const std::vector<int32_t> &labels, int64_t count);
  /// Whether the .so also has rnc_set_dataset_u8 (the dataset as 8-bit
  /// pixels, normalized by the model while it gathers a batch).
  bool hasDatasetU8() const { return hasDataset() && api_.setDatasetU8; }
  /// Copies `count` samples as pixels [count, H, W, C] uint8 with the
  /// normalization table lut [C][256] (value = lut[c * 256 + pixel]) and
  /// labels [count]; otherwise as setDataset.
  void setDatasetU8(const std::vector<uint8_t> &pixels,
                    const std::vector<float> &lut,
                    const std::vector<int32_t> &labels, int64_t count);
  /// Whether the .so also has rnc_set_dataset_u8_resized (the pixels kept at
  /// their stored size, resized by the model while it gathers a batch).
  bool hasDatasetU8Resized() const {
    return hasDatasetU8() && api_.setDatasetU8Resized;
  }
  /// Copies `count` samples as pixels [count, resize.height, resize.width,
  /// C] with the resize table (its arrays as rnc_abi.h says: the model
  /// checks their contents, the caller their lengths), the table lut and
  /// labels; otherwise as setDatasetU8.
  void setDatasetU8Resized(const std::vector<uint8_t> &pixels,
                           const rnc_resize &resize,
                           const std::vector<float> &lut,
                           const std::vector<int32_t> &labels, int64_t count);
  /// Whether the .so also has rnc_train_step_augmented (the augmentation
  /// applied by the model to an 8-bit dataset).
  bool hasAugmentedStep() const {
    return hasDataset() && api_.trainStepAugmented;
  }
  /// A training step on samples index[0, batch) of an 8-bit dataset, sample
  /// i augmented as aug[i] says (runtime/rnc_abi.h).
  rnc_step_result trainStepAugmented(const std::vector<int32_t> &index,
                                     const std::vector<rnc_augment> &aug,
                                     int32_t batch, const rnc_sgd &opt);
  /// A training step on samples index[0, batch) of that dataset.
  rnc_step_result trainStepIndexed(const std::vector<int32_t> &index,
                                   int32_t batch, const rnc_sgd &opt);
  /// Data parallelism: the collectives every later step uses (copied), or
  /// nullptr for one process. Needs a live instance (create()).
  void setCollectives(const rnc_collectives *c);
  /// C * H * W: the floats of one input image.
  int64_t imageFloats() const;
  std::vector<float> readTensor(const std::string &name);
  void writeTensor(const std::string &name, const std::vector<float> &values);

private:
  // The symbols of the ABI after the version check.
  struct Api {
    decltype(&rnc_info) info;
    decltype(&rnc_tensor) tensor;
    decltype(&rnc_create) create;
    decltype(&rnc_destroy) destroy;
    decltype(&rnc_last_error) lastError;
    decltype(&rnc_init) init;
    decltype(&rnc_train_step) trainStep;
    decltype(&rnc_eval) eval;
    decltype(&rnc_read_tensor) readTensor;
    decltype(&rnc_write_tensor) writeTensor;
    decltype(&rnc_set_collectives) setCollectives;
    // Optional (null where the model lacks them).
    decltype(&rnc_set_dataset) setDataset;
    decltype(&rnc_set_dataset_u8) setDatasetU8;
    decltype(&rnc_set_dataset_u8_resized) setDatasetU8Resized;
    decltype(&rnc_train_step_indexed) trainStepIndexed;
    decltype(&rnc_train_step_augmented) trainStepAugmented;
  };

  void *symbol(const char *name) const;
  void checkInfo();
  rnc_model *live(const char *call) const;
  /// Throws, naming `call`, where an optional function is absent:
  /// "this model has no <what> (compiled by an older rnc; recompile it)".
  void requireOptional(bool present, const char *call, const char *what) const;
  // Throws ModelError for a non-zero `status` returned by `call`.
  void check(int status, const char *call) const;
  int64_t numelOf(const std::string &name) const;
  // Throws unless 1 <= batch <= max_batch and the buffers are large enough.
  void checkBatch(const char *call, int32_t batch, size_t images,
                  size_t perImage, const char *what) const;

  std::string path_;
  std::string digest_;
  void *handle_ = nullptr;
  Api api_{};
  const rnc_model_info *info_ = nullptr;
  std::vector<rnc_tensor_info> tensors_;
  rnc_model *model_ = nullptr;
};

} // namespace rnc
