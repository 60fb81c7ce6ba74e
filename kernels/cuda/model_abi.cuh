// The C ABI (runtime/rnc_abi.h) of a model generated for the CUDA target.
//
// Included once, at the end of a generated model.cu, after the generated
// namespace `gen` has defined:
//   kInfo, kTensors[], kOffsets[], kStateFloats, kWorkFloats (as on the CPU),
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
// correct) and instantiated; every later step with that N replays it. A
// ragged last batch captures a second graph; nothing is recompiled. Inside
// a step there is no allocation and no host synchronization; the host waits
// once, after the graph, for the loss.
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "runtime/rnc_abi.h"

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
  float *hyper = nullptr;       // [3]
  float *loss = nullptr;        // [1]
  int32_t *correct = nullptr;   // [1]
  float *logits = nullptr;      // [max_batch, classes]
};

} // namespace gen_abi

struct rnc_model {
  float *state = nullptr; // device: parameters, buffers, optimizer, gradients
  float *work = nullptr;  // device: the planned workspace
  float *stats = nullptr; // device: g_sum, g_sumsq
  void *device_io = nullptr;          // one allocation behind `io`
  gen_abi::DeviceIo io;
  gen_abi::Pinned *pinned = nullptr;  // host, page-locked
  float *pinned_images = nullptr;     // host, page-locked [max_batch*C*H*W]
  int32_t *pinned_labels = nullptr;   // host, page-locked [max_batch]
  cudaStream_t stream = nullptr;
  std::map<int, cudaGraphExec_t> train_graphs, eval_graphs; // by batch size
  std::string error;
};

#include "kernels/abi_checks.h"

namespace gen_abi {

inline long image_floats() {
  return long(gen::kInfo.input_c) * gen::kInfo.input_h * gen::kInfo.input_w;
}

// 0 on success, else fail() with the CUDA error and what was being done.
inline int cuda_ok(rnc_model *m, cudaError_t e, const char *what) {
  if (e == cudaSuccess)
    return 0;
  return fail(m, std::string("CUDA error in ") + what + ": " +
                     cudaGetErrorString(e));
}

inline void release(rnc_model *m) {
  for (auto *graphs : {&m->train_graphs, &m->eval_graphs})
    for (auto &entry : *graphs)
      cudaGraphExecDestroy(entry.second);
  cudaFree(m->state);
  cudaFree(m->work);
  cudaFree(m->stats);
  cudaFree(m->device_io);
  cudaFreeHost(m->pinned);
  cudaFreeHost(m->pinned_images);
  cudaFreeHost(m->pinned_labels);
  if (m->stream)
    cudaStreamDestroy(m->stream);
}

// Carves the io buffers out of one allocation, 256-byte aligned.
inline cudaError_t allocate_io(rnc_model *m) {
  const long B = gen::kInfo.max_batch;
  const size_t sizes[] = {
      sizeof(float) * B * image_floats(), sizeof(float) * B * image_floats(),
      sizeof(int32_t) * B, sizeof(float) * 3, sizeof(float), sizeof(int32_t),
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
                    reinterpret_cast<void **>(&m->io.hyper),
                    reinterpret_cast<void **>(&m->io.loss),
                    reinterpret_cast<void **>(&m->io.correct),
                    reinterpret_cast<void **>(&m->io.logits)};
  for (int i = 0; i < 7; ++i) {
    *slots[i] = base;
    base += (sizes[i] + 255) / 256 * 256;
  }
  return cudaSuccess;
}

// Captures `enqueue` (which records work on m->stream) as a graph for batch
// N, or finds the one captured before; then launches it and waits.
template <class Enqueue>
int run_graph(rnc_model *m, std::map<int, cudaGraphExec_t> &graphs, int N,
              const Enqueue &enqueue, const char *what) {
  auto found = graphs.find(N);
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
    if (cuda_ok(m, launched, what) ||
        cuda_ok(m, ended, "cudaStreamEndCapture"))
      return 1;
    cudaGraphExec_t exec = nullptr;
    cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (cuda_ok(m, made, "cudaGraphInstantiate"))
      return 1;
    found = graphs.emplace(N, exec).first;
  }
  if (cuda_ok(m, cudaGraphLaunch(found->second, m->stream), "cudaGraphLaunch"))
    return 1;
  return cuda_ok(m, cudaStreamSynchronize(m->stream), what);
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
      cudaMalloc(&m->stats, bytes(2L * gen::kStatChannels)) == cudaSuccess &&
      gen_abi::allocate_io(m) == cudaSuccess &&
      cudaMallocHost(&m->pinned, sizeof(gen_abi::Pinned)) == cudaSuccess &&
      cudaMallocHost(&m->pinned_images,
                     bytes(B * gen_abi::image_floats())) == cudaSuccess &&
      cudaMallocHost(&m->pinned_labels, sizeof(int32_t) * B) == cudaSuccess &&
      cudaMemset(m->state, 0, bytes(gen::kStateFloats)) == cudaSuccess &&
      cudaMemset(m->work, 0, bytes(gen::kWorkFloats)) == cudaSuccess;
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
  cudaStreamSynchronize(m->stream);
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
  return gen_abi::cuda_ok(m,
                          cudaMemcpy(m->state, host.data(),
                                     host.size() * sizeof(float),
                                     cudaMemcpyHostToDevice),
                          "rnc_init (upload of the weights)");
}

