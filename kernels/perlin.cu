// perlin.cu — CUDA twins of perlin_cpu.cpp: one thread per lattice point, then one per pixel
// (field, rotation),
// calling the same SG_HD math from perlin.h.
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/perlin.h"

namespace sg::kernels {
namespace {

__global__ void perlin_gradients_kernel(uint64_t seed, int64_t n, float* __restrict__ grads) {
  const int64_t per = kPerlinLattice * kPerlinLattice;
  SG_GRID_STRIDE(t, n * per) {
    int64_t s = t / per;
    int k = (int)(t % per);
    perlin_gradient(seed, s, k / kPerlinLattice, k % kPerlinLattice, grads[2 * t], grads[2 * t + 1]);
  }
}

// grid: (ceil(w / 32), ceil(h / 8), n), block 32 x 8, for both passes.
__global__ void perlin_params_kernel(uint64_t seed, int64_t n, PerlinSample* __restrict__ params) {
  SG_GRID_STRIDE(s, n) params[s] = perlin_sample_params(seed, s);
}

__global__ void perlin_field_kernel(const PerlinSample* __restrict__ params, const float* __restrict__ grads,
                                    int h, int w, float* __restrict__ field) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, i = blockIdx.y * blockDim.y + threadIdx.y;
  int64_t s = blockIdx.z;
  if (i >= h || j >= w) return;
  const int64_t per = 2 * kPerlinLattice * kPerlinLattice;
  field[(s * h + i) * w + j] = perlin_at(params[s], grads + s * per, h, w, i, j);
}

__global__ void perlin_rotate_kernel(const PerlinSample* __restrict__ params, const float* __restrict__ field,
                                     int h, int w, float* __restrict__ out) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, i = blockIdx.y * blockDim.y + threadIdx.y;
  int64_t s = blockIdx.z;
  if (i >= h || j >= w) return;
  out[(s * h + i) * w + j] = perlin_rotate_at(params[s], field + s * (int64_t)h * w, h, w, i, j);
}

}  // namespace

void perlin_gradients_cuda(uint64_t seed, int64_t n, float* grads) {
  int64_t total = n * kPerlinLattice * kPerlinLattice;
  SG_TRAFFIC("perlin: gradients", 8.0 * total, 20.0 * total);
  SG_LAUNCH(perlin_gradients_kernel, cuda::grid(total), cuda::kBlock, 0, cuda::stream())(seed, n, grads);
  SG_KERNEL_CHECK();
}

void perlin_params_cuda(uint64_t seed, int64_t n, PerlinSample* params) {
  SG_TRAFFIC("perlin: parameters", 64.0 * n, 50.0 * n);
  SG_LAUNCH(perlin_params_kernel, cuda::grid(n), cuda::kBlock, 0, cuda::stream())(seed, n, params);
  SG_KERNEL_CHECK();
}

void perlin_field_cuda(const PerlinSample* params, const float* grads, int64_t n, int h, int w, float* field) {
  dim3 block(32, 8), grid(cuda::grid_for(w, 32), cuda::grid_for(h, 8), (unsigned)n);
  SG_TRAFFIC("perlin: field", 4.0 * n * h * w, 60.0 * n * h * w);
  SG_LAUNCH(perlin_field_kernel, grid, block, 0, cuda::stream())(params, grads, h, w, field);
  SG_KERNEL_CHECK();
}

void perlin_rotate_cuda(const PerlinSample* params, const float* field, int64_t n, int h, int w, float* out) {
  dim3 block(32, 8), grid(cuda::grid_for(w, 32), cuda::grid_for(h, 8), (unsigned)n);
  SG_TRAFFIC("perlin: rotation", 8.0 * n * h * w, 20.0 * n * h * w);
  SG_LAUNCH(perlin_rotate_kernel, grid, block, 0, cuda::stream())(params, field, h, w, out);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
