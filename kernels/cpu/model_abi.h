// The C ABI (runtime/rnc_abi.h) of a model generated for the CPU target.
//
// Included once, at the end of a generated model.cpp, after the generated
// namespace `gen` has defined:
//   kInfo (rnc_model_info), kTensors[kInfo.num_tensors] (rnc_tensor_info),
//   kOffsets[] (float offset of each tensor in the state block),
//   kStateFloats, kWorkFloats (sizes of the state and workspace blocks),
//   init(S, seed), train_step(S, W, x, labels, N, lr, momentum,
//   weight_decay, &loss, &correct, comm) and eval(S, W, x, N, logits),
//   and the profile tables kOpNames, g_op_seconds, g_op_calls, kNumOps.
// Everything here checks its arguments and reports through rnc_last_error;
// the kernels behind it may assume valid input.
#pragma once

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/fp_env.h"
#include "kernels/gather.h"
#include "runtime/rnc_abi.h"

#define RNC_EXPORT extern "C" __attribute__((visibility("default")))

struct rnc_model {
  float *state = nullptr; // parameters, buffers, optimizer state, gradients
  float *work = nullptr;  // activations and gradients of one step
  rnc_collectives comm{}; // valid when distributed (rnc_set_collectives)
  bool distributed = false;
  // rnc_set_dataset's copy ([count, C, H, W] images, labels) or
  // rnc_set_dataset_u8's ([count, H, W, C] pixels, the [C][256] table,
  // labels; rnc_set_dataset_u8_resized's pixels at their stored size, with
  // the resize table's copy in data_taps), and the batch
  // rnc_train_step_indexed gathers from it ([max_batch, C, H, W], labels).
  float *data_images = nullptr;
  uint8_t *data_pixels = nullptr;
  float *data_lut = nullptr;
  int32_t *data_taps = nullptr; // non-null: data_resize points into it
  rnc_resize data_resize{};
  int32_t *data_labels = nullptr;
  int64_t data_count = 0;
  float *batch_images = nullptr;
  int32_t *batch_labels = nullptr;
  std::string error;
};

#include "kernels/abi_checks.h"

