// adam.cu — CUDA twin of adam_cpu.cpp: one thread per element (grid-stride loop) calling the same
// adam_update_element from adam.h; the multi-tensor kernel walks the batch's tensors one after the
// other, each with the same grid-stride loop, so one launch updates them all.
#include "kernels/adam.h"
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"

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

// The grid covers the largest tensor once; every thread visits every tensor of the batch (the
// loop over k reads the batch from the kernel's parameter space, which all threads share).
__global__ void adam_update_many_kernel(AdamBatch b) {
  const int64_t first = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
  for (int k = 0; k < b.count; ++k) {
    const AdamTensor& t = b.t[k];
    const AdamStep s{b.beta1, b.beta2, b.eps, t.step_size, t.inv_sqrt_bc2};
    for (int64_t i = first; i < t.n; i += stride) {
      float pi = t.p[i], mi = t.m[i], vi = t.v[i];
      adam_update_element(s, t.g[i], pi, mi, vi);
      t.p[i] = pi;
      t.m[i] = mi;
      t.v[i] = vi;
    }
  }
}

}  // namespace

void adam_update_many_cuda(const AdamBatch& b) {
  int64_t largest = 0;
  double total = 0;
  for (int k = 0; k < b.count; ++k) {
    largest = b.t[k].n > largest ? b.t[k].n : largest;
    total += (double)b.t[k].n;
  }
  if (largest <= 0) return;
  SG_TRAFFIC_PARAMS("adam (multi-tensor)", 28 * total, 12 * total);
  SG_LAUNCH(adam_update_many_kernel, grid(largest), kBlock, 0, cuda::stream())(b);
  SG_KERNEL_CHECK();
}

void adam_update_cuda(const AdamStep& s, const float* g, float* p, float* m, float* v, int64_t n) {
  if (n <= 0) return;
  SG_TRAFFIC_PARAMS("adam (one tensor)", 28.0 * n, 12.0 * n);
  SG_LAUNCH(adam_update_kernel, grid(n), kBlock, 0, cuda::stream())(s, g, p, m, v, n);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
