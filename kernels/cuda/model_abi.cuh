// The C ABI (runtime/rnc_abi.h) of a model generated for the CUDA target.
//
// Included once, at the end of a generated model.cu, after the generated
// namespace `gen` has defined:
//   kInfo, kTensors[], kOffsets[], kStateFloats, kWorkFloats (as on the CPU),
//   the op tables kOpNames, g_op_seconds, g_op_calls, kNumOps (debug.cuh),
//   kStatChannels and the device pointers g_sum, g_sumsq (set here),
//   init(S, seed) (host code: the CPU init rules, so both targets start from
//   the same weights for a seed), train_step(S, W, x, labels, N, hyper,
//   loss_out, correct_out) and eval(S, W, x, N, logits_out), whose pointers
//   are all device pointers and which only enqueue work on
//   rnc::cuda::current_stream().
//
// A step is one CUDA graph: on the first step with a batch size N it is
// captured (upload of the pinned images, labels and {lr, momentum,
// weight_decay}, NCHW -> NHWC, the generated step, download of loss and
// correct; rnc_train_step_indexed uploads indices instead and gathers its
// batch from the dataset on the device) and instantiated; every later step with
// that N replays it. A ragged last batch captures a second graph; nothing is
// recompiled. Inside a step there is no allocation and no host synchronization;
// the host waits once, after the graph, for the loss.
//
// Data parallelism (rnc_set_collectives): before the step the host sums the
// batch sizes of the ranks (allreduce_sum with a null stream: host memory,
// blocking) into NG, so the global batch is a kernel argument; the graphs
// are kept by (N, NG). Inside the graph the gradients are summed in
// buckets by allreduce_sum (NCCL through rnc-run's plugin) on a
// communication stream the step forks off the model's stream and joins
// before the update (kernels/cuda/collectives.cuh), so the sums overlap the
// backward pass and the step stays one graph.
//
// Everything outside a graph (zeroing, weights in and out, logits) is
// enqueued on the model's own stream and waited for before the call
// returns: the stream is non-blocking, so it would not wait for work on the
// legacy default stream (cudaMemcpy, cudaMemset).
//
// RNC_CUDA_SYNC=1 (or RNC_PROFILE=1) at rnc_create: steps run without graph
// capture, checked (and timed) op by op, and a failure names the op and its
// layer (debug.cuh).
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "debug.cuh"
#include "kernels/cpu/profile.h"
#include "kernels/gather.h"
#include "runtime/rnc_abi.h"
#include "stat_partials.h"
#include "stream.cuh"

#define RNC_EXPORT extern "C" __attribute__((visibility("default")))

namespace gen_abi {

// Host memory the graphs copy from and to (pinned, so copies are captured).
struct Pinned {
  float hyper[3];  // lr, momentum, weight_decay
  float loss;
  int32_t correct;
};

// Device buffers outside the planned workspace.
struct DeviceIo {
  float *images_nchw = nullptr; // [max_batch, C, H, W], as the caller gives
  float *images = nullptr;      // [max_batch, H, W, C], what the model reads
  int32_t *labels = nullptr;    // [max_batch]
  int32_t *index = nullptr;     // [max_batch], rnc_train_step_indexed's
  rnc_augment *aug = nullptr;   // [max_batch], rnc_train_step_augmented's
  float *hyper = nullptr;       // [3]
  float *loss = nullptr;        // [1]
  int32_t *correct = nullptr;   // [1]
  float *logits = nullptr;      // [max_batch, classes]
};

} // namespace gen_abi

struct rnc_model {
  float *state = nullptr; // device: parameters, buffers, optimizer, gradients
  float *work = nullptr;  // device: the planned workspace
  float *stats = nullptr; // device: g_sum, g_sumsq, the conv scratch
  void *device_io = nullptr;          // one allocation behind `io`
  gen_abi::DeviceIo io;
  gen_abi::Pinned *pinned = nullptr;  // host, page-locked
  float *pinned_images = nullptr;     // host, page-locked [max_batch*C*H*W]
  int32_t *pinned_labels = nullptr;   // host, page-locked [max_batch]
  int32_t *pinned_index = nullptr;    // host, page-locked [max_batch]
  rnc_augment *pinned_aug = nullptr;  // host, page-locked [max_batch]
  // The dataset on the device: rnc_set_dataset's images [count, C, H, W],
  // or rnc_set_dataset_u8's pixels [count, H, W, C] and table [C][256]
  // (rnc_set_dataset_u8_resized's at their stored size, with the resize
  // table in data_taps, data_resize pointing there); the labels [count].
  float *data_images = nullptr;
  uint8_t *data_pixels = nullptr;
  float *data_lut = nullptr;
  int32_t *data_taps = nullptr;
  rnc_resize data_resize{};
  int32_t *data_labels = nullptr;
  int64_t data_count = 0;
  cudaStream_t stream = nullptr;
  // By batch size (train: N << 32 | NG); repeat_graphs: rnc_cuda_repeat_step;
  // indexed_graphs: rnc_train_step_indexed, augmented_graphs:
  // rnc_train_step_augmented (the dataset's pointers baked in).
  std::map<long long, cudaGraphExec_t> train_graphs, eval_graphs, repeat_graphs,
      indexed_graphs, augmented_graphs;
  rnc_collectives comm{};   // valid when distributed
  // The step's communication stream, forked and joined by events
  // (collectives.cuh); made by the first rnc_set_collectives of a world > 1.
  cudaStream_t comm_stream = nullptr;
  cudaEvent_t fork_event = nullptr, join_event = nullptr;
  bool distributed = false; // rnc_set_collectives with world > 1
  // A step timed out with its graph still running (a rank or a kernel
  // hangs): freeing device memory would wait for it forever.
  bool wedged = false;
  int uploaded_batch = 0; // of the last rnc_train_step (0: none, or an eval since)
  std::string error;
};

