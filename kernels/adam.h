// adam.h — the Adam update kernel family: one fused pass that updates the first and second moments
// and the parameter together, for one parameter tensor or for up to kAdamTensorsPerLaunch tensors
// in one launch (the multi-tensor form the optimiser uses: a step of the paper-scale model updates
// 152 tensors, which would otherwise be 152 launches).
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

// Many tensors at once. Each has its own step sizes (each parameter counts its own steps); the
// betas and eps are shared. The whole batch travels as one kernel argument, so it must stay within
// CUDA's 4 KiB of kernel parameters: 64 tensors of 48 bytes.
struct AdamTensor {
  const float* g;
  float *p, *m, *v;
  int64_t n;
  float step_size, inv_sqrt_bc2;
};
constexpr int kAdamTensorsPerLaunch = 64;
struct AdamBatch {
  float beta1, beta2, eps;
  int count;  // tensors used in t[]
  AdamTensor t[kAdamTensorsPerLaunch];
};
static_assert(sizeof(AdamBatch) <= 4096, "an AdamBatch must fit CUDA's kernel parameter space");

// Update the first b.count tensors of b; each element exactly as adam_update_* does.
void adam_update_many_cpu(const AdamBatch& b);
void adam_update_many_cuda(const AdamBatch& b);  // one launch

}  // namespace sg::kernels
