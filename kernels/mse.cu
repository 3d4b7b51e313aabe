// mse.cu — CUDA twins of mse_cpu.cpp: one thread per element (grid-stride loop) over the SG_HD
// math of mse.h.
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/mse.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void sq_diff_kernel(const float* __restrict__ p, const float* __restrict__ t, float* __restrict__ d,
                               int64_t n) {
  SG_GRID_STRIDE(i, n) d[i] = sq_diff(p[i], t[i]);
}

__global__ void mse_grad_kernel(const float* __restrict__ p, const float* __restrict__ t,
                                const float* __restrict__ g, float scale, float* __restrict__ gp, int64_t n) {
  float gv = g[0];
  SG_GRID_STRIDE(i, n) gp[i] = mse_grad(p[i], t[i], gv, scale);
}

}  // namespace

void sq_diff_cuda(const float* p, const float* t, float* d, int64_t n) {
  if (n == 0) return;
  SG_TRAFFIC("mse: squared differences", 12.0 * n, 2.0 * n);
  SG_LAUNCH(sq_diff_kernel, grid(n), kBlock, 0, cuda::stream())(p, t, d, n);
  SG_KERNEL_CHECK();
}

void mse_grad_cuda(const float* p, const float* t, const float* g, float scale, float* gp, int64_t n) {
  if (n == 0) return;
  SG_TRAFFIC("mse backward", 12.0 * n, 3.0 * n);
  SG_LAUNCH(mse_grad_kernel, grid(n), kBlock, 0, cuda::stream())(p, t, g, scale, gp, n);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
