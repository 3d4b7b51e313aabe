// pool.cu — CUDA twins of pool_cpu.cpp over the SG_HD math of pool.h, on grids shaped to the planes
// (cuda::plane_grid: 32-bit coordinates, no per-element division). The box filter runs as two
// passes (rows into a scratch buffer, then columns), one thread per element summing its 2r+1 taps.
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/pool.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;


// The kernels run on cuda::plane_grid: coordinates, not a flat index to divide.
__global__ void max_pool_kernel(const float* __restrict__ x, float* __restrict__ out, int32_t P, int32_t H, int32_t W) {
  const int32_t Ho = H / 2, Wo = W / 2;
  SG_PLANES(p, oh, ow, P, Ho, Wo) out[((int64_t)p * Ho + oh) * Wo + ow] = max_pool2x2_at(x, H, W, p, oh, ow);
}

__global__ void max_pool_backward_kernel(const float* __restrict__ x, const float* __restrict__ g,
                                         float* __restrict__ gx, int32_t P, int32_t H, int32_t W) {
  SG_PLANES(p, h, w, P, H, W) gx[((int64_t)p * H + h) * W + w] = max_pool2x2_backward_at(x, g, H, W, p, h, w);
}

// t[p, h, w] = sum over the row taps of x.
__global__ void box_rows_kernel(const float* __restrict__ x, float* __restrict__ t, int32_t P, int32_t H, int32_t W,
                                int r) {
  SG_PLANES(p, h, w, P, H, W) {
    const int64_t row = ((int64_t)p * H + h) * W;
    t[row + w] = box_line_sum(x + row, W, 1, w, r);
  }
}

// out[p, h, w] = scale * sum over the column taps of t.
__global__ void box_cols_kernel(const float* __restrict__ t, float* __restrict__ out, int32_t P, int32_t H, int32_t W,
                                int r, float scale) {
  SG_PLANES(p, h, w, P, H, W) {
    const int64_t plane = (int64_t)p * H * W;
    out[plane + (int64_t)h * W + w] = box_line_sum(t + plane + w, H, W, h, r) * scale;
  }
}

}  // namespace

// Planes, rows and columns each below 2^31 (the tensor as a whole may be larger).
static void check_planes(int64_t P, int64_t H, int64_t W) {
  if (P >= (int64_t(1) << 31) || H >= (int64_t(1) << 31) || W >= (int64_t(1) << 31))
    throw Error(str("pooling on CUDA: ", P, " planes of ", H, " x ", W, " is beyond its 32-bit coordinates"));
}

void max_pool2x2_cuda(const float* x, float* out, int64_t P, int64_t H, int64_t W) {
  if (P * (H / 2) * (W / 2) == 0) return;
  check_planes(P, H, W);
  const cuda::PlaneGrid g = cuda::plane_grid(P, H / 2, W / 2);
  SG_TRAFFIC("max_pool2x2", 4.0 * P * H * W * 1.25, 0.75 * P * H * W);
  SG_LAUNCH(max_pool_kernel, g.blocks, g.threads, 0, cuda::stream())(x, out, (int32_t)P, (int32_t)H, (int32_t)W);
  SG_KERNEL_CHECK();
}

void max_pool2x2_backward_cuda(const float* x, const float* g, float* gx, int64_t P, int64_t H, int64_t W) {
  if (P * H * W == 0) return;
  check_planes(P, H, W);
  const cuda::PlaneGrid pg = cuda::plane_grid(P, H, W);
  SG_TRAFFIC("max_pool2x2 backward", 4.0 * P * H * W * 2.25, 3.0 * P * H * W);
  SG_LAUNCH(max_pool_backward_kernel, pg.blocks, pg.threads, 0, cuda::stream())(x, g, gx, (int32_t)P, (int32_t)H,
                                                                                (int32_t)W);
  SG_KERNEL_CHECK();
}

void box_filter_cuda(const float* x, float* t, float* out, int64_t P, int64_t H, int64_t W, int r, float scale) {
  if (P * H * W == 0) return;
  check_planes(P, H, W);
  const cuda::PlaneGrid g = cuda::plane_grid(P, H, W);
  SG_TRAFFIC("box filter (2 passes)", 16.0 * P * H * W, 2.0 * (2 * r + 1) * P * H * W + P * H * W);
  SG_LAUNCH(box_rows_kernel, g.blocks, g.threads, 0, cuda::stream())(x, t, (int32_t)P, (int32_t)H, (int32_t)W, r);
  SG_KERNEL_CHECK();
  SG_LAUNCH(box_cols_kernel, g.blocks, g.threads, 0, cuda::stream())(t, out, (int32_t)P, (int32_t)H, (int32_t)W, r,
                                                                     scale);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
