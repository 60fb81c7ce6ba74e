// The host side of the cuda target's ABI glue (kernels/cuda/model_abi.cuh,
// debug.cuh) against a mock CUDA runtime (mock/cuda_runtime.h): ordering
// of copies against the model's non-blocking stream, graphs destroyed on
// every failure path, the op-by-op debug mode (RNC_CUDA_SYNC=1), the
// profile, and rnc_cuda_repeat_step. Runs without a GPU or CUDA toolkit.
//
// The model is a stand-in for generated code: two state tensors and three
// "ops" whose kernels (host lambdas on the current stream) read the state,
// the uploaded images and labels when they run, not when they are enqueued.
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mock/cuda_runtime.h"

#include "kernels/cuda/collectives.cuh"
#include "kernels/cuda/debug.cuh"
#include "kernels/cuda/stream.cuh"
#include "kernels/gather.h"
#include "kernels/shapes.h"
#include "runtime/rnc_abi.h"

// ----------------------------------------------------------------------------
// What the generated code defines before it includes model_abi.cuh.

namespace mockmodel {
int refuse_op = 0; // this op's launcher refuses its arguments (launches nothing)
int fault_op = 0;  // this op's kernel faults when it runs (a sticky error)
int last_ng = 0;   // the global batch the last enqueued step was given
bool skip_join = false; // the step forgets to join its sums before the update

// A kernel of op `op`: runs `body` on the current stream, unless told to
// misbehave.
inline void kernel(int op, cudamock::Work body) {
  if (op == refuse_op) {
    rnc::cuda::detail::record(cudaErrorInvalidValue);
    return;
  }
  cudamock::enqueue(rnc::cuda::current_stream(), [op, body] {
    if (op == fault_op)
      cudamock::world().sticky = cudaErrorIllegalAddress;
    else
      body();
  });
}
} // namespace mockmodel

namespace rnc::cuda {
// The layout change the glue launches before the step (a transpose).
inline void nchw_to_nhwc(float *dst, const float *src, int N, int C, long HW) {
  cudamock::enqueue(current_stream(), [=] {
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c)
        for (long p = 0; p < HW; ++p)
          dst[(long(n) * HW + p) * C + c] = src[(long(n) * C + c) * HW + p];
  });
}
// The gather of rnc_train_step_indexed: the batch at the indices (read
// when the kernel runs) into NHWC, with its labels.
inline void gather_nchw_to_nhwc(float *dst, int32_t *labels, const float *data,
                                const int32_t *data_labels,
                                const int32_t *index, int N, int C, long HW) {
  cudamock::enqueue(current_stream(), [=] {
    for (int n = 0; n < N; ++n) {
      for (int c = 0; c < C; ++c)
        for (long p = 0; p < HW; ++p)
          dst[(long(n) * HW + p) * C + c] =
              data[(long(index[n]) * C + c) * HW + p];
      labels[n] = data_labels[index[n]];
    }
  });
}
// The gather of a dataset of 8-bit pixels [count, HW, C] through the
// table lut [C][256], into NHWC.
inline void gather_u8_to_nhwc(float *dst, int32_t *labels,
                              const uint8_t *pixels, const float *lut,
                              const int32_t *data_labels, const int32_t *index,
                              int N, int C, long HW) {
  cudamock::enqueue(current_stream(), [=] {
    for (int n = 0; n < N; ++n) {
      for (long e = 0; e < HW * C; ++e)
        dst[n * HW * C + e] =
            lut[e % C * 256 + pixels[long(index[n]) * HW * C + e]];
      labels[n] = data_labels[index[n]];
    }
  });
}
// The same of pixels stored at another size and/or augmented, each value
// as kernels/gather.h computes it (the table's arrays and the draws in
// "device" memory: the mock's device is the host's).
inline void gather_u8_transformed_to_nhwc(
    float *dst, int32_t *labels, const uint8_t *pixels,
    const rnc_resize *resize, const float *lut, const int32_t *data_labels,
    const int32_t *index, const rnc_augment *aug, int N, int C, int H, int W) {
  const bool resized = resize != nullptr;
  const rnc_resize r =
      resized ? *resize : rnc_resize{}; // by value, as a kernel
  cudamock::enqueue(current_stream(), [=] {
    const long stored =
        resized ? long(r.height) * r.width * C : long(H) * W * C;
    for (int n = 0; n < N; ++n) {
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          for (int c = 0; c < C; ++c)
            dst[((long(n) * H + y) * W + x) * C + c] = rnc::gathered_value(
                pixels + index[n] * stored, lut, resized ? &r : nullptr,
                aug ? aug + n : nullptr, C, H, W, y, x, c);
      labels[n] = data_labels[index[n]];
    }
  });
}
} // namespace rnc::cuda

namespace gen {
using rnc::cuda::StepComm;
constexpr int kC = 1, kH = 2, kW = 2, kClasses = 3, kMaxBatch = 4;
const rnc_tensor_info kTensors[] = {
    {"w", RNC_PARAM, 1, {4, 0, 0, 0}, 4},
    {"b", RNC_BUFFER, 1, {4, 0, 0, 0}, 4},
};
const long kOffsets[] = {0, 16};
constexpr long kStateFloats = 32;
constexpr long kWorkFloats = 16;
const rnc_model_info kInfo = {RNC_ABI_VERSION, "test", "mock", "0", "cuda",
                              kC, kH, kW, kClasses, kMaxBatch, 2};
const char *const kOpNames[] = {"", "rn.conv2d (layer1.0.conv1)",
                                "rn.batch_norm (layer1.0.bn1)",
                                "func.return (logits)"};
constexpr int kNumOps = 3;
double g_op_seconds[kNumOps + 1];
long g_op_calls[kNumOps + 1];
using OpTimer = rnc::cuda::OpTimer<g_op_seconds, g_op_calls>;
constexpr int kStatChannels = 1;
float *g_sum = nullptr, *g_sumsq = nullptr;
constexpr std::array<rnc::Conv2DShape, 0> kConvShapes{}; // no convolution

void init(float *S, uint64_t seed) {
  for (int i = 0; i < 4; ++i) {
    S[i] = float(seed) + float(i) + 1;  // w
    S[16 + i] = 10.0f * float(i + 1);   // b
  }
}

// loss = sum of the images + sum(w) + sum(b); correct = label of sample 0;
// a "gradient" g = N in S[8..11], summed over the ranks (comm) in two
// buckets, as generated code does (S[10..11] first, as the backward pass
// finishes the last gradients first); then w[0] -= lr * g / NG (with one
// process: lr, an update that shows whether the step ran once).
void train_step(float *S, float *W, const float *x, const int32_t *labels,
                int N, const float *hyper, float *loss_out,
                int32_t *correct_out, int NG, const StepComm &comm) {
  mockmodel::last_ng = NG;
  {
    OpTimer timer_(1);
    mockmodel::kernel(1, [=] {
      W[0] = std::accumulate(x, x + long(N) * kC * kH * kW, 0.0f);
    });
  }
  {
    OpTimer timer_(2);
    mockmodel::kernel(2, [=] {
      *loss_out = W[0] + std::accumulate(S, S + 4, 0.0f) +
                  std::accumulate(S + 16, S + 20, 0.0f);
      *correct_out = labels[0];
      for (int i = 8; i < 12; ++i)
        S[i] = float(N);
    });
  }
  comm.sum_async(S + 10, 2);
  comm.sum_async(S + 8, 2);
  if (!mockmodel::skip_join)
    comm.join();
  mockmodel::kernel(2, [=] { S[0] -= hyper[0] * S[8] / float(NG); });
}

// logits[n][k] = sum of sample n's pixels + w[k].
void eval(float *S, float *W, const float *x, int N, float *logits_out) {
  (void)W;
  OpTimer timer_(3);
  mockmodel::kernel(3, [=] {
    for (int n = 0; n < N; ++n) {
      float s = std::accumulate(x + n * 4, x + n * 4 + 4, 0.0f);
      for (int k = 0; k < kClasses; ++k)
        logits_out[n * kClasses + k] = s + S[k];
    }
  });
}
} // namespace gen