#include "kernels/abi_checks.h"

namespace gen_abi {

inline long image_floats() {
  return long(gen::kInfo.input_c) * gen::kInfo.input_h * gen::kInfo.input_w;
}

// 0 on success, else fail() with the CUDA error, what was being done and
// the hint, if any.
inline int cuda_ok(rnc_model *m, cudaError_t e, const char *what,
                   const char *hint = nullptr) {
  if (e == cudaSuccess)
    return 0;
  return fail(m, std::string("CUDA error in ") + what + ": " +
                     cudaGetErrorString(e) +
                     (hint ? std::string(" (") + hint + ")" : ""));
}

// The device scratch of m->stats: g_sum and g_sumsq (kStatChannels each),
// then, each from a 64-byte boundary, the three scratch buffers of the
// kernels (kernels/cuda/stream.cuh): the weight scratch, as large as the
// largest weight with more than one tap; if the model has a convolution, the
// split scratch of the convolutions' partial sums (kSplitScratchFloats, or
// more if the statistics of gen::kConvShapes need it at the largest batch);
// and the reduce scratch of the channel sums.
inline long round16(long floats) { return (floats + 15) / 16 * 16; }
inline long stat_floats() { return round16(2L * gen::kStatChannels); }
inline long weight_scratch_floats() {
  long most = 0;
  for (const rnc_tensor_info &t : gen::kTensors)
    if (t.kind == RNC_PARAM && t.rank == 4 && t.shape[2] * t.shape[3] > 1)
      most = t.numel > most ? t.numel : most;
  return round16(most);
}
inline long split_scratch_floats() {
  if (gen::kConvShapes.empty())
    return 0;
  long most = rnc::cuda::kSplitScratchFloats;
  for (const rnc::Conv2DShape &s : gen::kConvShapes) {
    const long need = rnc::cuda::stat_partial_floats(s, gen::kInfo.max_batch);
    most = need > most ? need : most;
  }
  return round16(most);
}
inline long reduce_scratch_floats() { return rnc::cuda::kReduceScratchFloats; }
inline long scratch_floats() {
  return stat_floats() + weight_scratch_floats() + split_scratch_floats() +
         reduce_scratch_floats();
}

// Points the generated code at this model's scratch (before a step or eval
// is enqueued: a captured graph keeps the pointers).
inline void bind_scratch(rnc_model *m) {
  gen::g_sum = m->stats;
  gen::g_sumsq = m->stats + gen::kStatChannels;
  float *weights = m->stats + stat_floats();
  rnc::cuda::set_weight_scratch(weights, weight_scratch_floats());
  float *split = weights + weight_scratch_floats();
  rnc::cuda::set_split_scratch(split, split_scratch_floats());
  rnc::cuda::set_reduce_scratch(split + split_scratch_floats(),
                                reduce_scratch_floats());
}

// Where a graph fails, no op is named.
constexpr const char *kSyncHint = "rerun with RNC_CUDA_SYNC=1 to name the op";

using GraphMap = std::map<long long, cudaGraphExec_t>;

// Destroys the graphs of `maps` and empties them.
inline void drop_graphs(std::initializer_list<GraphMap *> maps) {
  for (GraphMap *graphs : maps) {
    for (auto &entry : *graphs)
      cudaGraphExecDestroy(entry.second);
    graphs->clear();
  }
}

inline void release(rnc_model *m) {
  if (m->wedged)
    return; // the process is about to end; the device memory goes with it
  drop_graphs({&m->train_graphs, &m->eval_graphs, &m->repeat_graphs,
               &m->indexed_graphs, &m->augmented_graphs});
  cudaFree(m->data_images);
  cudaFree(m->data_pixels);
  cudaFree(m->data_lut);
  cudaFree(m->data_taps);
  cudaFree(m->data_labels);
  cudaFree(m->state);
  cudaFree(m->work);
  cudaFree(m->stats);
  cudaFree(m->device_io);
  cudaFreeHost(m->pinned);
  cudaFreeHost(m->pinned_images);
  cudaFreeHost(m->pinned_labels);
  cudaFreeHost(m->pinned_index);
  cudaFreeHost(m->pinned_aug);
  if (m->stream)
    cudaStreamDestroy(m->stream);
  if (m->comm_stream)
    cudaStreamDestroy(m->comm_stream);
  for (cudaEvent_t e : {m->fork_event, m->join_event})
    if (e)
      cudaEventDestroy(e);
}

// Enqueues a copy or memset on the model's stream with `enqueue(stream)` and
// waits for it, so that it has landed before the ABI call returns.
template <class Enqueue>
cudaError_t on_stream(rnc_model *m, const Enqueue &enqueue) {
  if (m->wedged) // a step still runs (wait_for_step): it would never end
    return cudaErrorNotReady;
  cudaError_t e = enqueue(m->stream);
  cudaError_t synced = cudaStreamSynchronize(m->stream);
  return e != cudaSuccess ? e : synced;
}

inline bool env_on(const char *name) {
  const char *v = std::getenv(name);
  return v && *v && std::strcmp(v, "0") != 0;
}

// Carves the io buffers out of one allocation, 256-byte aligned.
inline cudaError_t allocate_io(rnc_model *m) {
  const long B = gen::kInfo.max_batch;
  const size_t sizes[] = {sizeof(float) * B * image_floats(),
                          sizeof(float) * B * image_floats(),
                          sizeof(int32_t) * B,
                          sizeof(int32_t) * B,
                          sizeof(rnc_augment) * B,
                          sizeof(float) * 3,
                          sizeof(float),
                          sizeof(int32_t),
                          sizeof(float) * B * gen::kInfo.num_classes};
  size_t total = 0;
  for (size_t s : sizes)
    total += (s + 255) / 256 * 256;
  char *base = nullptr;
  if (cudaError_t e = cudaMalloc(&base, total); e != cudaSuccess)
    return e;
  m->device_io = base;
  void **slots[] = {reinterpret_cast<void **>(&m->io.images_nchw),
                    reinterpret_cast<void **>(&m->io.images),
                    reinterpret_cast<void **>(&m->io.labels),
                    reinterpret_cast<void **>(&m->io.index),
                    reinterpret_cast<void **>(&m->io.aug),
                    reinterpret_cast<void **>(&m->io.hyper),
                    reinterpret_cast<void **>(&m->io.loss),
                    reinterpret_cast<void **>(&m->io.correct),
                    reinterpret_cast<void **>(&m->io.logits)};
  static_assert(sizeof(sizes) / sizeof(sizes[0]) ==
                sizeof(slots) / sizeof(slots[0]));
  for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); ++i) {
    *slots[i] = base;
    base += (sizes[i] + 255) / 256 * 256;
  }
  return cudaSuccess;
}

