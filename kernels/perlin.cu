// perlin.cu — CUDA twins of perlin_cpu.cpp: one thread per lattice point, then one per output pixel,
// calling the same SG_HD math from perlin.h.
#include "engine/cuda_check.h"
#include "kernels/perlin.h"

namespace sg::kernels {
namespace {

__global__ void perlin_gradients_kernel(uint64_t seed, int64_t n, float* __restrict__ grads) {
  const int64_t per = kPerlinLattice * kPerlinLattice;
  int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (t >= n * per) return;
  int64_t s = t / per;
  int k = (int)(t % per);
  perlin_gradient(seed, s, k / kPerlinLattice, k % kPerlinLattice, grads[2 * t], grads[2 * t + 1]);
}

// grid: (ceil(w / 32), ceil(h / 8), n), block 32 x 8.
__global__ void perlin_rotated_kernel(const PerlinSample* __restrict__ params, const float* __restrict__ grads,
                                      int64_t h, int64_t w, float* __restrict__ out) {
  int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  int64_t i = blockIdx.y * (int64_t)blockDim.y + threadIdx.y;
  int64_t s = blockIdx.z;
  if (i >= h || j >= w) return;
  const int64_t per = 2 * kPerlinLattice * kPerlinLattice;
  out[(s * h + i) * w + j] = perlin_rotated_at(params[s], grads + s * per, h, w, i, j);
}

}  // namespace

void perlin_gradients_cuda(uint64_t seed, int64_t n, float* grads) {
  int64_t total = n * kPerlinLattice * kPerlinLattice;
  perlin_gradients_kernel<<<cuda::grid_for(total, 256), 256, 0, cuda::stream()>>>(seed, n, grads);
  SG_KERNEL_CHECK();
}

void perlin_rotated_cuda(const PerlinSample* params, const float* grads, int64_t n, int64_t h, int64_t w, float* out) {
  dim3 block(32, 8), grid(cuda::grid_for(w, 32), cuda::grid_for(h, 8), (unsigned)n);
  perlin_rotated_kernel<<<grid, block, 0, cuda::stream()>>>(params, grads, h, w, out);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
