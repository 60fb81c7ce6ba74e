// Runs the per-channel elementwise passes of kernels/cuda (batch-norm apply,
// train and eval, with their epilogues, and the BN backward's dx pass) on
// the host, every thread of the launch grid in turn, against the CPU kernels
// (kernels/cpu/batchnorm.h on NCHW copies of the NHWC tensors).
//
// What this checks without a GPU: the thread walk of channel_rows.cuh (each
// thread's channel group, first row and stride; the idle threads; the grid
// along rows and along channels, its cap, so that threads walk several rows),
// the 4-channel groups and the scalar fallback, the image and position each
// row hands to the epilogues, the epilogues' 4-channel loads, and that every
// element is written exactly once and nothing past the tensor. Outputs start
// as NaN with a NaN guard after them. What it cannot check: the device
// loads themselves (alignment faults), concurrency, the device's rounding.
// Exit status 0 when all pass.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/rnc_cpu.h"
#include "kernels/cuda/rnc_cuda.cuh"
#include "test/cuda/test_util.h"

namespace cu = rnc::cuda;
namespace cd = rnc::cuda::detail;
namespace cpu = rnc::cpu;

using rnc::BatchNormShape;

namespace {

// Same operations in the same order as the CPU's, but the host compiler
// may contract them differently.
constexpr double kTol = 1e-6;
constexpr int kGuard = 16;
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// Runs body(ThreadIndex) for every thread of ChannelRows<C, V>'s grid over
// `rows` rows; returns the number of threads that ran.
template <int C, int V, class Body> long for_each_thread(long rows, Body body) {
  using R = cd::ChannelRows<C, V>;
  const dim3 grid = R::grid(rows);
  long threads = 0;
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx)
      for (int t = 0; t < R::kThreads; ++t, ++threads)
        body(cd::ThreadIndex{bx, by, unsigned(t), grid.x});
  return threads;
}

// NaN-filled output of `total` floats and kGuard more; the guard must stay NaN.
std::vector<float> poisoned(size_t total) {
  return std::vector<float>(total + kGuard, kNaN);
}
bool guard_intact(const std::vector<float> &v, size_t total) {
  for (size_t i = total; i < v.size(); ++i)
    if (!std::isnan(v[i]))
      return false;
  return true;
}

std::string shape_name(const char *what, int C, long P, int N, int V) {
  return std::string(what) + " C=" + std::to_string(C) +
         " P=" + std::to_string(P) + " N=" + std::to_string(N) +
         " V=" + std::to_string(V);
}

// The walk itself: rows visited by the threads of one channel group, each
// once, and the threads per group equal.
template <int C, int V> bool walk_covers(long rows) {
  using R = cd::ChannelRows<C, V>;
  std::vector<int> seen(size_t(rows) * R::kGroups, 0);
  for_each_thread<C, V>(rows, [&](const cd::ThreadIndex &t) {
    const typename R::Walk w = R::walk(t);
    if (!w.active)
      return;
    for (long r = w.row; r < rows; r += w.stride)
      ++seen[size_t(r) * R::kGroups + w.group];
  });
  for (int s : seen)
    if (s != 1)
      return false;
  return true;
}

// batch_norm_apply (FromVar false: mean and inv_std given) and the eval
// batch_norm (true: running mean and variance) with epilogue `epi` against
// the CPU's with `cpu_epi`, for group width V.
template <BatchNormShape S, bool FromVar, int V, class Epi, class CpuEpi>
void check_apply(ct::Report &report, int N, const char *epi_name,
                 const std::vector<float> &x, const std::vector<float> &res,
                 Epi epi, CpuEpi cpu_epi) {
  constexpr int C = S.channels;
  constexpr long P = S.plane;
  const size_t total = size_t(N) * C * P;
  const long rows = long(N) * P;
  const float eps = 1e-5f;
  auto mean = ct::random_vec(C, 21);
  auto inv = ct::random_vec(C, 22, 0.5f, 2.0f);
  auto gamma = ct::random_vec(C, 23, 0.5f, 1.5f);
  auto beta = ct::random_vec(C, 24);
  (void)res;
  std::vector<float> want(total);
  if constexpr (FromVar)
    cpu::batch_norm<S>(want.data(), x.data(), gamma.data(), beta.data(),
                       mean.data(), inv.data(), N, eps, cpu_epi);
  else
    cpu::batch_norm_apply<S>(want.data(), x.data(), mean.data(), inv.data(),
                             gamma.data(), beta.data(), N, cpu_epi);
  const auto x_nhwc = ct::to_nhwc(x, N, C, P);
  auto y = poisoned(total);
  for_each_thread<C, V>(rows, [&](const cd::ThreadIndex &t) {
    cd::bn_apply_thread<C, P, FromVar, V>(
        t, y.data(), x_nhwc.data(), mean.data(), inv.data(), gamma.data(),
        beta.data(), int(rows), FromVar ? eps : 0.0f, epi);
  });
  const std::string name =
      shape_name(FromVar ? "batch_norm eval" : "batch_norm_apply", C, P, N, V) +
      " " + epi_name;
  report.expect(name + ": guard after the output untouched",
                guard_intact(y, total));
  y.resize(total);
  report.compare(name, ct::to_nchw(y, N, C, P), want, kTol);
}