// RNC_CUDA_SYNC / RNC_PROFILE: runs `enqueue` directly, each op checked
// (and timed) by its OpTimer scope; a failure names the op.
template <class Enqueue>
int run_eager(rnc_model *m, const Enqueue &enqueue, const char *what) {
  rnc::cuda::OpDebug &d = rnc::cuda::op_debug();
  rnc::cuda::set_stream(m->stream);
  rnc::cuda::last_launch_error(); // forget errors of earlier calls
  d.reset();
  enqueue();
  cudaError_t after = rnc::cuda::detail::settle();
  if (d.failed_op > 0 && d.failed_op <= gen::kNumOps)
    return fail(m, std::string(what) + ": " + (d.before ? "before " : "") +
                       gen::kOpNames[d.failed_op] + ": CUDA error: " +
                       cudaGetErrorString(d.error) +
                       (d.before ? " (pending from the batch upload or the "
                                   "op before)"
                                 : "") +
                       " [checked after every op]");
  return cuda_ok(m, after, what, "after its last op");
}

// Waits for the step on m->stream. In a job of several ranks with a timeout
// (rnc_collectives.timeout_s) it polls, and past the timeout fails with
// RNC_STEP_TIMED_OUT: the step's sums wait for every rank inside the graph,
// so a rank that never reaches them would otherwise hang this one silently.
inline int wait_for_step(rnc_model *m, const char *what) {
  if (!m->distributed || m->comm.timeout_s <= 0)
    return cuda_ok(m, cudaStreamSynchronize(m->stream), what, kSyncHint);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const auto limit = std::chrono::seconds(m->comm.timeout_s);
  for (long polls = 0;; ++polls) {
    cudaError_t e = cudaStreamQuery(m->stream);
    if (e != cudaErrorNotReady)
      return cuda_ok(m, e, what, kSyncHint);
    if (Clock::now() - start > limit) {
      m->wedged = true;
      fail(m, std::string(what) + ": the step did not finish within " +
                  std::to_string(m->comm.timeout_s) +
                  " s: a rank did not reach the sum over the ranks, or a "
                  "kernel hangs (RNC_COLLECTIVE_TIMEOUT sets the limit)");
      return RNC_STEP_TIMED_OUT;
    }
    if (polls > 20000) // a hot loop first: a step takes milliseconds
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// Captures `enqueue` (which records work on m->stream) as a graph for batch
// N, or finds the one captured before; then launches it and waits. In the
// debug modes it runs `enqueue` uncaptured instead (run_eager).
template <class Enqueue>
int run_graph(rnc_model *m, GraphMap &graphs, long long key,
              const Enqueue &enqueue, const char *what) {
  if (rnc::cuda::op_debug().on())
    return run_eager(m, enqueue, what);
  if (m->wedged)
    return fail(m, std::string(what) + ": an earlier step did not finish; "
                                        "the model can only be destroyed");
  auto found = graphs.find(key);
  if (found == graphs.end()) {
    rnc::cuda::set_stream(m->stream);
    rnc::cuda::last_launch_error(); // forget errors of earlier captures
    if (cuda_ok(m,
                cudaStreamBeginCapture(m->stream,
                                       cudaStreamCaptureModeThreadLocal),
                "cudaStreamBeginCapture"))
      return 1;
    enqueue();
    cudaGraph_t graph = nullptr;
    // A launcher that refused its arguments launched nothing: its error is
    // recorded in last_launch_error(), besides cudaGetLastError()'s.
    cudaError_t refused = rnc::cuda::last_launch_error();
    cudaError_t launched = cudaGetLastError();
    if (launched == cudaSuccess)
      launched = refused;
    cudaError_t ended = cudaStreamEndCapture(m->stream, &graph);
    cudaError_t made = cudaErrorUnknown;
    cudaGraphExec_t exec = nullptr;
    if (launched == cudaSuccess && ended == cudaSuccess)
      made = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) // captured, whether or not it became an executable graph
      cudaGraphDestroy(graph);
    if (cuda_ok(m, launched, what, kSyncHint) ||
        cuda_ok(m, ended, "cudaStreamEndCapture") ||
        cuda_ok(m, made, "cudaGraphInstantiate"))
      return 1;
    found = graphs.emplace(key, exec).first;
  }
  if (cuda_ok(m, cudaGraphLaunch(found->second, m->stream), "cudaGraphLaunch"))
    return 1;
  return wait_for_step(m, what);
}

// The communication stream of a data-parallel step and its two events,
// once per model. Where they cannot be made the sums run on the model's
// stream (collectives.cuh): correct, without the overlap.
inline void make_comm_stream(rnc_model *m) {
  if (m->comm_stream)
    return;
  cudaStream_t s = nullptr;
  cudaEvent_t fork = nullptr, join = nullptr;
  if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess &&
      cudaEventCreateWithFlags(&fork, cudaEventDisableTiming) == cudaSuccess &&
      cudaEventCreateWithFlags(&join, cudaEventDisableTiming) == cudaSuccess) {
    m->comm_stream = s;
    m->fork_event = fork;
    m->join_event = join;
    return;
  }
  if (s)
    cudaStreamDestroy(s);
  if (fork)
    cudaEventDestroy(fork);
  cudaGetLastError(); // not an error of the step
}

