/* rnc_abi.h: the C ABI between a compiled model (.so) and the runtime.
 *
 * A model built by `rnc compile` exports exactly these symbols. The runtime
 * (rnc-run) dlopens the .so, calls rnc_abi_version() first and refuses a
 * mismatch with a one-line error naming the file and both versions; no other
 * symbol is touched before that check. Every later change to this header that
 * alters a signature or a struct layout bumps RNC_ABI_VERSION.
 *
 * Conventions: NCHW float32 activations; labels int32 in [0, num_classes);
 * functions returning int give 0 on success and non-zero on failure, after
 * which rnc_last_error() describes the failure in one line. No function
 * aborts the process on bad arguments.
 */
#ifndef RNC_RUNTIME_RNC_ABI_H
#define RNC_RUNTIME_RNC_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: rnc_collectives and rnc_set_collectives (data parallelism). */
#define RNC_ABI_VERSION 2u

/* rnc_train_step's status when a step that sums over the ranks did not
 * finish within rnc_collectives.timeout_s (cuda target): a rank did not
 * reach the sum, or a kernel hangs. The step may still be running on the
 * device; the model can only be destroyed (which frees no device memory). */
#define RNC_STEP_TIMED_OUT 2

/* What a tensor owned by the model is. */
enum rnc_tensor_kind {
  RNC_PARAM = 0,     /* trained parameter: conv/linear weight and bias, BN scale/shift */
  RNC_BUFFER = 1,    /* state that is not trained: BN running mean/var */
  RNC_OPTIMIZER = 2, /* optimizer state: "<param>.momentum_buffer" */
  RNC_GRADIENT = 3,  /* "<param>.grad": d(loss)/d(param) of the last train
                        step, before weight decay; read-only for users */
};

typedef struct rnc_tensor_info {
  const char *name; /* state_dict name, e.g. "layer1.0.conv1.weight" */
  int32_t kind;     /* enum rnc_tensor_kind */
  int32_t rank;     /* 1..4 */
  int64_t shape[4];
  int64_t numel;
} rnc_tensor_info;

typedef struct rnc_model_info {
  uint32_t abi_version;    /* == RNC_ABI_VERSION the .so was built with */
  const char *rnc_version; /* rnc release that compiled it */
  const char *model_name;  /* spec "name" */
  const char *spec_hash;   /* hex SHA-256 of the canonical graph form */
  const char *target;      /* "cpu" or "cuda" */
  int32_t input_c, input_h, input_w;
  int32_t num_classes;
  int32_t max_batch;       /* compiled maximum; any batch in [1, max_batch] runs */
  int32_t num_tensors;     /* entries reachable through rnc_tensor() */
} rnc_model_info;

typedef struct rnc_sgd {
  float lr;
  float momentum;     /* PyTorch semantics, dampening 0, no Nesterov */
  float weight_decay; /* L2 added to the gradient of every RNC_PARAM */
} rnc_sgd;

typedef struct rnc_step_result {
  float loss;      /* mean softmax cross-entropy over the batch */
  int32_t correct; /* samples whose argmax equals the label */
} rnc_step_result;

typedef struct rnc_model rnc_model; /* opaque: parameters, state, workspace */

/* The collectives of a data-parallel job, installed by the runtime (rnc-run
 * under mpirun: MPI on the cpu target). The .so links no MPI or NCCL itself:
 * it calls these. Every rank runs the same .so on its own share of each
 * global batch; the step
 *   - sums the local batch sizes into the global batch NG (one value) and
 *     scales the loss gradient by 1/NG instead of 1/N, so that every
 *     gradient downstream is this rank's exact share of the global one;
 *   - sums the gradient region (every "<param>.grad", contiguous at the end
 *     of the state block) across the ranks before the first SGD update.
 * The loss and correct count a step returns stay local (mean over this
 * rank's samples; the runtime weighs them). Without collectives (none set,
 * or set to NULL) the model is one process, exactly as before. */