namespace gen_abi {

// Why the last rnc_create returned NULL (rnc_last_error(NULL)).
inline const char *g_create_error = "model is null";

inline float *alloc_floats(long n) {
  size_t bytes = size_t(n > 0 ? n : 1) * sizeof(float);
  void *p = rnc::cpu::alloc_large(bytes);
  if (p)
    std::memset(p, 0, bytes);
  return static_cast<float *>(p);
}

// Copies tensor `name` out to `dst` or in from `src` (the other is null).
inline int copy_tensor(rnc_model *m, const char *name, int64_t numel,
                       float *dst, const float *src) {
  int i = check_tensor(m, name, numel, dst, src);
  if (i < 0)
    return 1;
  float *slot = m->state + gen::kOffsets[i];
  if (dst)
    std::memcpy(dst, slot, size_t(numel) * sizeof(float));
  else
    std::memcpy(slot, src, size_t(numel) * sizeof(float));
  return 0;
}

inline long image_floats() {
  return long(gen::kInfo.input_c) * gen::kInfo.input_h * gen::kInfo.input_w;
}

inline void free_dataset(rnc_model *m) {
  for (void *p :
       {static_cast<void *>(m->data_images),
        static_cast<void *>(m->data_pixels), static_cast<void *>(m->data_lut),
        static_cast<void *>(m->data_taps), static_cast<void *>(m->data_labels),
        static_cast<void *>(m->batch_images),
        static_cast<void *>(m->batch_labels)})
    std::free(p);
  m->data_images = m->batch_images = m->data_lut = nullptr;
  m->data_pixels = nullptr;
  m->data_labels = m->batch_labels = m->data_taps = nullptr;
  m->data_count = 0;
}

// A dataset's storage: `sample_bytes` per sample (float images, or pixels
// with their [C][256] table when `u8`, and `taps` ints of a resize table),
// the labels and the gathered batch. False, with nothing held and the error
// set, when memory runs out.
inline bool alloc_dataset(rnc_model *m, int64_t count, size_t sample_bytes,
                          bool u8, long taps, const char *what) {
  const size_t B = size_t(gen::kInfo.max_batch);
  void *data = rnc::cpu::alloc_large(sample_bytes * size_t(count));
  if (u8) {
    m->data_pixels = static_cast<uint8_t *>(data);
    m->data_lut = static_cast<float *>(
        std::malloc(sizeof(float) * 256 * size_t(gen::kInfo.input_c)));
  } else {
    m->data_images = static_cast<float *>(data);
  }
  if (taps > 0)
    m->data_taps =
        static_cast<int32_t *>(std::malloc(sizeof(int32_t) * size_t(taps)));
  m->data_labels =
      static_cast<int32_t *>(std::malloc(sizeof(int32_t) * size_t(count)));
  m->batch_images = static_cast<float *>(
      rnc::cpu::alloc_large(sizeof(float) * size_t(image_floats()) * B));
  m->batch_labels = static_cast<int32_t *>(std::malloc(sizeof(int32_t) * B));
  if (data && (m->data_lut || !u8) && (m->data_taps || taps == 0) &&
      m->data_labels && m->batch_images && m->batch_labels)
    return true;
  free_dataset(m); // frees `data` too
  fail(m, std::string(what) + ": out of memory for " + std::to_string(count) +
              " samples");
  return false;
}

// A training step on a batch whose arguments were checked.
inline int train_step(rnc_model *m, const float *images, const int32_t *labels,
                      int32_t batch, const rnc_sgd *opt, rnc_step_result *out) {
  rnc::cpu::StepComm comm{m->distributed ? &m->comm : nullptr};
  rnc::cpu::FlushDenormals flush(rnc::cpu::flush_denormals());
  gen::train_step(m->state, m->work, images, labels, batch, opt->lr,
                  opt->momentum, opt->weight_decay, &out->loss, &out->correct,
                  comm);
  if (comm.failed)
    return fail(m, "rank " + std::to_string(m->comm.rank) + " of " +
                       std::to_string(m->comm.world) +
                       ": the sum over the ranks (allreduce_sum) failed; the "
                       "weights of this step are lost");
  return 0;
}

} // namespace gen_abi

RNC_EXPORT uint32_t rnc_abi_version(void) { return RNC_ABI_VERSION; }

RNC_EXPORT const rnc_model_info *rnc_info(void) { return &gen::kInfo; }

RNC_EXPORT const rnc_tensor_info *rnc_tensor(int32_t i) {
  return i >= 0 && i < gen::kInfo.num_tensors ? &gen::kTensors[i] : nullptr;
}

RNC_EXPORT rnc_model *rnc_create(void) {
#if RNC_CPU_PRECISION == 2
  // Before anything else runs AVX512-BF16 code: a .so built elsewhere
  // (--march) refuses a CPU without it in one line instead of SIGILL.
  if (!rnc::cpu::cpu_has_avx512_bf16()) {
    gen_abi::g_create_error =
        "compiled with --precision bf16, which needs a CPU with AVX512-BF16; "
        "this one lacks it (recompile with --precision fp32)";
    return nullptr;
  }
#endif
  gen_abi::g_create_error = "out of memory for the model's state and "
                            "workspace";
  const char *profile = std::getenv("RNC_PROFILE");
  rnc::cpu::profiling() = profile && *profile && std::strcmp(profile, "0");
  rnc::cpu::profiling_cpu_time() = profile && !std::strcmp(profile, "cpu");
  // Denormals flushed to zero during steps and evals (fp_env.h), unless
  // RNC_FLUSH_DENORMALS=0.
  const char *flush = std::getenv("RNC_FLUSH_DENORMALS");
  rnc::cpu::flush_denormals() = !(flush && !std::strcmp(flush, "0"));
  rnc_model *m = new (std::nothrow) rnc_model;
  if (!m)
    return nullptr;
  m->state = gen_abi::alloc_floats(gen::kStateFloats);
  m->work = gen_abi::alloc_floats(gen::kWorkFloats);
  if (!m->state || !m->work) {
    std::free(m->state);
    std::free(m->work);
    delete m;
    return nullptr;
  }
  gen_abi::g_create_error = "model is null";
  return m;
}

