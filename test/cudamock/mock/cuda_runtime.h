// A mock of the CUDA runtime calls the cuda target's host code makes
// (kernels/cuda/model_abi.cuh, stream.cuh, debug.cuh), for tests that run
// without a GPU or the CUDA toolkit (test/cudamock).
//
// Device memory is host memory, poisoned with NaN bytes. Work enqueued on a
// stream runs only when that stream is synchronized: the latest moment the
// real runtime may run it, so a missing wait shows as a wrong value. The
// legacy default stream (stream 0) behaves as the real one towards a
// non-blocking stream: neither waits for the other. cudaMemcpy from
// pageable memory returns before the copy lands (as the real one may),
// cudaMemset is asynchronous. Every call is logged with its stream, every
// handle is tracked (leaks, double frees), and the next call of a named
// function can be made to fail.
//
// Events order streams as the real ones do: a wait on an event makes the
// waiting stream run the recording stream's work up to the record first.
// In a capture, a stream that waits on an event recorded in the capture
// joins it (its work is captured in issue order, one valid schedule of the
// graph), and cudaStreamEndCapture fails with
// cudaErrorStreamCaptureUnjoined if such a stream has work the capturing
// stream did not wait for, as the real one does.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorNoDevice = 100,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorMisalignedAddress = 716,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureUnjoined = 904,
  cudaErrorUnknown = 999,
};

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
};

enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};

constexpr unsigned cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDisableTiming = 2;

namespace cudamock {
using Work = std::function<void()>;
} // namespace cudamock

struct CUstream_st {
  std::deque<cudamock::Work> queue;
  std::vector<cudamock::Work> *capture = nullptr; // while capturing
  // A stream that joined another's capture (by an event): captured work
  // items, and how many of them the capturing stream has waited for.
  bool forked = false;
  long captured = 0, joined = 0;
};
struct CUevent_st {
  CUstream_st *stream = nullptr; // of the last record (resolved)
  long recorded = 0;             // records made
  long reached = 0;              // records their stream has run past
  long capture_mark = -1;        // a record in a capture: stream->captured
};
struct CUgraph_st {
  std::vector<cudamock::Work> ops;
};
struct CUgraphExec_st {
  std::vector<cudamock::Work> ops;
};
typedef CUstream_st *cudaStream_t;
typedef CUgraph_st *cudaGraph_t;
typedef CUgraphExec_st *cudaGraphExec_t;
typedef CUevent_st *cudaEvent_t;

namespace cudamock {

struct Call {
  std::string fn;
  bool legacy; // on the legacy default stream (stream 0)
};

struct World {
  std::vector<Call> calls;
  CUstream_st legacy;                       // stream 0
  std::map<void *, size_t> device, pinned;  // allocations
  std::set<cudaStream_t> streams;
  std::set<cudaGraph_t> graphs;
  std::set<cudaGraphExec_t> execs;
  std::set<cudaEvent_t> events;
  cudaError_t last = cudaSuccess;   // cudaGetLastError
  cudaError_t sticky = cudaSuccess; // a kernel faulted: every sync says so
  bool hung = false; // a kernel never ends: nothing runs any more
  std::map<std::string, cudaError_t> fail_next; // fn -> its next result
  std::map<std::string, int> pass_first; // fn -> calls before fail_next applies
  std::vector<std::string> misuse;
};

inline World &world() {
  static World w;
  return w;
}

inline cudaStream_t resolve(cudaStream_t s) { return s ? s : &world().legacy; }

// Logs the call; the injected failure of `fn`, if any (consumed).
inline cudaError_t call(const char *fn, cudaStream_t s = nullptr,
                        bool on_stream = false) {
  World &w = world();
  w.calls.push_back({fn, on_stream && s == nullptr});
  auto it = w.fail_next.find(fn);
  if (it == w.fail_next.end())
    return cudaSuccess;
  auto pass = w.pass_first.find(fn);
  if (pass != w.pass_first.end() && pass->second-- > 0)
    return cudaSuccess;
  cudaError_t e = it->second;
  w.fail_next.erase(it);
  w.last = e;
  return e;
}

inline void enqueue(cudaStream_t s, Work work) {
  cudaStream_t r = resolve(s);
  if (r->capture) {
    r->capture->push_back(std::move(work));
    ++r->captured;
  } else
    r->queue.push_back(std::move(work));
}

// Runs the oldest work item of `s`; false when there is none.
inline bool run_one(cudaStream_t s) {
  cudaStream_t r = resolve(s);
  if (r->queue.empty() || world().hung)
    return false;
  Work w = std::move(r->queue.front());
  r->queue.pop_front();
  w();
  return true;
}

inline void drain(cudaStream_t s) {
  while (run_one(s)) {
  }
}

inline void drain_all() {
  drain(nullptr);
  for (cudaStream_t s : world().streams)
    drain(s);
}

inline bool is_pinned(const void *p) {
  for (auto &[base, size] : world().pinned)
    if (p >= base && p < static_cast<char *>(base) + size)
      return true;
  return false;
}

// Frees whatever a test left behind and forgets everything.
inline void reset() {
  World &w = world();
  for (auto &[p, n] : w.device)
    std::free(p);
  for (auto &[p, n] : w.pinned)
    std::free(p);
  for (cudaStream_t s : w.streams)
    delete s;
  for (cudaGraph_t g : w.graphs)
    delete g;
  for (cudaGraphExec_t e : w.execs)
    delete e;
  for (cudaEvent_t e : w.events)
    delete e;
  w.calls.clear();
  w.legacy.queue.clear();
  w.legacy.capture = nullptr;
  w.device.clear();
  w.pinned.clear();
  w.streams.clear();
  w.graphs.clear();
  w.execs.clear();
  w.events.clear();
  w.last = w.sticky = cudaSuccess;
  w.hung = false;
  w.fail_next.clear();
  w.pass_first.clear();
  w.misuse.clear();
}

} // namespace cudamock

