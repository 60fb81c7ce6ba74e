// Model: loading a compiled model .so and calling it through the rnc ABI.
#include "runtime/Model.h"

#include "runtime/Device.h"
#include "runtime/InputFile.h"
#include "runtime/ModelStamp.h"
#include "runtime/OutputFile.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <type_traits>

namespace rnc {

namespace {

constexpr uint64_t kMaxModelBytes = uint64_t(8) << 30;

// The reason part of a dlerror() text, which usually starts with the path.
std::string dlReason(const std::string &path) {
  const char *raw = ::dlerror();
  std::string text = raw ? raw : "unknown dlopen error";
  if (text.compare(0, path.size() + 2, path + ": ") == 0)
    text.erase(0, path.size() + 2);
  return text;
}

} // namespace

Model::Model(const std::string &path) : path_(path) {
  // The whole file is read and its integrity record checked before dlopen:
  // a damaged .so would otherwise crash the process (SIGBUS, SIGSEGV) in the
  // dynamic loader or in a constructor, with no message.
  std::string bytes, error;
  if (!readInputFile(path, kMaxModelBytes, "a model .so", bytes, error))
    throw ModelError(path + ": cannot open: " + error);
  if (std::string why = checkModelStamp(bytes); !why.empty())
    throw ModelError(path + ": " + why);
  // The record starts with the SHA-256 of the bytes before it.
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = bytes.size() - kModelStampBytes;
       i < bytes.size() - kModelStampBytes + 32; ++i) {
    digest_ += kHex[static_cast<unsigned char>(bytes[i]) >> 4];
    digest_ += kHex[static_cast<unsigned char>(bytes[i]) & 15];
  }
  // The checked bytes are what gets loaded: a sealed in-memory copy, so
  // that the file being replaced or rewritten while rnc-run runs (a
  // recompile, a copy over it) cannot change the code under it.
  std::string where = path.find('/') == std::string::npos ? "./" + path : path;
  int fd = ::memfd_create("rnc-model", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd >= 0) {
    bool ok = writeAll(fd, bytes.data(), bytes.size()) &&
              ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
                                           F_SEAL_WRITE | F_SEAL_SEAL) == 0;
    if (ok)
      where = "/proc/self/fd/" + std::to_string(fd);
  }
  bytes = std::string();
  ::dlerror();
  handle_ = ::dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::string reason = handle_ ? "" : dlReason(where);
  // The descriptor stays open as long as the process (as the handle, see
  // below): were it closed, the next model's copy could get the same
  // /proc/self/fd/N name, and dlopen would return this one for it.
  if (!handle_ && fd >= 0)
    ::close(fd);
  if (!handle_)
    throw ModelError(path + ": cannot load as a shared object: " + reason);

  // The version is checked before any other symbol is looked up: the layout
  // of everything else may differ between ABI versions.
  auto version = reinterpret_cast<decltype(&rnc_abi_version)>(
      symbol("rnc_abi_version"));
  uint32_t built = version();
  if (built != RNC_ABI_VERSION)
    throw ModelError(path + ": built for rnc ABI version " +
                     std::to_string(built) + ", this rnc-run expects " +
                     std::to_string(RNC_ABI_VERSION) +
                     "; recompile it with this rnc");

  auto get = [&](auto &fn, const char *name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(symbol(name));
  };
  get(api_.info, "rnc_info");
  get(api_.tensor, "rnc_tensor");
  get(api_.create, "rnc_create");
  get(api_.destroy, "rnc_destroy");
  get(api_.lastError, "rnc_last_error");
  get(api_.init, "rnc_init");
  get(api_.trainStep, "rnc_train_step");
  get(api_.eval, "rnc_eval");
  get(api_.readTensor, "rnc_read_tensor");
  get(api_.writeTensor, "rnc_write_tensor");
  get(api_.setCollectives, "rnc_set_collectives");
  auto optional = [&](auto &fn, const char *name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
        ::dlsym(handle_, name));
  };
  optional(api_.setDataset, "rnc_set_dataset");
  optional(api_.setDatasetU8, "rnc_set_dataset_u8");
  optional(api_.setDatasetU8Resized, "rnc_set_dataset_u8_resized");
  optional(api_.trainStepIndexed, "rnc_train_step_indexed");
  optional(api_.trainStepAugmented, "rnc_train_step_augmented");
  checkInfo();
}

