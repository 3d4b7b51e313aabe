// concat.cu — CUDA twin of concat_cpu.cpp: one thread per copied element over slab_copy_at, on a grid
// shaped to the block (outer, count, inner).
#include "kernels/concat.h"
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

// On cuda::plane_grid(outer, count, inner): coordinates, no division.
__global__ void copy_slab_kernel(SlabCopy S, const float* __restrict__ src, float* __restrict__ dst) {
  SG_PLANES(o, k, i, (int32_t)S.outer, (int32_t)S.count, (int32_t)S.inner) {
    int64_t si, di = slab_copy_at(S, o, k, i, si);
    dst[di] = src[si];
  }
}

}  // namespace

void copy_slab_cuda(const SlabCopy& S, const float* src, float* dst) {
  if (S.outer * S.count * S.inner == 0) return;
  if (S.outer >= (int64_t(1) << 31) || S.count >= (int64_t(1) << 31) || S.inner >= (int64_t(1) << 31))
    throw Error(str("copy_slab on CUDA: a block of ", S.outer, " x ", S.count, " x ", S.inner,
                    " is beyond its 32-bit coordinates"));
  const cuda::PlaneGrid g = cuda::plane_grid(S.outer, S.count, S.inner);
  SG_TRAFFIC("copy_slab (concat, slice)", 8.0 * S.outer * S.count * S.inner, 0.0);
  SG_LAUNCH(copy_slab_kernel, g.blocks, g.threads, 0, cuda::stream())(S, src, dst);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