#include "kernels/cuda/model_abi.cuh"

// ----------------------------------------------------------------------------

namespace {

class CudaAbi : public ::testing::Test {
protected:
  void SetUp() override {
    cudamock::reset();
    mockmodel::refuse_op = mockmodel::fault_op = 0;
    mockmodel::skip_join = false;
    unsetenv("RNC_CUDA_SYNC");
    unsetenv("RNC_PROFILE");
    rnc::cuda::last_launch_error();
    for (int i = 0; i <= gen::kNumOps; ++i)
      gen::g_op_seconds[i] = 0, gen::g_op_calls[i] = 0;
  }
  void TearDown() override {
    if (m)
      rnc_destroy(m);
    cudamock::World &w = cudamock::world();
    EXPECT_TRUE(w.device.empty()) << "device memory leaked";
    EXPECT_TRUE(w.pinned.empty()) << "pinned memory leaked";
    EXPECT_TRUE(w.streams.empty()) << "a stream leaked";
    EXPECT_TRUE(w.graphs.empty()) << w.graphs.size() << " graph(s) leaked";
    EXPECT_TRUE(w.execs.empty()) << "an executable graph leaked";
    EXPECT_TRUE(w.events.empty()) << "an event leaked";
    for (const std::string &s : w.misuse)
      ADD_FAILURE() << "misuse of the CUDA runtime: " << s;
    cudamock::reset();
  }

  void create() {
    m = rnc_create();
    ASSERT_NE(m, nullptr);
  }

  // A model of a job given `collectives`, initialized with seed 0.
  void create_ranks(const rnc_collectives &collectives) {
    create();
    ASSERT_EQ(rnc_set_collectives(m, &collectives), 0) << rnc_last_error(m);
    ASSERT_EQ(rnc_init(m, 0), 0);
  }

  // A batch whose images sum to `sum` (in total) and whose labels are 2.
  struct Batch {
    std::vector<float> images;
    std::vector<int32_t> labels;
  };
  static Batch batch(int N, float start) {
    Batch b;
    for (int i = 0; i < N * 4; ++i)
      b.images.push_back(start + float(i));
    b.labels.assign(N, 2);
    return b;
  }
  static float sum(const std::vector<float> &v) {
    return std::accumulate(v.begin(), v.end(), 0.0f);
  }

  int step(const Batch &b, rnc_step_result &out, float lr = 0.5f) {
    rnc_sgd opt{lr, 0.9f, 0.0f};
    return rnc_train_step(m, b.images.data(), b.labels.data(),
                          int32_t(b.labels.size()), &opt, &out);
  }

  std::vector<float> read(const char *name) {
    std::vector<float> v(4);
    EXPECT_EQ(rnc_read_tensor(m, name, v.data(), 4), 0) << rnc_last_error(m);
    return v;
  }

  int calls(const std::string &fn) const {
    int n = 0;
    for (const cudamock::Call &c : cudamock::world().calls)
      n += c.fn == fn;
    return n;
  }

  rnc_model *m = nullptr;
};

// rnc_create zeroes the state on the model's stream: a step right after it
// sees zeros, not the allocation's garbage.
TEST_F(CudaAbi, CreateZeroesBeforeTheFirstStep) {
  create();
  Batch b = batch(2, 1.0f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out), 0) << rnc_last_error(m);
  EXPECT_EQ(out.loss, sum(b.images)); // w = b = 0
  EXPECT_EQ(out.correct, 2);
}

// The weights rnc_init uploads have landed before the first step runs on
// the non-blocking step stream (which does not wait for the legacy stream).
TEST_F(CudaAbi, InitLandsBeforeTheFirstStep) {
  create();
  ASSERT_EQ(rnc_init(m, 3), 0) << rnc_last_error(m);
  Batch b = batch(4, 0.5f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out), 0) << rnc_last_error(m);
  // w = 4 5 6 7, b = 10 20 30 40
  EXPECT_EQ(out.loss, sum(b.images) + 22.0f + 100.0f);
}

// A tensor written (a checkpoint loaded) is what the next step uses.
TEST_F(CudaAbi, WriteLandsBeforeTheNextStep) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  std::vector<float> w = {100, 200, 300, 400};
  ASSERT_EQ(rnc_write_tensor(m, "w", w.data(), 4), 0) << rnc_last_error(m);
  Batch b = batch(1, 0.0f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out, 0.25f), 0) << rnc_last_error(m);
  EXPECT_EQ(out.loss, sum(b.images) + 1000.0f + 100.0f);
  // The update ran exactly once, and reading it back waits for it.
  EXPECT_EQ(read("w")[0], 100.0f - 0.25f);
}

// Collectives of a job of two ranks, played by one process: the other rank
// adds `other_n` to the sum of the batch sizes (host, blocking) and
// `other_grad` to every gradient (enqueued on the step's stream, so it is
// captured into the graph and replayed with it).
struct FakeRank {
  float other_n = 3, other_grad = 3;
  int host_calls = 0, device_calls = 0;
  std::vector<void *> device_streams; // of each device call
  bool refuse_host = false, refuse_device = false;
  bool hang_device = false; // the device sum never ends (a rank is missing)
  int timeout_s = 0;

