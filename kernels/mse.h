// mse.h — the mean-squared-error kernel family (behind mse_loss, the L2 term of L_Self).
//
// mse_loss(p, t) = (1/n) sum_i (p_i - t_i)^2. The forward writes the per-element squares
// d_i = (p_i - t_i)^2, which the reduce family sums (deterministically); the backward is
// gp_i = g * scale * (p_i - t_i) with scale = 2/n and g the scalar output gradient.
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

SG_HD float sq_diff(float p, float t) { return (p - t) * (p - t); }
SG_HD float mse_grad(float p, float t, float g, float scale) { return g * scale * (p - t); }

// ---- CPU twins (mse_cpu.cpp) ----
void sq_diff_cpu(const float* p, const float* t, float* d, int64_t n);
// g: one float (the output gradient) in the tensors' memory.
void mse_grad_cpu(const float* p, const float* t, const float* g, float scale, float* gp, int64_t n);

// ---- CUDA launchers (mse.cu) ----
void sq_diff_cuda(const float* p, const float* t, float* d, int64_t n);
void mse_grad_cuda(const float* p, const float* t, const float* g, float scale, float* gp, int64_t n);

}  // namespace sg::kernels
