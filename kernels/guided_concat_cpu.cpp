// guided_concat_cpu.cpp — the CPU reference of guided concatenation (see guided_concat.h): per
// sample, the C1 planes of seg then the C2 planes of guide, as contiguous block copies.
#include <cstring>

#include "kernels/guided_concat.h"

namespace sg::kernels {

void guided_concat_cpu(const float* seg, const float* guide, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* out) {
  const int64_t c = c1 + c2;
#pragma omp parallel for schedule(static) if (n * c * hw > (1 << 18))
  for (int64_t k = 0; k < n; ++k) {
    std::memcpy(out + k * c * hw, seg + k * c1 * hw, sizeof(float) * (size_t)(c1 * hw));
    std::memcpy(out + (k * c + c1) * hw, guide + k * c2 * hw, sizeof(float) * (size_t)(c2 * hw));
  }
}

void guided_concat_backward_cpu(const float* gout, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* gseg, float* gguide) {
  const int64_t c = c1 + c2;
#pragma omp parallel for schedule(static) if (n * c * hw > (1 << 18))
  for (int64_t k = 0; k < n; ++k) {
    if (gseg) std::memcpy(gseg + k * c1 * hw, gout + k * c * hw, sizeof(float) * (size_t)(c1 * hw));
    if (gguide) std::memcpy(gguide + k * c2 * hw, gout + (k * c + c1) * hw, sizeof(float) * (size_t)(c2 * hw));
  }
}

}  // namespace sg::kernels