RNC_EXPORT int rnc_train_step(rnc_model *m, const float *images,
                              const int32_t *labels, int32_t batch,
                              const rnc_sgd *opt, rnc_step_result *out) {
  if (gen_abi::check_train_step(m, images, labels, batch, opt, out))
    return 1;
  const long n = batch * gen_abi::image_floats();
  std::memcpy(m->pinned_images, images, sizeof(float) * n);
  std::memcpy(m->pinned_labels, labels, sizeof(int32_t) * batch);
  m->pinned->hyper[0] = opt->lr;
  m->pinned->hyper[1] = opt->momentum;
  m->pinned->hyper[2] = opt->weight_decay;
  const int N = batch;
  auto enqueue = [m, N, n] {
    gen::g_sum = m->stats; // this model's scratch, baked into the graph
    gen::g_sumsq = m->stats + gen::kStatChannels;
    cudaStream_t s = m->stream;
    const gen_abi::DeviceIo &io = m->io;
    cudaMemcpyAsync(io.images_nchw, m->pinned_images, sizeof(float) * n,
                    cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(io.labels, m->pinned_labels, sizeof(int32_t) * N,
                    cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(io.hyper, m->pinned->hyper, sizeof(float) * 3,
                    cudaMemcpyHostToDevice, s);
    rnc::cuda::nchw_to_nhwc(io.images, io.images_nchw, N, gen::kInfo.input_c,
                            long(gen::kInfo.input_h) * gen::kInfo.input_w);
    gen::train_step(m->state, m->work, io.images, io.labels, N, io.hyper,
                    io.loss, io.correct);
    cudaMemcpyAsync(&m->pinned->loss, io.loss, sizeof(float),
                    cudaMemcpyDeviceToHost, s);
    cudaMemcpyAsync(&m->pinned->correct, io.correct, sizeof(int32_t),
                    cudaMemcpyDeviceToHost, s);
  };
  if (gen_abi::run_graph(m, m->train_graphs, N, enqueue, "rnc_train_step"))
    return 1;
  out->loss = m->pinned->loss;
  out->correct = m->pinned->correct;
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
    gen::g_sum = m->stats;
    gen::g_sumsq = m->stats + gen::kStatChannels;
    const gen_abi::DeviceIo &io = m->io;
    cudaMemcpyAsync(io.images_nchw, m->pinned_images, sizeof(float) * n,
                    cudaMemcpyHostToDevice, m->stream);
    rnc::cuda::nchw_to_nhwc(io.images, io.images_nchw, N, gen::kInfo.input_c,
                            long(gen::kInfo.input_h) * gen::kInfo.input_w);
    gen::eval(m->state, m->work, io.images, N, io.logits);
  };
  if (gen_abi::run_graph(m, m->eval_graphs, N, enqueue, "rnc_eval"))
    return 1;
  return gen_abi::cuda_ok(
      m,
      cudaMemcpy(logits, m->io.logits,
                 sizeof(float) * batch * gen::kInfo.num_classes,
                 cudaMemcpyDeviceToHost),
      "rnc_eval (download of the logits)");
}

// Parameters keep PyTorch's layout on the device too, so a tensor copies
// as is.
RNC_EXPORT int rnc_read_tensor(rnc_model *m, const char *name, float *dst,
                               int64_t numel) {
  int i = gen_abi::check_tensor(m, name, numel, dst, nullptr);
  if (i < 0)
    return 1;
  return gen_abi::cuda_ok(m,
                          cudaMemcpy(dst, m->state + gen::kOffsets[i],
                                     sizeof(float) * numel,
                                     cudaMemcpyDeviceToHost),
                          "rnc_read_tensor");
}

RNC_EXPORT int rnc_write_tensor(rnc_model *m, const char *name,
                                const float *src, int64_t numel) {
  int i = gen_abi::check_tensor(m, name, numel, nullptr, src);
  if (i < 0)
    return 1;
  return gen_abi::cuda_ok(m,
                          cudaMemcpy(m->state + gen::kOffsets[i], src,
                                     sizeof(float) * numel,
                                     cudaMemcpyHostToDevice),
                          "rnc_write_tensor");
}