// The handle is deliberately never dlclose'd: a compiled model runs OpenMP,
// whose idle worker threads may still sit in code of the .so, and the
// strings of info() and tensors() point into it.
Model::~Model() {
  if (model_)
    api_.destroy(model_);
}

void *Model::symbol(const char *name) const {
  ::dlerror();
  void *p = ::dlsym(handle_, name);
  if (!p)
    throw ModelError(path_ + ": missing symbol " + name +
                     " (not a model compiled by rnc?)");
  return p;
}

// A model that lies about itself would make the runtime overrun buffers, so
// its description is checked once here.
void Model::checkInfo() {
  auto bad = [&](const std::string &what) {
    throw ModelError(path_ + ": bad model description: " + what);
  };
  const rnc_model_info *info = api_.info();
  if (!info)
    bad("rnc_info() returned NULL");
  if (info->abi_version != RNC_ABI_VERSION)
    bad("rnc_info()->abi_version is " + std::to_string(info->abi_version) +
        " but rnc_abi_version() is " + std::to_string(RNC_ABI_VERSION));
  if (info->input_c < 1 || info->input_h < 1 || info->input_w < 1)
    bad("input size " + std::to_string(info->input_c) + "x" +
        std::to_string(info->input_h) + "x" + std::to_string(info->input_w));
  if (info->num_classes < 1 || info->max_batch < 1 || info->num_tensors < 0)
    bad("num_classes, max_batch and num_tensors must be positive");
  info_ = info;

  std::vector<rnc_tensor_info> tensors;
  for (int32_t i = 0; i < info->num_tensors; ++i) {
    const rnc_tensor_info *t = api_.tensor(i);
    if (!t || !t->name)
      bad("rnc_tensor(" + std::to_string(i) + ") returned NULL");
    int64_t numel = 1;
    for (int32_t d = 0; d < t->rank && t->rank <= 4; ++d)
      numel *= t->shape[d];
    if (t->rank < 1 || t->rank > 4 || numel != t->numel || numel < 1)
      bad(std::string("tensor '") + t->name + "': rank " +
          std::to_string(t->rank) + " and numel " + std::to_string(t->numel) +
          " do not fit its shape");
    tensors.push_back(*t);
  }
  tensors_ = std::move(tensors);
}

const rnc_tensor_info *Model::tensor(const std::string &name) const {
  for (const rnc_tensor_info &t : tensors_)
    if (name == t.name)
      return &t;
  return nullptr;
}

rnc_model *Model::live(const char *call) const {
  if (!model_)
    throw ModelError(path_ + ": " + call + " called before rnc_create");
  return model_;
}

void Model::check(int status, const char *call) const {
  if (status == 0)
    return;
  const char *why = api_.lastError(model_);
  std::string what = path_ + ": " + call + " failed: " +
                     (why && *why ? why : "no reason given");
  if (status == RNC_STEP_TIMED_OUT)
    throw StepTimedOut(what);
  throw ModelError(what);
}

void Model::create() {
  if (model_) {
    api_.destroy(model_);
    model_ = nullptr;
  }
  model_ = api_.create();
  if (model_)
    return;
  if (std::string(info_->target) == "cuda" && !probeGpu().present)
    throw ModelError(path_ + ": compiled for cuda, but there is no CUDA GPU "
                     "here (" + probeGpu().reason + ")");
  // A cpu model says why (rnc_abi.h); older ones only "model is null".
  if (const char *why = api_.lastError(nullptr);
      std::string(info_->target) == "cpu" && why &&
      std::string(why) != "model is null")
    throw ModelError(path_ + ": rnc_create failed: " + why);
  throw ModelError(path_ + ": rnc_create failed: out of " +
                   (std::string(info_->target) == "cuda" ? "GPU " : "") +
                   "memory for batch " + std::to_string(info_->max_batch));
}

