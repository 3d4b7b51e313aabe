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

// field: (n, 1, h, w), the unrotated noise.
void perlin_field_cpu(const PerlinSample* params, const float* grads, int64_t n, int h, int w, float* field) {
  const int64_t per = 2 * kPerlinLattice * kPerlinLattice;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t s = 0; s < n; ++s)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j) field[(s * h + i) * w + j] = perlin_at(params[s], grads + s * per, h, w, i, j);
}

// out: (n, 1, h, w), the field rotated about its centre.
void perlin_rotate_cpu(const PerlinSample* params, const float* field, int64_t n, int h, int w, float* out) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t s = 0; s < n; ++s)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j)
        out[(s * h + i) * w + j] = perlin_rotate_at(params[s], field + s * (int64_t)h * w, h, w, i, j);
}

}  // namespace sg::kernels