// Every epilogue the generated code uses with batch_norm_apply.
template <BatchNormShape S, bool FromVar, int V>
void check_apply_epilogues(ct::Report &report, int N) {
  constexpr int C = S.channels;
  constexpr long P = S.plane;
  const size_t total = size_t(N) * C * P;
  const auto x = ct::random_vec(total, 31, -2.0f, 3.0f);
  const auto res = ct::random_vec(total, 32);
  const auto res_nhwc = ct::to_nhwc(res, N, C, P);
  check_apply<S, FromVar, V>(report, N, "", x, res, cu::NoEpilogue{},
                             cpu::NoEpilogue{});
  check_apply<S, FromVar, V>(report, N, "+Relu", x, res, cu::ReluEpilogue{},
                             cpu::ReluEpilogue{});
  check_apply<S, FromVar, V>(
      report, N, "+ResidualAdd+Relu", x, res,
      cu::Compose{cu::ResidualAddEpilogue<float>{res_nhwc.data(), C, P},
                  cu::ReluEpilogue{}},
      cpu::Compose{cpu::ResidualAddEpilogue<float>{res.data(), C, P},
                   cpu::ReluEpilogue{}});
}

// The dx pass (bn_backward_dx_thread) with dgamma and dbeta from the CPU's
// batch_norm_grad (Relu: batch_norm_relu_grad), against its dx.
template <BatchNormShape S, bool Relu, int V>
void check_backward_dx(ct::Report &report, int N) {
  constexpr int C = S.channels;
  constexpr long P = S.plane;
  const size_t total = size_t(N) * C * P;
  const long rows = long(N) * P;
  const auto x = ct::random_vec(total, 41, -2.0f, 3.0f);
  const auto dy = ct::random_vec(total, 42);
  const auto relu_out = ct::random_vec(total, 43);
  const auto mean = ct::random_vec(C, 44);
  const auto inv = ct::random_vec(C, 45, 0.5f, 2.0f);
  const auto gamma = ct::random_vec(C, 46, 0.5f, 1.5f);
  std::vector<float> want(total), dgamma(C), dbeta(C);
  if constexpr (Relu)
    cpu::batch_norm_relu_grad<S>(want.data(), dgamma.data(), dbeta.data(),
                                 dy.data(), relu_out.data(), x.data(),
                                 mean.data(), inv.data(), gamma.data(), N);
  else
    cpu::batch_norm_grad<S>(want.data(), dgamma.data(), dbeta.data(), dy.data(),
                            x.data(), mean.data(), inv.data(), gamma.data(), N);
  const auto x_nhwc = ct::to_nhwc(x, N, C, P);
  const auto dy_nhwc = ct::to_nhwc(dy, N, C, P);
  const auto relu_nhwc = ct::to_nhwc(relu_out, N, C, P);
  auto dx = poisoned(total);
  for_each_thread<C, V>(rows, [&](const cd::ThreadIndex &t) {
    cd::bn_backward_dx_thread<C, Relu, V>(
        t, dx.data(), dy_nhwc.data(), Relu ? relu_nhwc.data() : nullptr,
        x_nhwc.data(), mean.data(), inv.data(), gamma.data(), dgamma.data(),
        dbeta.data(), int(rows), float(rows));
  });
  const std::string name = shape_name(
      Relu ? "bn_backward_dx +ReluMask" : "bn_backward_dx", C, P, N, V);
  report.expect(name + ": guard after the output untouched",
                guard_intact(dx, total));
  dx.resize(total);
  report.compare(name, ct::to_nchw(dx, N, C, P), want, 1e-5);
}