void Model::init(uint64_t seed) { check(api_.init(live("rnc_init"), seed), "rnc_init"); }

void Model::setCollectives(const rnc_collectives *c) {
  check(api_.setCollectives(live("rnc_set_collectives"), c),
        "rnc_set_collectives");
}

int64_t Model::imageFloats() const {
  return int64_t(info_->input_c) * info_->input_h * info_->input_w;
}

void Model::checkBatch(const char *call, int32_t batch, size_t floats,
                       size_t perImage, const char *what) const {
  if (batch < 1 || batch > info_->max_batch)
    throw ModelError(path_ + ": " + call + ": batch " + std::to_string(batch) +
                     " is outside [1, " + std::to_string(info_->max_batch) +
                     "]");
  if (floats / perImage < size_t(batch))
    throw ModelError(path_ + ": " + call + ": the " + what + " hold " +
                     std::to_string(floats) + " values; a batch of " +
                     std::to_string(batch) + " needs " +
                     std::to_string(perImage * size_t(batch)));
}

rnc_step_result Model::trainStep(const std::vector<float> &images,
                                 const std::vector<int32_t> &labels,
                                 int32_t batch, const rnc_sgd &opt) {
  checkBatch("rnc_train_step", batch, images.size(), size_t(imageFloats()),
             "images");
  checkBatch("rnc_train_step", batch, labels.size(), 1, "labels");
  rnc_step_result out{};
  check(api_.trainStep(live("rnc_train_step"), images.data(), labels.data(),
                       batch, &opt, &out),
        "rnc_train_step");
  return out;
}

void Model::requireOptional(bool present, const char *call,
                            const char *what) const {
  if (!present)
    throw ModelError(path_ + ": " + call + ": this model has no " + what +
                     " (compiled by an older rnc; recompile it)");
}

namespace {
// A dataset call's count against its buffers: `samples` images' worth of
// values and `labels` labels (`held` says what the buffers hold).
void checkSamples(const std::string &where, int64_t count, size_t samples,
                  size_t labels, bool more, const std::string &held) {
  const size_t n = size_t(count > 0 ? count : 0);
  if (count < 0 || samples < n || labels < n || more)
    throw ModelError(where + std::to_string(count) + " samples, but " + held);
}
} // namespace

void Model::setDataset(const std::vector<float> &images,
                       const std::vector<int32_t> &labels, int64_t count) {
  requireOptional(hasDataset(), "rnc_set_dataset", "dataset functions");
  checkSamples(path_ + ": rnc_set_dataset: ", count,
               images.size() / size_t(imageFloats()), labels.size(), false,
               std::to_string(images.size()) + " image values and " +
                   std::to_string(labels.size()) + " labels");
  check(api_.setDataset(live("rnc_set_dataset"), images.data(), labels.data(),
                        count),
        "rnc_set_dataset");
}

void Model::setDatasetU8(const std::vector<uint8_t> &pixels,
                         const std::vector<float> &lut,
                         const std::vector<int32_t> &labels, int64_t count) {
  requireOptional(hasDatasetU8(), "rnc_set_dataset_u8",
                  "8-bit dataset function");
  checkSamples(path_ + ": rnc_set_dataset_u8: ", count,
               pixels.size() / size_t(imageFloats()), labels.size(),
               lut.size() < size_t(info_->input_c) * 256,
               std::to_string(pixels.size()) + " pixels, " +
                   std::to_string(labels.size()) + " labels and " +
                   std::to_string(lut.size()) + " table entries");
  check(api_.setDatasetU8(live("rnc_set_dataset_u8"), pixels.data(), lut.data(),
                          labels.data(), count),
        "rnc_set_dataset_u8");
}