inline const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
  case cudaSuccess:
    return "no error";
  case cudaErrorInvalidValue:
    return "invalid argument";
  case cudaErrorMemoryAllocation:
    return "out of memory";
  case cudaErrorIllegalAddress:
    return "an illegal memory access was encountered";
  case cudaErrorMisalignedAddress:
    return "misaligned address";
  case cudaErrorStreamCaptureInvalidated:
    return "operation failed due to a previous error during capture";
  case cudaErrorStreamCaptureUnjoined:
    return "capture sequence contains a fork that was not joined to the "
           "primary stream";
  default:
    return "unknown error";
  }
}

inline cudaError_t cudaGetLastError() {
  cudamock::World &w = cudamock::world();
  if (w.sticky != cudaSuccess)
    return w.sticky;
  cudaError_t e = w.last;
  w.last = cudaSuccess;
  return e;
}

inline cudaError_t cudaPeekAtLastError() {
  cudamock::World &w = cudamock::world();
  return w.sticky != cudaSuccess ? w.sticky : w.last;
}

inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
  if (cudaError_t e = cudamock::call("cudaStreamCreateWithFlags"))
    return e;
  if (flags != cudaStreamNonBlocking)
    cudamock::world().misuse.push_back("a blocking stream");
  *s = new CUstream_st;
  cudamock::world().streams.insert(*s);
  return cudaSuccess;
}

inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  cudamock::call("cudaStreamDestroy", s);
  if (!cudamock::world().streams.erase(s)) {
    cudamock::world().misuse.push_back("cudaStreamDestroy of an unknown stream");
    return cudaErrorInvalidValue;
  }
  cudamock::drain(s);
  delete s;
  return cudaSuccess;
}

template <class T> cudaError_t cudaMalloc(T **p, size_t bytes) {
  if (cudaError_t e = cudamock::call("cudaMalloc"))
    return e;
  void *q = std::malloc(bytes ? bytes : 1);
  std::memset(q, 0xff, bytes); // NaN
  cudamock::world().device[q] = bytes;
  *p = static_cast<T *>(q);
  return cudaSuccess;
}

template <class T> cudaError_t cudaMallocHost(T **p, size_t bytes) {
  if (cudaError_t e = cudamock::call("cudaMallocHost"))
    return e;
  void *q = std::malloc(bytes ? bytes : 1);
  std::memset(q, 0xff, bytes);
  cudamock::world().pinned[q] = bytes;
  *p = static_cast<T *>(q);
  return cudaSuccess;
}

inline cudaError_t cudaFree(void *p) {
  cudamock::call("cudaFree");
  if (!p)
    return cudaSuccess;
  cudamock::drain_all(); // cudaFree waits for the device
  if (!cudamock::world().device.erase(p)) {
    cudamock::world().misuse.push_back("cudaFree of an unknown pointer");
    return cudaErrorInvalidValue;
  }
  std::free(p);
  return cudaSuccess;
}

