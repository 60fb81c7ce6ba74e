// conv2d forward (+ BN statistics) and backward, NHWC activations, KCRS
// weights, as implicit GEMMs on the engine of igemm.cuh.
//
// Per group g (Cg = in_channels/groups, Mg = out_channels/groups, RS =
// kernel_h*kernel_w, P = out_h*out_w):
//   forward      y[M=N*P, Mg]      = im2col(x)[M, K=RS*Cg] * W_g^T[K, Mg]
//   backward dx  dx[M=N*H*W, Cg]   = gather(dy)[M, K=RS*Mg] * W_g[K, Cg]
//   backward dw  dw_g[Mg, RS*Cg]   = dy^T[Mg, K=N*P] * im2col(x)[K, RS*Cg]
// The reduction index k runs over (tap rs = r*KW + s, channel c) with
// consecutive k on consecutive channels of one NHWC pixel (see tap_channel).
#pragma once

#include "common.cuh"
#include "epilogue.cuh"
#include "igemm.cuh"
#include "reduce.cuh"
#include "stat_partials.h"

namespace rnc::cuda {

namespace detail {

// ----------------------------------------------------------------------------
// Kernels: the three problems (accessors for igemm_kernel).

template <Conv2DShape S> inline constexpr bool kDataPhases = data_phases(S);

template <Conv2DShape S> struct ConvDims {
  static constexpr int Cin = S.in_channels, Cout = S.out_channels;
  static constexpr int H = S.in_h, W = S.in_w, OH = S.out_h(), OW = S.out_w();
  static constexpr int P = OH * OW, HW = H * W;
  static constexpr int KH = S.kernel_h, KW = S.kernel_w, RS = KH * KW;
  static constexpr int Cg = S.in_per_group(), Mg = S.out_per_group();
  static constexpr int SH = S.stride_h, SW = S.stride_w;
  static constexpr int PH = S.pad_h, PW = S.pad_w;
  static constexpr int DH = S.dilation_h, DW = S.dilation_w;

  // The (tap, channel) of reduction index k over C channels per tap. When C
  // is a multiple of the slice depth BK, chunks of BK channels are
  // outermost and the taps of a chunk take consecutive slices, so slice
  // after slice reads the same cache lines of x and of the KCRS weights
  // (whose taps are innermost); otherwise k = rs*C + c.
  template <int C>
  __host__ __device__ static void tap_channel(int k, int &rs, int &c) {
    tap_channel_of<C, RS>(k, rs, c);
  }
  // The same over `Taps` taps (a stride phase's subset of the kernel).
  template <int C, int Taps>
  __host__ __device__ static void tap_channel_of(int k, int &t, int &c) {
    if constexpr (C % kTileK == 0) {
      constexpr int kTaps = Taps > 0 ? Taps : 1; // (no k exists at 0 taps)
      const int slice = k / kTileK, lane = k - slice * kTileK;
      const int chunk = slice / kTaps;
      t = slice - chunk * kTaps;
      c = chunk * kTileK + lane;
    } else {
      t = k / C;
      c = k - t * C;
    }
  }

  // NHWC offset of input channel g*Cg + c at the pixel tap (r, s) of output
  // pixel q = oh*OW + ow of image n reads, or -1 in the padding.
  __host__ __device__ static long input_offset(int n, int q, int rs, int g,
                                               int c) {
    if constexpr (S.pointwise()) // 1x1, stride 1, no padding: same pixel
      return (long(n) * P + q) * Cin + g * Cg + c;
    const int oh = q / OW, ow = q - oh * OW;
    const int r = rs / KW, s = rs - r * KW;
    const int ih = oh * SH - PH + r * DH, iw = ow * SW - PW + s * DW;
    if (ih < 0 || ih >= H || iw < 0 || iw >= W)
      return -1;
    return ((long(n) * H + ih) * W + iw) * Cin + g * Cg + c;
  }

  // The output pixel whose tap (r, s) reads input pixel (ih, iw), as its
  // NHWC offset (channel 0 of image n), or -1 if there is none.
  __host__ __device__ static long output_pixel_of_tap(int n, int ih, int iw,
                                                      int rs) {
    if constexpr (S.pointwise())
      return ((long(n) * OH + ih) * OW + iw) * Cout;
    const int r = rs / KW, s = rs - r * KW;
    const int th = ih + PH - r * DH, tw = iw + PW - s * DW;
    if (th < 0 || tw < 0 || th % SH != 0 || tw % SW != 0)
      return -1;
    const int oh = th / SH, ow = tw / SW;
    if (oh >= OH || ow >= OW)
      return -1;
    return ((long(n) * OH + oh) * OW + ow) * Cout;
  }

  // KCRS offset of w[g*Mg + o][c][rs].
  __host__ __device__ static long weight_offset(int g, int o, int c, int rs) {
    return (long(g * Mg + o) * Cg + c) * RS + rs;
  }

  // Whether the GEMMs read the weights as a KRSC copy (krsc_weights): with
  // more than one tap, a KCRS weight's channels are RS floats apart, so the
  // copy with channels innermost is what lets them load as float4.
  static constexpr bool kKrsc = RS > 1 && Cg % 4 == 0;
  // Offset of w[g*Mg + o][c][rs] in the layout the GEMMs read.
  __host__ __device__ static long staged_weight_offset(int g, int o, int c,
                                                       int rs) {
    if constexpr (kKrsc)
      return (long(g * Mg + o) * RS + rs) * Cg + c;
    else
      return weight_offset(g, o, c, rs);
  }
  // The KRSC offset of KCRS element i (the copy kernel and its host test).
  __host__ __device__ static long krsc_of_kcrs(long i) {
    const long oc = i / RS;
    const int rs = int(i - oc * RS);
    const long o = oc / Cg;
    const int c = int(oc - o * Cg);
    return (o * RS + rs) * Cg + c;
  }
};

__host__ __device__ __forceinline__ float4 load4(const float *p) {
  return ldg(reinterpret_cast<const float4 *>(p));
}
__host__ __device__ __forceinline__ float4 zero4() {
  return make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

// ----------------------------------------------------------------------------
// Statistics without atomics. A GEMM with statistics (BN sums of a forward,
// BN backward sums of a data gradient) stores each block's column sums as
// one row of a [rows][2][C] buffer of partial sums in the split scratch
// (stream.cuh); sum_stat_partials then adds the rows up in a fixed order.
// No float atomics anywhere, so the same bits on every run.

// Stores a block's two column sums s and s2 of channel c at `row`.
__host__ __device__ __forceinline__ void
store_stat_partial(float *partial, long row, int C, int c, float s, float s2) {
  float *const p = partial + row * 2 * C;
  p[c] = s;
  p[C + c] = s2;
}

// [rows][2][C] partial sums, read by channel_sums_kernel (reduce.cuh).
template <int C> struct StatPartialRows {
  const float *partial;
  __device__ void operator()(long r, int c, float (&acc)[2]) const {
    acc[0] += partial[r * 2 * C + c];
    acc[1] += partial[r * 2 * C + C + c];
  }
};

// out0[c], out1[c] = the sums of `rows` rows of partial sums, in a fixed
// order.
template <int C>
void sum_stat_partials(const float *partial, long rows, float *out0,
                       float *out1) {
  launch_channel_sums<C, 2>(StatPartialRows<C>{partial}, out0, out1, rows);
}

// The split scratch when it holds `floats` floats, else nullptr (recorded).
inline float *stat_scratch(long floats) {
  const DeviceScratch &scratch = split_scratch();
  return check_args(scratch.data && scratch.floats >= floats) ? scratch.data
                                                              : nullptr;
}

// Forward: row m = n*P + q (output pixel), column j (output channel g*Mg+j),
// k = rs*Cg + c. With Stats, block b's column sums go to row b of
// stat_partial.
template <Conv2DShape S, class Epi, bool Stats> struct ConvFwdOp {
  using D = ConvDims<S>;
  static constexpr int kGroups = S.groups, kN = D::Mg, kK = D::RS * D::Cg;
  static constexpr bool kAAlongK = true, kBAlongK = true;
  static constexpr bool kAVec = D::Cg % 4 == 0;
  static constexpr bool kBVec = D::Cg % 4 == 0; // KCRS at RS 1, else KRSC
  static constexpr bool kStats = Stats;

  float *y;
  const float *x, *w, *bias;
  float *stat_partial; // [forward_stat_rows][2][Cout], only with Stats
  Epi epi;

  __host__ __device__ __forceinline__ long a_offset(int g, int m, int k) const {
    const int n = m / D::P, q = m - n * D::P;
    int rs, c;
    D::template tap_channel<D::Cg>(k, rs, c);
    return D::input_offset(n, q, rs, g, c);
  }
  __host__ __device__ __forceinline__ float a(int g, int m, int k) const {
    const long i = a_offset(g, m, k);
    return i < 0 ? 0.0f : ldg(x + i);
  }
  // k % 4 == 0 and Cg % 4 == 0: the 4 channels share the pixel.
  __host__ __device__ __forceinline__ float4 a4(int g, int m, int k) const {
    const long i = a_offset(g, m, k);
    return i < 0 ? zero4() : load4(x + i);
  }
  // Precomputed offsets (igemm.cuh): per row, the virtual pixel (ih0, iw0)
  // its taps are taken from and where its channel g*Cg would be (dereferenced
  // only at a tap inside the image); per k, the tap's displacement and
  // channel.
  struct ARow {
    const float *p;
    int ih0, iw0;
  };
  struct ATap {
    int delta, dr, ds;
  };
  __host__ __device__ __forceinline__ ARow a_row(int g, int m) const {
    if constexpr (S.pointwise())
      return {x + long(m) * D::Cin + g * D::Cg, 0, 0};
    const int n = m / D::P, q = m - n * D::P;
    const int oh = q / D::OW, ow = q - oh * D::OW;
    const int ih0 = oh * D::SH - D::PH, iw0 = ow * D::SW - D::PW;
    return {x + ((long(n) * D::H + ih0) * D::W + iw0) * D::Cin + g * D::Cg, ih0,
            iw0};
  }
  __host__ __device__ __forceinline__ ATap a_tap(int k) const {
    int rs, c;
    D::template tap_channel<D::Cg>(k, rs, c);
    const int r = rs / D::KW, s = rs - r * D::KW;
    const int dr = r * D::DH, ds = s * D::DW;
    return {(dr * D::W + ds) * D::Cin + c, dr, ds};
  }
  __host__ __device__ __forceinline__ float4 a4_at(const ARow &r,
                                                   const ATap &t) const {
    if constexpr (!S.pointwise()) {
      const int ih = r.ih0 + t.dr, iw = r.iw0 + t.ds;
      if (unsigned(ih) >= unsigned(D::H) || unsigned(iw) >= unsigned(D::W))
        return zero4();
    }
    return load4(r.p + t.delta);
  }
  __host__ __device__ __forceinline__ float b(int g, int k, int j) const {
    int rs, c;
    D::template tap_channel<D::Cg>(k, rs, c);
    return ldg(w + D::staged_weight_offset(g, j, c, rs));
  }
  // The weights as B with precomputed offsets: output channel g*Mg + j's
  // row of K, and k's position in it (KCRS at RS 1, KRSC otherwise).
  using BRow = const float *;
  using BTap = int;
  __host__ __device__ __forceinline__ BRow b_row(int g, int j) const {
    return w + long(g * D::Mg + j) * kK;
  }
  __host__ __device__ __forceinline__ BTap b_tap(int k) const {
    int rs, c;
    D::template tap_channel<D::Cg>(k, rs, c);
    return rs * D::Cg + c;
  }
  __host__ __device__ __forceinline__ float4 b4_at(BRow r, BTap t) const {
    return load4(r + t);
  }
  // k % 4 == 0 and Cg % 4 == 0: 4 input channels of one tap, contiguous in
  // KCRS at RS 1 and in the KRSC copy otherwise.
  __host__ __device__ __forceinline__ float4 b4(int g, int k, int j) const {
    if constexpr (D::RS == 1)
      return load4(w + D::weight_offset(g, j, k, 0));
    int rs, c;
    D::template tap_channel<D::Cg>(k, rs, c);
    return load4(w + D::staged_weight_offset(g, j, c, rs));
  }
  // Output (g, m, j): output channel co of output pixel q of image n.
  struct Out {
    int n, q, co;
  };
  __host__ __device__ __forceinline__ Out out(int g, int m, int j) const {
    const int n = m / D::P;
    return {n, m - n * D::P, g * D::Mg + j};
  }
  __host__ __device__ __forceinline__ float finish(const Out &o,
                                                   float v) const {
    if (bias)
      v += ldg(bias + o.co);
    return epi(o.n, o.co, long(o.q), v);
  }
  __host__ __device__ __forceinline__ float second_stat(const Out &,
                                                        float v) const {
    return v * v;
  }
  __host__ __device__ __forceinline__ void write(const Out &o, float v) const {
    y[(long(o.n) * D::P + o.q) * D::Cout + o.co] = v;
  }
  __host__ __device__ __forceinline__ void add_stats(int g, int j, int bm,
                                                     float s, float ss) const {
    store_stat_partial(stat_partial, bm, D::Cout, g * D::Mg + j, s, ss);
  }
};

// The part both data-gradient problems below share: the operands, a dy
// element by offset, the weight as [K, Cg] through (tap rs, output channel
// o) -- no flip needed -- and the store side: the epilogue at input pixel
// p = n*H*W + q, dx, and with Sums (rn.conv2d_grad_input_bn_reduce) the
// per-input-channel sums of the stored v: sum v and sum v * (bn_x -
// bn_mean[c]).
template <Conv2DShape S, class Epi, bool Sums> struct DataGradIo {
  using D = ConvDims<S>;
  static constexpr int kGroups = S.groups, kN = D::Cg;
  static constexpr bool kAAlongK = true, kBAlongK = false;
  static constexpr bool kAVec = D::Mg % 4 == 0;
  static constexpr bool kBVec = D::Cg % 4 == 0; // KCRS at RS 1, else KRSC
  static constexpr bool kStats = Sums;

  float *dx;
  const float *dy, *w;
  Epi epi;
  const float *bn_x = nullptr, *bn_mean = nullptr; // only with Sums
  // With Sums: block b's column sums go to row stat_row0 + b of the
  // [data_stat_rows][2][Cin] partial sums (each phase's GEMM its own rows).
  float *stat_partial = nullptr;
  long stat_row0 = 0;

  __host__ __device__ __forceinline__ float dy_at(long i) const {
    return i < 0 ? 0.0f : ldg(dy + i);
  }
  __host__ __device__ __forceinline__ float4 dy4_at(long i) const {
    return i < 0 ? zero4() : load4(dy + i);
  }
  // Precomputed offsets of the dy gather (igemm.cuh): a row reads output
  // pixels (oh0 - dr, ow0 - ds) for its taps' (dr, ds), zero outside the
  // output; the row holds where (oh0, ow0)'s channel g*Mg would be
  // (dereferenced only inside), the tap its displacement and channel o.
  struct ARow {
    const float *p;
    int oh0, ow0;
  };
  struct ATap {
    int delta, dr, ds;
  };
  __host__ __device__ __forceinline__ ARow gather_row(int n, int oh0, int ow0,
                                                      int g) const {
    return {dy + ((long(n) * D::OH + oh0) * D::OW + ow0) * D::Cout + g * D::Mg,
            oh0, ow0};
  }
  __host__ __device__ static ATap gather_tap(int dr, int ds, int o) {
    return {o - (dr * D::OW + ds) * D::Cout, dr, ds};
  }
  __host__ __device__ __forceinline__ float4 a4_at(const ARow &r,
                                                   const ATap &t) const {
    const int oh = r.oh0 - t.dr, ow = r.ow0 - t.ds;
    if (unsigned(oh) >= unsigned(D::OH) || unsigned(ow) >= unsigned(D::OW))
      return zero4();
    return load4(r.p + t.delta);
  }
  __host__ __device__ __forceinline__ float w_at(int g, int o, int c,
                                                 int rs) const {
    return ldg(w + D::staged_weight_offset(g, o, c, rs));
  }
  __host__ __device__ __forceinline__ float4 w4_at(int g, int o, int c,
                                                   int rs) const {
    return load4(w + D::staged_weight_offset(g, o, c, rs));
  }
  // Output element: input channel ci of input pixel p (= n*HW + q) of
  // image n.
  struct Out {
    int n, ci;
    long q, p;
  };
  __host__ __device__ __forceinline__ float finish(const Out &o,
                                                   float v) const {
    return epi(o.n, o.ci, o.q, v);
  }
  __host__ __device__ __forceinline__ float second_stat(const Out &o,
                                                        float v) const {
    return v * (ldg(bn_x + o.p * D::Cin + o.ci) - ldg(bn_mean + o.ci));
  }
  __host__ __device__ __forceinline__ void write(const Out &o, float v) const {
    dx[o.p * D::Cin + o.ci] = v;
  }
  __host__ __device__ __forceinline__ void add_stats(int g, int c, int bm,
                                                     float s, float sd) const {
    if constexpr (Sums)
      store_stat_partial(stat_partial, stat_row0 + bm, D::Cin, g * D::Cg + c, s,
                         sd);
  }
};

// Backward data: row m = n*H*W + ih*W + iw (input pixel), column c (input
// channel g*Cg + c), k = rs*Mg + o. A is dy gathered through the taps (zero
// where no output pixel uses tap rs at this input pixel: padding and, with
// dilation, the stride's holes; strided layers of dilation 1 run
// ConvBwdDataPhaseOp instead).
template <Conv2DShape S, class Epi, bool Sums = false>
struct ConvBwdDataOp : DataGradIo<S, Epi, Sums> {
  using D = ConvDims<S>;
  static constexpr int kK = D::RS * D::Mg;

  __host__ __device__ __forceinline__ long a_offset(int g, int m, int k) const {
    const int n = m / D::HW, q = m - n * D::HW;
    const int ih = q / D::W, iw = q - ih * D::W;
    int rs, o;
    D::template tap_channel<D::Mg>(k, rs, o);
    const long pixel = D::output_pixel_of_tap(n, ih, iw, rs);
    return pixel < 0 ? -1 : pixel + g * D::Mg + o;
  }
  __host__ __device__ __forceinline__ float a(int g, int m, int k) const {
    return this->dy_at(a_offset(g, m, k));
  }
  __host__ __device__ __forceinline__ float4 a4(int g, int m, int k) const {
    return this->dy4_at(a_offset(g, m, k));
  }
  // Precomputed offsets at stride 1 (output pixel = input pixel + padding -
  // tap): the dilated strided layers that come here keep a4.
  static constexpr bool kPrepareA = D::SH == 1 && D::SW == 1;
  __host__ __device__ __forceinline__ typename DataGradIo<S, Epi, Sums>::ARow
  a_row(int g, int m) const {
    const int n = m / D::HW, q = m - n * D::HW;
    const int ih = q / D::W, iw = q - ih * D::W;
    return this->gather_row(n, ih + D::PH, iw + D::PW, g);
  }
  __host__ __device__ __forceinline__ typename DataGradIo<S, Epi, Sums>::ATap
  a_tap(int k) const {
    int rs, o;
    D::template tap_channel<D::Mg>(k, rs, o);
    const int r = rs / D::KW, s = rs - r * D::KW;
    return this->gather_tap(r * D::DH, s * D::DW, o);
  }
  __host__ __device__ __forceinline__ float b(int g, int k, int c) const {
    int rs, o;
    D::template tap_channel<D::Mg>(k, rs, o);
    return this->w_at(g, o, c, rs);
  }
  // c % 4 == 0: 4 consecutive input channels of one output channel and tap.
  __host__ __device__ __forceinline__ float4 b4(int g, int k, int c) const {
    if constexpr (D::RS == 1)
      return load4(this->w + D::weight_offset(g, k, c, 0));
    int rs, o;
    D::template tap_channel<D::Mg>(k, rs, o);
    return this->w4_at(g, o, c, rs);
  }
  __host__ __device__ __forceinline__ typename DataGradIo<S, Epi, Sums>::Out
  out(int g, int m, int c) const {
    const int n = m / D::HW;
    return {n, g * D::Cg + c, long(m - n * D::HW), long(m)};
  }
};

// Backward data of a strided convolution, one stride phase (PY, PX) at a
// time: the input pixels with ih % SH == PY and iw % SW == PX. Only the taps
// with (PY + PH - r) % SH == 0 (and likewise s) reach them from an output
// pixel, so each phase is a GEMM over its own taps: a 3x3 stride-2 layer's
// four phases have 1, 2, 2 and 4 taps instead of 9 each (the stride's
// holes, three quarters of the multiply-adds, are never multiplied); a 1x1
// stride-2 layer's phase (0, 0) has its one tap and the other three none
// (K = 0: the store pass writes the epilogue of 0 and adds its statistics).
// Dilation 1 only (kDataPhases).
//   row m = n*Hp*Wp + i*Wp + j: input pixel (PY + i*SH, PX + j*SW);
//   k = t*Mg + o (tap_channel_of), tap t = (tr, ts): r = R0 + tr*SH,
//   s = S0 + ts*SW, read from output pixel (i + CY - tr, j + CX - ts).
template <Conv2DShape S, class Epi, bool Sums, int PY, int PX>
struct ConvBwdDataPhaseOp : DataGradIo<S, Epi, Sums> {
  using D = ConvDims<S>;
  static constexpr int R0 = (PY + D::PH) % D::SH, S0 = (PX + D::PW) % D::SW;
  static constexpr int TR = R0 < D::KH ? (D::KH - R0 + D::SH - 1) / D::SH : 0;
  static constexpr int TS = S0 < D::KW ? (D::KW - S0 + D::SW - 1) / D::SW : 0;
  static constexpr int CY = (PY + D::PH - R0) / D::SH;
  static constexpr int CX = (PX + D::PW - S0) / D::SW;
  static constexpr int Hp = phase_extent(D::H, PY, D::SH);
  static constexpr int Wp = phase_extent(D::W, PX, D::SW);
  static constexpr int kPlane = Hp * Wp; // input pixels of the phase
  static constexpr int kK = TR * TS * D::Mg;

  // Image n and phase coordinates (i, j) of row m.
  __host__ __device__ static void row(int m, int &n, int &i, int &j) {
    n = m / kPlane;
    const int q = m - n * kPlane;
    i = q / Wp;
    j = q - i * Wp;
  }
  // Input pixel index n*H*W + ih*W + iw of row m, and its plane offset q.
  __host__ __device__ static long pixel(int m, int &n, int &q) {
    int i, j;
    row(m, n, i, j);
    q = (PY + i * D::SH) * D::W + PX + j * D::SW;
    return long(n) * D::HW + q;
  }
  // Tap (tr, ts) and output channel o of reduction index k.
  __host__ __device__ static void tap(int k, int &tr, int &ts, int &o) {
    int t;
    D::template tap_channel_of<D::Mg, TR * TS>(k, t, o);
    tr = t / (TS > 0 ? TS : 1);
    ts = t - tr * TS;
  }
  __host__ __device__ static int kernel_tap(int tr, int ts) {
    return (R0 + tr * D::SH) * D::KW + S0 + ts * D::SW;
  }
  __host__ __device__ __forceinline__ long a_offset(int g, int m, int k) const {
    int n, i, j, tr, ts, o;
    row(m, n, i, j);
    tap(k, tr, ts, o);
    const int oh = i + CY - tr, ow = j + CX - ts;
    if (oh < 0 || oh >= D::OH || ow < 0 || ow >= D::OW)
      return -1;
    return ((long(n) * D::OH + oh) * D::OW + ow) * D::Cout + g * D::Mg + o;
  }
  __host__ __device__ __forceinline__ float a(int g, int m, int k) const {
    return this->dy_at(a_offset(g, m, k));
  }
  __host__ __device__ __forceinline__ float4 a4(int g, int m, int k) const {
    return this->dy4_at(a_offset(g, m, k));
  }
  __host__ __device__ __forceinline__ typename DataGradIo<S, Epi, Sums>::ARow
  a_row(int g, int m) const {
    int n, i, j;
    row(m, n, i, j);
    return this->gather_row(n, i + CY, j + CX, g);
  }
  __host__ __device__ __forceinline__ typename DataGradIo<S, Epi, Sums>::ATap
  a_tap(int k) const {
    int tr, ts, o;
    tap(k, tr, ts, o);
    return this->gather_tap(tr, ts, o);
  }
  __host__ __device__ __forceinline__ float b(int g, int k, int c) const {
    int tr, ts, o;
    tap(k, tr, ts, o);
    return this->w_at(g, o, c, kernel_tap(tr, ts));
  }
  // c % 4 == 0: 4 consecutive input channels of one output channel and tap.
  __host__ __device__ __forceinline__ float4 b4(int g, int k, int c) const {
    int tr, ts, o;
    tap(k, tr, ts, o);
    return this->w4_at(g, o, c, kernel_tap(tr, ts));
  }
  __host__ __device__ __forceinline__ typename DataGradIo<S, Epi, Sums>::Out
  out(int g, int m, int c) const {
    int n, q;
    const long p = pixel(m, n, q);
    return {n, g * D::Cg + c, long(q), p};
  }
};

// The GEMMs of a data gradient: launch(op, M) for each (one Op, or one
// ConvBwdDataPhaseOp per stride phase with input pixels, phase (0, 0)
// first; with Sums, each phase's partial sums start at the row after the
// previous phase's, data_stat_rows in all). The launchers pass launch_igemm;
// the host emulation test its emulation, so both run the same
// decomposition.
template <Conv2DShape S, class Epi, bool Sums, int Phase = 0, class Launch>
void data_gradient_gemms(const Launch &launch, float *dx, const float *dy,
                         const float *w, int N, const Epi &epi,
                         const float *bn_x, const float *bn_mean,
                         float *stat_partial, long row0 = 0) {
  if constexpr (!kDataPhases<S>) {
    using Op = ConvBwdDataOp<S, Epi, Sums>;
    launch(Op{{dx, dy, w, epi, bn_x, bn_mean, stat_partial, row0}},
           N * int(S.in_plane()));
  } else if constexpr (Phase < S.stride_h * S.stride_w) {
    using Op = ConvBwdDataPhaseOp<S, Epi, Sums, Phase / S.stride_w,
                                  Phase % S.stride_w>;
    const int rows = N * Op::kPlane;
    if constexpr (Op::kPlane > 0)
      launch(Op{dx, dy, w, epi, bn_x, bn_mean, stat_partial, row0}, rows);
    data_gradient_gemms<S, Epi, Sums, Phase + 1>(launch, dx, dy, w, N, epi,
                                                 bn_x, bn_mean, stat_partial,
                                                 row0 + blocks_of_rows(rows));
  }
}

// Backward weight: row o (output channel g*Mg + o), column j = rs*Cg + c,
// k = n*P + q (output pixel). Unsplit, the sums go to dw; split over K,
// split s writes its partial sums to partial + s * weight_size, which
// sum_splits_kernel then adds up in split order (no atomics: the same bits
// on every run).
template <Conv2DShape S> struct ConvBwdWeightOp {
  using D = ConvDims<S>;
  static constexpr int kGroups = S.groups, kM = D::Mg, kN = D::RS * D::Cg;
  static constexpr bool kAAlongK = false, kBAlongK = false;
  static constexpr bool kAVec = D::Mg % 4 == 0;
  static constexpr bool kBVec = D::Cg % 4 == 0;
  static constexpr bool kStats = false;
  static constexpr bool kStoresPerSplit = true;

  float *dw;
  const float *dy, *x;
  float *partial = nullptr; // [splits][weight_size] when split, else null

  __host__ __device__ __forceinline__ float a(int g, int o, int k) const {
    return ldg(dy + long(k) * D::Cout + g * D::Mg + o);
  }
  // o % 4 == 0 and Mg % 4 == 0: 4 consecutive output channels.
  __host__ __device__ __forceinline__ float4 a4(int g, int o, int k) const {
    return load4(dy + long(k) * D::Cout + g * D::Mg + o);
  }
  __host__ __device__ __forceinline__ long b_offset(int g, int k, int j) const {
    const int n = k / D::P, q = k - n * D::P;
    const int rs = j / D::Cg, c = j - rs * D::Cg;
    return D::input_offset(n, q, rs, g, c);
  }
  __host__ __device__ __forceinline__ float b(int g, int k, int j) const {
    const long i = b_offset(g, k, j);
    return i < 0 ? 0.0f : ldg(x + i);
  }
  // j % 4 == 0 and Cg % 4 == 0: 4 channels of one tap.
  __host__ __device__ __forceinline__ float4 b4(int g, int k, int j) const {
    const long i = b_offset(g, k, j);
    return i < 0 ? zero4() : load4(x + i);
  }

  // Precomputed offsets of B (x as im2col, staged along the pixels k with a
  // thread's column j = rs*Cg + c fixed for the block): the column's tap and
  // channel once per block (b_col), the pixel decoded once per block and
  // then advanced by constant steps (b_pix, b_pix_advance), so that a load
  // is a few adds and compares instead of four divisions. Not for pointwise
  // shapes, whose offset k*Cin + c needs no decode.
  static constexpr bool kPrepareBCols = !S.pointwise();
  struct BCol {
    int r, s, c; // r*DH - PH, s*DW - PW, g*Cg + c
  };
  struct BPix {
    int n, oh, ow;
  };
  __host__ __device__ __forceinline__ BCol b_col(int g, int j) const {
    const int rs = j / D::Cg, c = j - rs * D::Cg;
    const int r = rs / D::KW, s = rs - r * D::KW;
    return {r * D::DH - D::PH, s * D::DW - D::PW, g * D::Cg + c};
  }
  __host__ __device__ __forceinline__ static BPix b_pix(int k) {
    const int n = k / D::P, q = k - n * D::P;
    const int oh = q / D::OW;
    return {n, oh, q - oh * D::OW};
  }
  // b_pix(k) -> b_pix(k + Delta): Delta = a*P + b*OW + c with b < OH and
  // c < OW, so each of ow and oh carries at most once.
  template <int Delta>
  __host__ __device__ __forceinline__ static void b_pix_advance(BPix &p) {
    constexpr int a = Delta / D::P, b = Delta % D::P / D::OW, c = Delta % D::OW;
    p.ow += c;
    if (p.ow >= D::OW) {
      p.ow -= D::OW;
      ++p.oh;
    }
    p.oh += b;
    if (p.oh >= D::OH) {
      p.oh -= D::OH;
      ++p.n;
    }
    p.n += a;
  }
  // b4(g, k, j) from b_col(g, j) and b_pix(k).
  __host__ __device__ __forceinline__ float4 b4_col(const BCol &col,
                                                    const BPix &p) const {
    const int ih = p.oh * D::SH + col.r, iw = p.ow * D::SW + col.s;
    if (unsigned(ih) >= unsigned(D::H) || unsigned(iw) >= unsigned(D::W))
      return zero4();
    return load4(x + ((long(p.n) * D::H + ih) * D::W + iw) * D::Cin + col.c);
  }

  __host__ __device__ __forceinline__ void store_split(int split, int g, int o,
                                                       int j, float v) const {
    const int rs = j / D::Cg, c = j - rs * D::Cg;
    const long i = D::weight_offset(g, o, c, rs);
    if (partial)
      partial[split * S.weight_size() + i] = v;
    else
      dw[i] = v;
  }
  __host__ __device__ __forceinline__ void add_stats(int, int, int, float,
                                                     float) const {}
};

// Number of K slices of a weight gradient: enough blocks to fill the GPU,
// at least 4 BK slices each, at most `cap` (the partial sums that fit the
// split scratch). Returns the split count; *k_split its length (a multiple
// of BK).
__host__ __device__ constexpr int weight_grad_splits(long K, long tiles,
                                                     int groups, int bk,
                                                     int *k_split,
                                                     long cap = 65535) {
  long want = ceil_div(kTargetBlocks, tiles > 0 ? tiles : 1);
  long most = min_l(min_l(ceil_div(K, 4L * bk), 65535L / groups), cap);
  long splits = max_l(1, min_l(want, most));
  long len = ceil_div(ceil_div(K, splits), bk) * bk;
  *k_split = int(len);
  return int(ceil_div(K, len));
}

// The K split of shape S's weight gradient at batch N with `scratch_floats`
// of split scratch: the split count (1: unsplit, straight into dw); *k_split
// the length of a split.
template <Conv2DShape S>
int weight_grad_plan(int N, long scratch_floats, int *k_split) {
  using Op = ConvBwdWeightOp<S>;
  using Cfg = RowsCfg<Op::kM>;
  const long tiles =
      ceil_div(Op::kM, Cfg::BM) * ceil_div(Op::kN, Cfg::BN) * S.groups;
  return weight_grad_splits(long(N) * S.out_plane(), tiles, S.groups, Cfg::BK,
                            k_split,
                            max_l(1, scratch_floats / S.weight_size()));
}

// Element i of a weight split `splits` ways: the sum of its partial sums in
// split order (the kernel below and the host emulation test).
__host__ __device__ __forceinline__ float
split_sum(const float *partial, int splits, long size, long i) {
  float v = 0.0f;
  for (int s = 0; s < splits; ++s)
    v += partial[s * size + i];
  return v;
}

// dw = the sum of `splits` partial weight gradients, in split order.
template <class Shape>
__global__ void __launch_bounds__(256)
    sum_splits_kernel(float *__restrict__ dw, const float *__restrict__ partial,
                      int splits) {
  constexpr long kSize = Shape::value.weight_size();
  const long i = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < kSize)
    dw[i] = split_sum(partial, splits, kSize, i);
}

// wt = w in KRSC, one thread per element (reads coalesced). Shape is
// ShapeOf<S> (nvcc's kernel stubs cannot name a class-type template
// argument).
template <class Shape>
__global__ void __launch_bounds__(256)
    kcrs_to_krsc_kernel(float *__restrict__ wt, const float *__restrict__ w) {
  constexpr Conv2DShape S = Shape::value;
  const long i = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < S.weight_size())
    wt[ConvDims<S>::krsc_of_kcrs(i)] = ldg(w + i);
}

// The weights as the GEMMs of shape S read them: w itself (one tap, or
// channels per group not a multiple of 4), or its KRSC copy in the weight
// scratch (stream.cuh), made here on the current stream. nullptr (recorded)
// when the scratch is unset or too small.
template <Conv2DShape S> const float *krsc_weights(const float *w) {
  if constexpr (!ConvDims<S>::kKrsc) {
    return w;
  } else {
    const DeviceScratch &scratch = weight_scratch();
    if (!check_args(scratch.data && scratch.floats >= S.weight_size()) ||
        !check_aligned(aligned16(scratch.data)))
      return nullptr;
    constexpr int kThreads = 256;
    kcrs_to_krsc_kernel<ShapeOf<S>>
        <<<unsigned(ceil_div(S.weight_size(), long(kThreads))), kThreads, 0,
           current_stream()>>>(scratch.data, w);
    after_launch();
    return scratch.data;
  }
}

template <Conv2DShape S, class Epi, bool Stats>
void conv_forward_launch(float *y, const float *x, const float *w_kcrs,
                         const float *bias, float *sum, float *sumsq, int N,
                         const Epi &epi) {
  using Op = ConvFwdOp<S, Epi, Stats>;
  const long M = long(N) * S.out_plane();
  const long rows = forward_stat_rows(S, N);
  float *partial = nullptr;
  if constexpr (Stats)
    if (!(partial = stat_scratch(rows * 2 * S.out_channels)))
      return;
  const float *w = krsc_weights<S>(w_kcrs);
  if (!w || !check_args(M < (1L << 31)) ||
      !check_aligned((!Op::kAVec || aligned16(x)) &&
                     (!Op::kBVec || aligned16(w))))
    return;
  launch_igemm<Op, ColsCfg<Op::kN, Op::kK>>(Op{y, x, w, bias, partial, epi},
                                            int(M), Op::kK, 1, Op::kK);
  if constexpr (Stats)
    sum_stat_partials<S.out_channels>(partial, rows, sum, sumsq);
}

} // namespace detail

