// im2col.cu — CUDA twins of im2col_cpu.cpp: one thread per output element, calling the SG_HD
// index math of im2col.h. col2im gathers (no atomics), so it is deterministic.
#include "engine/cuda_check.h"
#include "kernels/im2col.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void im2col_kernel(ConvGeom g, const float* __restrict__ x, float* __restrict__ col, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    col[i] = im2col_element(g, x, i);
}

__global__ void col2im_kernel(ConvGeom g, const float* __restrict__ col, float* __restrict__ x, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    x[i] = col2im_element(g, col, i);
}

}  // namespace

void im2col_cuda(const ConvGeom& g, const float* x, float* col) {
  int64_t n = g.rows() * g.cols();
  if (n == 0) return;
  SG_LAUNCH(im2col_kernel, grid(n), kBlock, 0, cuda::stream())(g, x, col, n);
  SG_KERNEL_CHECK();
}

void col2im_cuda(const ConvGeom& g, const float* col, float* x) {
  int64_t n = g.C * g.H * g.W;
  if (n == 0) return;
  SG_LAUNCH(col2im_kernel, grid(n), kBlock, 0, cuda::stream())(g, col, x, n);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