  static int sum(void *ctx, float *data, int64_t count, void *stream) {
    auto *r = static_cast<FakeRank *>(ctx);
    if (!stream) {
      ++r->host_calls;
      if (r->refuse_host || count != 1)
        return 1;
      *data += r->other_n;
      return 0;
    }
    ++r->device_calls;
    r->device_streams.push_back(stream);
    if (r->refuse_device)
      return 1;
    const float add = r->other_grad;
    if (r->hang_device) {
      cudamock::enqueue(static_cast<cudaStream_t>(stream),
                        [] { cudamock::world().hung = true; });
      return 0;
    }
    cudamock::enqueue(static_cast<cudaStream_t>(stream), [=] {
      for (int64_t i = 0; i < count; ++i)
        data[i] += add;
    });
    return 0;
  }
  rnc_collectives collectives(int sync_bn = 0) {
    return rnc_collectives{0, 2, sync_bn, timeout_s, this, &FakeRank::sum};
  }
};

// One process (NULL, or a world of 1): NG is N, no collective is called.
TEST_F(CudaAbi, CollectivesOfOneProcessAreTheIdentity) {
  create();
  EXPECT_EQ(rnc_set_collectives(m, nullptr), 0) << rnc_last_error(m);
  FakeRank rank;
  rnc_collectives one{0, 1, 0, 0, &rank, &FakeRank::sum};
  ASSERT_EQ(rnc_set_collectives(m, &one), 0) << rnc_last_error(m);
  ASSERT_EQ(rnc_init(m, 0), 0);
  Batch b = batch(2, 0.0f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
  EXPECT_EQ(mockmodel::last_ng, 2);
  EXPECT_EQ(rank.host_calls + rank.device_calls, 0);
  EXPECT_EQ(read("w")[0], 1.0f - 0.5f);
}

// Two ranks: NG is summed on the host before the step, the gradients
// inside the graph after the backward pass and before the update; a replay
// sums again without enqueueing again; another NG for the same N captures
// another graph.
TEST_F(CudaAbi, TwoRanksSumTheBatchOnTheHostAndTheGradientsInTheGraph) {
  FakeRank rank;
  create_ranks(rank.collectives());
  Batch b = batch(2, 0.0f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
  EXPECT_EQ(mockmodel::last_ng, 5);
  EXPECT_EQ(rank.host_calls, 1);
  EXPECT_EQ(rank.device_calls, 2); // two buckets
  // g = 2 here + 3 there, over NG = 5: one lr.
  EXPECT_EQ(read("w")[0], 1.0f - 0.5f);
  ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
  EXPECT_EQ(rank.host_calls, 2);
  EXPECT_EQ(rank.device_calls, 2); // replayed, not enqueued again
  EXPECT_EQ(read("w")[0], 1.0f - 1.0f);
  rank.other_n = 2; // a ragged step: the other rank has 2 images, NG = 4
  ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
  EXPECT_EQ(mockmodel::last_ng, 4);
  EXPECT_EQ(rank.device_calls, 4);
  EXPECT_EQ(read("w")[0], 1.0f - 1.0f - 0.5f * 5.0f / 4.0f);
}

// The sums run on the communication stream, forked off the model's stream
// and joined before the update, in a graph and op by op (RNC_CUDA_SYNC=1,
// where the mock runs each stream's work only when something waits for it:
// an update that did not wait for the sum would read the local gradient).
TEST_F(CudaAbi, GradientSumsRunOnTheCommunicationStream) {
  for (const char *sync : {"0", "1"}) {
    SCOPED_TRACE(std::string("RNC_CUDA_SYNC=") + sync);
    setenv("RNC_CUDA_SYNC", sync, 1);
    const int captures = calls("cudaStreamBeginCapture");
    const int waits = calls("cudaStreamWaitEvent");
    FakeRank rank;
    create_ranks(rank.collectives());
    ASSERT_NE(m->comm_stream, nullptr);
    Batch b = batch(2, 0.0f);
    rnc_step_result out{};
    ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
    ASSERT_EQ(rank.device_streams.size(), 2u);
    for (void *s : rank.device_streams)
      EXPECT_EQ(s, static_cast<void *>(m->comm_stream));
    EXPECT_EQ(read("w")[0], 1.0f - 0.5f); // (2 + 3) / 5
    EXPECT_EQ(calls("cudaStreamBeginCapture") - captures, sync[0] == '0');
    EXPECT_EQ(calls("cudaStreamWaitEvent") - waits, 3); // two forks, a join
    rnc_destroy(m);
    m = nullptr;
  }
}

// The mock catches an update that does not wait for the sums: op by op the
// update reads the local gradient (2, not 5); in a capture the glue's own
// join keeps the graph valid (a capture must end joined).
TEST_F(CudaAbi, AnUpdateThatDoesNotJoinReadsTheLocalGradient) {
  mockmodel::skip_join = true;
  setenv("RNC_CUDA_SYNC", "1", 1);
  FakeRank rank;
  create_ranks(rank.collectives());
  Batch b = batch(2, 0.0f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
  EXPECT_EQ(read("w")[0], 1.0f - 0.5f * 2.0f / 5.0f);
}

// A capture whose forked stream is not joined fails (as the real runtime's
// does), and the graph is not leaked.
TEST(CudaMock, AnUnjoinedForkFailsTheCapture) {
  cudamock::reset();
  cudaStream_t a = nullptr, b = nullptr;
  cudaEvent_t e = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess);
  for (bool join : {false, true}) {
    ASSERT_EQ(cudaStreamBeginCapture(a, cudaStreamCaptureModeThreadLocal),
              cudaSuccess);
    ASSERT_EQ(cudaEventRecord(e, a), cudaSuccess);
    ASSERT_EQ(cudaStreamWaitEvent(b, e, 0), cudaSuccess);
    cudamock::enqueue(b, [] {});
    if (join) {
      ASSERT_EQ(cudaEventRecord(e, b), cudaSuccess);
      ASSERT_EQ(cudaStreamWaitEvent(a, e, 0), cudaSuccess);
    }
    cudaGraph_t g = nullptr;
    EXPECT_EQ(cudaStreamEndCapture(a, &g),
              join ? cudaSuccess : cudaErrorStreamCaptureUnjoined);
    EXPECT_EQ(g != nullptr, join);
    if (g)
      cudaGraphDestroy(g);
  }
  cudaEventDestroy(e);
  cudaStreamDestroy(a);
  cudaStreamDestroy(b);
  EXPECT_TRUE(cudamock::world().misuse.empty());
  cudamock::reset();
}

// A step whose sum never ends (another rank never reaches it) fails after
// the collectives' timeout instead of hanging; the model then refuses every
// call but rnc_destroy, which frees nothing on the device (it would wait
// for the hung graph forever).
TEST_F(CudaAbi, AStepThatNeverEndsTimesOut) {
  FakeRank rank;
  rank.timeout_s = 1;
  create_ranks(rank.collectives());
  rank.hang_device = true;
  Batch b = batch(2, 0.0f);
  rnc_step_result out{};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(step(b, out), RNC_STEP_TIMED_OUT);
  const double waited = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  EXPECT_GE(waited, 1.0);
  EXPECT_LT(waited, 10.0);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step: the step did not finish within 1 s: a rank did "
            "not reach the sum over the ranks, or a kernel hangs "
            "(RNC_COLLECTIVE_TIMEOUT sets the limit)");
  EXPECT_EQ(step(b, out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step: an earlier step did not finish; the model can "
            "only be destroyed");
  std::vector<float> w(4);
  EXPECT_NE(rnc_read_tensor(m, "w", w.data(), 4), 0);
  const int frees = calls("cudaFree");
  rnc_destroy(m);
  m = nullptr;
  EXPECT_EQ(calls("cudaFree"), frees);
  for (const std::string &s : cudamock::world().misuse)
    ADD_FAILURE() << "misuse of the CUDA runtime: " << s;
  cudamock::reset(); // the device memory the model could not free
  rnc_collectives bad = rank.collectives();
  bad.timeout_s = -1;
  create();
  EXPECT_NE(rnc_set_collectives(m, &bad), 0);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "collectives: timeout_s is -1 (seconds, 0 for no limit)");
}

// Graphs captured before rnc_set_collectives hold no sum: they are dropped.
TEST_F(CudaAbi, NewCollectivesDropTheCapturedGraphs) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  Batch b = batch(2, 0.0f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
  FakeRank rank;
  rnc_collectives two = rank.collectives();
  ASSERT_EQ(rnc_set_collectives(m, &two), 0) << rnc_last_error(m);
  ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
  EXPECT_EQ(rank.device_calls, 2);
  EXPECT_EQ(mockmodel::last_ng, 5);
  ASSERT_EQ(rnc_set_collectives(m, nullptr), 0) << rnc_last_error(m);
  ASSERT_EQ(step(b, out, 0.5f), 0) << rnc_last_error(m);
  EXPECT_EQ(mockmodel::last_ng, 2);
  EXPECT_EQ(rank.host_calls, 1);
}

// Failures of the collectives end the step with one line, and nothing of a
// half-enqueued step runs; bad worlds are refused up front.
TEST_F(CudaAbi, CollectivesFailuresAndRefusals) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  FakeRank rank;
  rnc_collectives two = rank.collectives();
  ASSERT_EQ(rnc_set_collectives(m, &two), 0) << rnc_last_error(m);
  Batch b = batch(2, 0.0f);
  rnc_step_result out{};
  rank.refuse_host = true;
  EXPECT_NE(step(b, out), 0);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step: the sum of the batch sizes over the ranks failed");
  rank.refuse_host = false;
  rank.refuse_device = true;
  EXPECT_NE(step(b, out), 0);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step: the sum of the gradients over the ranks could "
            "not be enqueued (the collectives' message above says why)");
  EXPECT_EQ(read("w")[0], 1.0f); // no update ran
  rnc_collectives bad{2, 2, 0, 0, nullptr, &FakeRank::sum};
  EXPECT_NE(rnc_set_collectives(m, &bad), 0);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "collectives: rank 2 is outside a world of 2");
}

