// focal.cu — CUDA twins of focal_cpu.cpp: one thread per pixel, the same SG_HD math (focal.h).
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/focal.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void focal_forward_kernel(const float* __restrict__ logits, const float* __restrict__ mask, int64_t n,
                                     int64_t hw, float gamma, float* __restrict__ loss, float* __restrict__ dz) {
  SG_GRID_STRIDE(t, n * hw) {
    int64_t k = t / hw, i = t % hw;
    const float* l = logits + k * 2 * hw;
    loss[t] = focal_pixel(l[i], l[hw + i], mask[t], gamma, &dz[t]);
  }
}

__global__ void focal_backward_kernel(const float* __restrict__ dz, const float* __restrict__ g, float scale,
                                      int64_t n, int64_t hw, float* __restrict__ glogits) {
  const float s = g[0] * scale;
  SG_GRID_STRIDE(t, n * hw) {
    int64_t k = t / hw, i = t % hw;
    float d = s * dz[t];
    glogits[k * 2 * hw + i] = -d;
    glogits[k * 2 * hw + hw + i] = d;
  }
}


}  // namespace

void focal_forward_cuda(const float* logits, const float* mask, int64_t n, int64_t hw, float gamma, float* loss, float* dz) {
  SG_TRAFFIC("focal loss", 4.0 * 5 * n * hw, 30.0 * n * hw);
  SG_LAUNCH(focal_forward_kernel, grid(n * hw), kBlock, 0, cuda::stream())(logits, mask, n, hw, gamma, loss, dz);
  SG_KERNEL_CHECK();
}

void focal_backward_cuda(const float* dz, const float* g, float scale, int64_t n, int64_t hw, float* glogits) {
  SG_TRAFFIC("focal loss backward", 4.0 * 4 * n * hw, 4.0 * n * hw);
  SG_LAUNCH(focal_backward_kernel, grid(n * hw), kBlock, 0, cuda::stream())(dz, g, scale, n, hw, glogits);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
