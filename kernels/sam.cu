// sam.cu — CUDA twins of sam_cpu.cpp: a block-per-sample reduction in double, then one thread per
// pixel for the fused mask + blend, calling the same SG_HD math from sam.h.
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/sam.h"

namespace sg::kernels {
namespace {

using cuda::kBlock;

// grid: (n), one block per sample; fixed tree order, so the result is deterministic.
__global__ void sam_sum_kernel(const float* __restrict__ s, int64_t hw, double* __restrict__ sums) {
  __shared__ double part[kBlock];
  int64_t k = blockIdx.x;
  double acc = 0;
  for (int64_t i = threadIdx.x; i < hw; i += kBlock) acc += (double)s[k * hw + i];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int step = kBlock / 2; step > 0; step >>= 1) {
    if ((int)threadIdx.x < step) part[threadIdx.x] += part[threadIdx.x + step];
    __syncthreads();
  }
  if (threadIdx.x == 0) sums[k] = part[0];
}

// grid: (ceil(hw / kBlock), n). Each thread derives its sample's scalars (a Philox draw, cheap
// beside the pixel traffic). Counts: one atomicAdd per block of the block's mask pixels, whole
// numbers below 2^24, so exact in any order.
__global__ void sam_forge_kernel(const float* __restrict__ a, const float* __restrict__ s,
                                 const float* __restrict__ b, const float* __restrict__ noise, uint64_t seed,
                                 SamConfig cfg, const double* __restrict__ sums, int64_t c, int64_t hw,
                                 float* __restrict__ image, float* __restrict__ mask, float* __restrict__ counts) {
  int64_t k = blockIdx.y;
  int64_t i = blockIdx.x * (int64_t)kBlock + threadIdx.x;
  float m = 0.f;
  if (i < hw) {
    const SamSample p = sam_sample(seed, k, cfg, sums[k], hw);
    m = sam_mask(p, noise[k * hw + i], s[k * hw + i]);
    mask[k * hw + i] = m;
    for (int64_t ch = 0; ch < c; ++ch) {
      int64_t idx = (k * c + ch) * hw + i;
      image[idx] = sam_blend(a[idx], b[idx], m, p.alpha);
    }
  }
  int block_count = __syncthreads_count(m > 0.f);
  if (threadIdx.x == 0 && block_count) atomicAdd(counts + k, (float)block_count);
}

}  // namespace

void sam_saliency_sum_cuda(const float* s, int64_t n, int64_t hw, double* sums) {
  SG_TRAFFIC("sam: saliency sums", 4.0 * n * hw, 1.0 * n * hw);
  SG_LAUNCH(sam_sum_kernel, (unsigned)n, kBlock, 0, cuda::stream())(s, hw, sums);
  SG_KERNEL_CHECK();
}

void sam_forge_cuda(const float* a, const float* s, const float* b, const float* noise, uint64_t seed,
                    const SamConfig& cfg, const double* sums, int64_t n, int64_t c, int64_t hw, float* image,
                    float* mask, float* counts) {
  SG_CUDA_CHECK(cudaMemsetAsync(counts, 0, sizeof(float) * (size_t)n, cuda::stream()));
  dim3 grid(cuda::grid_for(hw, kBlock), (unsigned)n);
  SG_TRAFFIC("sam: forge", 4.0 * 13 * n * hw, 12.0 * n * hw);
  SG_LAUNCH(sam_forge_kernel, grid, kBlock, 0, cuda::stream())(a, s, b, noise, seed, cfg, sums, c, hw, image, mask,
                                                                counts);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
