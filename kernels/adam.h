// adam.h — the Adam update kernel family: one fused pass per parameter tensor that updates the
// first and second moments and the parameter together.
//
// Adam (Kingma & Ba 2015) with bias correction, in the form PyTorch uses: at step t (1-based),
//   m <- b1 m + (1 - b1) g                  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The host computes the two bias corrections in double once per step and passes step_size =
// lr / (1 - b1^t) and inv_sqrt_bc2 = 1 / sqrt(1 - b2^t); the per-element math below is shared by
// the CPU loop (adam_cpu.cpp) and the CUDA kernel (adam.cu).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

struct AdamStep {
  float beta1, beta2, eps;
  float step_size;     // lr / (1 - beta1^t)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^t)
};

// Update one element: p (parameter), m and v (moments) in place, given its gradient g.
SG_HD void adam_update_element(const AdamStep& s, float g, float& p, float& m, float& v) {
  m = s.beta1 * m + (1.f - s.beta1) * g;
  v = s.beta2 * v + (1.f - s.beta2) * g * g;
  float denom = sqrtf(v) * s.inv_sqrt_bc2 + s.eps;
  p -= s.step_size * m / denom;
}

// p, m, v, g: n floats each (one parameter tensor and its state).
void adam_update_cpu(const AdamStep& s, const float* g, float* p, float* m, float* v, int64_t n);
void adam_update_cuda(const AdamStep& s, const float* g, float* p, float* m, float* v, int64_t n);

}  // namespace sg::kernels
