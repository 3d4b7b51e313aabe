// pool.cu — CUDA twins of pool_cpu.cpp over the SG_HD math of pool.h. The box filter runs as two
// passes (rows into a scratch buffer, then columns), one thread per element summing its 2r+1 taps.
#include "kernels/cuda_launch.h"
#include "kernels/pool.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;


__global__ void max_pool_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t n, int64_t H, int64_t W) {
  SG_GRID_STRIDE(o, n) out[o] = max_pool2x2_element(x, H, W, o);
}

__global__ void max_pool_backward_kernel(const float* __restrict__ x, const float* __restrict__ g,
                                         float* __restrict__ gx, int64_t n, int64_t H, int64_t W) {
  SG_GRID_STRIDE(i, n) gx[i] = max_pool2x2_backward_element(x, g, H, W, i);
}

// t[p, h, w] = sum over the row taps of x.
__global__ void box_rows_kernel(const float* __restrict__ x, float* __restrict__ t, int64_t n, int64_t W, int r) {
  SG_GRID_STRIDE(i, n) {
    int64_t w = i % W;
    t[i] = box_line_sum(x + (i - w), W, 1, w, r);
  }
}

// out[p, h, w] = scale * sum over the column taps of t.
__global__ void box_cols_kernel(const float* __restrict__ t, float* __restrict__ out, int64_t n, int64_t H,
                                int64_t W, int r, float scale) {
  SG_GRID_STRIDE(i, n) {
    int64_t w = i % W, h = (i / W) % H, p = i / (W * H);
    out[i] = box_line_sum(t + p * H * W + w, H, W, h, r) * scale;
  }
}

}  // namespace

void max_pool2x2_cuda(const float* x, float* out, int64_t P, int64_t H, int64_t W) {
  int64_t n = P * (H / 2) * (W / 2);
  if (n == 0) return;
  SG_LAUNCH(max_pool_kernel, grid(n), kBlock, 0, cuda::stream())(x, out, n, H, W);
  SG_KERNEL_CHECK();
}

void max_pool2x2_backward_cuda(const float* x, const float* g, float* gx, int64_t P, int64_t H, int64_t W) {
  int64_t n = P * H * W;
  if (n == 0) return;
  SG_LAUNCH(max_pool_backward_kernel, grid(n), kBlock, 0, cuda::stream())(x, g, gx, n, H, W);
  SG_KERNEL_CHECK();
}

void box_filter_cuda(const float* x, float* t, float* out, int64_t P, int64_t H, int64_t W, int r, float scale) {
  int64_t n = P * H * W;
  if (n == 0) return;
  SG_LAUNCH(box_rows_kernel, grid(n), kBlock, 0, cuda::stream())(x, t, n, W, r);
  SG_KERNEL_CHECK();
  SG_LAUNCH(box_cols_kernel, grid(n), kBlock, 0, cuda::stream())(t, out, n, H, W, r, scale);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