RNC_EXPORT void rnc_destroy(rnc_model *m) {
  if (!m)
    return;
  if (rnc::cpu::profiling())
    rnc::cpu::print_profile(gen::kOpNames, gen::g_op_seconds,
                            gen::g_op_calls, gen::kNumOps + 1, stderr);
  std::free(m->state);
  std::free(m->work);
  gen_abi::free_dataset(m);
  delete m;
}

RNC_EXPORT const char *rnc_last_error(const rnc_model *m) {
  return m ? m->error.c_str() : gen_abi::g_create_error;
}

RNC_EXPORT int rnc_init(rnc_model *m, uint64_t seed) {
  if (!m)
    return 1;
  std::memset(m->state, 0, size_t(gen::kStateFloats) * sizeof(float));
  gen::init(m->state, seed);
  return 0;
}

RNC_EXPORT int rnc_train_step(rnc_model *m, const float *images,
                              const int32_t *labels, int32_t batch,
                              const rnc_sgd *opt, rnc_step_result *out) {
  if (gen_abi::check_train_step(m, images, labels, batch, opt, out))
    return 1;
  return gen_abi::train_step(m, images, labels, batch, opt, out);
}

// The cpu target gains nothing from a dataset inside the model (the batch
// is read where it lies either way); it keeps one so that the runtime and
// tests drive both targets alike.
RNC_EXPORT int rnc_set_dataset(rnc_model *m, const float *images,
                               const int32_t *labels, int64_t count) {
  if (gen_abi::check_dataset(m, images, labels, count))
    return 1;
  gen_abi::free_dataset(m);
  if (count == 0)
    return 0;
  const size_t image_bytes = sizeof(float) * size_t(gen_abi::image_floats());
  if (!gen_abi::alloc_dataset(m, count, image_bytes, false, 0,
                              "rnc_set_dataset"))
    return 1;
  std::memcpy(m->data_images, images, image_bytes * size_t(count));
  std::memcpy(m->data_labels, labels, sizeof(int32_t) * size_t(count));
  m->data_count = count;
  return 0;
}

namespace gen_abi {

// rnc_set_dataset_u8 (`resized` false, resize unused) and
// rnc_set_dataset_u8_resized.
inline int set_dataset_u8(rnc_model *m, const uint8_t *pixels, bool resized,
                          const rnc_resize *resize, const float *lut,
                          const int32_t *labels, int64_t count,
                          const char *what) {
  if (check_dataset_u8(m, pixels, lut, labels, count, what) ||
      (resized && count > 0 && check_resize(m, resize)))
    return 1;
  if (!resized)
    resize = nullptr;
  free_dataset(m);
  if (count == 0)
    return 0;
  const int C = gen::kInfo.input_c, H = gen::kInfo.input_h,
            W = gen::kInfo.input_w;
  const size_t sample_bytes = resize
                                  ? size_t(resize->height) * resize->width * C
                                  : size_t(image_floats());
  const long taps = resize ? rnc::resize_table_ints(*resize, H, W) : 0;
  if (!alloc_dataset(m, count, sample_bytes, true, taps, what))
    return 1;
  std::memcpy(m->data_pixels, pixels, sample_bytes * size_t(count));
  std::memcpy(m->data_lut, lut, sizeof(float) * 256 * size_t(C));
  std::memcpy(m->data_labels, labels, sizeof(int32_t) * size_t(count));
  if (resize) {
    rnc::pack_resize(*resize, H, W, m->data_taps);
    m->data_resize = rnc::packed_resize(*resize, H, W, m->data_taps);
  }
  m->data_count = count;
  return 0;
}

// Sample `i` of a dataset of pixels, resized where it is stored at another
// size, augmented as `aug` says (null: not), through the table, into dst
// [C][H][W].
inline void gather_pixels(const rnc_model *m, int32_t i, const rnc_augment *aug,
                          float *dst) {
  const int C = gen::kInfo.input_c, H = gen::kInfo.input_h,
            W = gen::kInfo.input_w;
  const long HW = long(H) * W;
  const float *lut = m->data_lut;
  if (!m->data_taps && !aug) { // [H][W][C] through the table, to [C][H][W]
    const uint8_t *src = m->data_pixels + i * HW * C;
    for (int c = 0; c < C; ++c)
      for (long p = 0; p < HW; ++p)
        dst[c * HW + p] = lut[c * 256 + src[p * C + c]];
    return;
  }
  const rnc_resize *r = m->data_taps ? &m->data_resize : nullptr;
  const long stored = r ? long(r->height) * r->width * C : HW * C;
  const uint8_t *src = m->data_pixels + i * stored;
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        dst[c * HW + long(y) * W + x] =
            rnc::gathered_value(src, lut, r, aug, C, H, W, y, x, c);
}

// rnc_train_step_indexed (aug null) and rnc_train_step_augmented, their
// arguments checked: the batch gathered, then a step on it.
inline int gathered_step(rnc_model *m, const int32_t *index,
                         const rnc_augment *aug, int32_t batch,
                         const rnc_sgd *opt, rnc_step_result *out) {
  const long F = image_floats();
  for (int32_t i = 0; i < batch; ++i) {
    float *dst = m->batch_images + i * F;
    if (m->data_pixels)
      gather_pixels(m, index[i], aug ? aug + i : nullptr, dst);
    else
      std::memcpy(dst, m->data_images + index[i] * F,
                  sizeof(float) * size_t(F));
    m->batch_labels[i] = m->data_labels[index[i]];
  }
  return train_step(m, m->batch_images, m->batch_labels, batch, opt, out);
}

} // namespace gen_abi

