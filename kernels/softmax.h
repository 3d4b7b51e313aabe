// softmax.h — the softmax kernel family.
//
// Softmax over the middle dimension of a tensor viewed as (outer, len, inner), e.g. the channels
// of (N, C, H, W): outer = N, len = C, inner = H*W. One column (o, i) per call, numerically stable:
//   y_c = exp(x_c - m) / sum_k exp(x_k - m),  m = max_k x_k.
// Backward (Jacobian dy_c/dx_k = y_c (delta_ck - y_k)):
//   gx_c = sum_k g_k y_k (delta_ck - y_c) = y_c (g_c - sum_k g_k y_k).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

SG_HD void softmax_column(const float* x, float* y, int64_t len, int64_t inner, int64_t o, int64_t i) {
  const float* xc = x + o * len * inner + i;
  float* yc = y + o * len * inner + i;
  float m = xc[0];
  for (int64_t k = 1; k < len; ++k) m = xc[k * inner] > m ? xc[k * inner] : m;
  float s = 0.f;
  for (int64_t k = 0; k < len; ++k) {
    float e = expf(xc[k * inner] - m);
    yc[k * inner] = e;
    s += e;
  }
  float inv = 1.f / s;
  for (int64_t k = 0; k < len; ++k) yc[k * inner] *= inv;
}

SG_HD void softmax_backward_column(const float* y, const float* g, float* gx, int64_t len, int64_t inner,
                                   int64_t o, int64_t i) {
  int64_t base = o * len * inner + i;
  float dot = 0.f;
  for (int64_t k = 0; k < len; ++k) dot += g[base + k * inner] * y[base + k * inner];
  for (int64_t k = 0; k < len; ++k) {
    int64_t j = base + k * inner;
    gx[j] = y[j] * (g[j] - dot);
  }
}

// ---- CPU twins (softmax_cpu.cpp) ----
void softmax_cpu(const float* x, float* y, int64_t outer, int64_t len, int64_t inner);
void softmax_backward_cpu(const float* y, const float* g, float* gx, int64_t outer, int64_t len, int64_t inner);

// ---- CUDA launchers (softmax.cu) ----
void softmax_cuda(const float* x, float* y, int64_t outer, int64_t len, int64_t inner);
void softmax_backward_cuda(const float* y, const float* g, float* gx, int64_t outer, int64_t len, int64_t inner);

}  // namespace sg::kernels
