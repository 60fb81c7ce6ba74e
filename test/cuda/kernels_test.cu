// GPU numerics test of kernels/cuda: every launcher on random inputs against
// the CPU kernels of kernels/cpu (NCHW; inputs and outputs transposed), one
// line per compared tensor with its largest difference. One file per launcher
// family in test/cuda/kernels/ (conv, batch_norm, pool, linear, loss,
// elementwise, optimizer, graph, determinism; the shapes; the harness),
// included here and compiled as one program; the cases and main are below.
// Inputs are those the CPU kernel tests draw (test/common/reference_data.h).
//
//   kernels_test [--list] [--no-fork] [--case-timeout S] [FILTER...]
//
// The checks are grouped in cases (one launcher family on one shape: "conv
// 64->64 56x56 k3x3 s1 p1 g1 N=4", "batch_norm C=10 P=49 N=37", ...);
// FILTERs pick the cases whose name contains one of them. A case that
// faults, hangs past --case-timeout (default 120 s) or dies is one CRASH
// line and the cases after it still run (test/cuda/case_runner.h);
// --no-fork runs them all in one process (for compute-sanitizer).
// Exit status: 0 all pass, 1 a failure, 77 no GPU (one line "SKIPPED: no
// CUDA GPU (...)"), 2 bad arguments.
//
// Tolerances (normwise relative error ||gpu - cpu|| / ||cpu||):
//   convolution and linear GEMMs: fp32 1e-5, tf32 5e-3, bf16 1.5e-2
//     (operands rounded to 10 or 7 explicit mantissa bits, fp32 sums; on
//     random data the error is about the unit roundoff, 5e-4 and 2e-3);
//   everything else computes in fp32 (or double) on both sides, only the
//     summation order differs: 1e-5.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/rnc_cpu.h"
#include "kernels/cuda/rnc_cuda.cuh"
#include "test/cuda/case_runner.h"
#include "test/cuda/test_util.h"

namespace cu = rnc::cuda;
namespace cpu = rnc::cpu;
using rnc::BatchNormShape;
using rnc::Conv2DShape;
using rnc::LinearShape;
using rnc::Pool2DShape;

// The launcher families, one file each (test/cuda/kernels/): the harness
// first, the shapes before the determinism case that names them.
// clang-format off
#include "test/cuda/kernels/harness.cuh"
#include "test/cuda/kernels/conv.cuh"
#include "test/cuda/kernels/batch_norm.cuh"
#include "test/cuda/kernels/pool.cuh"
#include "test/cuda/kernels/linear.cuh"
#include "test/cuda/kernels/loss.cuh"
#include "test/cuda/kernels/elementwise.cuh"
#include "test/cuda/kernels/optimizer.cuh"
#include "test/cuda/kernels/graph.cuh"
#include "test/cuda/kernels/shapes.cuh"
#include "test/cuda/kernels/determinism.cuh"
// clang-format on

namespace kernels_test {

// ----------------------------------------------------------------------------
// The cases, in order. A name must say which launchers and which shape.

using ct::Case;

template <Conv2DShape S> Case conv_case(int N) {
  return {conv_name<S>() + " N=" + std::to_string(N),
          [N](ct::Report &r) { test_conv<S>(r, N); }};
}
template <BatchNormShape S> Case bn_case(int N) {
  return {"batch_norm C=" + std::to_string(S.channels) +
              " P=" + std::to_string(S.plane) + " N=" + std::to_string(N),
          [N](ct::Report &r) { test_batch_norm<S>(r, N); }};
}
template <Pool2DShape S> Case pool_case(int N, bool max) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s_pool2d C=%d %dx%d k%d s%d p%d%s N=%d",
                max ? "max" : "avg", S.channels, S.in_h, S.in_w, S.kernel_h,
                S.stride_h, S.pad_h,
                !max && !S.count_include_pad ? " exclude-pad" : "", N);
  return {buf, [N, max](ct::Report &r) { test_pool<S>(r, N, max); }};
}