void Model::setDatasetU8Resized(const std::vector<uint8_t> &pixels,
                                const rnc_resize &resize,
                                const std::vector<float> &lut,
                                const std::vector<int32_t> &labels,
                                int64_t count) {
  requireOptional(hasDatasetU8Resized(), "rnc_set_dataset_u8_resized",
                  "function to resize a dataset");
  const std::string where = path_ + ": rnc_set_dataset_u8_resized: ";
  if (resize.height < 1 || resize.width < 1)
    throw ModelError(where + "stored size " + std::to_string(resize.height) +
                     "x" + std::to_string(resize.width) + " is empty");
  checkSamples(where, count,
               pixels.size() / (size_t(resize.height) * resize.width *
                                size_t(info_->input_c)),
               labels.size(), lut.size() < size_t(info_->input_c) * 256,
               std::to_string(pixels.size()) + " pixels, " +
                   std::to_string(labels.size()) + " labels and " +
                   std::to_string(lut.size()) + " table entries");
  check(api_.setDatasetU8Resized(live("rnc_set_dataset_u8_resized"),
                                 pixels.data(), &resize, lut.data(),
                                 labels.data(), count),
        "rnc_set_dataset_u8_resized");
}

rnc_step_result Model::trainStepIndexed(const std::vector<int32_t> &index,
                                        int32_t batch, const rnc_sgd &opt) {
  requireOptional(hasDataset(), "rnc_train_step_indexed", "dataset functions");
  checkBatch("rnc_train_step_indexed", batch, index.size(), 1, "indices");
  rnc_step_result out{};
  check(api_.trainStepIndexed(live("rnc_train_step_indexed"), index.data(),
                              batch, &opt, &out),
        "rnc_train_step_indexed");
  return out;
}

rnc_step_result Model::trainStepAugmented(const std::vector<int32_t> &index,
                                          const std::vector<rnc_augment> &aug,
                                          int32_t batch, const rnc_sgd &opt) {
  requireOptional(hasAugmentedStep(), "rnc_train_step_augmented",
                  "augmented step");
  checkBatch("rnc_train_step_augmented", batch, index.size(), 1, "indices");
  checkBatch("rnc_train_step_augmented", batch, aug.size(), 1, "augmentations");
  rnc_step_result out{};
  check(api_.trainStepAugmented(live("rnc_train_step_augmented"), index.data(),
                                aug.data(), batch, &opt, &out),
        "rnc_train_step_augmented");
  return out;
}

void Model::eval(const std::vector<float> &images, int32_t batch,
                 std::vector<float> &logits) {
  checkBatch("rnc_eval", batch, images.size(), size_t(imageFloats()),
             "images");
  checkBatch("rnc_eval", batch, logits.size(), size_t(info_->num_classes),
             "logits");
  check(api_.eval(live("rnc_eval"), images.data(), batch, logits.data()),
        "rnc_eval");
}

int64_t Model::numelOf(const std::string &name) const {
  const rnc_tensor_info *t = tensor(name);
  if (!t)
    throw ModelError(path_ + ": no tensor named '" + name + "'");
  return t->numel;
}

std::vector<float> Model::readTensor(const std::string &name) {
  std::vector<float> out(static_cast<size_t>(numelOf(name)));
  check(api_.readTensor(live("rnc_read_tensor"), name.c_str(), out.data(),
                        static_cast<int64_t>(out.size())),
        "rnc_read_tensor");
  return out;
}

void Model::writeTensor(const std::string &name,
                        const std::vector<float> &values) {
  int64_t numel = numelOf(name);
  if (static_cast<int64_t>(values.size()) != numel)
    throw ModelError(path_ + ": tensor '" + name + "' holds " +
                     std::to_string(numel) + " values, got " +
                     std::to_string(values.size()));
  check(api_.writeTensor(live("rnc_write_tensor"), name.c_str(), values.data(),
                         numel),
        "rnc_write_tensor");
}

} // namespace rnc
