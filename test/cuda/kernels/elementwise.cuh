// Elementwise, layout and copy launchers against the CPU kernels.
// Part of the cuda-kernels test (test/cuda/kernels_test.cu includes it, in
// namespace kernels_test; the helpers are in kernels/harness.cuh).
#pragma once

namespace kernels_test {

// Elementwise, layout, copy.

void test_elementwise(ct::Report &report) {
  const long n = 100003;
  auto a = ct::random_vec(n, 51), b = ct::random_vec(n, 52);
  Dev<> da(a), db(b), y(n);
  std::vector<float> want(n);
  cpu::relu(want.data(), a.data(), n);
  cu::relu(y.p, da.p, n);
  expect_clean(report, "relu");
  report.compare("relu", y.get(), want, 0.0);
  cpu::relu_grad(want.data(), b.data(), a.data(), n);
  cu::relu_grad(y.p, db.p, da.p, n);
  expect_clean(report, "relu_grad");
  report.compare("relu_grad", y.get(), want, 0.0);
  cpu::add(want.data(), a.data(), b.data(), n);
  cu::add(y.p, da.p, db.p, n);
  expect_clean(report, "add");
  report.compare("add", y.get(), want, 0.0);
  cpu::add_relu(want.data(), a.data(), b.data(), n);
  cu::add_relu(y.p, da.p, db.p, n);
  expect_clean(report, "add_relu");
  report.compare("add_relu", y.get(), want, 0.0);
  cu::copy_floats(y.p, da.p, n);
  cu::accumulate(y.p, db.p, n);
  cpu::add(want.data(), a.data(), b.data(), n);
  expect_clean(report, "copy_floats + accumulate");
  report.compare("copy_floats + accumulate", y.get(), want, 0.0);
  // In place: y aliases x.
  cu::relu(da.p, da.p, n);
  cpu::relu(want.data(), a.data(), n);
  expect_clean(report, "relu in place");
  report.compare("relu in place", da.get(), want, 0.0);

  const int N = 3, C = 3;
  const long HW = 37 * 29;
  auto img = ct::random_vec(size_t(N) * C * HW, 53);
  Dev<> dimg(img), nhwc(img.size()), back(img.size());
  cu::nchw_to_nhwc(nhwc.p, dimg.p, N, C, HW);
  cu::nhwc_to_nchw(back.p, nhwc.p, N, C, HW);
  expect_clean(report, "nchw_to_nhwc");
  report.compare("nchw_to_nhwc", nhwc.get(), ct::to_nhwc(img, N, C, HW), 0.0);
  report.compare("nhwc_to_nchw", back.get(), img, 0.0);
}

// The gathers of rnc_train_step_indexed: a batch at repeated and
// out-of-order indices of a dataset on the device, float NCHW or 8-bit
// pixels [HW][C] through a table (at the model's size, or resized), into
// NHWC, with its labels (exact).
void test_gathers(ct::Report &report) {
  const int count = 5, N = 4, C = 3;
  const long HW = 19 * 7, sample = C * HW;
  const std::vector<int32_t> index = {4, 0, 4, 2};
  const std::vector<int32_t> data_labels = {3, 1, 4, 1, 5};
  std::vector<float> want_labels;
  for (int32_t i : index)
    want_labels.push_back(float(data_labels[size_t(i)]));
  auto labels_of = [](const Dev<int32_t> &d) {
    std::vector<float> v;
    for (int32_t l : d.get())
      v.push_back(float(l));
    return v;
  };
  Dev<int32_t> dindex(index), dlabels(data_labels), labels(N);

  auto data = ct::random_vec(size_t(count * sample), 54);
  std::vector<float> picked;
  for (int32_t i : index)
    picked.insert(picked.end(), data.begin() + i * sample,
                  data.begin() + (i + 1) * sample);
  Dev<> ddata(data), out(size_t(N * sample));
  cu::gather_nchw_to_nhwc(out.p, labels.p, ddata.p, dlabels.p, dindex.p, N, C,
                          HW);
  expect_clean(report, "gather_nchw_to_nhwc");
  report.compare("gather_nchw_to_nhwc", out.get(),
                 ct::to_nhwc(picked, N, C, HW), 0.0);
  report.compare("gather_nchw_to_nhwc labels", labels_of(labels), want_labels,
                 0.0);

  std::vector<uint8_t> pixels(size_t(count * sample));
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = uint8_t((i * 97 + i / 7) & 255);
  const auto lut = ct::random_vec(size_t(C) * 256, 55);
  std::vector<float> want;
  for (int32_t i : index)
    for (long e = 0; e < sample; ++e)
      want.push_back(lut[size_t(e % C * 256 + pixels[size_t(i * sample + e)])]);
  Dev<uint8_t> dpixels(pixels);
  Dev<> dlut(lut);
  Dev<int32_t> labels8(N);
  cu::gather_u8_to_nhwc(out.p, labels8.p, dpixels.p, dlut.p, dlabels.p,
                        dindex.p, N, C, HW);
  expect_clean(report, "gather_u8_to_nhwc");
  report.compare("gather_u8_to_nhwc", out.get(), want, 0.0);
  report.compare("gather_u8_to_nhwc labels", labels_of(labels8), want_labels,
                 0.0);

  // The same of pixels stored at 9x5, resized to 19x7 by a table with 1 to
  // 3 taps per output and weights that overshoot 0..255 both ways (the
  // clamps); expected: the same function (kernels/resize.h) on the host.
  const int SH = 9, SW = 5, H = 19, W = 7, taps = 3;
  std::vector<int32_t> first_y(H), count_y(H), weights_y(H * taps, 0);
  std::vector<int32_t> first_x(W), count_x(W), weights_x(W * taps, 0);
  auto fill = [&](int n_out, int n_in, std::vector<int32_t> &first,
                  std::vector<int32_t> &cnt, std::vector<int32_t> &w) {
    for (int o = 0; o < n_out; ++o) {
      cnt[o] = 1 + o % taps;
      first[o] = o * (n_in - cnt[o]) / (n_out - 1);
      for (int k = 0; k < cnt[o]; ++k)
        w[o * taps + k] = (5 - (o + k) % 7) * (1 << 20);
    }
  };
  fill(H, SH, first_y, count_y, weights_y);
  fill(W, SW, first_x, count_x, weights_x);
  Dev<int32_t> dfy(first_y), dcy(count_y), dwy(weights_y), dfx(first_x),
      dcx(count_x), dwx(weights_x);
  const rnc_resize host{SH,
                        SW,
                        taps,
                        taps,
                        first_y.data(),
                        count_y.data(),
                        weights_y.data(),
                        first_x.data(),
                        count_x.data(),
                        weights_x.data()};
  const rnc_resize dev{SH,    SW,    taps,  taps,  dfy.p,
                       dcy.p, dwy.p, dfx.p, dcx.p, dwx.p};
  const long stored = long(SH) * SW * C;
  std::vector<float> want_resized;
  for (int32_t i : index)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < C; ++c)
          want_resized.push_back(lut[size_t(
              c * 256 + rnc::resized_pixel(pixels.data() + i * stored, C, host,
                                           y, x, c))]);
  Dev<int32_t> labels_r(N);
  cu::gather_u8_transformed_to_nhwc(out.p, labels_r.p, dpixels.p, &dev, dlut.p,
                                    dlabels.p, dindex.p, nullptr, N, C, H, W);
  expect_clean(report, "gather_u8_transformed_to_nhwc resized");
  report.compare("gather_u8_transformed_to_nhwc resized", out.get(),
                 want_resized, 0.0);
  report.compare("gather_u8_transformed_to_nhwc labels", labels_of(labels_r),
                 want_labels, 0.0);

