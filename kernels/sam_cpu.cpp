// sam_cpu.cpp — the CPU reference loops of the SAM family (see sam.h).
#include "kernels/sam.h"

namespace sg::kernels {

void sam_saliency_sum_cpu(const float* s, int64_t n, int64_t hw, double* sums) {
  for (int64_t k = 0; k < n; ++k) {
    double acc = 0;
    for (int64_t i = 0; i < hw; ++i) acc += (double)s[k * hw + i];
    sums[k] = acc;
  }
}

void sam_forge_cpu(const float* a, const float* s, const float* b, const float* noise, uint64_t seed,
                   const SamConfig& cfg, const double* sums, int64_t n, int64_t c, int64_t hw, float* image,
                   float* mask, float* counts) {
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < n; ++k) {
    const SamSample p = sam_sample(seed, k, cfg, sums[k], hw);
    int64_t count = 0;
    for (int64_t i = 0; i < hw; ++i) {
      float m = sam_mask(p, noise[k * hw + i], s[k * hw + i]);
      mask[k * hw + i] = m;
      count += m > 0.f;
      for (int64_t ch = 0; ch < c; ++ch) {
        int64_t idx = (k * c + ch) * hw + i;
        image[idx] = sam_blend(a[idx], b[idx], m, p.alpha);
      }
    }
    counts[k] = (float)count;
  }
}

}  // namespace sg::kernels