// ----------------------------------------------------------------------------
// Launchers. Every pointer is a device pointer; activations NHWC, weights
// KCRS [out_channels, in_channels/groups, kernel_h, kernel_w]. The forward
// and data-gradient launchers of a layer with more than one tap (and a
// multiple of 4 channels per group) copy w into the weight scratch first
// (krsc_weights): set_weight_scratch must have given one.

// y [N, OH, OW, out_channels] = conv(x [N, H, W, in_channels], w) + bias
// (bias may be null), then epi(n, c, oh*OW + ow, v) on every output.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d(T *y, const T *x, const T *w, const std::type_identity_t<T> *bias,
            int N, const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cuda::conv2d: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d");
  if (!detail::check_args(N > 0 && y && x && w))
    return;
  detail::conv_forward_launch<S, Epilogue, false>(y, x, w, bias, nullptr,
                                                  nullptr, N, epi);
}

// The same, plus per output channel the sum and sum of squares of the stored
// y over N, OH, OW (fp32; each block's partial sums go to the split scratch,
// then are added in a fixed order: the same bits on every run). Writes the
// sums (never accumulates). The split scratch must hold
// stat_partial_floats(S, N).
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_bn_train_stats(T *y, T *channel_sum, T *channel_sumsq, const T *x,
                           const T *w, const std::type_identity_t<T> *bias,
                           int N, const Epilogue &epi = {}) {
  static_assert(S.valid(),
                "rnc::cuda::conv2d_bn_train_stats: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_bn_train_stats");
  if (!detail::check_args(N > 0 && y && x && w && channel_sum && channel_sumsq))
    return;
  detail::conv_forward_launch<S, Epilogue, true>(y, x, w, bias, channel_sum,
                                                 channel_sumsq, N, epi);
}

