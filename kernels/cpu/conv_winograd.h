// conv2d 3x3, stride 1, pad 1 by Winograd's minimal filtering F(2x2, 3x3):
// each 2x2 block of outputs from a 4x4 block of inputs with 16 instead of
// 36 multiplies per (input, output) channel pair. The 16 multiplies of all
// channel pairs are 16 independent GEMMs (one per transformed position xi):
//
//   U[xi][co][ci] = (G g[co][ci] G^T)[xi]       (weights, 4x4 from 3x3)
//   V[xi][ci][t]  = (B^T d[n][ci](tile) B)[xi]  (inputs, 4x4 from 4x4)
//   M[xi][co][t]  = sum over ci of U[xi][co][ci] * V[xi][ci][t]   (GEMM)
//   y[n][co](tile) = A^T M[.][co][t] A          (outputs, 2x2 from 4x4)
//
// The weight gradient is the same map transposed: with Z = A dy A^T (4x4
// from each 2x2 block of dy),
//
//   dU[xi][co][ci] = sum over t of Z[xi][co][t] * V[xi][ci][t]   (GEMM)
//   dw[co][ci]     = G^T dU[.][co][ci] G   (3x3 from 4x4)
//
// t runs over every image's tiles (tile (th, tw) covers output rows 2th,
// 2th+1 and columns 2tw, 2tw+1; an odd plane's last tile computes one row or
// column that is dropped). The GEMMs run on the packed GEMM of gemm.h.
//
// Why: on 14x14 planes at small batches (resnet50's layer3 at batch 8) the
// im2col GEMM spends a fifth of its time packing the expanded input, and
// multiplies 2.25 times as much as this. The transforms cost memory passes
// over tensors 16/4 = 4 times the input and output planes; they pay where
// the channel counts are large enough for the GEMMs to dominate and the
// transformed tensors are small (use_winograd).
//
// Numerics: the transforms add and subtract (G's halves are exact), so the
// rounding differs from the direct sum by a few units in the last place of
// the largest partial terms; tests state their tolerance. Results do not
// depend on the thread count: every element is computed by one thread in a
// fixed order.
#pragma once

#include <algorithm>

#include "bf16.h"
#include "common.h"
#include "epilogue.h"
#include "gemm.h"
#include "kernels/shapes.h"