// Nothing the glue does outside a graph touches the legacy default stream.
TEST_F(CudaAbi, NoWorkOnTheLegacyStream) {
  create();
  ASSERT_EQ(rnc_init(m, 1), 0);
  std::vector<float> w = {1, 2, 3, 4};
  ASSERT_EQ(rnc_write_tensor(m, "w", w.data(), 4), 0);
  Batch b = batch(3, 1.0f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out), 0);
  std::vector<float> logits(3 * gen::kClasses);
  ASSERT_EQ(rnc_eval(m, b.images.data(), 3, logits.data()), 0);
  read("b");
  rnc_destroy(m);
  m = nullptr;
  for (const cudamock::Call &c : cudamock::world().calls)
    EXPECT_FALSE(c.legacy) << c.fn << " on the legacy default stream";
}

// The logits are downloaded on the model's stream and waited for.
TEST_F(CudaAbi, EvalReturnsTheLogits) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  Batch b = batch(2, 1.0f);
  std::vector<float> logits(2 * gen::kClasses, -1.0f);
  ASSERT_EQ(rnc_eval(m, b.images.data(), 2, logits.data()), 0)
      << rnc_last_error(m);
  // sample 0: 1+2+3+4 = 10, sample 1: 5+6+7+8 = 26; w = 1 2 3
  EXPECT_EQ(logits, (std::vector<float>{11, 12, 13, 27, 28, 29}));
}

// Every batch size captures its graph once and replays it after.
TEST_F(CudaAbi, OneCapturePerBatchSize) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  rnc_step_result out{};
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(step(batch(4, float(i)), out), 0);
  ASSERT_EQ(step(batch(2, 0.0f), out), 0); // ragged: a second graph
  EXPECT_EQ(calls("cudaStreamBeginCapture"), 2);
  EXPECT_EQ(calls("cudaGraphLaunch"), 4);
  EXPECT_EQ(read("w")[0], 1.0f - 4 * 0.5f);
}

