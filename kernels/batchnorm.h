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
// The op layer calls three fused passes (below, "the fused passes"): a training forward in two
// launches (per-part statistics; then each block combines its channel's parts, normalises and
// applies the ReLU, and one block per channel updates the running statistics), an eval forward in
// one, and a backward in two (per-part sums of g and g * xhat with the ReLU's mask folded in; then
// each block combines them and writes its elements' input gradient). The ReLU's mask is the output
// y > 0, so the masked gradient is never written out.
//
// A shift (the bias of a convolution right before the batch norm) is folded in exactly: the batch
// statistics of x + shift are those of x with the mean moved by shift, and the normalised values are
// the same, so the convolution skips its bias and the batch norm adds it to the mean it records
// (training) or subtracts it from the running mean it uses (eval). Its gradient is 0 in training
// (the normalisation removes it) and gamma * invstd * sum(g) in eval.
//
// Reductions are per channel, in a fixed order: CPU loops accumulate in double; the CUDA kernels
// split each channel into bn_parts() contiguous parts, one block each with a shared-memory tree,
// then combine the parts in order (no atomics), so both are deterministic. The split depends on the
// shape only, never on the GPU, so every GPU gives the same sums. A part's statistics are its mean
// and its sum of squared deviations from that mean, combined across parts in double (Chan et
// al.), so the variance has no cancellation however large the mean.
// The plain per-channel sum of that reduction is also the gradient of a convolution's bias
// (channel_sum, called by conv2d's backward when no batch norm follows).
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

// Gradient of a folded shift (see above): 0 in training, the sum of dx = gamma invstd sum(g) in eval.
SG_HD float bn_shift_grad(bool training, float gamma, float invstd, float sum_g) {
  return training ? 0.f : gamma * invstd * sum_g;
}

// ---- the fused passes (CPU twins in batchnorm_cpu.cpp, CUDA in batchnorm.cu) ----
// Pointers: x, y, g, gx (N, C, HW); every other one (C). `shift` may be null (no shift). `scratch`
// (CUDA): bn_scratch_floats(L) device floats.
struct BnArgs {
  BnLayout L;
  const float *x = nullptr, *gamma = nullptr, *beta = nullptr, *shift = nullptr;
  float *r_mean = nullptr, *r_var = nullptr;  // running statistics (updated in training)
  float momentum = 0.1f, eps = 1e-5f;
  bool relu = false;
  float *mean = nullptr, *invstd = nullptr;   // out: the statistics used (kept for the backward)
  float* y = nullptr;                         // out
};
// Training: batch statistics; r_mean <- (1 - m) r_mean + m (mean + shift), r_var likewise (unbiased).
void bn_train_forward_cpu(const BnArgs& a);
void bn_train_forward_cuda(const BnArgs& a, float* scratch);  // two launches
// Eval: mean = r_mean - shift, invstd = 1 / sqrt(r_var + eps).
void bn_eval_forward_cpu(const BnArgs& a);
void bn_eval_forward_cuda(const BnArgs& a);  // one launch

struct BnGrads {
  BnLayout L;
  bool training = true, relu = false;
  const float *g = nullptr, *x = nullptr, *y = nullptr;  // y: the forward's output (the ReLU's mask)
  const float *mean = nullptr, *invstd = nullptr, *gamma = nullptr;
  float *sum_g = nullptr, *sum_gx = nullptr;  // out: d beta and d gamma
  float* gx = nullptr;                        // out, or null when x needs no gradient
  float* gshift = nullptr;                    // out, or null: the shift's gradient
};
void bn_backward_cpu(const BnGrads& a);
void bn_backward_cuda(const BnGrads& a, float* scratch);  // two launches

// sum[c] = sum of g (N, C, HW) over (N, HW): a convolution's bias gradient.
void channel_sum_cpu(int64_t N, int64_t C, int64_t HW, const float* g, float* sum);
void channel_sum_cuda(int64_t N, int64_t C, int64_t HW, const float* g, float* sum, float* scratch);

}  // namespace sg::kernels