typedef struct rnc_collectives {
  int32_t rank;    /* this process, in [0, world) */
  int32_t world;   /* processes in the job, >= 1 */
  int32_t sync_bn; /* 1: batch-norm statistics over the global batch
                      (refused by a model that cannot do it) */
  int32_t timeout_s; /* cuda target: seconds the host waits for a step
                        that sums over the ranks before it fails with
                        RNC_STEP_TIMED_OUT; 0: no limit. (Was `reserved`,
                        always 0: older models ignore it.) */
  void *ctx;       /* passed back to every function below */
  /* Sums `count` floats at `data` in place over all ranks (every rank calls
   * it with the same count, in the same order). `stream`: NULL on the cpu
   * target (blocking); a cudaStream_t of the model on the cuda target
   * (enqueue only, graph-capturable, e.g. ncclAllReduce). 0 on success. */
  int (*allreduce_sum)(void *ctx, float *data, int64_t count, void *stream);
} rnc_collectives;

uint32_t rnc_abi_version(void);
const rnc_model_info *rnc_info(void);
/* i in [0, num_tensors); NULL otherwise. */
const rnc_tensor_info *rnc_tensor(int32_t i);

/* Allocates everything a step needs for max_batch; NULL if out of memory,
 * or (cpu) when this CPU lacks an instruction set the model needs. */
rnc_model *rnc_create(void);
void rnc_destroy(rnc_model *m);
/* With m == NULL (cpu target): why the last rnc_create failed, or "model is
 * null" (older models and the cuda target: always that). */
const char *rnc_last_error(const rnc_model *m);

/* Initializes parameters (each with its `init` rule), zeroes optimizer state
 * and resets BN buffers; deterministic for a given seed. */
int rnc_init(rnc_model *m, uint64_t seed);

/* One training step on `batch` samples: forward with BN batch statistics,
 * loss, backward, BN running-statistics update, SGD update. */
int rnc_train_step(rnc_model *m, const float *images, const int32_t *labels,
                   int32_t batch, const rnc_sgd *opt, rnc_step_result *out);

/* Inference (BN running statistics) into logits [batch, num_classes]. */
int rnc_eval(rnc_model *m, const float *images, int32_t batch, float *logits);

/* Installs the collectives every later rnc_train_step uses (copied; `c` may
 * be freed after the call), or with NULL goes back to one process. Non-zero
 * (with rnc_last_error) when the model cannot train that way, e.g. sync_bn
 * or world > 1 on a target that does not implement it yet. */
int rnc_set_collectives(rnc_model *m, const rnc_collectives *c);

/* Copy a tensor out of / into the model by name; numel must match. */
int rnc_read_tensor(rnc_model *m, const char *name, float *dst, int64_t numel);
int rnc_write_tensor(rnc_model *m, const char *name, const float *src,
                     int64_t numel);

/* Optional: a training set kept inside the model, so that a step moves
 * indices instead of images (the cuda target keeps it in device memory:
 * no image crosses the bus after rnc_set_dataset). Models compiled before
 * these functions existed lack them: the runtime looks them up by name (dlsym)
 * and does without; their presence does not change RNC_ABI_VERSION.
 *
 * Copies `count` samples (images NCHW float32 of the model's input shape,
 * labels in [0, num_classes)) into the model, replacing the dataset set
 * before; count 0 (images and labels may then be NULL) frees it. Non-zero
 * (rnc_last_error) on a bad label, naming the sample, or when there is no
 * room: the model then holds no dataset, and everything else still works. */
int rnc_set_dataset(rnc_model *m, const float *images, const int32_t *labels,
                    int64_t count);
/* The same dataset kept as its 8-bit pixels, a quarter of the memory: `count`
 * images [H][W][C] uint8 (H, W, C the model's input shape, channels last, as
 * images are decoded), normalized when a step gathers them through `lut`
 * [C][256]: sample value = lut[c * 256 + pixel]. A step then sees exactly the
 * floats rnc_set_dataset would have been given. Replaces either kind of
 * dataset; count 0 frees it. Optional like the two around it. */
