// sgsf_ops.h — the SGSF-specific ops (sgsf/README.md, 'Forging anomalies' and 'Losses'), each
// backed by a hand-written kernel family in kernels/ (CPU twin + CUDA kernel sharing their
// per-element math): Perlin noise, saliency masking (SAM forging), SSIM, focal loss and guided
// concatenation.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops.h"

namespace sg::sgsf {

// (N,1,H,W) one-octave Perlin noise per sample (kernels/perlin.h): per-sample resolution 2^k per
// axis (k in 0..5, independent), gradients from Philox keyed by (seed, sample, lattice point), fade
// 6t^5-15t^4+10t^3, x sqrt(2), then rotation by U(-90,90) deg (bilinear, zero fill). H, W arbitrary
// (computed on the next multiple of the resolution and cropped). Same field on CPU and GPU.
Tensor perlin_noise(int64_t n, int64_t h, int64_t w, uint64_t seed, Device device);

struct SamParams {
  float a = 0.4f, b = 0.2f;
  float alpha_lo = 0.1f, alpha_hi = 1.0f;
  float forge_prob = 0.75f;
};

struct Forged {
  Tensor image;               // (N,3,H,W)
  Tensor mask;                // (N,1,H,W) in {0,1}
  Tensor mask_pixels;         // (N), on the images' device: mask pixels per sample
  std::vector<int> forged;    // per sample 0/1: drawn as forged
  std::vector<float> alpha;   // per sample: the blend factor drawn
  // Per sample: mask pixels / (H*W). Reads mask_pixels back (on a GPU, waits for it).
  std::vector<float> mask_fraction() const;
};

// A: normal images (N,3,H,W), S: saliency (N,1,H,W) in [0,1], B: auxiliary images (N,3,H,W),
// noise: (N,1,H,W). Per sample (Philox keyed by seed, sample): forged ~ Bernoulli(forge_prob),
// alpha ~ U[alpha_lo, alpha_hi]. S' = S, or 1 everywhere if sum(S) == 0 (Eq. 3); G = noise * S';
// mu = a + b * mean(S'); M = [G > mu], 0 for non-forged samples; I = A(1-M) + alpha B M + (1-alpha) A M.
// No gradient. Two passes: one reduction (per-sample sum of S) and one fused pass; on a GPU nothing
// is copied between host and device.
Forged forge_anomalies(const Tensor& A, const Tensor& S, const Tensor& B, const Tensor& noise, const SamParams& p,
                       uint64_t seed);

// SSIM, 11x11 Gaussian window sigma 1.5, per channel, zero padding 5, C1 = 0.01^2, C2 = 0.03^2.
Tensor ssim_map(const Tensor& x, const Tensor& y);           // (N,C,H,W), no grad
Tensor ssim_mean(const Tensor& recon, const Tensor& target);  // scalar, differentiable w.r.t. recon
Tensor ssim_loss(const Tensor& recon, const Tensor& target);  // 1 - ssim_mean

// Focal loss on logits (N,2,H,W) against mask (N,1,H,W) in {0,1}; mean over pixels; fused
// forward + backward to the logits (no gradient to the mask).
Tensor focal_loss(const Tensor& logits, const Tensor& mask, float gamma = 2.0f);

// (N,C1,H,W) (+) (N,C2,H,W) -> (N,C1+C2,H,W); the gradient is split back to both inputs.
Tensor guided_concat(const Tensor& seg, const Tensor& guide);

}  // namespace sg::sgsf
