// cast.cu — CUDA twins of cast_cpu.cpp: one thread per element (grid-stride loop) over the SG_HD
// conversions of cast.h.
#include "kernels/cast.h"
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void cast_to_bf16_kernel(const float* __restrict__ x, uint16_t* __restrict__ y, int64_t n) {
  SG_GRID_STRIDE(i, n) y[i] = bf16_from_float(x[i]);
}

__global__ void cast_from_bf16_kernel(const uint16_t* __restrict__ x, float* __restrict__ y, int64_t n) {
  SG_GRID_STRIDE(i, n) y[i] = float_from_bf16(x[i]);
}

}  // namespace

void cast_to_bf16_cuda(const float* x, uint16_t* y, int64_t n) {
  if (n == 0) return;
  SG_TRAFFIC("cast float32 -> bf16", 6.0 * n, 0.0);
  SG_LAUNCH(cast_to_bf16_kernel, grid(n), kBlock, 0, cuda::stream())(x, y, n);
  SG_KERNEL_CHECK();
}

void cast_from_bf16_cuda(const uint16_t* x, float* y, int64_t n) {
  if (n == 0) return;
  SG_TRAFFIC("cast bf16 -> float32", 6.0 * n, 0.0);
  SG_LAUNCH(cast_from_bf16_kernel, grid(n), kBlock, 0, cuda::stream())(x, y, n);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