template <BatchNormShape S, int V> void check_shape(ct::Report &report, int N) {
  constexpr int C = S.channels;
  const long rows = long(N) * S.plane;
  using R = cd::ChannelRows<C, V>;
  const dim3 grid = R::grid(rows);
  report.expect(shape_name("walk", C, S.plane, N, V) + ": grid " +
                    std::to_string(grid.x) + "x" + std::to_string(grid.y) +
                    ", every (row, group) once",
                walk_covers<C, V>(rows));
  check_apply_epilogues<S, false, V>(report, N);
  check_apply_epilogues<S, true, V>(report, N);
  check_backward_dx<S, false, V>(report, N);
  check_backward_dx<S, true, V>(report, N);
}

// The width chosen, and the epilogues' alignment answers.
void check_width_choice(ct::Report &report) {
  alignas(16) float buf[8] = {};
  const cu::ResidualAddEpilogue<float> aligned{buf, 64, 1};
  const cu::ResidualAddEpilogue<float> shifted{buf + 1, 64, 1};
  const cu::ReluMaskEpilogue<float> odd_channels{buf, 10, 1};
  report.expect("width: 4 for C=64 with aligned pointers",
                cd::channel_group_width<64>(true) == 4);
  report.expect("width: 1 for C=64 with a misaligned pointer",
                cd::channel_group_width<64>(false) == 1);
  report.expect("width: 1 for C=10", cd::channel_group_width<10>(true) == 1);
  report.expect("epilogue alignment: ResidualAdd aligned yes, shifted no, "
                "ReluMask with 10 channels no, Relu yes",
                cu::epilogue_vector_ok(aligned) &&
                    !cu::epilogue_vector_ok(shifted) &&
                    !cu::epilogue_vector_ok(odd_channels) &&
                    cu::epilogue_vector_ok(cu::ReluEpilogue{}));
  report.expect(
      "epilogue alignment: a Compose is ok only if both parts are",
      cu::epilogue_vector_ok(cu::Compose{aligned, cu::ReluEpilogue{}}) &&
          !cu::epilogue_vector_ok(cu::Compose{aligned, shifted}));
  report.expect("rows: 2^31 - 2^20 fit, one more does not",
                cd::channel_rows_fit((1L << 31) - (1L << 20)) &&
                    !cd::channel_rows_fit((1L << 31) - (1L << 20) + 1));
}

// Shapes: a row of 16 groups (several rows per block step), a count of
// groups that does not divide the block (24), more groups than threads (512:
// two blocks along the channels), channels not divisible by 4 (the scalar
// path only), rank-2 (plane 1). Batches large enough that the grid's cap
// makes threads walk several rows where marked.
constexpr BatchNormShape kBn64{.channels = 64, .plane = 56 * 56};
constexpr BatchNormShape kBn96{.channels = 96, .plane = 7 * 7};
constexpr BatchNormShape kBn2048{.channels = 2048, .plane = 7 * 7};
constexpr BatchNormShape kBn10{.channels = 10, .plane = 5 * 5};
constexpr BatchNormShape kBn3{.channels = 3, .plane = 4};
constexpr BatchNormShape kBnRank2{.channels = 512, .plane = 1};

} // namespace

int main() {
  ct::Report report;
  check_width_choice(report);
  check_shape<kBn64, 4>(report, 12); // 37,632 rows > 2112 blocks x 16 rows
  check_shape<kBn64, 1>(report, 2);
  check_shape<kBn96, 4>(report, 3);
  check_shape<kBn96, 1>(report, 3);
  check_shape<kBn2048, 4>(report, 24); // 1,176 rows > 1056 blocks x 1 row
  check_shape<kBn2048, 1>(report, 2);
  check_shape<kBn10, 1>(report, 3);
  check_shape<kBn3, 1>(report, 5);
  check_shape<kBnRank2, 4>(report, 7);
  std::printf("%d of %d checks failed\n", report.failures, report.checks);
  return report.failures == 0 ? 0 : 1;
}
