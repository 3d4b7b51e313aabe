// sam.h — the Saliency Augmentation Module's kernels: saliency Perlin noise, adaptive threshold and
// forged-sample blend (sgsf/README.md, 'Forging anomalies'), fused into two passes over the batch:
//   pass 1 (sam_saliency_sum_*): per-sample sum of S (accumulated in double, so that the CPU and the
//     GPU get the same float mean regardless of summation order, almost always to the bit);
//   pass 2 (sam_forge_*): per pixel, S' = fallback ? 1 : S, G = noise * S', M = forged && G > mu,
//     I = A (1 - M) + alpha B M + (1 - alpha) A M for the 3 channels, and the per-sample count of
//     mask pixels (integer atomics on the GPU: deterministic).
// Per-sample scalars (forged, alpha, mu, fallback) are decided on the host between the passes.
#pragma once
#include <cstdint>

#include "engine/common.h"

namespace sg::kernels {

constexpr uint64_t kSamTag = 0x53414D0000000000ull;  // "SAM": Philox stream domain

struct SamSample {
  int forged;      // 0/1
  int fallback;    // 1 when sum(S) == 0: S' = 1 everywhere (Eq. 3)
  float alpha;     // blend factor
  float mu;        // threshold a + b * mean(S')
};

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
// a, b: (n, c, hw); s, noise: (n, hw); params: (n); image: (n, c, hw); mask: (n, hw); counts: (n).
void sam_forge_cpu(const float* a, const float* s, const float* b, const float* noise, const SamSample* params,
                   int64_t n, int64_t c, int64_t hw, float* image, float* mask, int* counts);
// ---- CUDA launchers (sam.cu); pointers are device pointers ----
void sam_saliency_sum_cuda(const float* s, int64_t n, int64_t hw, double* sums);
void sam_forge_cuda(const float* a, const float* s, const float* b, const float* noise, const SamSample* params,
                    int64_t n, int64_t c, int64_t hw, float* image, float* mask, int* counts);

}  // namespace sg::kernels
