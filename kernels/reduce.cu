// reduce.cu — CUDA reductions. sum_all: each block reduces a fixed grid-stride share in shared
// memory (a fixed tree), block partials are then reduced by one block: deterministic, no atomics.
#include <algorithm>
#include <cfloat>

#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/reduce.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;
// sum_all/max_all: the first pass writes one partial per block into a scratch buffer of this many
// floats (the grid of that pass is capped here, not at cuda::kMaxGrid), the second pass reduces
// them in one block.
constexpr int kMaxBlocks = 1024;

template <bool kMax>
__global__ void block_reduce(const float* __restrict__ x, int64_t n, float* __restrict__ partial) {
  __shared__ float s[kBlock];
  float acc = kMax ? -FLT_MAX : 0.f;
  SG_GRID_STRIDE(i, n) acc = kMax ? fmaxf(acc, x[i]) : acc + x[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kBlock / 2; w > 0; w >>= 1) {
    if ((int)threadIdx.x < w) s[threadIdx.x] = kMax ? fmaxf(s[threadIdx.x], s[threadIdx.x + w]) : s[threadIdx.x] + s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

__global__ void sum_along_kernel(const float* __restrict__ x, int64_t outer, int64_t len, int64_t inner, float* __restrict__ out) {
  int64_t total = outer * inner;
  SG_GRID_STRIDE(oi, total)
    out[oi] = sum_along_element(x, len, inner, oi / inner, oi % inner);
}

// Two passes through a scratch buffer of block partials.
template <bool kMax>
void reduce_all(const float* x, int64_t n, float* out_device) {
  static float* scratch = nullptr;
  if (!scratch) SG_CUDA_CHECK(cudaMalloc(&scratch, kMaxBlocks * sizeof(float)));  // once per process
  int blocks = (int)std::min<int64_t>(kMaxBlocks, std::max<int64_t>(1, (n + kBlock - 1) / kBlock));
  SG_TRAFFIC(kMax ? "max (all)" : "sum (all)", 4.0 * n, 1.0 * n);
  SG_LAUNCH(block_reduce<kMax>, blocks, kBlock, 0, cuda::stream())(x, n, scratch);
  SG_KERNEL_CHECK();
  SG_LAUNCH(block_reduce<kMax>, 1, kBlock, 0, cuda::stream())(scratch, blocks, out_device);
  SG_KERNEL_CHECK();
}

}  // namespace

void sum_all_cuda(const float* x, int64_t n, float* out) { reduce_all<false>(x, n, out); }

void sum_along_cuda(const float* x, int64_t outer, int64_t len, int64_t inner, float* out) {
  int64_t total = outer * inner;
  SG_TRAFFIC("sum along a dimension", 4.0 * (double)total * (len + 1), 1.0 * total * len);
  SG_LAUNCH(sum_along_kernel, grid(total), kBlock, 0, cuda::stream())(x, outer, len, inner, out);
  SG_KERNEL_CHECK();
}

float max_all_cuda(const float* x, int64_t n) {
  static float* result = nullptr;
  if (!result) SG_CUDA_CHECK(cudaMalloc(&result, sizeof(float)));
  reduce_all<true>(x, n, result);
  float h = 0;
  SG_CUDA_CHECK(cudaMemcpy(&h, result, sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}

}  // namespace sg::kernels
