// reduce_cpu.cpp — CPU reference reductions (see reduce.h).
#include <algorithm>
#include <limits>

#include "kernels/reduce.h"

namespace sg::kernels {

void sum_all_cpu(const float* x, int64_t n, float* out) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += x[i];
  *out = (float)acc;
}

void sum_along_cpu(const float* x, int64_t outer, int64_t len, int64_t inner, float* out) {
#pragma omp parallel for if (outer * inner > 4096) schedule(static)
  for (int64_t oi = 0; oi < outer * inner; ++oi)
    out[oi] = sum_along_element(x, len, inner, oi / inner, oi % inner);
}

float max_all_cpu(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

}  // namespace sg::kernels