// The global batch of a step: N with one process, else the sum of every
// rank's N (host memory, blocking); 0 after fail().
inline int global_batch(rnc_model *m, int N, const char *what) {
  if (!m->distributed)
    return N;
  float ng = float(N); // exact: integers below 2^24
  if (m->comm.allreduce_sum(m->comm.ctx, &ng, 1, nullptr) != 0 ||
      !(ng >= N && ng <= float(gen::kInfo.max_batch) * m->comm.world)) {
    fail(m, std::string(what) + ": the sum of the batch sizes over the " +
                "ranks failed");
    return 0;
  }
  return int(ng);
}

// Where a step's batch comes from: the pinned images and labels
// (rnc_train_step), the device already (the last step's batch:
// rnc_cuda_repeat_step), or the dataset on the device at the pinned
// indices (rnc_train_step_indexed), augmented as the pinned draws say
// (rnc_train_step_augmented).
enum class StepInput { kHostBatch, kLastBatch, kDataset, kDatasetAugmented };

// One training step of batch N as a graph (run_graph): the batch as
// `input` says (uploaded and NCHW -> NHWC, or gathered from the dataset
// into NHWC), {lr, momentum, weight_decay}, the generated step, the download
// of loss and correct.
inline int run_step(rnc_model *m, GraphMap &graphs, int N, const rnc_sgd *opt,
                    rnc_step_result *out, StepInput input, const char *what) {
  const int NG = global_batch(m, N, what);
  if (NG == 0)
    return 1;
  m->pinned->hyper[0] = opt->lr;
  m->pinned->hyper[1] = opt->momentum;
  m->pinned->hyper[2] = opt->weight_decay;
  rnc::cuda::StepComm comm{m->distributed ? &m->comm : nullptr,
                           m->comm_stream, m->fork_event, m->join_event};
  auto enqueue = [m, N, NG, input, &comm] {
    gen_abi::bind_scratch(m); // this model's scratch, baked into the graph
    cudaStream_t s = m->stream;
    const DeviceIo &io = m->io;
    const long HW = long(gen::kInfo.input_h) * gen::kInfo.input_w;
    if (input == StepInput::kHostBatch) {
      cudaMemcpyAsync(io.images_nchw, m->pinned_images,
                      sizeof(float) * N * image_floats(),
                      cudaMemcpyHostToDevice, s);
      cudaMemcpyAsync(io.labels, m->pinned_labels, sizeof(int32_t) * N,
                      cudaMemcpyHostToDevice, s);
    } else if (input != StepInput::kLastBatch) {
      cudaMemcpyAsync(io.index, m->pinned_index, sizeof(int32_t) * N,
                      cudaMemcpyHostToDevice, s);
    }
    const bool augmented = input == StepInput::kDatasetAugmented;
    if (augmented)
      cudaMemcpyAsync(io.aug, m->pinned_aug, sizeof(rnc_augment) * N,
                      cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(io.hyper, m->pinned->hyper, sizeof(float) * 3,
                    cudaMemcpyHostToDevice, s);
    if (input == StepInput::kHostBatch)
      rnc::cuda::nchw_to_nhwc(io.images, io.images_nchw, N, gen::kInfo.input_c,
                              HW);
    else if (input != StepInput::kLastBatch && (m->data_taps || augmented))
      rnc::cuda::gather_u8_transformed_to_nhwc(
          io.images, io.labels, m->data_pixels,
          m->data_taps ? &m->data_resize : nullptr, m->data_lut, m->data_labels,
          io.index, augmented ? io.aug : nullptr, N, gen::kInfo.input_c,
          gen::kInfo.input_h, gen::kInfo.input_w);
    else if (input == StepInput::kDataset && m->data_pixels)
      rnc::cuda::gather_u8_to_nhwc(io.images, io.labels, m->data_pixels,
                                   m->data_lut, m->data_labels, io.index, N,
                                   gen::kInfo.input_c, HW);
    else if (input == StepInput::kDataset)
      rnc::cuda::gather_nchw_to_nhwc(io.images, io.labels, m->data_images,
                                     m->data_labels, io.index, N,
                                     gen::kInfo.input_c, HW);
    gen::train_step(m->state, m->work, io.images, io.labels, N, io.hyper,
                    io.loss, io.correct, NG, comm);
    comm.join(); // the step joins before its update; a capture must end joined
    if (comm.failed) // nothing enqueued for the sum: the graph must not run
      rnc::cuda::detail::record(cudaErrorInvalidValue);
    cudaMemcpyAsync(&m->pinned->loss, io.loss, sizeof(float),
                    cudaMemcpyDeviceToHost, s);
    cudaMemcpyAsync(&m->pinned->correct, io.correct, sizeof(int32_t),
                    cudaMemcpyDeviceToHost, s);
  };
  const long long key = (static_cast<long long>(N) << 32) | NG;
  if (int status = run_graph(m, graphs, key, enqueue, what)) {
    if (status == RNC_STEP_TIMED_OUT)
      return status;
    if (comm.failed)
      fail(m, std::string(what) + ": the sum of the gradients over the " +
                  "ranks could not be enqueued (the collectives' message "
                  "above says why)");
    return 1;
  }
  out->loss = m->pinned->loss;
  out->correct = m->pinned->correct;
  return 0;
}

} // namespace gen_abi

