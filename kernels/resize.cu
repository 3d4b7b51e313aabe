// resize.cu — CUDA twins of resize_cpu.cpp: one thread per output (forward) or per input element
// (backward, a gather: deterministic, no atomics), over the SG_HD math of resize.h, on grids shaped
// to the planes (cuda::plane_grid).
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/resize.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

// On cuda::plane_grid: coordinates, no division; each axis's taps need none either (UpAxis).
__global__ void upsample_kernel(const float* __restrict__ x, float* __restrict__ out, int32_t P, UpAxis ah, UpAxis aw) {
  const int32_t Ho = (int32_t)(2 * ah.n), Wo = (int32_t)(2 * aw.n);
  SG_PLANES(p, oh, ow, P, Ho, Wo) out[((int64_t)p * Ho + oh) * Wo + ow] = upsample2x_at(x, ah, aw, p, oh, ow);
}

__global__ void upsample_backward_kernel(const float* __restrict__ g, float* __restrict__ gx, int32_t P, UpAxis ah,
                                         UpAxis aw) {
  const int32_t H = (int32_t)ah.n, W = (int32_t)aw.n;
  SG_PLANES(p, ih, iw, P, H, W) gx[((int64_t)p * H + ih) * W + iw] = upsample2x_backward_at(g, ah, aw, p, ih, iw);
}

void check_planes(int64_t P, int64_t H, int64_t W) {
  if (P >= (int64_t(1) << 31) || 2 * H >= (int64_t(1) << 31) || 2 * W >= (int64_t(1) << 31))
    throw Error(str("upsampling on CUDA: ", P, " planes of ", H, " x ", W, " is beyond its 32-bit coordinates"));
}

}  // namespace

void upsample2x_cuda(const float* x, float* out, int64_t P, int64_t H, int64_t W) {
  if (P * H * W == 0) return;
  check_planes(P, H, W);
  const cuda::PlaneGrid g = cuda::plane_grid(P, 2 * H, 2 * W);
  SG_TRAFFIC("upsample2x", 4.0 * 5 * P * H * W, 6.0 * 4 * P * H * W);
  SG_LAUNCH(upsample_kernel, g.blocks, g.threads, 0, cuda::stream())(x, out, (int32_t)P, UpAxis(H), UpAxis(W));
  SG_KERNEL_CHECK();
}

void upsample2x_backward_cuda(const float* g, float* gx, int64_t P, int64_t H, int64_t W) {
  if (P * H * W == 0) return;
  check_planes(P, H, W);
  const cuda::PlaneGrid pg = cuda::plane_grid(P, H, W);
  SG_TRAFFIC("upsample2x backward", 4.0 * 5 * P * H * W, 2.0 * 25 * P * H * W);
  SG_LAUNCH(upsample_backward_kernel, pg.blocks, pg.threads, 0, cuda::stream())(g, gx, (int32_t)P, UpAxis(H),
                                                                                UpAxis(W));
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
