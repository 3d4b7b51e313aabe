// batchnorm.h — the batch-norm kernel family over x (N, C, HW), statistics per channel c.
//
// Forward:  xhat = (x - mean[c]) * invstd[c],  y = gamma[c] * xhat + beta[c],
//           invstd = 1 / sqrt(var + eps), with the batch statistics (training; biased variance)
//           or the running statistics (eval).
// Running statistics (training): r_mean = (1 - m) r_mean + m mean,
//           r_var = (1 - m) r_var + m var * M / (M - 1)   (unbiased), M = N * HW.
// Backward (see the derivation at bn_grad_input) needs the per-channel sums of g and g * xhat,
// which are also the gradients of beta and gamma.
//
// Reductions are per channel, in a fixed order: CPU loops accumulate in double; the CUDA kernels
// split each channel into bn_parts() contiguous parts, one block each with a shared-memory tree,
// then add the parts in order (no atomics), so both are deterministic. The split depends on the
// shape only, never on the GPU, so every GPU gives the same sums.
// The plain per-channel sum of that reduction is also the gradient of a convolution's bias
// (channel_sum, called by conv2d's backward).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

struct BnLayout {
  int64_t N = 0, C = 0, HW = 0;  // x is (N, C, HW)
  SG_HD int64_t count() const { return N * HW; }  // elements per channel (M)
  SG_HD int64_t channel_of(int64_t idx) const { return (idx / HW) % C; }
};

// Blocks per channel of the CUDA reductions: enough blocks in all (about 512) to fill a large GPU
// when channels are few (64 channels were 64 blocks on a 132-SM H200), but parts of at least 4096
// elements, so the second stage (the parts added in order) stays short.
SG_HD int64_t bn_parts(const BnLayout& L) {
  const int64_t want = (512 + L.C - 1) / (L.C > 0 ? L.C : 1), most = L.count() / 4096;
  const int64_t p = want < most ? want : most;
  return p > 1 ? p : 1;
}
// Scratch floats the CUDA reductions need: the parts of two sums per channel.
SG_HD int64_t bn_scratch_floats(const BnLayout& L) { return 2 * L.C * bn_parts(L); }

SG_HD float bn_invstd(float var, float eps) { return 1.f / sqrtf(var + eps); }

SG_HD float bn_forward_element(float x, float mean, float invstd, float gamma, float beta) {
  return gamma * ((x - mean) * invstd) + beta;
}

// Running statistics update of one channel (in place); count = M = N * HW (> 1).
SG_HD void bn_update_running(float& r_mean, float& r_var, float mean, float var, float momentum,
                             int64_t count) {
  float unbiased = count > 1 ? var * (float)count / (float)(count - 1) : var;
  r_mean = (1.f - momentum) * r_mean + momentum * mean;
  r_var = (1.f - momentum) * r_var + momentum * unbiased;
}

// Input gradient in training mode. With M elements per channel, xhat_i = (x_i - mu) r,
// r = (var + eps)^(-1/2), mu = sum x / M, var = sum (x - mu)^2 / M and y_i = gamma xhat_i + beta:
//   d mu / d x_i = 1/M,  d var / d x_i = 2 (x_i - mu) / M   (the sum of (x_j - mu) is 0),
//   d xhat_j / d x_i = r (delta_ij - 1/M) - (x_j - mu) r^3 (x_i - mu) / M
//                    = (r / M) (M delta_ij - 1 - xhat_j xhat_i).
// With dxhat_j = gamma g_j:
//   dx_i = sum_j dxhat_j d xhat_j / d x_i = (gamma r / M) (M g_i - sum_j g_j - xhat_i sum_j g_j xhat_j).
// sum_g = sum_j g_j (= d beta), sum_gx = sum_j g_j xhat_j (= d gamma).
SG_HD float bn_grad_input(float g, float x, float mean, float invstd, float gamma, float sum_g,
                          float sum_gx, int64_t count) {
  float xhat = (x - mean) * invstd;
  float M = (float)count;
  return gamma * invstd / M * (M * g - sum_g - xhat * sum_gx);
}

// Input gradient in eval mode: the statistics are constants, so dx = gamma invstd g.
SG_HD float bn_grad_input_eval(float g, float invstd, float gamma) { return gamma * invstd * g; }

// ---- CPU twins (batchnorm_cpu.cpp) ----
// Batch mean and biased variance per channel (two passes).
void bn_stats_cpu(const BnLayout& L, const float* x, float* mean, float* var);
void bn_forward_cpu(const BnLayout& L, const float* x, const float* mean, const float* invstd,
                    const float* gamma, const float* beta, float* y);
// invstd[c] = 1 / sqrt(var[c] + eps)
void bn_invstd_cpu(int64_t C, const float* var, float eps, float* invstd);
void bn_update_running_cpu(const BnLayout& L, float* r_mean, float* r_var, const float* mean,
                           const float* var, float momentum);
// sum_g[c] = sum of g over (N, HW); sum_gx[c] = sum of g * xhat (either output may be null).
void bn_backward_reduce_cpu(const BnLayout& L, const float* g, const float* x, const float* mean,
                            const float* invstd, float* sum_g, float* sum_gx);
// gx from the sums (training) or, when `training` is false, gamma * invstd * g.
void bn_backward_input_cpu(const BnLayout& L, bool training, const float* g, const float* x,
                           const float* mean, const float* invstd, const float* gamma,
                           const float* sum_g, const float* sum_gx, float* gx);
// sum[c] = sum of g (N, C, HW) over (N, HW): a convolution's bias gradient. The sum_g half of
// bn_backward_reduce (the same reduction, so the same values).
void channel_sum_cpu(int64_t N, int64_t C, int64_t HW, const float* g, float* sum);

// ---- CUDA launchers (batchnorm.cu); `scratch`: bn_scratch_floats(L) device floats ----
void bn_stats_cuda(const BnLayout& L, const float* x, float* mean, float* var, float* scratch);
void bn_forward_cuda(const BnLayout& L, const float* x, const float* mean, const float* invstd,
                     const float* gamma, const float* beta, float* y);
void bn_invstd_cuda(int64_t C, const float* var, float eps, float* invstd);
void bn_update_running_cuda(const BnLayout& L, float* r_mean, float* r_var, const float* mean,
                            const float* var, float momentum);
void bn_backward_reduce_cuda(const BnLayout& L, const float* g, const float* x, const float* mean,
                             const float* invstd, float* sum_g, float* sum_gx, float* scratch);
void bn_backward_input_cuda(const BnLayout& L, bool training, const float* g, const float* x,
                            const float* mean, const float* invstd, const float* gamma,
                            const float* sum_g, const float* sum_gx, float* gx);
void channel_sum_cuda(int64_t N, int64_t C, int64_t HW, const float* g, float* sum, float* scratch);

}  // namespace sg::kernels