// dx [N, H, W, in_channels] = the gradient of the input given dy [N, OH, OW,
// out_channels], then epi(n, c, ih*W + iw, v) on every element. Tensors the
// epilogue reads must not alias dx. Writes dx (never accumulates).
namespace detail {
template <Conv2DShape S, bool Sums, class Epilogue>
void conv_backward_data_launch(float *dx, const float *dy, const float *w_kcrs,
                               int N, const Epilogue &epi, const float *bn_x,
                               const float *bn_mean, float *sum,
                               float *dev_sum) {
  using Op = ConvBwdDataOp<S, Epilogue, Sums>;
  const long M = long(N) * S.in_plane();
  const long rows = data_stat_rows(S, N);
  float *partial = nullptr;
  if constexpr (Sums)
    if (!(partial = stat_scratch(rows * 2 * S.in_channels)))
      return;
  const float *w = krsc_weights<S>(w_kcrs);
  if (!w || !check_args(M < (1L << 31)) ||
      !check_aligned((!Op::kAVec || aligned16(dy)) &&
                     (!Op::kBVec || aligned16(w))))
    return;
  data_gradient_gemms<S, Epilogue, Sums>(
      [](const auto &op, int m) {
        using PhaseOp = std::decay_t<decltype(op)>;
        launch_igemm<PhaseOp, ColsCfg<PhaseOp::kN, PhaseOp::kK>>(
            op, m, PhaseOp::kK, 1, PhaseOp::kK);
      },
      dx, dy, w, N, epi, bn_x, bn_mean, partial);
  if constexpr (Sums)
    sum_stat_partials<S.in_channels>(partial, rows, sum, dev_sum);
}
} // namespace detail