// A launcher that refuses its arguments while the graph is captured: the
// step fails with a hint, the captured graph is destroyed (not leaked, see
// TearDown), and the next step captures again.
TEST_F(CudaAbi, RefusedLaunchDuringCaptureLeaksNoGraph) {
  create();
  mockmodel::refuse_op = 2;
  rnc_step_result out{};
  ASSERT_EQ(step(batch(4, 0.0f), out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "CUDA error in rnc_train_step: invalid argument (rerun with "
            "RNC_CUDA_SYNC=1 to name the op)");
  EXPECT_TRUE(cudamock::world().graphs.empty()) << "the graph leaked";
  mockmodel::refuse_op = 0;
  ASSERT_EQ(step(batch(4, 0.0f), out), 0) << rnc_last_error(m);
  EXPECT_EQ(calls("cudaStreamBeginCapture"), 2);
}

TEST_F(CudaAbi, FailedInstantiationLeaksNoGraph) {
  create();
  cudamock::world().fail_next["cudaGraphInstantiate"] = cudaErrorUnknown;
  rnc_step_result out{};
  ASSERT_EQ(step(batch(4, 0.0f), out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "CUDA error in cudaGraphInstantiate: unknown error");
  EXPECT_TRUE(cudamock::world().graphs.empty()) << "the graph leaked";
}

TEST_F(CudaAbi, InvalidatedCaptureFailsInOneLine) {
  create();
  cudamock::world().fail_next["cudaStreamEndCapture"] =
      cudaErrorStreamCaptureInvalidated;
  rnc_step_result out{};
  ASSERT_EQ(step(batch(4, 0.0f), out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "CUDA error in cudaStreamEndCapture: operation failed due to a "
            "previous error during capture");
}

// A kernel that faults inside a replayed graph: the error cannot name the
// op, so it says how to find it.
TEST_F(CudaAbi, FaultInAGraphSaysHowToFindTheOp) {
  create();
  mockmodel::fault_op = 2;
  rnc_step_result out{};
  ASSERT_EQ(step(batch(4, 0.0f), out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "CUDA error in rnc_train_step: an illegal memory access was "
            "encountered (rerun with RNC_CUDA_SYNC=1 to name the op)");
}

// RNC_CUDA_SYNC=1: no graph; the op whose kernel faulted is named.
TEST_F(CudaAbi, SyncModeNamesTheFaultingOp) {
  setenv("RNC_CUDA_SYNC", "1", 1);
  create();
  mockmodel::fault_op = 2;
  rnc_step_result out{};
  ASSERT_EQ(step(batch(4, 0.0f), out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step: rn.batch_norm (layer1.0.bn1): CUDA error: an "
            "illegal memory access was encountered [checked after every op]");
  EXPECT_EQ(calls("cudaStreamBeginCapture"), 0);
}

TEST_F(CudaAbi, SyncModeNamesARefusedLaunch) {
  setenv("RNC_CUDA_SYNC", "1", 1);
  create();
  mockmodel::refuse_op = 1;
  rnc_step_result out{};
  ASSERT_EQ(step(batch(4, 0.0f), out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step: rn.conv2d (layer1.0.conv1): CUDA error: "
            "invalid argument [checked after every op]");
}

// RNC_CUDA_SYNC=1 computes what the graph computes, and eval works too.
TEST_F(CudaAbi, SyncModeGivesTheSameResults) {
  setenv("RNC_CUDA_SYNC", "1", 1);
  create();
  ASSERT_EQ(rnc_init(m, 3), 0);
  Batch b = batch(4, 0.5f);
  rnc_step_result out{};
  ASSERT_EQ(step(b, out), 0) << rnc_last_error(m);
  EXPECT_EQ(out.loss, sum(b.images) + 22.0f + 100.0f);
  std::vector<float> logits(4 * gen::kClasses);
  ASSERT_EQ(rnc_eval(m, b.images.data(), 4, logits.data()), 0)
      << rnc_last_error(m);
  EXPECT_EQ(logits[0], 0.5f + 1.5f + 2.5f + 3.5f + 3.5f); // w[0] = 4 - 0.5
  // An indexed step op by op too: the indices uploaded before the gather.
  ASSERT_EQ(rnc_set_dataset(m, b.images.data(), b.labels.data(), 4), 0);
  const int32_t index[] = {3, 3};
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  ASSERT_EQ(rnc_train_step_indexed(m, index, 2, &opt, &out), 0)
      << rnc_last_error(m);
  EXPECT_EQ(out.loss,
            2 * (12.5f + 13.5f + 14.5f + 15.5f) + 22.0f - 0.5f + 100.0f);
  EXPECT_EQ(calls("cudaStreamBeginCapture"), 0);
}

// RNC_PROFILE=1: each op timed, the table printed by rnc_destroy.
TEST_F(CudaAbi, ProfilePrintsEveryOp) {
  setenv("RNC_PROFILE", "1", 1);
  create();
  rnc_step_result out{};
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(step(batch(4, 0.0f), out), 0) << rnc_last_error(m);
  EXPECT_EQ(gen::g_op_calls[1], 3);
  EXPECT_EQ(gen::g_op_calls[2], 3);
  EXPECT_EQ(gen::g_op_calls[3], 0);
  ::testing::internal::CaptureStderr();
  rnc_destroy(m);
  m = nullptr;
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("every op synchronized"), std::string::npos) << err;
  EXPECT_NE(err.find("rn.conv2d (layer1.0.conv1)"), std::string::npos) << err;
}

// rnc_cuda_repeat_step trains on the batch already on the device.
TEST_F(CudaAbi, RepeatStepUsesTheUploadedBatch) {
  create();
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result out{};
  EXPECT_EQ(rnc_cuda_repeat_step(m, 4, &opt, &out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_cuda_repeat_step: batch 4 is not the one the last "
            "rnc_train_step uploaded (0)");
  Batch b = batch(4, 1.0f);
  ASSERT_EQ(step(b, out), 0);
  int uploads = calls("cudaMemcpyAsync");
  ASSERT_EQ(rnc_cuda_repeat_step(m, 4, &opt, &out), 0) << rnc_last_error(m);
  EXPECT_EQ(out.loss, sum(b.images) - 0.5f); // w[0] went down by lr once
  EXPECT_EQ(out.correct, 2);
  // Captured: the hyperparameters up, loss and correct down; no images.
  EXPECT_EQ(calls("cudaMemcpyAsync") - uploads, 3);
  EXPECT_EQ(rnc_cuda_repeat_step(m, 3, &opt, &out), 1);
  std::vector<float> logits(4 * gen::kClasses);
  ASSERT_EQ(rnc_eval(m, b.images.data(), 4, logits.data()), 0);
  EXPECT_EQ(rnc_cuda_repeat_step(m, 4, &opt, &out), 1)
      << "an eval replaced the images on the device";
}

// rnc_train_step_indexed: the dataset copied to the device once (the
// caller's copy may go right after), each step's batch gathered there at
// the indices it uploads; one graph per batch size, whatever the indices.
TEST_F(CudaAbi, IndexedStepGathersFromTheDataset) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  Batch data = batch(5, 1.0f); // sample i: pixels 4i+1 .. 4i+4
  data.labels = {0, 1, 2, 0, 1};
  ASSERT_EQ(rnc_set_dataset(m, data.images.data(), data.labels.data(), 5), 0)
      << rnc_last_error(m);
  const std::vector<float> kept = data.images;
  std::fill(data.images.begin(), data.images.end(), -1e6f);
  std::fill(data.labels.begin(), data.labels.end(), -1);
  auto pixels = [&](int i) {
    return std::accumulate(kept.begin() + 4 * i, kept.begin() + 4 * i + 4,
                           0.0f);
  };
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result out{};
  const int32_t first[] = {2, 2, 4};
  ASSERT_EQ(rnc_train_step_indexed(m, first, 3, &opt, &out), 0)
      << rnc_last_error(m);
  const float w0 = 10.0f, b0 = 100.0f; // seed 0: w = 1 2 3 4, b = 10 .. 40
  EXPECT_EQ(out.loss, 2 * pixels(2) + pixels(4) + w0 + b0);
  EXPECT_EQ(out.correct, 2); // the label of sample 2
  const int32_t second[] = {3, 0, 1};
  ASSERT_EQ(rnc_train_step_indexed(m, second, 3, &opt, &out), 0)
      << rnc_last_error(m);
  EXPECT_EQ(out.loss, pixels(3) + pixels(0) + pixels(1) + w0 - 0.5f + b0);
  EXPECT_EQ(out.correct, 0);
  EXPECT_EQ(calls("cudaGraphInstantiate"), 1);
  // The gathered batch is the device's last one: a repeat step takes it.
  ASSERT_EQ(rnc_cuda_repeat_step(m, 3, &opt, &out), 0) << rnc_last_error(m);
  EXPECT_EQ(out.loss, pixels(3) + pixels(0) + pixels(1) + w0 - 1.0f + b0);
}

// The same step, bit for bit, as rnc_train_step on the gathered batch.
TEST_F(CudaAbi, IndexedStepEqualsAHostStep) {
  Batch data = batch(4, 0.25f);
  data.labels = {1, 2, 0, 1};
  const int32_t index[] = {3, 1};
  Batch gathered;
  for (int32_t i : index) {
    gathered.images.insert(gathered.images.end(), data.images.begin() + 4 * i,
                           data.images.begin() + 4 * i + 4);
    gathered.labels.push_back(data.labels[i]);
  }
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result host{}, indexed{};
  create();
  ASSERT_EQ(rnc_init(m, 7), 0);
  ASSERT_EQ(step(gathered, host), 0) << rnc_last_error(m);
  std::vector<float> w_host = read("w");
  rnc_destroy(m);
  create();
  ASSERT_EQ(rnc_init(m, 7), 0);
  ASSERT_EQ(rnc_set_dataset(m, data.images.data(), data.labels.data(), 4), 0);
  ASSERT_EQ(rnc_train_step_indexed(m, index, 2, &opt, &indexed), 0)
      << rnc_last_error(m);
  EXPECT_EQ(indexed.loss, host.loss);
  EXPECT_EQ(indexed.correct, host.correct);
  EXPECT_EQ(read("w"), w_host);
}

// rnc_set_dataset_u8: the pixels and the table on the device, each step's
// batch gathered and normalized there; the same step, bit for bit, as
// rnc_set_dataset given the normalized floats. (The mock model has one
// channel, so [H][W][C] and [C][H][W] are the same order here.)
TEST_F(CudaAbi, U8DatasetGathersThroughTheTable) {
  std::vector<uint8_t> pixels = {0, 1, 2, 3, 250, 251, 252, 255, 7, 7, 7, 7};
  std::vector<float> lut(256);
  for (int v = 0; v < 256; ++v)
    lut[v] = (float(v) / 255.0f - 0.25f) / 0.5f;
  std::vector<int32_t> labels = {1, 2, 0};
  Batch floats;
  for (uint8_t v : pixels)
    floats.images.push_back(lut[v]);
  floats.labels = labels;
  const int32_t index[] = {1, 2, 1};
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result want{}, got{};
  create();
  ASSERT_EQ(rnc_init(m, 3), 0);
  ASSERT_EQ(rnc_set_dataset(m, floats.images.data(), floats.labels.data(), 3),
            0);
  ASSERT_EQ(rnc_train_step_indexed(m, index, 3, &opt, &want), 0)
      << rnc_last_error(m);
  std::vector<float> w_want = read("w");
  rnc_destroy(m);
  create();
  ASSERT_EQ(rnc_init(m, 3), 0);
  ASSERT_EQ(rnc_set_dataset_u8(m, pixels.data(), lut.data(), labels.data(), 3),
            0)
      << rnc_last_error(m);
  std::fill(pixels.begin(), pixels.end(), 0); // the caller's copy may go
  std::fill(lut.begin(), lut.end(), 1e9f);
  ASSERT_EQ(rnc_train_step_indexed(m, index, 3, &opt, &got), 0)
      << rnc_last_error(m);
  EXPECT_EQ(got.loss, want.loss);
  EXPECT_EQ(got.correct, 2); // the label of sample 1
  EXPECT_EQ(read("w"), w_want);
  // A float dataset replaces the pixels (and the graph holding them).
  const int made = calls("cudaGraphInstantiate");
  const int dropped = calls("cudaGraphExecDestroy");
  ASSERT_EQ(rnc_set_dataset(m, floats.images.data(), floats.labels.data(), 3),
            0);
  ASSERT_EQ(rnc_train_step_indexed(m, index, 3, &opt, &got), 0);
  EXPECT_EQ(calls("cudaGraphInstantiate"), made + 1);
  EXPECT_EQ(calls("cudaGraphExecDestroy"), dropped + 1);
}

TEST_F(CudaAbi, U8DatasetErrors) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  std::vector<uint8_t> pixels(12, 1);
  std::vector<float> lut(256, 0.5f);
  std::vector<int32_t> labels = {0, 3, 1};
  EXPECT_EQ(rnc_set_dataset_u8(m, pixels.data(), lut.data(), labels.data(), 3),
            1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_set_dataset_u8: label 3 of sample 1 is outside [0, 3)");
  labels[1] = 2;
  EXPECT_EQ(rnc_set_dataset_u8(m, pixels.data(), nullptr, labels.data(), 3), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_set_dataset_u8: pixels, lut and labels must not be null");
  // A copy that fails after the first allocation: nothing held (the
  // fixture checks that no device memory leaked), the model goes on.
  cudamock::world().fail_next["cudaMemcpyAsync"] = cudaErrorInvalidValue;
  EXPECT_EQ(rnc_set_dataset_u8(m, pixels.data(), lut.data(), labels.data(), 3),
            1);
  EXPECT_NE(
      std::string(rnc_last_error(m)).find("rnc_set_dataset_u8 (3 samples"),
      std::string::npos)
      << rnc_last_error(m);
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result out{};
  const int32_t index[] = {0};
  EXPECT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 1)
      << "the failed call left no dataset";
  ASSERT_EQ(rnc_set_dataset_u8(m, pixels.data(), lut.data(), labels.data(), 3),
            0)
      << rnc_last_error(m);
  EXPECT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 0)
      << rnc_last_error(m);
  EXPECT_EQ(out.loss, 4 * 0.5f + 10.0f + 100.0f); // w 1..4, b 10..40: seed 0
}

// rnc_set_dataset_u8_resized: 3x3 pixels resized to the model's 2x2 while
// gathered, by a table worked out here by hand; the same step as
// rnc_set_dataset given the resized, normalized floats. The caller's
// pixels and table may go after the call.
struct ResizeCase {
  // Columns: 0 <- stored column 0; 1 <- the mean of columns 1 and 2.
  // Rows: 0 <- the mean of rows 0 and 1; 1 <- 3/4 row 1 + 1/4 row 2.
  std::vector<int32_t> first_x{0, 1}, count_x{1, 2};
  std::vector<int32_t> weights_x{1 << 22, 0, 1 << 21, 1 << 21};
  std::vector<int32_t> first_y{0, 1}, count_y{2, 2};
  std::vector<int32_t> weights_y{1 << 21, 1 << 21, 3 << 20, 1 << 20};
  rnc_resize table() const {
    return {3,
            3,
            2,
            2,
            first_y.data(),
            count_y.data(),
            weights_y.data(),
            first_x.data(),
            count_x.data(),
            weights_x.data()};
  }
  // Sample 0, and sample 1 a constant (any table whose weights sum to 1
  // keeps it). Horizontal pass, rounded: rows (10, 25), (40, 56), (70, 85);
  // then vertical: (25, 40.5 -> 41), (47.5 -> 48, 63.25 -> 63).
  std::vector<uint8_t> pixels{10,  20,  30,  40,  50,  61,  70,  80,  90,
                              200, 200, 200, 200, 200, 200, 200, 200, 200};
  std::vector<uint8_t> resized{25, 41, 48, 63, 200, 200, 200, 200};
};

TEST_F(CudaAbi, U8ResizedDatasetResizesWhileGathered) {
  ResizeCase rc;
  std::vector<float> lut(256);
  for (int v = 0; v < 256; ++v)
    lut[v] = (float(v) / 255.0f - 0.25f) / 0.5f;
  std::vector<int32_t> labels = {2, 1};
  Batch floats;
  for (uint8_t v : rc.resized)
    floats.images.push_back(lut[v]);
  floats.labels = labels;
  const int32_t index[] = {1, 0, 0};
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result want{}, got{};
  create();
  ASSERT_EQ(rnc_init(m, 3), 0);
  ASSERT_EQ(rnc_set_dataset(m, floats.images.data(), floats.labels.data(), 2),
            0);
  ASSERT_EQ(rnc_train_step_indexed(m, index, 3, &opt, &want), 0);
  std::vector<float> w_want = read("w");
  rnc_destroy(m);
  create();
  ASSERT_EQ(rnc_init(m, 3), 0);
  rnc_resize table = rc.table();
  ASSERT_EQ(rnc_set_dataset_u8_resized(m, rc.pixels.data(), &table, lut.data(),
                                       labels.data(), 2),
            0)
      << rnc_last_error(m);
  for (auto *v : {&rc.first_x, &rc.count_x, &rc.weights_x, &rc.first_y,
                  &rc.count_y, &rc.weights_y})
    std::fill(v->begin(), v->end(), 1 << 30);
  std::fill(rc.pixels.begin(), rc.pixels.end(), 0);
  table = {};
  ASSERT_EQ(rnc_train_step_indexed(m, index, 3, &opt, &got), 0)
      << rnc_last_error(m);
  EXPECT_EQ(got.loss, want.loss);
  EXPECT_EQ(got.correct, 1); // the label of sample 1
  EXPECT_EQ(read("w"), w_want);
}

TEST_F(CudaAbi, U8ResizedDatasetErrors) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  ResizeCase rc;
  std::vector<float> lut(256, 0.5f);
  std::vector<int32_t> labels = {0, 1};
  auto set = [&](const rnc_resize *r) {
    int e = rnc_set_dataset_u8_resized(m, rc.pixels.data(), r, lut.data(),
                                       labels.data(), 2);
    return e ? std::string(rnc_last_error(m)) : std::string("ok");
  };
  EXPECT_EQ(set(nullptr),
            "rnc_set_dataset_u8_resized: resize must not be null");
  rnc_resize t = rc.table();
  t.taps_x = 4;
  EXPECT_EQ(set(&t), "rnc_set_dataset_u8_resized: taps_x 4 is outside [1, 3] "
                     "(the stored width)");
  rc.count_y[1] = 3;
  t = rc.table();
  EXPECT_EQ(set(&t), "rnc_set_dataset_u8_resized: count_y[1] 3 is outside "
                     "[1, taps_y = 2]");
  rc.count_y[1] = 2;
  rc.first_x[1] = 2;
  t = rc.table();
  EXPECT_EQ(set(&t), "rnc_set_dataset_u8_resized: first_x[1] + count_x[1] = "
                     "2 + 2 reads outside the 3 stored pixels of a row");
  rc.first_x[1] = 1;
  t = rc.table();
  t.weights_y = nullptr;
  EXPECT_EQ(set(&t), "rnc_set_dataset_u8_resized: first_y, count_y and "
                     "weights_y must not be null");
  labels[1] = 3;
  t = rc.table();
  EXPECT_EQ(
      set(&t),
      "rnc_set_dataset_u8_resized: label 3 of sample 1 is outside [0, 3)");
  labels[1] = 1;
  // The table's copy (the fourth) fails: nothing held, no device memory
  // leaked (the fixture checks), the model goes on.
  cudamock::world().fail_next["cudaMemcpyAsync"] = cudaErrorInvalidValue;
  cudamock::world().pass_first["cudaMemcpyAsync"] = 3;
  std::string e = set(&t);
  EXPECT_NE(e.find("CUDA error in rnc_set_dataset_u8_resized (2 samples"),
            std::string::npos)
      << e;
  EXPECT_EQ(cudamock::world().fail_next.count("cudaMemcpyAsync"), 0u)
      << "the fourth copy was not reached";
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result out{};
  const int32_t index[] = {0};
  EXPECT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 1)
      << "the failed call left no dataset";
  EXPECT_EQ(set(&t), "ok");
  EXPECT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 0)
      << rnc_last_error(m);
}

// rnc_train_step_augmented: the draws uploaded with the indices inside the
// step's graph (a graph of its own), each sample shifted, flipped and
// erased on the "device"; the same step as rnc_train_step on the floats
// worked out here by hand.
TEST_F(CudaAbi, AugmentedStepAugmentsWhileGathered) {
  // Two 2x2 samples; sample 1 flipped, then read one column further right
  // (x = 0 reads column (2 - 1 - 0) + 1 = 2: the padding; x = 1 reads
  // column 0 + 1 = 1), its (1, 0) erased; sample 0 as it is.
  std::vector<uint8_t> pixels = {10, 20, 30, 40, 50, 60, 70, 80};
  std::vector<float> lut(256);
  for (int v = 0; v < 256; ++v)
    lut[v] = float(v) / 4.0f + 1.0f; // pixel 0 -> 1.0, not 0.0
  std::vector<int32_t> labels = {1, 2};
  const int32_t index[] = {1, 0};
  std::vector<rnc_augment> aug = {{0, 1, 1, 1, 0, 1, 1}, {}};
  // Sample 1 (50 60 / 70 80): row 0: (pad, 60), row 1: (erased, 80).
  Batch floats;
  floats.images = {lut[0],  lut[60], 0.0f,    lut[80], // index 1, augmented
                   lut[10], lut[20], lut[30], lut[40]};
  floats.labels = {2, 1};
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result want{}, got{};
  create();
  ASSERT_EQ(rnc_init(m, 3), 0);
  ASSERT_EQ(rnc_train_step(m, floats.images.data(), floats.labels.data(), 2,
                           &opt, &want),
            0);
  std::vector<float> w_want = read("w");
  rnc_destroy(m);
  create();
  ASSERT_EQ(rnc_init(m, 3), 0);
  ASSERT_EQ(rnc_set_dataset_u8(m, pixels.data(), lut.data(), labels.data(), 2),
            0);
  const int made = calls("cudaGraphInstantiate");
  ASSERT_EQ(rnc_train_step_augmented(m, index, aug.data(), 2, &opt, &got), 0)
      << rnc_last_error(m);
  EXPECT_EQ(got.loss, want.loss);
  EXPECT_EQ(read("w"), w_want);
  // An indexed step of the same size is another graph, without the draws.
  ASSERT_EQ(rnc_train_step_indexed(m, index, 2, &opt, &got), 0);
  EXPECT_EQ(calls("cudaGraphInstantiate"), made + 2);
}

TEST_F(CudaAbi, AugmentedStepErrors) {
  create();
  ASSERT_EQ(rnc_init(m, 0), 0);
  std::vector<uint8_t> pixels(8, 1);
  std::vector<float> lut(256, 0.5f), floats(8, 0.5f);
  std::vector<int32_t> labels = {0, 1};
  const int32_t index[] = {1, 0};
  rnc_augment aug[2] = {};
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result out{};
  auto step = [&] {
    int e = rnc_train_step_augmented(m, index, aug, 2, &opt, &out);
    return e ? std::string(rnc_last_error(m)) : std::string("ok");
  };
  EXPECT_EQ(step(), "rnc_train_step_augmented: the model holds no dataset "
                    "(rnc_set_dataset first)");
  ASSERT_EQ(rnc_set_dataset(m, floats.data(), labels.data(), 2), 0);
  EXPECT_EQ(step(), "rnc_train_step_augmented: the dataset is floats; "
                    "augmentation needs its 8-bit pixels (rnc_set_dataset_u8)");
  ASSERT_EQ(rnc_set_dataset_u8(m, pixels.data(), lut.data(), labels.data(), 2),
            0);
  aug[1].flip = 2;
  EXPECT_EQ(step(), "rnc_train_step_augmented: aug[1].flip 2 is neither 0 "
                    "nor 1");
  aug[1] = {0, -70000, 0, 0, 0, 0, 0};
  EXPECT_EQ(step(), "rnc_train_step_augmented: aug[1] shift (0, -70000) is "
                    "outside [-65536, 65536]");
  aug[1] = {0, 0, 0, 1, 1, 2, 1};
  EXPECT_EQ(step(), "rnc_train_step_augmented: aug[1]: the erased 2x1 at "
                    "(1, 1) is not inside the 2x2 input");
  aug[1] = {0, 0, 0, 1, 1, 1, 1};
  EXPECT_EQ(step(), "ok");
  EXPECT_EQ(rnc_train_step_augmented(m, index, nullptr, 2, &opt, &out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step_augmented: aug must not be null");
}

// A new dataset drops the graphs that hold the old one's pointers.
TEST_F(CudaAbi, SetDatasetReplacesTheOldOne) {
  create();
  Batch a = batch(2, 0.0f), b = batch(2, 100.0f);
  rnc_sgd opt{0.0f, 0.0f, 0.0f};
  rnc_step_result out{};
  const int32_t index[] = {1};
  ASSERT_EQ(rnc_set_dataset(m, a.images.data(), a.labels.data(), 2), 0);
  ASSERT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 0);
  EXPECT_EQ(out.loss, 4.0f + 5.0f + 6.0f + 7.0f);
  ASSERT_EQ(rnc_set_dataset(m, b.images.data(), b.labels.data(), 2), 0);
  ASSERT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 0);
  EXPECT_EQ(out.loss, 104.0f + 105.0f + 106.0f + 107.0f);
  EXPECT_EQ(calls("cudaGraphInstantiate"), 2);
  EXPECT_EQ(calls("cudaGraphExecDestroy"), 1);
  ASSERT_EQ(rnc_set_dataset(m, nullptr, nullptr, 0), 0); // frees it
  EXPECT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 1);
}

