// guided_concat.cu — CUDA twins of guided_concat_cpu.cpp: one thread per output element, the source
// located by the same SG_HD index math (guided_concat.h); coalesced reads and writes.
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/guided_concat.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

// On cuda::plane_grid(n, c1 + c2, hw): coordinates, no division.
__global__ void concat_kernel(const float* __restrict__ seg, const float* __restrict__ guide, int32_t n, int32_t c1,
                              int32_t c2, int32_t hw, float* __restrict__ out) {
  SG_PLANES(k, ch, i, n, c1 + c2, hw) {
    int which;
    int64_t idx;
    concat_source_at(k, ch, i, c1, c2, hw, which, idx);
    out[((int64_t)k * (c1 + c2) + ch) * hw + i] = which == 0 ? seg[idx] : guide[idx];
  }
}

__global__ void split_kernel(const float* __restrict__ gout, int32_t n, int32_t c1, int32_t c2, int32_t hw,
                             float* __restrict__ gseg, float* __restrict__ gguide) {
  SG_PLANES(k, ch, i, n, c1 + c2, hw) {
    int which;
    int64_t idx;
    concat_source_at(k, ch, i, c1, c2, hw, which, idx);
    float* dst = which == 0 ? gseg : gguide;
    if (dst) dst[idx] = gout[((int64_t)k * (c1 + c2) + ch) * hw + i];
  }
}

void check_sizes(int64_t n, int64_t c1, int64_t c2, int64_t hw) {
  if (n >= (int64_t(1) << 31) || c1 + c2 >= (int64_t(1) << 31) || hw >= (int64_t(1) << 31))
    throw Error(str("guided_concat on CUDA: ", n, " x ", c1 + c2, " x ", hw, " is beyond its 32-bit coordinates"));
}

}  // namespace

void guided_concat_cuda(const float* seg, const float* guide, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* out) {
  if (n * (c1 + c2) * hw == 0) return;
  check_sizes(n, c1, c2, hw);
  const cuda::PlaneGrid g = cuda::plane_grid(n, c1 + c2, hw);
  SG_TRAFFIC("guided_concat", 8.0 * n * (c1 + c2) * hw, 0.0);
  SG_LAUNCH(concat_kernel, g.blocks, g.threads, 0, cuda::stream())(seg, guide, (int32_t)n, (int32_t)c1, (int32_t)c2,
                                                                   (int32_t)hw, out);
  SG_KERNEL_CHECK();
}

void guided_concat_backward_cuda(const float* gout, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* gseg, float* gguide) {
  if (n * (c1 + c2) * hw == 0) return;
  check_sizes(n, c1, c2, hw);
  const cuda::PlaneGrid g = cuda::plane_grid(n, c1 + c2, hw);
  SG_TRAFFIC("guided_concat backward", 8.0 * n * (c1 + c2) * hw, 0.0);
  SG_LAUNCH(split_kernel, g.blocks, g.threads, 0, cuda::stream())(gout, (int32_t)n, (int32_t)c1, (int32_t)c2,
                                                                  (int32_t)hw, gseg, gguide);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
