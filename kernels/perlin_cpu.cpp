// perlin_cpu.cpp — the CPU reference loops of the Perlin family (see perlin.h).
#include "kernels/perlin.h"

namespace sg::kernels {

// grads: (n, 33, 33, 2), every lattice point of every sample (unused points are cheap to fill).
void perlin_gradients_cpu(uint64_t seed, int64_t n, float* grads) {
  const int per = kPerlinLattice * kPerlinLattice;
  for (int64_t s = 0; s < n; ++s)
    for (int k = 0; k < per; ++k)
      perlin_gradient(seed, s, k / kPerlinLattice, k % kPerlinLattice, grads[2 * (s * per + k)],
                      grads[2 * (s * per + k) + 1]);
}

// out: (n, 1, h, w).
void perlin_rotated_cpu(const PerlinSample* params, const float* grads, int64_t n, int64_t h, int64_t w, float* out) {
  const int64_t per = 2 * kPerlinLattice * kPerlinLattice;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t s = 0; s < n; ++s)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j)
        out[(s * h + i) * w + j] = perlin_rotated_at(params[s], grads + s * per, h, w, i, j);
}

}  // namespace sg::kernels