template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_grad_input(T *dx, const T *dy, const T *w, int N,
                       const Epilogue &epi = {}) {
  static_assert(S.valid(), "rnc::cuda::conv2d_grad_input: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_grad_input");
  if (!detail::check_args(N > 0 && dx && dy && w))
    return;
  detail::conv_backward_data_launch<S, false>(dx, dy, w, N, epi, nullptr,
                                              nullptr, nullptr, nullptr);
}

// conv2d_grad_input that also writes, per input channel c over N, H, W,
//   grad_sum[c] = sum g,   grad_dev_sum[c] = sum g * (x - mean[c])
// of the stored (epilogue-applied) values g, for the batch norm whose output
// gradient g is (rn.conv2d_grad_input_bn_reduce). Block partial sums go to
// the split scratch (which must hold stat_partial_floats(S, N)) and are
// added in a fixed order: the same bits on every run. Writes the sums.
template <Conv2DShape S, class T = float, class Epilogue = NoEpilogue>
void conv2d_grad_input_bn_reduce(T *dx, T *grad_sum, T *grad_dev_sum,
                                 const T *dy, const T *w, const T *x,
                                 const T *mean, int N,
                                 const Epilogue &epi = {}) {
  static_assert(S.valid(),
                "rnc::cuda::conv2d_grad_input_bn_reduce: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_grad_input_bn_reduce");
  if (!detail::check_args(N > 0 && dx && dy && w && x && mean && grad_sum &&
                          grad_dev_sum))
    return;
  detail::conv_backward_data_launch<S, true>(dx, dy, w, N, epi, x, mean,
                                             grad_sum, grad_dev_sum);
}

