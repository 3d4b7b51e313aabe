// softmax.cu — CUDA twins of softmax_cpu.cpp: one thread per (outer, inner) column (adjacent
// threads read adjacent inner positions: coalesced for NCHW channels), over the SG_HD math of
// softmax.h.
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/softmax.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t cols, int64_t len,
                               int64_t inner) {
  SG_GRID_STRIDE(c, cols) softmax_column(x, y, len, inner, c / inner, c % inner);
}

__global__ void softmax_backward_kernel(const float* __restrict__ y, const float* __restrict__ g,
                                        float* __restrict__ gx, int64_t cols, int64_t len, int64_t inner) {
  SG_GRID_STRIDE(c, cols) softmax_backward_column(y, g, gx, len, inner, c / inner, c % inner);
}

}  // namespace

void softmax_cuda(const float* x, float* y, int64_t outer, int64_t len, int64_t inner) {
  int64_t cols = outer * inner;
  if (cols == 0 || len == 0) return;
  SG_TRAFFIC("softmax", 8.0 * cols * len, 4.0 * cols * len);
  SG_LAUNCH(softmax_kernel, grid(cols), kBlock, 0, cuda::stream())(x, y, cols, len, inner);
  SG_KERNEL_CHECK();
}

void softmax_backward_cuda(const float* y, const float* g, float* gx, int64_t outer, int64_t len, int64_t inner) {
  int64_t cols = outer * inner;
  if (cols == 0 || len == 0) return;
  SG_TRAFFIC("softmax backward", 12.0 * cols * len, 4.0 * cols * len);
  SG_LAUNCH(softmax_backward_kernel, grid(cols), kBlock, 0, cuda::stream())(y, g, gx, cols, len, inner);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
