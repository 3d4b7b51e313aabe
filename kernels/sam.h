// sam.h — the Saliency Augmentation Module's kernels: saliency Perlin noise, adaptive threshold and
// forged-sample blend (sgsf/README.md, 'Forging anomalies'), fused into two passes over the batch:
//   pass 1 (sam_saliency_sum_*): per-sample sum of S (accumulated in double, so that the CPU and the
//     GPU get the same float mean regardless of summation order, almost always to the bit);
//   pass 2 (sam_forge_*): per pixel, S' = fallback ? 1 : S, G = noise * S', M = forged && G > mu,
//     I = A (1 - M) + alpha B M + (1 - alpha) A M for the 3 channels, and the per-sample count of
//     mask pixels (whole numbers added as floats, exact below 2^24, so the GPU's atomic additions
//     give the same count in any order: deterministic).
// The per-sample scalars (forged, alpha, mu, fallback) come from sam_sample(): the sample's Philox
// draw and its saliency sum. Pass 2 evaluates it where it runs, so the GPU never waits for the
// host between the passes and nothing is uploaded.
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"
#include "kernels/random.h"

namespace sg::kernels {

constexpr uint64_t kSamTag = 0x53414D0000000000ull;  // "SAM": Philox stream domain

struct SamSample {
  int forged;      // 0/1
  int fallback;    // 1 when sum(S) == 0: S' = 1 everywhere (Eq. 3)
  float alpha;     // blend factor
  float mu;        // threshold a + b * mean(S')
};

// The SAM settings (sgsf/README.md, 'Forging anomalies').
struct SamConfig {
  float a, b;                // mu = a + b * mean(S')
  float alpha_lo, alpha_hi;  // alpha ~ U[alpha_lo, alpha_hi]
  float forge_prob;          // P(a sample is forged)
};

// Sample k's scalars from its draw (seed, kSamTag | k) and the sum of its saliency map over hw pixels.
SG_HD SamSample sam_sample(uint64_t seed, int64_t k, const SamConfig& cfg, double saliency_sum, int64_t hw) {
  const rnd::U32x4 r = rnd::draw4(seed, kSamTag | (uint64_t)k, 0);
  SamSample p;
  p.forged = rnd::to_unit(r.v[0]) < cfg.forge_prob ? 1 : 0;
  p.alpha = cfg.alpha_lo + (cfg.alpha_hi - cfg.alpha_lo) * rnd::to_unit(r.v[1]);
  p.fallback = saliency_sum == 0.0 ? 1 : 0;
  const float mean_s = p.fallback ? 1.f : (float)(saliency_sum / (double)hw);
  p.mu = cfg.a + cfg.b * mean_s;
  return p;
}

// Mask value of one pixel: strict threshold of the saliency Perlin noise.
SG_HD float sam_mask(const SamSample& p, float noise, float s) {
  float g = noise * (p.fallback ? 1.f : s);
  return (p.forged && g > p.mu) ? 1.f : 0.f;
}

// Eq. 2 for one channel value, literally.
SG_HD float sam_blend(float a, float b, float m, float alpha) {
  return a * (1.f - m) + alpha * b * m + (1.f - alpha) * a * m;
}

// ---- CPU twins (sam_cpu.cpp) ----
// s: (n, hw); sums: (n) in double.
void sam_saliency_sum_cpu(const float* s, int64_t n, int64_t hw, double* sums);
// a, b: (n, c, hw); s, noise: (n, hw); sums: (n), from pass 1; image: (n, c, hw); mask: (n, hw);
// counts: (n) mask pixels per sample.
void sam_forge_cpu(const float* a, const float* s, const float* b, const float* noise, uint64_t seed,
                   const SamConfig& cfg, const double* sums, int64_t n, int64_t c, int64_t hw, float* image,
                   float* mask, float* counts);
// ---- CUDA launchers (sam.cu); pointers are device pointers ----
void sam_saliency_sum_cuda(const float* s, int64_t n, int64_t hw, double* sums);
void sam_forge_cuda(const float* a, const float* s, const float* b, const float* noise, uint64_t seed,
                    const SamConfig& cfg, const double* sums, int64_t n, int64_t c, int64_t hw, float* image,
                    float* mask, float* counts);

}  // namespace sg::kernels