std::vector<Case> all_cases() {
  return {
      conv_case<kStemRgb>(2),
      conv_case<kStemGray>(3),
      conv_case<kStem3x3>(5),
      conv_case<k3x3>(4),
      conv_case<k3x3s2>(3),
      conv_case<k1x1>(3),
      conv_case<k1x1s2>(5),
      conv_case<kDeep>(9),
      conv_case<kGrouped4>(3),
      conv_case<kGrouped8s2>(4),
      conv_case<kOdd>(7),
      bn_case<kBn>(4),
      bn_case<kBnOdd>(37),
      bn_case<kBnRank2>(33),
      pool_case<kMaxPool>(3, true),
      pool_case<kMaxPool2>(5, true),
      pool_case<kAvgPool>(3, false),
      pool_case<kAvgPoolEx>(3, false),
      {"global_avg_pool C=512 P=49 N=6",
       [](ct::Report &r) { test_global_pool<512, 49>(r, 6); }},
      {"global_avg_pool C=64 P=1 N=5",
       [](ct::Report &r) { test_global_pool<64, 1>(r, 5); }},
      {"linear 512->10 N=37", [](ct::Report &r) { test_linear<kFc>(r, 37); }},
      {"linear 2048->1000 N=16",
       [](ct::Report &r) { test_linear<kFcWide>(r, 16); }},
      {"softmax_cross_entropy K=10 N=129",
       [](ct::Report &r) { test_loss<10>(r, 129); }},
      {"softmax_cross_entropy K=1000 N=33",
       [](ct::Report &r) { test_loss<1000>(r, 33); }},
      {"elementwise and layout", test_elementwise},
      {"dataset gathers", test_gathers},
      {"sgd_update_all", test_sgd},
      {"graph capture and replay", test_graph},
      {"determinism: two runs, the same bits", test_determinism},
      {"argument errors",
       [](ct::Report &r) {
         // A bad argument is recorded, not fatal, and nothing is launched.
         cu::relu<float>(nullptr, nullptr, 10);
         r.expect("a null pointer is reported by last_launch_error()",
                  cu::last_launch_error() == cudaErrorInvalidValue);
         r.expect("last_launch_error() clears",
                  cu::last_launch_error() == cudaSuccess);
       }},
  };
}

// The GPU, once; the stream every case launches on.
cudaStream_t g_stream = nullptr;

int begin(bool first) {
  int devices = 0;
  cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    // The count is garbage when the call fails (no driver).
    std::printf("SKIPPED: no CUDA GPU (%s)\n",
                cudaGetErrorString(e != cudaSuccess ? e : cudaErrorNoDevice));
    return 77;
  }
  if (first) {
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("rnc::cuda kernels on %s (sm_%d%d), RNC_CUDA_PRECISION=%d\n",
                prop.name, prop.major, prop.minor, RNC_CUDA_PRECISION);
  }
  CUDA_CHECK(cudaStreamCreate(&g_stream));
  cu::set_stream(g_stream);
  // The convolutions' KRSC weight copies (stream.cuh): more than any
  // weight of the cases (512 x 512 x 3 x 3 is 2.4 M floats).
  // Then the split scratch of the convolutions' partial sums and the reduce
  // scratch of the channel sums, as a model's glue gives them (the cases'
  // statistics need far less than kSplitScratchFloats).
  constexpr long kScratchFloats = 1L << 23;
  constexpr long kSplit = cu::kSplitScratchFloats;
  float *scratch = nullptr;
  CUDA_CHECK(cudaMalloc(&scratch, sizeof(float) * (kScratchFloats + kSplit +
                                                   cu::kReduceScratchFloats)));
  cu::set_weight_scratch(scratch, kScratchFloats);
  cu::set_split_scratch(scratch + kScratchFloats, kSplit);
  cu::set_reduce_scratch(scratch + kScratchFloats + kSplit,
                         cu::kReduceScratchFloats);
  return 0;
}

void end() {
  cu::set_stream(nullptr);
  CUDA_CHECK(cudaFree(cu::weight_scratch().data));
  cu::set_weight_scratch(nullptr, 0);
  cu::set_split_scratch(nullptr, 0);
  cu::set_reduce_scratch(nullptr, 0);
  CUDA_CHECK(cudaStreamDestroy(g_stream));
}

} // namespace kernels_test

int main(int argc, char **argv) {
  return ct::case_main(argc, argv, kernels_test::all_cases(),
                      {kernels_test::begin, kernels_test::end});
}
