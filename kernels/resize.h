// resize.h — the resize kernel family: bilinear 2x upsampling with align_corners = true.
//
// Planes (P = N*C, H, W) -> (P, 2H, 2W). Along one axis of input length n, output coordinate o
// reads the source position s = o * (n - 1) / (2n - 1), i.e. taps i0 = floor(s), i1 = min(i0+1, n-1)
// with weights (1 - f, f), f = s - i0; the 2-D weight is the product of the two axes' weights.
//
// Backward as a gather: input pixel (ih, iw) sums g[oh, ow] * wh(oh, ih) * ww(ow, iw) over the
// outputs that read it. Since s lies in [o/2 - 1/2, o/2], an output reads input i only when
// 2i - 2 <= o <= 2i + 2, so each input visits at most 5 x 5 outputs, in a fixed order: no atomics,
// the same sums on the CPU and the GPU.
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

// One axis of input length n (output length 2n), with what its taps need worked out once per call,
// so a tap costs no division: the source position is s = o (n - 1) / (2n - 1), read as
// i0 = floor(s), i1 = i0 + 1 (clamped) and the fraction f = s - i0. i0 comes from a float estimate
// of s corrected exactly in integers (num = o (n - 1) against i0 (2n - 1)), and f from the exact
// integer remainder times 1 / (2n - 1) in double, rounded once to float: s in float and f = s - i0
// would lose up to half of s's ulp, 1e-6 at s ~ 31, making the op ten times further from float64
// than PyTorch's float32 one.
struct UpAxis {
  int64_t n = 1, den = 1;  // input length, 2n - 1
  float ratio = 0.f;       // (n - 1) / (2n - 1), for the estimate of i0
  double inv_den = 1.0;    // 1 / (2n - 1)
  UpAxis() = default;
  SG_HD explicit UpAxis(int64_t n_)
      : n(n_), den(2 * n_ - 1), ratio((float)(n_ - 1) / (float)(2 * n_ - 1)), inv_den(1.0 / (double)(2 * n_ - 1)) {}
};

SG_HD void upsample_taps(const UpAxis& a, int64_t o, int64_t& i0, int64_t& i1, float& f) {
  const int64_t num = o * (a.n - 1);
  i0 = (int64_t)((float)o * a.ratio);
  while (i0 > 0 && i0 * a.den > num) --i0;      // the estimate is at most one off either way
  while ((i0 + 1) * a.den <= num) ++i0;
  if (i0 > a.n - 1) i0 = a.n - 1;
  i1 = i0 + 1 < a.n ? i0 + 1 : a.n - 1;
  f = (float)((double)(num - i0 * a.den) * a.inv_den);
}

// Weight with which output coordinate o reads input coordinate i (0 when it does not).
SG_HD float upsample_weight(const UpAxis& a, int64_t o, int64_t i) {
  int64_t i0, i1;
  float f;
  upsample_taps(a, o, i0, i1, f);
  return (i0 == i ? 1.f - f : 0.f) + (i1 == i ? f : 0.f);
}

// Output element (p, oh, ow) of (P, 2H, 2W).
SG_HD float upsample2x_at(const float* x, const UpAxis& ah, const UpAxis& aw, int64_t p, int64_t oh, int64_t ow) {
  const int64_t W = aw.n;
  int64_t h0, h1, w0, w1;
  float fh, fw;
  upsample_taps(ah, oh, h0, h1, fh);
  upsample_taps(aw, ow, w0, w1, fw);
  const float* q = x + p * ah.n * W;
  float top = (1.f - fw) * q[h0 * W + w0] + fw * q[h0 * W + w1];
  float bot = (1.f - fw) * q[h1 * W + w0] + fw * q[h1 * W + w1];
  return (1.f - fh) * top + fh * bot;
}

// Input-gradient element (p, ih, iw) of (P, H, W), gathered from g (P, 2H, 2W): the (at most) five
// row weights and five column weights once each, then the 5 x 5 sum.
SG_HD float upsample2x_backward_at(const float* g, const UpAxis& ah, const UpAxis& aw, int64_t p, int64_t ih,
                                   int64_t iw) {
  const int64_t Wo = 2 * aw.n, Ho = 2 * ah.n;
  const int64_t oh_lo = 2 * ih - 2 < 0 ? 0 : 2 * ih - 2, oh_hi = 2 * ih + 2 > Ho - 1 ? Ho - 1 : 2 * ih + 2;
  const int64_t ow_lo = 2 * iw - 2 < 0 ? 0 : 2 * iw - 2, ow_hi = 2 * iw + 2 > Wo - 1 ? Wo - 1 : 2 * iw + 2;
  float ww[5];
  for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) ww[ow - ow_lo] = upsample_weight(aw, ow, iw);
  const float* q = g + p * Ho * Wo;
  float acc = 0.f;
  for (int64_t oh = oh_lo; oh <= oh_hi; ++oh) {
    float wh = upsample_weight(ah, oh, ih);
    if (wh == 0.f) continue;
    float row = 0.f;
    for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
      const float w = ww[ow - ow_lo];
      if (w != 0.f) row += w * q[oh * Wo + ow];
    }
    acc += wh * row;
  }
  return acc;
}

// ---- CPU twins (resize_cpu.cpp) ----
void upsample2x_cpu(const float* x, float* out, int64_t P, int64_t H, int64_t W);
void upsample2x_backward_cpu(const float* g, float* gx, int64_t P, int64_t H, int64_t W);

// ---- CUDA launchers (resize.cu) ----
void upsample2x_cuda(const float* x, float* out, int64_t P, int64_t H, int64_t W);
void upsample2x_backward_cuda(const float* g, float* gx, int64_t P, int64_t H, int64_t W);

}  // namespace sg::kernels
