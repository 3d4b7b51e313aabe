// guided_concat.cu — CUDA twins of guided_concat_cpu.cpp: one thread per output element, the source
// located by the same SG_HD index math (guided_concat.h); coalesced reads and writes.
#include "kernels/cuda_launch.h"
#include "kernels/guided_concat.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void concat_kernel(const float* __restrict__ seg, const float* __restrict__ guide, int64_t total,
                              int64_t c1, int64_t c2, int64_t hw, float* __restrict__ out) {
  SG_GRID_STRIDE(t, total) {
    int which;
    int64_t idx;
    concat_source(t, c1, c2, hw, which, idx);
    out[t] = which == 0 ? seg[idx] : guide[idx];
  }
}

__global__ void split_kernel(const float* __restrict__ gout, int64_t total, int64_t c1, int64_t c2, int64_t hw,
                             float* __restrict__ gseg, float* __restrict__ gguide) {
  SG_GRID_STRIDE(t, total) {
    int which;
    int64_t idx;
    concat_source(t, c1, c2, hw, which, idx);
    float* dst = which == 0 ? gseg : gguide;
    if (dst) dst[idx] = gout[t];
  }
}


}  // namespace

void guided_concat_cuda(const float* seg, const float* guide, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* out) {
  int64_t total = n * (c1 + c2) * hw;
  SG_LAUNCH(concat_kernel, grid(total), kBlock, 0, cuda::stream())(seg, guide, total, c1, c2, hw, out);
  SG_KERNEL_CHECK();
}

void guided_concat_backward_cuda(const float* gout, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* gseg, float* gguide) {
  int64_t total = n * (c1 + c2) * hw;
  SG_LAUNCH(split_kernel, grid(total), kBlock, 0, cuda::stream())(gout, total, c1, c2, hw, gseg, gguide);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