RNC_EXPORT uint32_t rnc_abi_version(void) { return RNC_ABI_VERSION; }

RNC_EXPORT const rnc_model_info *rnc_info(void) { return &gen::kInfo; }

RNC_EXPORT const rnc_tensor_info *rnc_tensor(int32_t i) {
  return i >= 0 && i < gen::kInfo.num_tensors ? &gen::kTensors[i] : nullptr;
}

// NULL when there is no usable GPU or not enough memory on it (the ABI has
// no error channel before a model exists; rnc-run checks for a GPU first).
RNC_EXPORT rnc_model *rnc_create(void) {
  rnc::cuda::OpDebug &debug = rnc::cuda::op_debug();
  debug.sync = gen_abi::env_on("RNC_CUDA_SYNC");
  debug.profile = gen_abi::env_on("RNC_PROFILE");
  rnc_model *m = new (std::nothrow) rnc_model;
  if (!m)
    return nullptr;
  const long B = gen::kInfo.max_batch;
  auto bytes = [](long floats) { return size_t(floats > 0 ? floats : 1) * 4; };
  bool ok =
      cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking) ==
          cudaSuccess &&
      cudaMalloc(&m->state, bytes(gen::kStateFloats)) == cudaSuccess &&
      cudaMalloc(&m->work, bytes(gen::kWorkFloats)) == cudaSuccess &&
      cudaMalloc(&m->stats, bytes(gen_abi::scratch_floats())) == cudaSuccess &&
      gen_abi::allocate_io(m) == cudaSuccess &&
      cudaMallocHost(&m->pinned, sizeof(gen_abi::Pinned)) == cudaSuccess &&
      cudaMallocHost(&m->pinned_images, bytes(B * gen_abi::image_floats())) ==
          cudaSuccess &&
      cudaMallocHost(&m->pinned_labels, sizeof(int32_t) * B) == cudaSuccess &&
      cudaMallocHost(&m->pinned_index, sizeof(int32_t) * B) == cudaSuccess &&
      cudaMallocHost(&m->pinned_aug, sizeof(rnc_augment) * B) == cudaSuccess &&
      gen_abi::on_stream(m, [&](cudaStream_t s) {
        cudaError_t e = cudaMemsetAsync(m->state, 0, bytes(gen::kStateFloats), s);
        return e != cudaSuccess
                   ? e
                   : cudaMemsetAsync(m->work, 0, bytes(gen::kWorkFloats), s);
      }) == cudaSuccess;
  if (!ok) {
    cudaGetLastError(); // clear the sticky error of a failed allocation
    gen_abi::release(m);
    delete m;
    return nullptr;
  }
  return m;
}

