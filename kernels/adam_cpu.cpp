// adam_cpu.cpp — the CPU reference loop of the Adam update (see adam.h).
#include "kernels/adam.h"

namespace sg::kernels {

void adam_update_cpu(const AdamStep& s, const float* g, float* p, float* m, float* v, int64_t n) {
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) adam_update_element(s, g[i], p[i], m[i], v[i]);
}

}  // namespace sg::kernels
