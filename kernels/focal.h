// focal.h — focal loss on 2-channel logits (sgsf/README.md, 'Losses'), forward and backward fused
// in one pass.
//
// Per pixel, with z = l1 - l0, p = softmax(l)[1] = 1 / (1 + exp(-z)), clamped to [1e-6, 1 - 1e-6]:
//   y = 1: L = -(1-p)^g log p,       dL/dp = g (1-p)^(g-1) log p - (1-p)^g / p
//   y = 0: L = -p^g log(1-p),        dL/dp = -g p^(g-1) log(1-p) + p^g / (1-p)
// (a mask value y in between weights the two: L = y L1 + (1-y) L0, identical for y in {0, 1}).
// dp/dz = p (1 - p) where the clamp is inactive, 0 where it clips; dz/dl1 = 1, dz/dl0 = -1.
// The forward writes the per-pixel loss and dL/dz (unscaled); the backward multiplies dL/dz by the
// upstream gradient / pixel count and writes (-, +) into the two logit channels.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

constexpr float kFocalEps = 1e-6f;

// Loss of one pixel; *dz = dL/dz.
SG_HD float focal_pixel(float l0, float l1, float y, float gamma, float* dz) {
  float z = l1 - l0;
  float p = 1.f / (1.f + expf(-z));
  bool clipped = p < kFocalEps || p > 1.f - kFocalEps;
  p = fminf(fmaxf(p, kFocalEps), 1.f - kFocalEps);
  float q = 1.f - p;
  float loss = 0.f, dldp = 0.f;
  if (y != 0.f) {  // the y = 1 term: (1-p)^g from (1-p)^(g-1) (one powf)
    float lp = logf(p), qg1 = powf(q, gamma - 1.f), qg = qg1 * q;
    loss += y * (-qg * lp);
    dldp += y * (gamma * qg1 * lp - qg / p);
  }
  if (y != 1.f) {  // the y = 0 term
    float lq = logf(q), pg1 = powf(p, gamma - 1.f), pg = pg1 * p;
    loss += (1.f - y) * (-pg * lq);
    dldp += (1.f - y) * (-gamma * pg1 * lq + pg / q);
  }
  *dz = clipped ? 0.f : dldp * p * q;
  return loss;
}

// ---- CPU twins (focal_cpu.cpp) ----
// logits: (n, 2, hw); mask: (n, hw); loss, dz: (n, hw).
void focal_forward_cpu(const float* logits, const float* mask, int64_t n, int64_t hw, float gamma, float* loss, float* dz);
// glogits: (n, 2, hw) = (-, +) dz * g[0] * scale.
void focal_backward_cpu(const float* dz, const float* g, float scale, int64_t n, int64_t hw, float* glogits);
// ---- CUDA launchers (focal.cu) ----
void focal_forward_cuda(const float* logits, const float* mask, int64_t n, int64_t hw, float gamma, float* loss, float* dz);
void focal_backward_cuda(const float* dz, const float* g, float scale, int64_t n, int64_t hw, float* glogits);

}  // namespace sg::kernels
