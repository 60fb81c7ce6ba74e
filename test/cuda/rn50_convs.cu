// The convolution launchers of kernels/cuda on every distinct convolution of
// ResNet-50 (v1.5, 224x224), as a shared library for
// test/cuda/check_rn50_convs.py, which calls it through ctypes on tensors
// PyTorch allocated and checks it against cuDNN at batch 256: the grids of
// 25,000 blocks and the deep split-K of the weight gradient that the small
// shapes of kernels_test.cu never reach.
//
//   nvcc -std=c++20 -O3 --expt-relaxed-constexpr -shared -Xcompiler=-fPIC
//        -DRNC_CUDA_PRECISION=2 -I<repo> -gencode=... rn50_convs.cu -o ...
//
// Every pointer is a device pointer (NHWC activations, KCRS weights); work
// is enqueued on the legacy default stream, PyTorch's default stream.
#include <algorithm>
#include <cstddef>
#include <utility>

#include "kernels/cuda/rnc_cuda.cuh"

namespace cu = rnc::cuda;
using rnc::Conv2DShape;

namespace {

constexpr Conv2DShape c1(int ci, int co, int hw, int s = 1) {
  return Conv2DShape{.in_channels = ci, .out_channels = co, .in_h = hw,
                     .in_w = hw, .stride_h = s, .stride_w = s};
}
constexpr Conv2DShape c3(int ch, int hw, int s = 1) {
  return Conv2DShape{.in_channels = ch, .out_channels = ch, .in_h = hw,
                     .in_w = hw, .kernel_h = 3, .kernel_w = 3, .stride_h = s,
                     .stride_w = s, .pad_h = 1, .pad_w = 1};
}
constexpr Conv2DShape kStem{.in_channels = 3, .out_channels = 64, .in_h = 224,
                            .in_w = 224, .kernel_h = 7, .kernel_w = 7,
                            .stride_h = 2, .stride_w = 2, .pad_h = 3,
                            .pad_w = 3};

// The distinct shapes of torchvision's resnet50 (stride on the 3x3) and how
// many of its 53 convolutions have each.
constexpr Conv2DShape kShapes[] = {
    kStem,           c1(64, 64, 56),      c3(64, 56),        c1(64, 256, 56),
    c1(256, 64, 56), c1(256, 128, 56),    c3(128, 56, 2),    c1(128, 512, 28),
    c1(256, 512, 56, 2), c1(512, 128, 28), c3(128, 28),      c1(512, 256, 28),
    c3(256, 28, 2),  c1(256, 1024, 14),   c1(512, 1024, 28, 2), c1(1024, 256, 14),
    c3(256, 14),     c1(1024, 512, 14),   c3(512, 14, 2),    c1(512, 2048, 7),
    c1(1024, 2048, 14, 2), c1(2048, 512, 7), c3(512, 7)};
constexpr int kUses[] = {1, 1, 3, 4, 2, 1, 1, 4, 1, 3, 3, 1,
                         1, 6, 1, 5, 5, 1, 1, 3, 1, 2, 2};
constexpr int kNumShapes = sizeof(kShapes) / sizeof(kShapes[0]);
static_assert(sizeof(kUses) / sizeof(kUses[0]) == kNumShapes);

// The scratch buffers a model's glue gives (stream.cuh), (re)allocated
// when batch N needs a larger split scratch than the last call's.
int ensure_scratch(int N) {
  constexpr long kWeightFloats = 512L * 512 * 9; // the largest weight's copy
  long split = cu::kSplitScratchFloats;
  for (const Conv2DShape &s : kShapes)
    split = std::max(split, cu::stat_partial_floats(s, N));
  if (cu::weight_scratch().data && cu::split_scratch().floats >= split)
    return 0;
  if (cudaError_t e = cudaFree(cu::weight_scratch().data))
    return int(e);
  float *scratch = nullptr;
  if (cudaError_t e =
          cudaMalloc(&scratch, sizeof(float) * (kWeightFloats + split +
                                                cu::kReduceScratchFloats)))
    return int(e);
  cu::set_weight_scratch(scratch, kWeightFloats);
  cu::set_split_scratch(scratch + kWeightFloats, split);
  cu::set_reduce_scratch(scratch + kWeightFloats + split,
                         cu::kReduceScratchFloats);
  return 0;
}

template <Conv2DShape S>
int run(int pass, int N, float *out, float *out2, float *out3, const float *a,
        const float *b, const float *c, const float *d, const float *e) {
  cu::set_stream(nullptr);
  cu::last_launch_error();
  if (int e = ensure_scratch(N))
    return e;
  switch (pass) {
  case 0: // y, sum, sumsq <- x, w
    cu::conv2d_bn_train_stats<S>(out, out2, out3, a, b, nullptr, N);
    break;
  case 1: // dx, sum g, sum g (x - mean) <- dy, w, x, mean, relu mask
    cu::conv2d_grad_input_bn_reduce<S>(
        out, out2, out3, a, b, c, d, N,
        cu::ReluMaskEpilogue<float>{e, S.in_channels, S.in_plane()});
    break;
  case 2: // dw <- dy, x
    cu::conv2d_grad_weight<S>(out, a, b, N);
    break;
  default:
    return int(cudaErrorInvalidValue);
  }
  return int(cu::last_launch_error());
}

template <size_t... I>
int dispatch(int shape, int pass, int N, float *out, float *out2, float *out3,
             const float *a, const float *b, const float *c, const float *d,
             const float *e, std::index_sequence<I...>) {
  int rc = int(cudaErrorInvalidValue);
  ((shape == int(I)
        ? (rc = run<kShapes[I]>(pass, N, out, out2, out3, a, b, c, d, e), 0)
        : 0),
   ...);
  return rc;
}

} // namespace

extern "C" {

int rn50_num_shapes(void) { return kNumShapes; }

int rn50_precision(void) { return RNC_CUDA_PRECISION; }

// fields: in_channels, out_channels, in_h, in_w, kernel_h, kernel_w,
// stride, pad, groups, uses.
int rn50_shape(int i, int *fields) {
  if (i < 0 || i >= kNumShapes || !fields)
    return 1;
  const Conv2DShape &s = kShapes[i];
  const int v[] = {s.in_channels, s.out_channels, s.in_h,     s.in_w,
                   s.kernel_h,    s.kernel_w,     s.stride_h, s.pad_h,
                   s.groups,      kUses[i]};
  for (int k = 0; k < 10; ++k)
    fields[k] = v[k];
  return 0;
}

// pass 0: forward with the BN statistics of y; 1: data gradient through a
// ReLU mask with the BN backward sums; 2: weight gradient. Enqueues only;
// returns the launch error (a cudaError_t), 0 when launched.
int rn50_run(int shape, int pass, int N, float *out, float *out2, float *out3,
             const float *a, const float *b, const float *c, const float *d,
             const float *e) {
  return dispatch(shape, pass, N, out, out2, out3, a, b, c, d, e,
                  std::make_index_sequence<kNumShapes>{});
}

} // extern "C"
