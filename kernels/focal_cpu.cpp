// focal_cpu.cpp — the CPU reference loops of the focal-loss family (see focal.h).
#include "kernels/focal.h"

namespace sg::kernels {

void focal_forward_cpu(const float* logits, const float* mask, int64_t n, int64_t hw, float gamma, float* loss, float* dz) {
#pragma omp parallel for collapse(2) schedule(static) if (n * hw > (1 << 15))
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i < hw; ++i) {
      const float* l = logits + k * 2 * hw;
      loss[k * hw + i] = focal_pixel(l[i], l[hw + i], mask[k * hw + i], gamma, &dz[k * hw + i]);
    }
}

void focal_backward_cpu(const float* dz, const float* g, float scale, int64_t n, int64_t hw, float* glogits) {
  const float s = g[0] * scale;
#pragma omp parallel for collapse(2) schedule(static) if (n * hw > (1 << 15))
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i < hw; ++i) {
      float d = s * dz[k * hw + i];
      glogits[k * 2 * hw + i] = -d;
      glogits[k * 2 * hw + hw + i] = d;
    }
}

}  // namespace sg::kernels
