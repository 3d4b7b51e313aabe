// adam_cpu.cpp — the CPU reference loop of the Adam update (see adam.h).
#include "kernels/adam.h"

namespace sg::kernels {

void adam_update_cpu(const AdamStep& s, const float* g, float* p, float* m, float* v, int64_t n) {
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) adam_update_element(s, g[i], p[i], m[i], v[i]);
}

void adam_update_many_cpu(const AdamBatch& b) {
  for (int k = 0; k < b.count; ++k) {
    const AdamTensor& t = b.t[k];
    adam_update_cpu(AdamStep{b.beta1, b.beta2, b.eps, t.step_size, t.inv_sqrt_bc2}, t.g, t.p, t.m, t.v, t.n);
  }
}

}  // namespace sg::kernels
