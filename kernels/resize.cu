// resize.cu — CUDA twins of resize_cpu.cpp: one thread per output (forward) or per input element
// (backward, a gather: deterministic, no atomics), over the SG_HD math of resize.h.
#include "kernels/cuda_launch.h"
#include "kernels/resize.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void upsample_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n, int64_t H, int64_t W) {
  SG_GRID_STRIDE(o, n)
    out[o] = upsample2x_element(x, H, W, o);
}

__global__ void upsample_backward_kernel(const float* __restrict__ g, float* __restrict__ gx, int64_t n, int64_t H,
                                         int64_t W) {
  SG_GRID_STRIDE(i, n)
    gx[i] = upsample2x_backward_element(g, H, W, i);
}

}  // namespace

void upsample2x_cuda(const float* x, float* out, int64_t P, int64_t H, int64_t W) {
  int64_t n = P * 4 * H * W;
  if (n == 0) return;
  SG_LAUNCH(upsample_kernel, grid(n), kBlock, 0, cuda::stream())(x, out, n, H, W);
  SG_KERNEL_CHECK();
}

void upsample2x_backward_cuda(const float* g, float* gx, int64_t P, int64_t H, int64_t W) {
  int64_t n = P * H * W;
  if (n == 0) return;
  SG_LAUNCH(upsample_backward_kernel, grid(n), kBlock, 0, cuda::stream())(g, gx, n, H, W);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