int rnc_set_dataset_u8(rnc_model *m, const uint8_t *pixels, const float *lut,
                       const int32_t *labels, int64_t count);
/* Pixels stored at their own size (all images alike), resized to the
 * model's input while a step gathers them, so a small image set stays small
 * in the model (Fashion-MNIST for a 96x96 model: 47 MB instead of 553). The
 * resampling is separable and in integers, as Pillow's BILINEAR resize
 * (runtime/data/Resample.h) computes it; the crop to the model's input is in
 * the taps. For output row y (of input_h) and column x (of input_w):
 *   h(r) = clip8(2^21 + sum_j weights_x[x * taps_x + j] *
 *                       pixel[r][first_x[x] + j])      j < count_x[x]
 *   out  = clip8(2^21 + sum_k weights_y[y * taps_y + k] * h(first_y[y] + k))
 * with clip8(v) = v >> 22 clamped to [0, 255] (weights in fixed point, 22
 * fraction bits), per channel; then through `lut` as rnc_set_dataset_u8. */
typedef struct rnc_resize {
  int32_t height, width;            /* of the stored images */
  int32_t taps_y, taps_x;           /* weights per output row / column, >= 1 */
  const int32_t *first_y, *count_y; /* [input_h]: first_y + count_y <= height */
  const int32_t *weights_y;         /* [input_h][taps_y] */
  const int32_t *first_x, *count_x; /* [input_w]: first_x + count_x <= width */
  const int32_t *weights_x;         /* [input_w][taps_x] */
} rnc_resize;
/* rnc_set_dataset_u8 of `count` images [resize->height][resize->width][C]
 * (the table is copied too). Replaces either kind of dataset; count 0 frees
 * it. Optional like the three around it. */
int rnc_set_dataset_u8_resized(rnc_model *m, const uint8_t *pixels,
                               const rnc_resize *resize, const float *lut,
                               const int32_t *labels, int64_t count);
/* rnc_train_step on samples index[0], ..., index[batch - 1] of that dataset,
 * in that order: the same result, bit for bit, as rnc_train_step on those
 * samples copied out into a batch. Non-zero without a dataset or with an
 * index outside [0, count). */
int rnc_train_step_indexed(rnc_model *m, const int32_t *index, int32_t batch,
                           const rnc_sgd *opt, rnc_step_result *out);
/* What the training augmentation decided for one sample (the loader's
 * random crop with zero padding, horizontal flip and random erasing, in
 * torchvision's order; runtime/data/Augment.h): output (y, x) of the model's
 * input reads the sample at (y + shift_y, x' + shift_x), x' = input_w - 1 -
 * x where flip is 1, else x; outside the sample it is pixel 0 (the crop's
 * zero padding). After normalization the rectangle of erase_height rows and
 * erase_width columns at (erase_top, erase_left) is set to 0.0 (height 0:
 * nothing erased). Shifts within [-65536, 65536]; the rectangle inside the
 * input. All zeros: the sample as it is. */
typedef struct rnc_augment {
  int32_t shift_y, shift_x, flip;
  int32_t erase_top, erase_left, erase_height, erase_width;
} rnc_augment;
/* rnc_train_step_indexed with sample i augmented as aug[i] says, inside
 * the model (the cuda target: on the device, in the step's graph), so that
 * an augmented run need not send images either. Needs an 8-bit dataset
 * (rnc_set_dataset_u8 or _resized). Optional like the functions above. */
int rnc_train_step_augmented(rnc_model *m, const int32_t *index,
                             const rnc_augment *aug, int32_t batch,
                             const rnc_sgd *opt, rnc_step_result *out);

#ifdef __cplusplus
}
#endif

#endif /* RNC_RUNTIME_RNC_ABI_H */
