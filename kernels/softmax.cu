// softmax.cu — CUDA twins of softmax_cpu.cpp: one thread per (outer, inner) column for softmax
// (adjacent threads read adjacent inner positions: coalesced for NCHW channels), one thread per
// element for the MSE kernels; all over the SG_HD math of softmax.h.
#include "engine/cuda_check.h"
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

void softmax_cuda(const float* x, float* y, int64_t outer, int64_t len, int64_t inner) {
  int64_t cols = outer * inner;
  if (cols == 0 || len == 0) return;
  SG_LAUNCH(softmax_kernel, grid(cols), kBlock, 0, cuda::stream())(x, y, cols, len, inner);
  SG_KERNEL_CHECK();
}

void softmax_backward_cuda(const float* y, const float* g, float* gx, int64_t outer, int64_t len, int64_t inner) {
  int64_t cols = outer * inner;
  if (cols == 0 || len == 0) return;
  SG_LAUNCH(softmax_backward_kernel, grid(cols), kBlock, 0, cuda::stream())(y, g, gx, cols, len, inner);
  SG_KERNEL_CHECK();
}

void sq_diff_cuda(const float* p, const float* t, float* d, int64_t n) {
  if (n == 0) return;
  SG_LAUNCH(sq_diff_kernel, grid(n), kBlock, 0, cuda::stream())(p, t, d, n);
  SG_KERNEL_CHECK();
}

void mse_grad_cuda(const float* p, const float* t, const float* g, float scale, float* gp, int64_t n) {
  if (n == 0) return;
  SG_LAUNCH(mse_grad_kernel, grid(n), kBlock, 0, cuda::stream())(p, t, g, scale, gp, n);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
