// Argument checks of the C ABI (runtime/rnc_abi.h), shared by the glue of
// every target (kernels/cpu/model_abi.h, kernels/cuda/model_abi.cuh).
//
// Included by the glue after the generated namespace `gen` has defined kInfo
// and kTensors, and after the target has defined `struct rnc_model` with a
// `std::string error` member. Every check returns 0 when the arguments are
// usable, else sets the model's error to one line and returns 1.
#pragma once

#include <cmath>
#include <cstring>
#include <string>

#include "runtime/rnc_abi.h"

namespace gen_abi {

inline int fail(rnc_model *m, std::string message) {
  if (m)
    m->error = std::move(message);
  return 1;
}

inline int find_tensor(const char *name) {
  if (!name)
    return -1;
  for (int i = 0; i < gen::kInfo.num_tensors; ++i)
    if (std::strcmp(gen::kTensors[i].name, name) == 0)
      return i;
  return -1;
}

// A step's batch size.
inline int check_batch_size(rnc_model *m, int32_t batch) {
  if (batch < 1 || batch > gen::kInfo.max_batch)
    return fail(m, "batch " + std::to_string(batch) + " is outside [1, " +
                       std::to_string(gen::kInfo.max_batch) +
                       "] (the compiled --max-batch)");
  return 0;
}

// A step's images and batch size.
inline int check_batch(rnc_model *m, const float *images, int32_t batch) {
  if (!m)
    return 1;
  if (!images)
    return fail(m, "images is null");
  return check_batch_size(m, batch);
}

// Labels of `count` samples: each in [0, num_classes).
inline int check_labels(rnc_model *m, const int32_t *labels, int64_t count,
                        const char *prefix = "") {
  for (int64_t i = 0; i < count; ++i)
    if (labels[i] < 0 || labels[i] >= gen::kInfo.num_classes)
      return fail(m, prefix + std::string("label ") +
                         std::to_string(labels[i]) + " of sample " +
                         std::to_string(i) + " is outside [0, " +
                         std::to_string(gen::kInfo.num_classes) + ")");
  return 0;
}

// A training step's optimizer settings.
inline int check_sgd(rnc_model *m, const rnc_sgd *opt) {
  if (!(std::isfinite(opt->lr) && std::isfinite(opt->momentum) &&
        std::isfinite(opt->weight_decay)))
    return fail(m, "lr, momentum and weight_decay must be finite");
  return 0;
}

// A training step's arguments.
inline int check_train_step(rnc_model *m, const float *images,
                            const int32_t *labels, int32_t batch,
                            const rnc_sgd *opt, const rnc_step_result *out) {
  if (check_batch(m, images, batch))
    return 1;
  if (!labels || !opt || !out)
    return fail(m, "labels, opt and out must not be null");
  return check_sgd(m, opt) || check_labels(m, labels, batch);
}

// rnc_set_dataset's arguments.
inline int check_dataset(rnc_model *m, const float *images,
                         const int32_t *labels, int64_t count) {
  if (!m)
    return 1;
  if (count < 0)
    return fail(m, "rnc_set_dataset: count " + std::to_string(count) +
                       " is negative");
  if (count > 0 && (!images || !labels))
    return fail(m, "rnc_set_dataset: images and labels must not be null");
  return check_labels(m, labels, count, "rnc_set_dataset: ");
}

// rnc_set_dataset_u8's arguments.
// `what`: the function's name (rnc_set_dataset_u8_resized checks these too).
inline int check_dataset_u8(rnc_model *m, const uint8_t *pixels,
                            const float *lut, const int32_t *labels,
                            int64_t count,
                            const std::string &what = "rnc_set_dataset_u8") {
  if (!m)
    return 1;
  if (count < 0)
    return fail(m, what + ": count " + std::to_string(count) + " is negative");
  if (count > 0 && (!pixels || !lut || !labels))
    return fail(m, what + ": pixels, lut and labels must not be null");
  return check_labels(m, labels, count, (what + ": ").c_str());
}

// One axis of rnc_set_dataset_u8_resized's table: `out` outputs, each
// reading count[i] in [1, taps] stored pixels from first[i] >= 0, all
// within `in`.
inline int check_resize_axis(rnc_model *m, const char *axis, int out, int in,
                             int taps, const int32_t *first,
                             const int32_t *count, const int32_t *weights) {
  const std::string a(axis), pre = "rnc_set_dataset_u8_resized: ";
  const std::string side = a == "y" ? "height" : "width";
  if (in < 1 || in > 65536)
    return fail(m, pre + "stored " + side + " " + std::to_string(in) +
                       " is outside [1, 65536]");
  if (taps < 1 || taps > in)
    return fail(m, pre + "taps_" + a + " " + std::to_string(taps) +
                       " is outside [1, " + std::to_string(in) +
                       "] (the stored " + side + ")");
  if (!first || !count || !weights)
    return fail(m, pre + "first_" + a + ", count_" + a + " and weights_" + a +
                       " must not be null");
  for (int i = 0; i < out; ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    if (count[i] < 1 || count[i] > taps)
      return fail(m, pre + "count_" + a + at + " " + std::to_string(count[i]) +
                         " is outside [1, taps_" + a + " = " +
                         std::to_string(taps) + "]");
    if (first[i] < 0 || int64_t(first[i]) + count[i] > in)
      return fail(m, pre + "first_" + a + at + " + count_" + a + at + " = " +
                         std::to_string(first[i]) + " + " +
                         std::to_string(count[i]) + " reads outside the " +
                         std::to_string(in) + " stored pixels of a " +
                         (a == "y" ? "column" : "row"));
  }
  return 0;
}

// rnc_set_dataset_u8_resized's table (the rest is check_dataset_u8's).
inline int check_resize(rnc_model *m, const rnc_resize *r) {
  if (!r)
    return fail(m, "rnc_set_dataset_u8_resized: resize must not be null");
  return check_resize_axis(m, "y", gen::kInfo.input_h, r->height, r->taps_y,
                           r->first_y, r->count_y, r->weights_y) ||
         check_resize_axis(m, "x", gen::kInfo.input_w, r->width, r->taps_x,
                           r->first_x, r->count_x, r->weights_x);
}

// rnc_train_step_indexed's arguments, for the dataset the model holds
// (data_count samples: a member of both targets' rnc_model).
inline int
check_indexed_step(rnc_model *m, const int32_t *index, int32_t batch,
                   const rnc_sgd *opt, const rnc_step_result *out,
                   const std::string &what = "rnc_train_step_indexed") {
  if (!m)
    return 1;
  const int64_t count = m->data_count;
  if (count == 0)
    return fail(m, what + ": the model holds no dataset "
                          "(rnc_set_dataset first)");
  if (!index || !opt || !out)
    return fail(m, "index, opt and out must not be null");
  if (check_batch_size(m, batch) || check_sgd(m, opt))
    return 1;
  for (int32_t i = 0; i < batch; ++i)
    if (index[i] < 0 || index[i] >= count)
      return fail(m, what + ": index " + std::to_string(index[i]) +
                         " at position " + std::to_string(i) +
                         " is outside the dataset's [0, " +
                         std::to_string(count) + ")");
  return 0;
}

// rnc_train_step_augmented's arguments: those of an indexed step, an 8-bit
// dataset (data_pixels: a member of both targets' rnc_model), and each
// sample's augmentation as runtime/rnc_abi.h bounds it.
inline int check_augmented_step(rnc_model *m, const int32_t *index,
                                const rnc_augment *aug, int32_t batch,
                                const rnc_sgd *opt,
                                const rnc_step_result *out) {
  const std::string what = "rnc_train_step_augmented";
  if (check_indexed_step(m, index, batch, opt, out, what))
    return 1;
  if (!m->data_pixels)
    return fail(m, what + ": the dataset is floats; augmentation needs its "
                          "8-bit pixels (rnc_set_dataset_u8)");
  if (!aug)
    return fail(m, what + ": aug must not be null");
  const int64_t H = gen::kInfo.input_h, W = gen::kInfo.input_w;
  for (int32_t i = 0; i < batch; ++i) {
    const rnc_augment &a = aug[i];
    const std::string at = what + ": aug[" + std::to_string(i) + "]";
    if (a.flip != 0 && a.flip != 1)
      return fail(m, at + ".flip " + std::to_string(a.flip) +
                         " is neither 0 nor 1");
    if (a.shift_y < -65536 || a.shift_y > 65536 || a.shift_x < -65536 ||
        a.shift_x > 65536)
      return fail(m, at + " shift (" + std::to_string(a.shift_y) + ", " +
                         std::to_string(a.shift_x) +
                         ") is outside [-65536, 65536]");
    const bool none = a.erase_height == 0 || a.erase_width == 0;
    if (a.erase_height < 0 || a.erase_width < 0 ||
        (!none && (a.erase_top < 0 || a.erase_left < 0 ||
                   a.erase_top + int64_t(a.erase_height) > H ||
                   a.erase_left + int64_t(a.erase_width) > W)))
      return fail(m, at + ": the erased " + std::to_string(a.erase_height) +
                         "x" + std::to_string(a.erase_width) + " at (" +
                         std::to_string(a.erase_top) + ", " +
                         std::to_string(a.erase_left) + ") is not inside the " +
                         std::to_string(H) + "x" + std::to_string(W) +
                         " input");
  }
  return 0;
}

// The collectives of rnc_set_collectives: NULL (one process) or a world of
// at least one rank that holds `rank`, with a sum when there are others.
inline int check_collectives(rnc_model *m, const rnc_collectives *c) {
  if (!m)
    return 1;
  if (!c)
    return 0;
  if (c->world < 1 || c->rank < 0 || c->rank >= c->world)
    return fail(m, "collectives: rank " + std::to_string(c->rank) +
                       " is outside a world of " + std::to_string(c->world));
  if (c->world > 1 && !c->allreduce_sum)
    return fail(m, "collectives: allreduce_sum is null");
  if (c->timeout_s < 0)
    return fail(m, "collectives: timeout_s is " + std::to_string(c->timeout_s) +
                       " (seconds, 0 for no limit)");
  return 0;
}

// The tensor a read (dst) or write (src) names; -1 after fail() when the
// name is unknown or numel does not match.
inline int check_tensor(rnc_model *m, const char *name, int64_t numel,
                        const float *dst, const float *src) {
  if (!m)
    return -1;
  int i = find_tensor(name);
  if (i < 0) {
    fail(m, std::string("no tensor named '") + (name ? name : "(null)") + "'");
    return -1;
  }
  const char *what = dst ? "destination" : "source";
  if (!(dst || src) || numel != gen::kTensors[i].numel) {
    fail(m, std::string("tensor '") + name + "' has " +
                std::to_string(gen::kTensors[i].numel) + " elements, the " +
                what + " " + std::to_string(numel));
    return -1;
  }
  return i;
}

} // namespace gen_abi