namespace rnc::cpu::detail {

template <Conv2DShape S> struct Winograd {
  static constexpr int Cin = S.in_channels, Cout = S.out_channels;
  static constexpr int H = S.in_h, W = S.in_w; // the output's size too
  static constexpr int TH = (H + 1) / 2, TW = (W + 1) / 2;
  static constexpr long tiles = long(TH) * TW; // per image
  // The input plane with a zero border: one row and column before, up to
  // two after (the last tile of an odd plane reads one past the border).
  static constexpr int PH = 2 * TH + 2, PW = 2 * TW + 2;
  // Row stride of V and M: the batch's tiles rounded up to whole vectors.
  static long ld(int N) { return (long(N) * tiles + 15) / 16 * 16; }
};

// Where F(2x2, 3x3) runs instead of the other paths (conv.h): 3x3, stride
// 1, pad 1, no dilation, one group, fp32, planes of 14x14 to 16x16 with at
// least 128 channels on both sides (at most 2048 in), and
// (winograd_batch_ok) batches of at most 8 images. Measured one thread against the path it replaces
// (`kernel-conv-bench`-like harness, forward): 256->256 @14 at batch 8 14.0
// -> 10.1 ms, 128->128 @14 3.7 -> 2.8, 128 @16 5.0 -> 3.6; in resnet50's
// step at batch 8 (RNC_PROFILE=cpu) its 256->256 @14 layers' forward 72 ->
// 58 ms and data gradient 75 -> 61 ms a step. It loses where the image
// tiles or the GEMM have columns enough (256 @14 at batch 16 and 32: even),
// on 64 channels (64 @14 at batch 128: 14.6 -> 31.5 ms), on 7x7 planes (a
// quarter of the last tiles' outputs dropped, and 512 x 512 weights to
// transform: 15.1 -> 17.3) and in the step on 28x28 planes (128 @28: 40 ->
// 46 ms, though faster alone: the transformed tensors, 12.8 MB each, come
// from memory). The weight gradient of the same layers: 256->256 @14 at
// batch 8 10.6-10.8 -> 8.7-9.1 ms (kernel-conv-bench). RNC_CONV_NO_WINOGRAD
// turns it off.
template <Conv2DShape S, class T> constexpr bool use_winograd() {
#if RNC_HAVE_VECTOR_EXT && !defined(RNC_CONV_NO_WINOGRAD) &&                 \
    !defined(RNC_CONV_NO_TILED)
  return std::is_same_v<T, float> && !bf16_operands<T>() && S.groups == 1 &&
         S.kernel_h == 3 && S.kernel_w == 3 && S.stride_h == 1 &&
         S.stride_w == 1 && S.pad_h == 1 && S.pad_w == 1 &&
         S.dilation_h == 1 && S.dilation_w == 1 && S.in_h >= 14 &&
         S.in_w >= 14 && S.in_h <= 16 && S.in_w <= 16 &&
         S.in_channels >= 128 && S.out_channels >= 128 &&
         S.in_channels <= 2048; // winograd_weights' row: 128 KB of stack
#else
  return false;
#endif
}
inline bool winograd_batch_ok(int N) { return N <= 8; }

// U[xi][co][ci] for every output channel in [co0, co1): a channel's 16 rows
// of Cin values built in `row`, then stored whole (a store per element to
// 16 places 4 MB apart thrashed the cache: 14 ms for 512 x 512 channels).
template <Conv2DShape S, class T>
void winograd_weights(T *RNC_RESTRICT u, const T *RNC_RESTRICT w, int co0,
                      int co1) {
  using WG = Winograd<S>;
  constexpr int Cin = WG::Cin;
  constexpr long XS = long(WG::Cout) * Cin; // stride of xi in U
  alignas(64) T row[16][Cin];
  for (int co = co0; co < co1; ++co) {
    for (int ci = 0; ci < Cin; ++ci) {
      const T *g = w + (long(co) * Cin + ci) * 9;
      T gg[4][3]; // G g
      for (int j = 0; j < 3; ++j) {
        gg[0][j] = g[j];
        gg[1][j] = T(0.5) * (g[j] + g[3 + j] + g[6 + j]);
        gg[2][j] = T(0.5) * (g[j] - g[3 + j] + g[6 + j]);
        gg[3][j] = g[6 + j];
      }
      for (int a = 0; a < 4; ++a) { // (G g) G^T
        row[4 * a + 0][ci] = gg[a][0];
        row[4 * a + 1][ci] = T(0.5) * (gg[a][0] + gg[a][1] + gg[a][2]);
        row[4 * a + 2][ci] = T(0.5) * (gg[a][0] - gg[a][1] + gg[a][2]);
        row[4 * a + 3][ci] = gg[a][2];
      }
    }
    for (int xi = 0; xi < 16; ++xi)
      std::copy(row[xi], row[xi] + Cin, u + xi * XS + long(co) * Cin);
  }
}

// V[xi][ci][n * tiles + tile] for image n, channel ci. The bordered plane is
// kept as its even and odd columns, so that every loop below runs along a
// row with unit stride (and vectorizes): tile tw reads columns 2tw .. 2tw+3
// of the bordered row, i.e. even[tw], odd[tw], even[tw+1], odd[tw+1].
template <Conv2DShape S, class T>
void winograd_input(T *RNC_RESTRICT v, long ldv, const T *RNC_RESTRICT x,
                    int n, int ci) {
  using WG = Winograd<S>;
  constexpr int H = WG::H, W = WG::W, TW = WG::TW, K = TW + 1;
  const long xs = long(WG::Cin) * ldv; // stride of xi in V
  alignas(64) T pe[WG::PH][K], po[WG::PH][K];
  const T *xc = x + (long(n) * WG::Cin + ci) * H * W;
  for (int r = 0; r < WG::PH; ++r) {
    int ih = r - 1;
    // Bordered column c = input column c - 1: even c = 2k reads 2k - 1.
    for (int k = 0; k < K; ++k) {
      int ie = 2 * k - 1, io = 2 * k;
      bool in = ih >= 0 && ih < H;
      pe[r][k] = in && ie >= 0 && ie < W ? xc[long(ih) * W + ie] : T(0);
      po[r][k] = in && io < W ? xc[long(ih) * W + io] : T(0);
    }
  }
  T *dst = v + long(ci) * ldv + long(n) * WG::tiles;
  for (int th = 0; th < WG::TH; ++th) {
    T te[4][K], to[4][K]; // B^T d, even and odd columns
    const int r = 2 * th;
    for (int k = 0; k < K; ++k) {
      te[0][k] = pe[r][k] - pe[r + 2][k];
      te[1][k] = pe[r + 1][k] + pe[r + 2][k];
      te[2][k] = pe[r + 2][k] - pe[r + 1][k];
      te[3][k] = pe[r + 1][k] - pe[r + 3][k];
      to[0][k] = po[r][k] - po[r + 2][k];
      to[1][k] = po[r + 1][k] + po[r + 2][k];
      to[2][k] = po[r + 2][k] - po[r + 1][k];
      to[3][k] = po[r + 1][k] - po[r + 3][k];
    }
    T *o = dst + long(th) * TW;
    for (int a = 0; a < 4; ++a) { // (B^T d) B: columns
      T *o0 = o + (4 * a) * xs, *o1 = o0 + xs, *o2 = o1 + xs, *o3 = o2 + xs;
      for (int tw = 0; tw < TW; ++tw) {
        o0[tw] = te[a][tw] - te[a][tw + 1];
        o1[tw] = to[a][tw] + te[a][tw + 1];
        o2[tw] = te[a][tw + 1] - to[a][tw];
        o3[tw] = to[a][tw] - to[a][tw + 1];
      }
    }
  }
}

// y[n][co] from M[xi][co][n * tiles + tile], then bias and the epilogue
// epi(n, co, idx, v) on each element, as conv2d_forward_task applies them.
template <Conv2DShape S, class T, class Epi>
void winograd_output(T *RNC_RESTRICT y, const T *RNC_RESTRICT m, long ldm,
                     const T *bias, int n, int co, const Epi &epi) {
  using WG = Winograd<S>;
  constexpr int H = WG::H, W = WG::W, TW = WG::TW;
  const long xs = long(WG::Cout) * ldm; // stride of xi in M
  const T *src = m + long(co) * ldm + long(n) * WG::tiles;
  T *out = y + (long(n) * WG::Cout + co) * H * W;
  alignas(64) T ye[TW], yo[TW];
  for (int th = 0; th < WG::TH; ++th) {
    const T *s = src + long(th) * TW;
    T s0[4][TW], s1[4][TW]; // A^T m: rows
    for (int b = 0; b < 4; ++b) {
      const T *m0 = s + b * xs, *m1 = m0 + 4 * xs, *m2 = m1 + 4 * xs,
              *m3 = m2 + 4 * xs;
      for (int tw = 0; tw < TW; ++tw) {
        s0[b][tw] = m0[tw] + m1[tw] + m2[tw];
        s1[b][tw] = m1[tw] - m2[tw] - m3[tw];
      }
    }
    for (int a = 0; a < 2 && 2 * th + a < H; ++a) {
      const T(*sa)[TW] = a == 0 ? s0 : s1;
      for (int tw = 0; tw < TW; ++tw) { // (A^T m) A: columns
        ye[tw] = sa[0][tw] + sa[1][tw] + sa[2][tw];
        yo[tw] = sa[1][tw] - sa[2][tw] - sa[3][tw];
      }
      T *o = out + long(2 * th + a) * W;
      for (int tw = 0; tw < W / 2; ++tw) {
        o[2 * tw] = ye[tw];
        o[2 * tw + 1] = yo[tw];
      }
      if constexpr (W % 2 == 1)
        o[W - 1] = ye[TW - 1];
    }
  }
  constexpr bool kPlain = std::is_same_v<Epi, NoEpilogue>;
  if (bias == nullptr && kPlain)
    return;
  apply_row_epilogue(out, out, long(H) * W, n, co, bias, epi);
}

// The whole layer: y [N, Cout, H, W] from x [N, Cin, H, W] and w [Cout, Cin,
// 3, 3] (+ bias), then after(n, 1, 0) for every image (as the other forward
// paths call it: BN statistics of image n's outputs).
// The three transformed tensors of a layer at batch N: the weights' (U, or
// dU), the inputs' (V) and the outputs' (M, or Z), in the calling thread's
// scratch, shared by the threads. Not the pack slots (the GEMMs') nor
// kSlotWeight (the data gradient's flipped weights, which may be w).
template <Conv2DShape S, class T> struct WinogradTensors {
  using WG = Winograd<S>;
  static constexpr int Cin = WG::Cin, Cout = WG::Cout;
  long ld, cols;
  T *u, *v, *m;
  double flops; // of the 16 GEMMs, for run_tasks
  explicit WinogradTensors(int N)
      : ld(WG::ld(N)), cols(long(N) * WG::tiles),
        u(scratch<T>(kSlotTaps, size_t(16) * Cout * Cin)),
        v(scratch<T>(kSlotCol, size_t(16) * Cin * ld)),
        m(scratch<T>(kSlotPanel, size_t(16) * Cout * ld)),
        flops(2.0 * 16 * Cout * double(cols) * Cin) {}
  // V from x [N, Cin, H, W].
  void transform_inputs(const T *x, int N) const {
    run_tasks(long(N) * Cin, flops, [&](long t) {
      winograd_input<S>(v, ld, x, int(t / Cin), int(t % Cin));
    });
  }
  // f(co0, co1) over 16-channel chunks of the output channels.
  template <class F> void over_output_channels(const F &f) const {
    constexpr int kChunks = Cout / 16;
    run_tasks(kChunks, flops, [&](long t) {
      f(int(t * Cout / kChunks), int((t + 1) * Cout / kChunks));
    });
  }
};

template <Conv2DShape S, class T, class Epi, class After>
void conv2d_winograd_forward(T *y, const T *x, const T *w, const T *bias,
                             int N, const Epi &epi, const After &after) {
  constexpr int Cin = Winograd<S>::Cin, Cout = Winograd<S>::Cout;
  const WinogradTensors<S, T> wt(N);
  const long ld = wt.ld, cols = wt.cols;
  T *u = wt.u, *v = wt.v, *m = wt.m;
  const double flops = wt.flops;
  wt.over_output_channels(
      [&](int co0, int co1) { winograd_weights<S>(u, w, co0, co1); });
  wt.transform_inputs(x, N);
  run_tasks(16, flops, [&](long xi) {
    gemm_packed<T>(Cout, cols, Cin, T(1),
                   MatrixA<T>{u + xi * Cout * Cin, Cin, false},
                   MatrixB<T>{v + xi * Cin * ld, ld, false}, T(0),
                   m + xi * Cout * ld, ld);
  });
  run_tasks(long(N) * Cout, flops, [&](long t) {
    winograd_output<S>(y, m, ld, bias, int(t / Cout), int(t % Cout), epi);
  });
  run_tasks(N, flops, [&](long n) { after(int(n), 1, 0); });
}

// Z[xi][co][n * tiles + tile] = (A dy[n][co](tile) A^T)[xi] for image n,
// channel co: A = [1 0; 1 1; 1 -1; 0 -1] (the transpose of the output
// transform's A^T); an odd plane's last tile reads zeros past its edge.
template <Conv2DShape S, class T>
void winograd_output_grad(T *RNC_RESTRICT z, long ldz,
                          const T *RNC_RESTRICT dy, int n, int co) {
  using WG = Winograd<S>;
  constexpr int H = WG::H, W = WG::W, TW = WG::TW;
  const long xs = long(WG::Cout) * ldz; // stride of xi in Z
  const T *src = dy + (long(n) * WG::Cout + co) * H * W;
  T *dst = z + long(co) * ldz + long(n) * WG::tiles;
  for (int th = 0; th < WG::TH; ++th) {
    // The tile rows' even and odd columns (zero past the plane).
    alignas(64) T e[2][TW], o[2][TW];
    for (int a = 0; a < 2; ++a) {
      int r = 2 * th + a;
      for (int tw = 0; tw < TW; ++tw) {
        e[a][tw] = r < H ? src[long(r) * W + 2 * tw] : T(0);
        o[a][tw] = r < H && 2 * tw + 1 < W ? src[long(r) * W + 2 * tw + 1]
                                           : T(0);
      }
    }
    T *d = dst + long(th) * TW;
    for (int b = 0; b < 4; ++b) { // A dy: rows (d0, d0 + d1, d0 - d1, -d1)
      T re[TW], ro[TW];
      for (int tw = 0; tw < TW; ++tw) {
        T e0 = e[0][tw], e1 = e[1][tw], o0 = o[0][tw], o1 = o[1][tw];
        re[tw] = b == 0 ? e0 : b == 1 ? e0 + e1 : b == 2 ? e0 - e1 : -e1;
        ro[tw] = b == 0 ? o0 : b == 1 ? o0 + o1 : b == 2 ? o0 - o1 : -o1;
      }
      T *d0 = d + (4 * b) * xs, *d1 = d0 + xs, *d2 = d1 + xs, *d3 = d2 + xs;
      for (int tw = 0; tw < TW; ++tw) { // (A dy) A^T: columns
        d0[tw] = re[tw];
        d1[tw] = re[tw] + ro[tw];
        d2[tw] = re[tw] - ro[tw];
        d3[tw] = -ro[tw];
      }
    }
  }
}

// dw[co][ci] = G^T dU[.][co][ci] G for every output channel in [co0, co1):
// a channel's 16 rows of Cin values read whole (as winograd_weights writes
// them), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
template <Conv2DShape S, class T>
void winograd_weight_grad(T *RNC_RESTRICT dw, const T *RNC_RESTRICT du,
                          int co0, int co1) {
  using WG = Winograd<S>;
  constexpr int Cin = WG::Cin;
  constexpr long XS = long(WG::Cout) * Cin; // stride of xi in dU
  for (int co = co0; co < co1; ++co) {
    const T *r[16];
    for (int xi = 0; xi < 16; ++xi)
      r[xi] = du + xi * XS + long(co) * Cin;
    for (int ci = 0; ci < Cin; ++ci) {
      T m[4][3]; // dU G
      for (int a = 0; a < 4; ++a) {
        T u0 = r[4 * a][ci], u1 = r[4 * a + 1][ci], u2 = r[4 * a + 2][ci],
          u3 = r[4 * a + 3][ci];
        m[a][0] = u0 + T(0.5) * (u1 + u2);
        m[a][1] = T(0.5) * (u1 - u2);
        m[a][2] = T(0.5) * (u1 + u2) + u3;
      }
      T *g = dw + (long(co) * Cin + ci) * 9;
      for (int j = 0; j < 3; ++j) { // G^T (dU G)
        g[j] = m[0][j] + T(0.5) * (m[1][j] + m[2][j]);
        g[3 + j] = T(0.5) * (m[1][j] - m[2][j]);
        g[6 + j] = T(0.5) * (m[1][j] + m[2][j]) + m[3][j];
      }
    }
  }
}

// dw [Cout, Cin, 3, 3] = the weight gradient from dy [N, Cout, H, W] and x
// [N, Cin, H, W]: both transformed, 16 GEMMs over the batch's tiles, dU
// transformed back.
template <Conv2DShape S, class T>
void conv2d_winograd_backward_weight(T *dw, const T *dy, const T *x, int N) {
  constexpr int Cin = Winograd<S>::Cin, Cout = Winograd<S>::Cout;
  const WinogradTensors<S, T> wt(N);
  const long ld = wt.ld, cols = wt.cols;
  T *du = wt.u, *v = wt.v, *z = wt.m;
  const double flops = wt.flops;
  wt.transform_inputs(x, N);
  run_tasks(long(N) * Cout, flops, [&](long t) {
    winograd_output_grad<S>(z, ld, dy, int(t / Cout), int(t % Cout));
  });
  run_tasks(16, flops, [&](long xi) {
    gemm_packed<T>(Cout, Cin, int(cols), T(1),
                   MatrixA<T>{z + xi * Cout * ld, ld, false},
                   MatrixB<T>{v + xi * Cin * ld, ld, true}, T(0),
                   du + xi * Cout * Cin, Cin);
  });
  wt.over_output_channels(
      [&](int co0, int co1) { winograd_weight_grad<S>(dw, du, co0, co1); });
}

} // namespace rnc::cpu::detail
