// Model: loading a compiled model .so and calling it through the rnc ABI.
#include "runtime/Model.h"

#include "runtime/Device.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <sys/stat.h>
#include <type_traits>

namespace rnc {

namespace {

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
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw ModelError(path + ": cannot open: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw ModelError(path + ": not a regular file");
  // dlopen searches the library path for a name without a slash.
  std::string where = path.find('/') == std::string::npos ? "./" + path : path;
  handle_ = ::dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_)
    throw ModelError(path + ": cannot load as a shared object: " +
                     dlReason(where));

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
  throw ModelError(path_ + ": " + call + " failed: " +
                   (why && *why ? why : "no reason given"));
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
  throw ModelError(path_ + ": rnc_create failed: out of " +
                   (std::string(info_->target) == "cuda" ? "GPU " : "") +
                   "memory for batch " + std::to_string(info_->max_batch));
}

void Model::init(uint64_t seed) { check(api_.init(live("rnc_init"), seed), "rnc_init"); }

rnc_step_result Model::trainStep(const float *images, const int32_t *labels,
                                 int32_t batch, const rnc_sgd &opt) {
  rnc_step_result out{};
  check(api_.trainStep(live("rnc_train_step"), images, labels, batch, &opt,
                       &out),
        "rnc_train_step");
  return out;
}

void Model::eval(const float *images, int32_t batch, float *logits) {
  check(api_.eval(live("rnc_eval"), images, batch, logits), "rnc_eval");
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