RNC_EXPORT int rnc_set_dataset_u8(rnc_model *m, const uint8_t *pixels,
                                  const float *lut, const int32_t *labels,
                                  int64_t count) {
  return gen_abi::set_dataset_u8(m, pixels, false, nullptr, lut, labels, count,
                                 "rnc_set_dataset_u8");
}

RNC_EXPORT int rnc_set_dataset_u8_resized(rnc_model *m, const uint8_t *pixels,
                                          const rnc_resize *resize,
                                          const float *lut,
                                          const int32_t *labels,
                                          int64_t count) {
  return gen_abi::set_dataset_u8(m, pixels, true, resize, lut, labels, count,
                                 "rnc_set_dataset_u8_resized");
}

RNC_EXPORT int rnc_train_step_indexed(rnc_model *m, const int32_t *index,
                                      int32_t batch, const rnc_sgd *opt,
                                      rnc_step_result *out) {
  if (gen_abi::check_indexed_step(m, index, batch, opt, out))
    return 1;
  return gen_abi::gathered_step(m, index, nullptr, batch, opt, out);
}

RNC_EXPORT int rnc_train_step_augmented(rnc_model *m, const int32_t *index,
                                        const rnc_augment *aug, int32_t batch,
                                        const rnc_sgd *opt,
                                        rnc_step_result *out) {
  if (gen_abi::check_augmented_step(m, index, aug, batch, opt, out))
    return 1;
  return gen_abi::gathered_step(m, index, aug, batch, opt, out);
}

RNC_EXPORT int rnc_set_collectives(rnc_model *m, const rnc_collectives *c) {
  if (gen_abi::check_collectives(m, c))
    return 1;
  m->distributed = c && c->world > 1;
  if (c)
    m->comm = *c;
  return 0;
}

RNC_EXPORT int rnc_eval(rnc_model *m, const float *images, int32_t batch,
                        float *logits) {
  if (gen_abi::check_batch(m, images, batch))
    return 1;
  if (!logits)
    return gen_abi::fail(m, "logits is null");
  rnc::cpu::FlushDenormals flush(rnc::cpu::flush_denormals());
  gen::eval(m->state, m->work, images, batch, logits);
  return 0;
}

RNC_EXPORT int rnc_read_tensor(rnc_model *m, const char *name, float *dst,
                               int64_t numel) {
  return gen_abi::copy_tensor(m, name, numel, dst, nullptr);
}

RNC_EXPORT int rnc_write_tensor(rnc_model *m, const char *name,
                                const float *src, int64_t numel) {
  return gen_abi::copy_tensor(m, name, numel, nullptr, src);
}
