// The data gradient of a stride-2 convolution with bf16 operands on AMX
// (conv2d_amx_backward_data_s2; included by conv_tiled_bf16.h where the
// compiler targets AMX-BF16).
//
// Why: a stride-2 layer's data gradient is a transposed convolution, which
// the rows forward (conv_fwd_amx_rows.h) does not do; under 16 images they
// ran the fp32 kernels on rounded copies, slower than fp32 itself (resnet50's
// 1024->2048 1x1 s2 @14 at batch 8: 21.8 ms, fp32 14.4).
//
// dx splits by the parity (a, b) of its row and column into four phases;
// each is a stride-1 correlation of dy with the taps of that parity:
//
//   dx[n, c, 2u + a, 2v + b] = sum over co and taps (kh, kw) with
//       kh = a + PH (mod 2), kw = b + PW (mod 2) of
//       dy[n, co, u + dh, v + dw] * w[co, c, kh, kw],
//   dh = (a + PH - kh) / 2, dw = (b + PW - kw) / 2
//
// so with dy in zero-padded rows WP wide (T rows above, L columns to the
// left), a phase is the rows kernel again: C tiles of 16 input channels x 16
// positions u * WP + v of the phase, A tiles the weights [tap][c][co], B
// tiles dy as channel pairs, every tap a shift. A thread takes 32 channels of
// an image through the four phases, scatters each phase's positions into
// dx's rows, then calls done(n, c0, c1) (conv.h: epilogue and BN sums).
#pragma once

#include <algorithm>
#include <cstring>
#include <utility>

#include <immintrin.h>

#include "bf16.h"
#include "conv_fwd_amx_rows.h"
#include "conv_tiled.h"
#include "conv_tiled_amx.h"