inline cudaError_t cudaFreeHost(void *p) {
  cudamock::call("cudaFreeHost");
  if (!p)
    return cudaSuccess;
  cudamock::drain_all();
  if (!cudamock::world().pinned.erase(p)) {
    cudamock::world().misuse.push_back("cudaFreeHost of an unknown pointer");
    return cudaErrorInvalidValue;
  }
  std::free(p);
  return cudaSuccess;
}

// The synchronous copy on the legacy stream: from pageable memory to the
// device it may return before the copy has landed (the source is staged).
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t n,
                              cudaMemcpyKind kind) {
  if (cudaError_t e = cudamock::call("cudaMemcpy", nullptr, true))
    return e;
  if (kind == cudaMemcpyHostToDevice && !cudamock::is_pinned(src)) {
    auto staged = std::make_shared<std::vector<char>>(
        static_cast<const char *>(src), static_cast<const char *>(src) + n);
    cudamock::enqueue(nullptr,
                      [=] { std::memcpy(dst, staged->data(), n); });
    return cudaSuccess;
  }
  cudamock::drain(nullptr);
  std::memcpy(dst, src, n);
  return cudaSuccess;
}

inline cudaError_t cudaMemset(void *p, int v, size_t n) {
  if (cudaError_t e = cudamock::call("cudaMemset", nullptr, true))
    return e;
  cudamock::enqueue(nullptr, [=] { std::memset(p, v, n); });
  return cudaSuccess;
}

inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n,
                                   cudaMemcpyKind kind, cudaStream_t s = 0) {
  if (cudaError_t e = cudamock::call("cudaMemcpyAsync", s, true))
    return e;
  const void *host = kind == cudaMemcpyHostToDevice   ? src
                     : kind == cudaMemcpyDeviceToHost ? dst
                                                      : nullptr;
  bool pageable = host && !cudamock::is_pinned(host);
  if (pageable && cudamock::resolve(s)->capture) {
    cudamock::world().misuse.push_back("a captured copy of pageable memory");
    return cudaErrorStreamCaptureUnsupported;
  }
  if (pageable && kind == cudaMemcpyHostToDevice) { // staged at the call
    auto staged = std::make_shared<std::vector<char>>(
        static_cast<const char *>(src), static_cast<const char *>(src) + n);
    cudamock::enqueue(s, [=] { std::memcpy(dst, staged->data(), n); });
    return cudaSuccess;
  }
  cudamock::enqueue(s, [=] { std::memcpy(dst, src, n); });
  return cudaSuccess;
}

inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n,
                                   cudaStream_t s = 0) {
  if (cudaError_t e = cudamock::call("cudaMemsetAsync", s, true))
    return e;
  cudamock::enqueue(s, [=] { std::memset(p, v, n); });
  return cudaSuccess;
}

inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (cudaError_t e = cudamock::call("cudaStreamSynchronize", s, true))
    return e;
  cudamock::drain(s);
  if (cudamock::world().hung) { // the real one would never return
    cudamock::world().misuse.push_back("a synchronize behind a hung kernel");
    return cudaErrorUnknown;
  }
  return cudamock::world().sticky;
}

// Runs the stream's work, as a poll finds it done; not ready while a
// kernel hangs.
inline cudaError_t cudaStreamQuery(cudaStream_t s) {
  cudamock::call("cudaStreamQuery", s, true);
  cudamock::drain(s);
  if (cudamock::world().hung)
    return cudaErrorNotReady;
  return cudamock::world().sticky;
}

inline cudaError_t cudaDeviceSynchronize() {
  cudamock::call("cudaDeviceSynchronize");
  cudamock::drain_all();
  return cudamock::world().sticky;
}

inline cudaError_t cudaStreamBeginCapture(cudaStream_t s,
                                          cudaStreamCaptureMode) {
  if (cudaError_t e = cudamock::call("cudaStreamBeginCapture", s, true))
    return e;
  if (!s)
    return cudaErrorStreamCaptureUnsupported; // the legacy stream cannot
  s->capture = new std::vector<cudamock::Work>;
  return cudaSuccess;
}

inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
  cudaError_t e = cudamock::call("cudaStreamEndCapture", s, true);
  std::vector<cudamock::Work> *ops = s ? s->capture : nullptr;
  if (s)
    s->capture = nullptr;
  *g = nullptr;
  if (!ops)
    return cudaErrorInvalidValue;
  for (cudaStream_t t : cudamock::world().streams)
    if (t->capture == ops) { // forked off this capture
      if (t->captured > t->joined && e == cudaSuccess)
        e = cudaErrorStreamCaptureUnjoined;
      t->capture = nullptr;
      t->forked = false;
      t->captured = t->joined = 0;
    }
  if (e != cudaSuccess) { // an invalidated capture makes no graph
    delete ops;
    return e;
  }
  *g = new CUgraph_st{std::move(*ops)};
  delete ops;
  cudamock::world().graphs.insert(*g);
  return cudaSuccess;
}

inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t g,
                                        unsigned long long = 0) {
  if (cudaError_t e = cudamock::call("cudaGraphInstantiate"))
    return e;
  if (!cudamock::world().graphs.count(g))
    return cudaErrorInvalidValue;
  *exec = new CUgraphExec_st{g->ops};
  cudamock::world().execs.insert(*exec);
  return cudaSuccess;
}

inline cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  cudamock::call("cudaGraphDestroy");
  if (!cudamock::world().graphs.erase(g)) {
    cudamock::world().misuse.push_back("cudaGraphDestroy of an unknown graph");
    return cudaErrorInvalidValue;
  }
  delete g;
  return cudaSuccess;
}

inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  cudamock::call("cudaGraphExecDestroy");
  if (!cudamock::world().execs.erase(e)) {
    cudamock::world().misuse.push_back(
        "cudaGraphExecDestroy of an unknown graph");
    return cudaErrorInvalidValue;
  }
  delete e;
  return cudaSuccess;
}

inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) {
  if (cudaError_t r = cudamock::call("cudaEventCreateWithFlags"))
    return r;
  if (!(flags & cudaEventDisableTiming))
    cudamock::world().misuse.push_back("an event that keeps time");
  *e = new CUevent_st;
  cudamock::world().events.insert(*e);
  return cudaSuccess;
}

inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  cudamock::call("cudaEventDestroy");
  if (!cudamock::world().events.erase(e)) {
    cudamock::world().misuse.push_back("cudaEventDestroy of an unknown event");
    return cudaErrorInvalidValue;
  }
  delete e;
  return cudaSuccess;
}

inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr) {
  if (cudaError_t r = cudamock::call("cudaEventRecord", s, true))
    return r;
  if (!cudamock::world().events.count(e))
    return cudaErrorInvalidValue;
  cudaStream_t r = cudamock::resolve(s);
  e->stream = r;
  if (r->capture) { // a node of the graph; nothing runs now
    e->capture_mark = r->captured;
    return cudaSuccess;
  }
  e->capture_mark = -1;
  const long n = ++e->recorded;
  cudamock::enqueue(r, [e, n] { e->reached = std::max(e->reached, n); });
  return cudaSuccess;
}

inline cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e,
                                       unsigned flags = 0) {
  if (cudaError_t r = cudamock::call("cudaStreamWaitEvent", s, true))
    return r;
  if (!cudamock::world().events.count(e) || flags != 0)
    return cudaErrorInvalidValue;
  cudaStream_t r = cudamock::resolve(s);
  cudaStream_t src = e->stream;
  if (!src)
    return cudaSuccess; // never recorded: complete
  if (e->capture_mark >= 0) { // recorded in a capture
    if (!src->capture)
      return cudaErrorStreamCaptureInvalidated; // that capture has ended
    if (r->capture && r->capture != src->capture)
      return cudaErrorStreamCaptureInvalidated; // two captures mixed
    if (!r->capture) { // r joins the capture: a fork
      r->capture = src->capture;
      r->forked = true;
      r->captured = 1; // the fork must be joined even with no work after it
      r->joined = 0;
    }
    if (src->forked) // the capturing stream waits for src: a join
      src->joined = std::max(src->joined, e->capture_mark);
    return cudaSuccess;
  }
  if (r->capture)
    return cudaErrorStreamCaptureInvalidated; // an event from outside
  const long n = e->recorded;
  cudamock::enqueue(r, [e, src, n] {
    while (e->reached < n && cudamock::run_one(src)) {
    }
  });
  return cudaSuccess;
}

inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  if (cudaError_t r = cudamock::call("cudaGraphLaunch", s, true))
    return r;
  if (!cudamock::world().execs.count(e))
    return cudaErrorInvalidValue;
  for (const cudamock::Work &w : e->ops)
    cudamock::enqueue(s, w);
  return cudaSuccess;
}