// Bad arguments and a dataset that does not fit: one line each, and the
// model goes on without a dataset.
TEST_F(CudaAbi, DatasetErrors) {
  create();
  Batch data = batch(3, 0.0f);
  rnc_sgd opt{0.5f, 0.9f, 0.0f};
  rnc_step_result out{};
  const int32_t index[] = {0, 3};
  EXPECT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step_indexed: the model holds no dataset "
            "(rnc_set_dataset first)");
  data.labels[1] = gen::kClasses;
  EXPECT_EQ(rnc_set_dataset(m, data.images.data(), data.labels.data(), 3), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_set_dataset: label 3 of sample 1 is outside [0, 3)");
  EXPECT_EQ(rnc_set_dataset(m, nullptr, data.labels.data(), 3), 1);
  EXPECT_EQ(rnc_set_dataset(m, data.images.data(), data.labels.data(), -1), 1);
  data.labels[1] = 0;
  ASSERT_EQ(rnc_set_dataset(m, data.images.data(), data.labels.data(), 3), 0);
  EXPECT_EQ(rnc_train_step_indexed(m, index, 2, &opt, &out), 1);
  EXPECT_EQ(std::string(rnc_last_error(m)),
            "rnc_train_step_indexed: index 3 at position 1 is outside the "
            "dataset's [0, 3)");
  EXPECT_EQ(rnc_train_step_indexed(m, index, gen::kMaxBatch + 1, &opt, &out),
            1);
  EXPECT_EQ(rnc_train_step_indexed(m, nullptr, 1, &opt, &out), 1);
  EXPECT_EQ(calls("cudaGraphLaunch"), 0);
  cudamock::world().fail_next["cudaMalloc"] = cudaErrorMemoryAllocation;
  EXPECT_EQ(rnc_set_dataset(m, data.images.data(), data.labels.data(), 3), 1);
  EXPECT_NE(std::string(rnc_last_error(m)).find("rnc_set_dataset (3 samples"),
            std::string::npos)
      << rnc_last_error(m);
  EXPECT_EQ(rnc_train_step_indexed(m, index, 1, &opt, &out), 1)
      << "the failed call left no dataset";
  Batch b = batch(2, 1.0f);
  ASSERT_EQ(step(b, out), 0) << rnc_last_error(m);
}

} // namespace