namespace rnc::cpu::detail {

template <Conv2DShape S> constexpr bool amx_dgrad_s2_shape() {
  return S.groups == 1 && S.stride_h == 2 && S.stride_w == 2 &&
         S.dilation_h == 1 && S.dilation_w == 1 && S.out_channels >= 16;
}

// The padded dy plane of conv2d_amx_backward_data_s2.
template <Conv2DShape S> struct AmxDgradS2Geometry {
  // The smallest and largest offset (a + pad - k) / 2 over both parities a.
  static constexpr int offset(int k, int a, int pad) {
    return (a + pad - k) / 2; // exact: a + pad - k is even where used
  }
  static constexpr int bound(int K, int pad, bool hi) {
    int r = hi ? -1000 : 1000;
    for (int a = 0; a < 2; ++a)
      for (int k = 0; k < K; ++k)
        if ((a + pad - k) % 2 == 0)
          r = hi ? std::max(r, offset(k, a, pad))
                 : std::min(r, offset(k, a, pad));
    return r;
  }
  static constexpr int DH0 = bound(S.kernel_h, S.pad_h, false),
                       DH1 = bound(S.kernel_h, S.pad_h, true),
                       DW0 = bound(S.kernel_w, S.pad_w, false),
                       DW1 = bound(S.kernel_w, S.pad_w, true);
  static constexpr int T = std::max(0, -DH0), L = std::max(0, -DW0);
  static constexpr int OH = S.out_h(), OW = S.out_w();
  static constexpr int U0 = (S.in_h + 1) / 2, V0 = (S.in_w + 1) / 2;
  static constexpr long WP = (std::max(V0 + DW1 + L, OW + L) + 1) / 2 * 2;
  static constexpr long KN = (U0 * WP + 31) / 32 * 32; // the largest phase
  static constexpr long ROWS = std::max(U0 + DH1 + T, OH + T);
  static constexpr long LN =
      amx_row_stride(std::max(ROWS * WP, KN + (DH1 + T) * WP + DW1 + L));
};

template <Conv2DShape S, class Done>
void conv2d_amx_backward_data_s2(float *dx, const float *dy, const float *w,
                                 int N, const Done &done) {
  static_assert(amx_dgrad_s2_shape<S>(), "AMX stride-2 data gradient: shape");
  using G = AmxDgradS2Geometry<S>;
  constexpr int Co = S.out_channels, Cin = S.in_channels, KH = S.kernel_h,
                KW = S.kernel_w, KHW = KH * KW;
  constexpr int CPS = bf16_pair_stride(Co), CO_PAD = 2 * CPS, PB = CPS / 16;
  constexpr int C_PAD = (Cin + 15) / 16 * 16;
  constexpr int CB = (C_PAD / 16 + 1) / 2; // blocks of 32 input channels
  constexpr long OP = S.out_plane(), IP = S.in_plane();
  uint32_t *yq = scratch<uint32_t>(kSlotCol, size_t(N) * CPS * G::LN);
  constexpr long LDA = amx_row_stride(CO_PAD);
  uint16_t *wq = scratch<uint16_t>(kSlotPanel, size_t(KHW) * C_PAD * LDA);
  const long blocks = long(N) * CB;
  const bool par = tiles_in_parallel(N, Co, OP, Cin, KHW);
#pragma omp parallel if (par)
  {
    // dy as channel pairs in zero-padded rows.
    amx_rows_pack_pairs(
        yq, G::LN, dy, N, Co, CPS, OP,
        [&](uint32_t *d, const float *s0, const float *s1) {
          for (int r = 0; r < G::OH; ++r)
            for (int j = 0; j < G::OW; j += 16) {
              const int cnt = std::min(16, G::OW - j);
              const long o = long(r) * G::OW + j;
              _mm512_mask_storeu_epi32(
                  d + (r + G::T) * G::WP + G::L + j, __mmask16((1u << cnt) - 1),
                  bf16_pairs16(s0 + o, s1 ? s1 + o : nullptr, cnt));
            }
        });
    // The weights as A tiles' rows: [tap][input channel c][output channel
    // co].
    amx_pack_weights<KHW>(wq, LDA, w, Cin, C_PAD, Co, CO_PAD, KHW,
                          long(Cin) * KHW, [](int t) { return t; });
    amx_load_config_16x64();
    alignas(64) float buf[32 * 32];
#pragma omp for schedule(static)
    for (long blk = 0; blk < blocks; ++blk) {
      const long n = blk / CB;
      const int c0 = int(blk % CB) * 32;
      const bool two = c0 + 16 < C_PAD;
      const int rows = std::min(32, Cin - c0);
      // A 1-wide kernel leaves phases without taps: their zeros written with
      // the rows whole, not scattered.
      constexpr bool kEmptyPhases = KH == 1 || KW == 1;
      if constexpr (kEmptyPhases)
        std::memset(dx + (n * Cin + c0) * IP, 0, rows * IP * sizeof(float));
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          // The phase's taps and their shifts.
          int tap[KHW];
          long shift[KHW];
          int ntaps = 0;
          for (int kh = 0; kh < KH; ++kh)
            for (int kw = 0; kw < KW; ++kw)
              if ((a + S.pad_h - kh) % 2 == 0 && (b + S.pad_w - kw) % 2 == 0) {
                tap[ntaps] = kh * KW + kw;
                shift[ntaps++] = (G::offset(kh, a, S.pad_h) + G::T) * G::WP +
                                 G::offset(kw, b, S.pad_w) + G::L;
              }
          if (kEmptyPhases && ntaps == 0)
            continue;
          const int U = (S.in_h - a + 1) / 2, V = (S.in_w - b + 1) / 2;
          const long kn = (U * G::WP + 31) / 32 * 32;
          for (long k0 = 0; k0 < kn; k0 += 32) {
            amx_rows_block<PB>(
                buf, ntaps,
                [&](int j) {
                  return std::pair{wq + (long(tap[j]) * C_PAD + c0) * LDA,
                                   yq + n * CPS * G::LN + k0 + shift[j]};
                },
                LDA, G::LN, two);
            // Positions k = u * WP + v of the phase into dx[2u + a][2v + b],
            // a run of a phase row at a time.
            for (long k = k0; k < k0 + 32;) {
              const long u = k / G::WP, v = k % G::WP;
              const long seg = std::min<long>(k0 + 32 - k, G::WP - v);
              if (u < U && v < V) {
                const long len = std::min<long>(seg, V - v);
                const long q = (2 * u + a) * S.in_w + 2 * v + b;
                for (int i = 0; i < rows; ++i) {
                  float *d = dx + (n * Cin + c0 + i) * IP + q;
                  const float *src = buf + i * 32 + (k - k0);
                  for (long j = 0; j < len; ++j)
                    d[2 * j] = src[j];
                }
              }
              k += seg;
            }
          }
        }
      done(int(n), c0, std::min(Cin, c0 + 32));
    }
    _tile_release();
  }
}

} // namespace rnc::cpu::detail
