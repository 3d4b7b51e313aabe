// concat.cu — CUDA twin of concat_cpu.cpp: one thread per copied element over slab_copy_index.
#include "kernels/concat.h"
#include "kernels/cuda_launch.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void copy_slab_kernel(SlabCopy S, const float* __restrict__ src, float* __restrict__ dst, int64_t n) {
  SG_GRID_STRIDE(e, n) {
    int64_t si, di = slab_copy_index(S, e, si);
    dst[di] = src[si];
  }
}

}  // namespace

void copy_slab_cuda(const SlabCopy& S, const float* src, float* dst) {
  int64_t n = S.outer * S.count * S.inner;
  if (n == 0) return;
  SG_LAUNCH(copy_slab_kernel, grid(n), kBlock, 0, cuda::stream())(S, src, dst, n);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