RNC_EXPORT void rnc_destroy(rnc_model *m) {
  if (!m)
    return;
  if (!m->wedged)
    cudaStreamSynchronize(m->stream);
  if (rnc::cuda::op_debug().profile) {
    std::fprintf(stderr, "rnc profile (cuda, RNC_PROFILE=1): every op "
                         "synchronized, no graph, so launch gaps count\n");
    rnc::cpu::print_profile(gen::kOpNames, gen::g_op_seconds,
                            gen::g_op_calls, gen::kNumOps + 1, stderr);
  }
  gen_abi::release(m);
  delete m;
}

RNC_EXPORT const char *rnc_last_error(const rnc_model *m) {
  return m ? m->error.c_str() : "model is null";
}

// The init rules run on the host (the same code as the cpu target), then the
// state block is uploaded.
RNC_EXPORT int rnc_init(rnc_model *m, uint64_t seed) {
  if (!m)
    return 1;
  std::vector<float> host;
  try {
    host.assign(size_t(gen::kStateFloats), 0.0f);
  } catch (const std::bad_alloc &) {
    return gen_abi::fail(m, "out of host memory for the initial weights");
  }
  gen::init(host.data(), seed);
  return gen_abi::cuda_ok(
      m, gen_abi::on_stream(m, [&](cudaStream_t s) {
        return cudaMemcpyAsync(m->state, host.data(),
                               host.size() * sizeof(float),
                               cudaMemcpyHostToDevice, s);
      }),
      "rnc_init (upload of the weights)");
}

RNC_EXPORT int rnc_train_step(rnc_model *m, const float *images,
                              const int32_t *labels, int32_t batch,
                              const rnc_sgd *opt, rnc_step_result *out) {
  if (gen_abi::check_train_step(m, images, labels, batch, opt, out))
    return 1;
  std::memcpy(m->pinned_images, images,
              sizeof(float) * batch * gen_abi::image_floats());
  std::memcpy(m->pinned_labels, labels, sizeof(int32_t) * batch);
  m->uploaded_batch = 0;
  if (int status =
          gen_abi::run_step(m, m->train_graphs, batch, opt, out,
                            gen_abi::StepInput::kHostBatch, "rnc_train_step"))
    return status;
  m->uploaded_batch = batch;
  return 0;
}

namespace gen_abi {

// Frees the dataset (either kind), after the step that may still read it and
// the graphs that hold its pointers.
inline void drop_dataset(rnc_model *m) {
  cudaStreamSynchronize(m->stream);
  drop_graphs({&m->indexed_graphs, &m->augmented_graphs});
  for (void *p :
       {static_cast<void *>(m->data_images),
        static_cast<void *>(m->data_pixels), static_cast<void *>(m->data_lut),
        static_cast<void *>(m->data_taps), static_cast<void *>(m->data_labels)})
    cudaFree(p);
  m->data_images = m->data_lut = nullptr;
  m->data_pixels = nullptr;
  m->data_labels = m->data_taps = nullptr;
  m->data_count = 0;
}

// One part of a new dataset: allocated on the device, then copied from the
// host on the model's stream (after the earlier parts' copies).
template <class T>
cudaError_t upload_part(rnc_model *m, cudaError_t e, T *&dst, const T *src,
                        size_t bytes) {
  if (e == cudaSuccess)
    e = cudaMalloc(&dst, bytes);
  if (e == cudaSuccess)
    e = on_stream(m, [&](cudaStream_t s) {
      return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s);
    });
  return e;
}

