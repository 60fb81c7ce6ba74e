// The shapes the cases run on.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

// Shapes: the stems, 3x3 stride 1 and 2, 1x1 stride 1 and 2, ResNeXt groups
// (4 and 8 channels per group), odd channel counts, a ragged batch.

constexpr Conv2DShape kStemRgb{.in_channels = 3,
                               .out_channels = 64,
                               .in_h = 64,
                               .in_w = 64,
                               .kernel_h = 7,
                               .kernel_w = 7,
                               .stride_h = 2,
                               .stride_w = 2,
                               .pad_h = 3,
                               .pad_w = 3};
constexpr Conv2DShape kStemGray{.in_channels = 1,
                                .out_channels = 64,
                                .in_h = 96,
                                .in_w = 96,
                                .kernel_h = 7,
                                .kernel_w = 7,
                                .stride_h = 2,
                                .stride_w = 2,
                                .pad_h = 3,
                                .pad_w = 3};
constexpr Conv2DShape kStem3x3{.in_channels = 1,
                               .out_channels = 32,
                               .in_h = 28,
                               .in_w = 28,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .pad_h = 1,
                               .pad_w = 1};
constexpr Conv2DShape k3x3{.in_channels = 64,
                           .out_channels = 64,
                           .in_h = 56,
                           .in_w = 56,
                           .kernel_h = 3,
                           .kernel_w = 3,
                           .pad_h = 1,
                           .pad_w = 1};
constexpr Conv2DShape k3x3s2{.in_channels = 128,
                             .out_channels = 128,
                             .in_h = 28,
                             .in_w = 28,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .stride_h = 2,
                             .stride_w = 2,
                             .pad_h = 1,
                             .pad_w = 1};
constexpr Conv2DShape k1x1{
    .in_channels = 64, .out_channels = 256, .in_h = 28, .in_w = 28};
constexpr Conv2DShape k1x1s2{.in_channels = 256,
                             .out_channels = 512,
                             .in_h = 14,
                             .in_w = 14,
                             .stride_h = 2,
                             .stride_w = 2};
constexpr Conv2DShape kDeep{.in_channels = 512,
                            .out_channels = 512,
                            .in_h = 7,
                            .in_w = 7,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .pad_h = 1,
                            .pad_w = 1};
constexpr Conv2DShape kGrouped4{.in_channels = 128,
                                .out_channels = 128,
                                .in_h = 28,
                                .in_w = 28,
                                .kernel_h = 3,
                                .kernel_w = 3,
                                .pad_h = 1,
                                .pad_w = 1,
                                .groups = 32};
constexpr Conv2DShape kGrouped8s2{.in_channels = 256,
                                  .out_channels = 256,
                                  .in_h = 14,
                                  .in_w = 14,
                                  .kernel_h = 3,
                                  .kernel_w = 3,
                                  .stride_h = 2,
                                  .stride_w = 2,
                                  .pad_h = 1,
                                  .pad_w = 1,
                                  .groups = 32};
constexpr Conv2DShape kOdd{.in_channels = 5,
                           .out_channels = 7,
                           .in_h = 13,
                           .in_w = 11,
                           .kernel_h = 3,
                           .kernel_w = 3,
                           .stride_h = 2,
                           .stride_w = 2,
                           .pad_h = 1,
                           .pad_w = 1};

constexpr BatchNormShape kBn{.channels = 64, .plane = 56 * 56};
constexpr BatchNormShape kBnOdd{.channels = 10, .plane = 7 * 7};
constexpr BatchNormShape kBnRank2{.channels = 512, .plane = 1};

constexpr Pool2DShape kMaxPool{.channels = 64,
                               .in_h = 56,
                               .in_w = 56,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .stride_h = 2,
                               .stride_w = 2,
                               .pad_h = 1,
                               .pad_w = 1};
constexpr Pool2DShape kMaxPool2{.channels = 32,
                                .in_h = 28,
                                .in_w = 28,
                                .kernel_h = 2,
                                .kernel_w = 2,
                                .stride_h = 2,
                                .stride_w = 2};
constexpr Pool2DShape kAvgPool{.channels = 32,
                               .in_h = 15,
                               .in_w = 15,
                               .kernel_h = 3,
                               .kernel_w = 3,
                               .stride_h = 2,
                               .stride_w = 2,
                               .pad_h = 1,
                               .pad_w = 1};
constexpr Pool2DShape kAvgPoolEx{.channels = 32,
                                 .in_h = 15,
                                 .in_w = 15,
                                 .kernel_h = 3,
                                 .kernel_w = 3,
                                 .stride_h = 2,
                                 .stride_w = 2,
                                 .pad_h = 1,
                                 .pad_w = 1,
                                 .count_include_pad = false};

constexpr LinearShape kFc{.in_features = 512, .out_features = 10};
constexpr LinearShape kFcWide{.in_features = 2048, .out_features = 1000};

} // namespace kernels_test