  // Augmented (shifted past the edges, flipped, erased), resized or not.
  const std::vector<rnc_augment> aug = {{2, -3, 1, 0, 0, 0, 0},
                                        {-4, 1, 0, 3, 2, 5, 4},
                                        {0, 0, 0, 0, 0, 0, 0},
                                        {-1, 5, 1, 18, 6, 1, 1}};
  Dev<rnc_augment> daug(aug);
  for (bool resized : {false, true}) {
    const int h = resized ? H : 19, w = resized ? W : 7; // HW = 19 * 7
    std::vector<float> want_aug;
    for (int n = 0; n < N; ++n) {
      const long stride = resized ? stored : sample;
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          for (int c = 0; c < C; ++c)
            want_aug.push_back(rnc::gathered_value(
                pixels.data() + index[size_t(n)] * stride, lut.data(),
                resized ? &host : nullptr, &aug[size_t(n)], C, h, w, y, x, c));
    }
    const std::string name = std::string("gather_u8_transformed_to_nhwc ") +
                             (resized ? "resized, " : "") + "augmented";
    cu::gather_u8_transformed_to_nhwc(out.p, labels_r.p, dpixels.p,
                                      resized ? &dev : nullptr, dlut.p,
                                      dlabels.p, dindex.p, daug.p, N, C, h, w);
    expect_clean(report, name.c_str());
    report.compare(name.c_str(), out.get(), want_aug, 0.0);
  }
}

} // namespace kernels_test