// After the parts' uploads: the dataset holds `count` samples, or on an
// error none (one line naming the call, the samples and the MiB).
inline int finish_dataset(rnc_model *m, cudaError_t e, int64_t count,
                          size_t bytes, const char *what) {
  if (e == cudaSuccess) {
    m->data_count = count;
    return 0;
  }
  cudaGetLastError(); // a failed allocation's error is not sticky
  drop_dataset(m);
  return cuda_ok(m, e,
                 (std::string(what) + " (" + std::to_string(count) +
                  " samples, " + std::to_string(bytes >> 20) + " MiB)")
                     .c_str());
}

inline int dataset_refused(rnc_model *m, const char *what) {
  if (!m->wedged)
    return 0;
  return fail(m, std::string(what) + ": an earlier step did not finish; the "
                                     "model can only be destroyed");
}

} // namespace gen_abi

// The dataset goes to the device once; each indexed step then uploads only
// its indices and gathers its batch on the device, into NHWC, inside the
// step's graph: float images in their NCHW form (gather_nchw_to_nhwc), or
// 8-bit pixels already channels last, normalized through the table while
// gathered (gather_u8_to_nhwc: a quarter of the device memory), or those
// pixels at their stored size, resized too (gather_u8_resized_to_nhwc).
RNC_EXPORT int rnc_set_dataset(rnc_model *m, const float *images,
                               const int32_t *labels, int64_t count) {
  if (gen_abi::check_dataset(m, images, labels, count) ||
      gen_abi::dataset_refused(m, "rnc_set_dataset"))
    return 1;
  gen_abi::drop_dataset(m);
  if (count == 0)
    return 0;
  const size_t image_bytes =
      sizeof(float) * size_t(gen_abi::image_floats()) * size_t(count);
  const size_t label_bytes = sizeof(int32_t) * size_t(count);
  cudaError_t e = cudaSuccess;
  e = gen_abi::upload_part(m, e, m->data_images, images, image_bytes);
  e = gen_abi::upload_part(m, e, m->data_labels, labels, label_bytes);
  return gen_abi::finish_dataset(m, e, count, image_bytes + label_bytes,
                                 "rnc_set_dataset");
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
  if (dataset_refused(m, what))
    return 1;
  drop_dataset(m);
  if (count == 0)
    return 0;
  const int C = gen::kInfo.input_c, H = gen::kInfo.input_h,
            W = gen::kInfo.input_w;
  const size_t sample_bytes = resize
                                  ? size_t(resize->height) * resize->width * C
                                  : size_t(image_floats());
  const size_t pixel_bytes = sample_bytes * size_t(count);
  const size_t lut_bytes = sizeof(float) * 256 * size_t(C);
  const size_t label_bytes = sizeof(int32_t) * size_t(count);
  std::vector<int32_t> taps;
  if (resize)
    taps.resize(size_t(rnc::resize_table_ints(*resize, H, W)));
  cudaError_t e = cudaSuccess;
  e = upload_part(m, e, m->data_pixels, pixels, pixel_bytes);
  e = upload_part(m, e, m->data_lut, lut, lut_bytes);
  e = upload_part(m, e, m->data_labels, labels, label_bytes);
  if (resize) { // packed on the host, used where its copy lies
    rnc::pack_resize(*resize, H, W, taps.data());
    e = upload_part(m, e, m->data_taps, taps.data(),
                    sizeof(int32_t) * taps.size());
    if (e == cudaSuccess)
      m->data_resize = rnc::packed_resize(*resize, H, W, m->data_taps);
  }
  return finish_dataset(m, e, count,
                        pixel_bytes + lut_bytes + label_bytes +
                            sizeof(int32_t) * taps.size(),
                        what);
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
  std::memcpy(m->pinned_index, index, sizeof(int32_t) * batch);
  m->uploaded_batch = 0;
  if (int status = gen_abi::run_step(m, m->indexed_graphs, batch, opt, out,
                                     gen_abi::StepInput::kDataset,
                                     "rnc_train_step_indexed"))
    return status;
  m->uploaded_batch = batch; // the gathered batch, as rnc_train_step's
  return 0;
}

RNC_EXPORT int rnc_train_step_augmented(rnc_model *m, const int32_t *index,
                                        const rnc_augment *aug, int32_t batch,
                                        const rnc_sgd *opt,
                                        rnc_step_result *out) {
  if (gen_abi::check_augmented_step(m, index, aug, batch, opt, out))
    return 1;
  std::memcpy(m->pinned_index, index, sizeof(int32_t) * batch);
  std::memcpy(m->pinned_aug, aug, sizeof(rnc_augment) * batch);
  m->uploaded_batch = 0;
  if (int status = gen_abi::run_step(m, m->augmented_graphs, batch, opt, out,
                                     gen_abi::StepInput::kDatasetAugmented,
                                     "rnc_train_step_augmented"))
    return status;
  m->uploaded_batch = batch;
  return 0;
}

