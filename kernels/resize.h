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

// Taps of output coordinate o along an axis of input length n (output length 2n): the source
// position is s = o (n - 1) / (2n - 1), read as i0 = floor(s), i1 = i0 + 1 (clamped) and the
// fraction f = s - i0. Integer division gives i0 and the remainder exactly, so f carries one
// rounding (of r / (2n - 1)); s in float and f = s - i0 would lose up to half of s's ulp, 1e-6 at
// s ~ 31, making the op ten times further from float64 than PyTorch's float32 one.
SG_HD void upsample_taps(int64_t o, int64_t n, int64_t& i0, int64_t& i1, float& f) {
  const int64_t num = o * (n - 1), den = 2 * n - 1;
  i0 = num / den;
  if (i0 > n - 1) i0 = n - 1;
  i1 = i0 + 1 < n ? i0 + 1 : n - 1;
  f = (float)(num - i0 * den) / (float)den;
}

// Weight with which output coordinate o reads input coordinate i (0 when it does not).
SG_HD float upsample_weight(int64_t o, int64_t n, int64_t i) {
  int64_t i0, i1;
  float f;
  upsample_taps(o, n, i0, i1, f);
  return (i0 == i ? 1.f - f : 0.f) + (i1 == i ? f : 0.f);
}

// Output element o of (P, 2H, 2W).
SG_HD float upsample2x_element(const float* x, int64_t H, int64_t W, int64_t o) {
  int64_t Wo = 2 * W, Ho = 2 * H;
  int64_t ow = o % Wo, oh = (o / Wo) % Ho, p = o / (Wo * Ho);
  int64_t h0, h1, w0, w1;
  float fh, fw;
  upsample_taps(oh, H, h0, h1, fh);
  upsample_taps(ow, W, w0, w1, fw);
  const float* q = x + p * H * W;
  float top = (1.f - fw) * q[h0 * W + w0] + fw * q[h0 * W + w1];
  float bot = (1.f - fw) * q[h1 * W + w0] + fw * q[h1 * W + w1];
  return (1.f - fh) * top + fh * bot;
}

// Input-gradient element i of (P, H, W), gathered from g (P, 2H, 2W).
SG_HD float upsample2x_backward_element(const float* g, int64_t H, int64_t W, int64_t i) {
  int64_t iw = i % W, ih = (i / W) % H, p = i / (W * H);
  int64_t Wo = 2 * W, Ho = 2 * H;
  int64_t oh_lo = 2 * ih - 2 < 0 ? 0 : 2 * ih - 2, oh_hi = 2 * ih + 2 > Ho - 1 ? Ho - 1 : 2 * ih + 2;
  int64_t ow_lo = 2 * iw - 2 < 0 ? 0 : 2 * iw - 2, ow_hi = 2 * iw + 2 > Wo - 1 ? Wo - 1 : 2 * iw + 2;
  const float* q = g + p * Ho * Wo;
  float acc = 0.f;
  for (int64_t oh = oh_lo; oh <= oh_hi; ++oh) {
    float wh = upsample_weight(oh, H, ih);
    if (wh == 0.f) continue;
    float row = 0.f;
    for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
      float ww = upsample_weight(ow, W, iw);
      if (ww != 0.f) row += ww * q[oh * Wo + ow];
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
