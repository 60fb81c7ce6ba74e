// librnc-nccl.so (tools/rnc-run/nccl/NcclPlugin.h), loaded as rnc-run loads
// it. Without a GPU: the table, NCCL's version, the refusals and a join
// that fails in one line. With one: a world of one rank joined, and its sum
// enqueued directly and captured in a CUDA graph (a world of one leaves the
// values as they are; two ranks run in the GPU check, scripts/gpu-check.sh).
#include "tools/rnc-run/nccl/NcclPlugin.h"

#include <gtest/gtest.h>

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <string>
#include <vector>

namespace {

class NcclPlugin : public ::testing::Test {
protected:
  void SetUp() override {
    void *h = ::dlopen(RNC_NCCL_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr) << ::dlerror();
    auto open =
        reinterpret_cast<decltype(&rnc_nccl_open)>(::dlsym(h, "rnc_nccl_open"));
    ASSERT_NE(open, nullptr);
    char error[256] = "";
    ASSERT_EQ(open(&api, error, sizeof error), 0) << error;
  }
  static bool haveGpu() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  }
  rnc_nccl_api api{};
};

TEST_F(NcclPlugin, OpensWithNcclsVersion) {
  EXPECT_EQ(api.version, RNC_NCCL_PLUGIN_VERSION);
  EXPECT_GE(api.nccl_version, 20000) << "NCCL 2.x encodes as 2xxyy";
  EXPECT_NE(api.unique_id, nullptr);
  EXPECT_NE(api.join, nullptr);
  EXPECT_NE(api.allreduce_sum, nullptr);
}

TEST_F(NcclPlugin, RefusesASumBeforeJoiningOrWithoutAStream) {
  float x = 1;
  EXPECT_NE(api.allreduce_sum(nullptr, &x, 1, nullptr), 0);
  EXPECT_EQ(x, 1);
}

TEST_F(NcclPlugin, JoinWithoutAGpuFailsInOneLine) {
  if (haveGpu())
    GTEST_SKIP() << "a GPU is here: the join succeeds (next test)";
  unsigned char id[RNC_NCCL_ID_BYTES] = {};
  char error[512] = "";
  EXPECT_NE(api.join(0, 1, id, error, sizeof error), 0);
  std::string why = error;
  EXPECT_EQ(why.find("no CUDA device for NCCL"), 0u) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
}

TEST_F(NcclPlugin, OneRankSumsOnTheGpuDirectlyAndInAGraph) {
  if (!haveGpu()) {
    std::fprintf(stderr, "nccl-plugin: SKIPPED: no GPU here, the join and "
                         "the sum on a GPU did not run\n");
    GTEST_SKIP() << "no GPU";
  }
  unsigned char id[RNC_NCCL_ID_BYTES] = {};
  char error[512] = "";
  ASSERT_EQ(api.unique_id(id, error, sizeof error), 0) << error;
  ASSERT_EQ(api.join(0, 1, id, error, sizeof error), 0) << error;
  const int n = 1 << 20;
  std::vector<float> host(n);
  for (int i = 0; i < n; ++i)
    host[i] = float(i % 1000) * 0.5f;
  float *d = nullptr;
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void **>(&d), n * sizeof(float)),
            cudaSuccess);
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d, host.data(), n * sizeof(float),
                       cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(api.allreduce_sum(nullptr, d, n, s), 0);
  cudaGraph_t g = nullptr;
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal),
            cudaSuccess);
  ASSERT_EQ(api.allreduce_sum(nullptr, d, n, s), 0);
  ASSERT_EQ(cudaStreamEndCapture(s, &g), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, g, 0), cudaSuccess);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  std::vector<float> back(n);
  ASSERT_EQ(cudaMemcpy(back.data(), d, n * sizeof(float),
                       cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host); // a sum over one rank
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
  cudaFree(d);
  api.finalize();
}

} // namespace