// dw [out_channels, in_channels/groups, KH, KW] = sum over the batch of
// dy_g^T im2col(x_g). Split over K (as many splits as fill the GPU and fit
// the split scratch, stream.cuh), the partial sums go to the scratch and are
// summed in split order: the same bits on every run. Writes dw.
template <Conv2DShape S, class T = float>
void conv2d_grad_weight(T *dw, const T *dy, const T *x, int N) {
  static_assert(S.valid(),
                "rnc::cuda::conv2d_grad_weight: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_grad_weight");
  using Op = detail::ConvBwdWeightOp<S>;
  using Cfg = detail::RowsCfg<Op::kM>;
  const long K = long(N) * S.out_plane();
  if (!detail::check_args(N > 0 && dw && dy && x && K < (1L << 31)) ||
      !detail::check_aligned((!Op::kAVec || detail::aligned16(dy)) &&
                             (!Op::kBVec || detail::aligned16(x))))
    return;
  const DeviceScratch &scratch = split_scratch();
  int k_split = 0;
  const int splits = detail::weight_grad_plan<S>(
      N, scratch.data ? scratch.floats : 0, &k_split);
  float *partial = splits > 1 ? scratch.data : nullptr;
  detail::launch_igemm<Op, Cfg>(Op{dw, dy, x, partial}, Op::kM, int(K), splits,
                                k_split);
  if (partial) {
    constexpr int kThreads = 256;
    detail::sum_splits_kernel<detail::ShapeOf<S>>
        <<<unsigned(detail::ceil_div(S.weight_size(), long(kThreads))),
           kThreads, 0, current_stream()>>>(dw, partial, splits);
    detail::after_launch();
  }
}

// db [out_channels] = sum of dy over N, OH, OW. Writes db.
template <Conv2DShape S, class T = float>
void conv2d_bias_grad(T *db, const T *dy, int N) {
  static_assert(S.valid(), "rnc::cuda::conv2d_bias_grad: invalid Conv2DShape");
  RNC_CUDA_FLOAT_ONLY(T, "conv2d_bias_grad");
  if (!detail::check_args(N > 0 && db && dy))
    return;
  detail::launch_channel_sums<S.out_channels, 1>(
      detail::PlainSum{dy, S.out_channels}, db, nullptr,
      long(N) * S.out_plane());
}

} // namespace rnc::cuda
