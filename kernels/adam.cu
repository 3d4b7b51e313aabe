// adam.cu — CUDA twin of adam_cpu.cpp: one thread per element (grid-stride loop) calling the same
// adam_update_element from adam.h.
#include "kernels/adam.h"
#include "kernels/cuda_launch.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void adam_update_kernel(AdamStep s, const float* __restrict__ g, float* __restrict__ p,
                                   float* __restrict__ m, float* __restrict__ v, int64_t n) {
  SG_GRID_STRIDE(i, n) {
    float pi = p[i], mi = m[i], vi = v[i];
    adam_update_element(s, g[i], pi, mi, vi);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void adam_update_cuda(const AdamStep& s, const float* g, float* p, float* m, float* v, int64_t n) {
  if (n <= 0) return;
  SG_LAUNCH(adam_update_kernel, grid(n), kBlock, 0, cuda::stream())(s, g, p, m, v, n);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