RNC_EXPORT int rnc_eval(rnc_model *m, const float *images, int32_t batch,
                        float *logits) {
  if (gen_abi::check_batch(m, images, batch))
    return 1;
  if (!logits)
    return gen_abi::fail(m, "logits is null");
  const long n = batch * gen_abi::image_floats();
  std::memcpy(m->pinned_images, images, sizeof(float) * n);
  const int N = batch;
  auto enqueue = [m, N, n] {
    gen_abi::bind_scratch(m);
    const gen_abi::DeviceIo &io = m->io;
    cudaMemcpyAsync(io.images_nchw, m->pinned_images, sizeof(float) * n,
                    cudaMemcpyHostToDevice, m->stream);
    rnc::cuda::nchw_to_nhwc(io.images, io.images_nchw, N, gen::kInfo.input_c,
                            long(gen::kInfo.input_h) * gen::kInfo.input_w);
    gen::eval(m->state, m->work, io.images, N, io.logits);
  };
  m->uploaded_batch = 0; // the eval overwrites the images on the device
  if (gen_abi::run_graph(m, m->eval_graphs, N, enqueue, "rnc_eval"))
    return 1;
  return gen_abi::cuda_ok(
      m, gen_abi::on_stream(m, [&](cudaStream_t s) {
        return cudaMemcpyAsync(logits, m->io.logits,
                               sizeof(float) * batch * gen::kInfo.num_classes,
                               cudaMemcpyDeviceToHost, s);
      }),
      "rnc_eval (download of the logits)");
}

// Data parallelism: the gradients (and under SyncBN the batch-norm sums)
// are summed inside the step's graph by the collectives' allreduce_sum on
// the communication stream (NCCL). The graphs captured so far hold the old
// collectives: they are dropped.
RNC_EXPORT int rnc_set_collectives(rnc_model *m, const rnc_collectives *c) {
  if (gen_abi::check_collectives(m, c))
    return 1;
  cudaStreamSynchronize(m->stream);
  gen_abi::drop_graphs({&m->train_graphs, &m->repeat_graphs, &m->indexed_graphs,
                        &m->augmented_graphs});
  m->distributed = c && c->world > 1;
  m->comm = m->distributed ? *c : rnc_collectives{};
  if (m->distributed)
    gen_abi::make_comm_stream(m);
  return 0;
}

// Parameters keep PyTorch's layout on the device too, so a tensor copies
// as is.
RNC_EXPORT int rnc_read_tensor(rnc_model *m, const char *name, float *dst,
                               int64_t numel) {
  int i = gen_abi::check_tensor(m, name, numel, dst, nullptr);
  if (i < 0)
    return 1;
  return gen_abi::cuda_ok(m, gen_abi::on_stream(m, [&](cudaStream_t s) {
                            return cudaMemcpyAsync(
                                dst, m->state + gen::kOffsets[i],
                                sizeof(float) * numel, cudaMemcpyDeviceToHost,
                                s);
                          }),
                          "rnc_read_tensor");
}

RNC_EXPORT int rnc_write_tensor(rnc_model *m, const char *name,
                                const float *src, int64_t numel) {
  int i = gen_abi::check_tensor(m, name, numel, nullptr, src);
  if (i < 0)
    return 1;
  return gen_abi::cuda_ok(m, gen_abi::on_stream(m, [&](cudaStream_t s) {
                            return cudaMemcpyAsync(
                                m->state + gen::kOffsets[i], src,
                                sizeof(float) * numel, cudaMemcpyHostToDevice,
                                s);
                          }),
                          "rnc_write_tensor");
}

// Not part of the C ABI (runtime/rnc_abi.h); found with dlsym by benchmarks.
// A training step on the batch the last rnc_train_step uploaded, which is
// still on the GPU: no image or label crosses the bus, as for a framework
// whose batch stays on the device (bench/gpu_train.py). The batch size must
// be that step's, with no rnc_eval in between; 1 otherwise.
RNC_EXPORT int rnc_cuda_repeat_step(rnc_model *m, int32_t batch,
                                    const rnc_sgd *opt, rnc_step_result *out) {
  if (!m)
    return 1;
  if (!opt || !out)
    return gen_abi::fail(m, "opt and out must not be null");
  if (gen_abi::check_sgd(m, opt))
    return 1;
  if (m->uploaded_batch == 0 || batch != m->uploaded_batch)
    return gen_abi::fail(
        m, "rnc_cuda_repeat_step: batch " + std::to_string(batch) +
               " is not the one the last rnc_train_step uploaded (" +
               std::to_string(m->uploaded_batch) + ")");
  return gen_abi::run_step(m, m->repeat_graphs, batch, opt, out,
                           gen_abi::StepInput::kLastBatch,
                           "rnc_cuda_repeat_step");
}
