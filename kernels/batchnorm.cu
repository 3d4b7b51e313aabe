// batchnorm.cu — CUDA twins of batchnorm_cpu.cpp. Per-channel reductions run in two stages: a
// grid of (channel, part) blocks, each summing one contiguous part of the channel's M = N*HW
// elements (every thread a fixed strided subset, then a shared-memory tree), then one thread per
// channel adding its parts in order. No atomics, so results are bitwise reproducible.
#include "kernels/batchnorm.h"
#include "kernels/cuda_launch.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

// Tree-sum of sh[0..kBlock) into sh[0]; every thread must call it.
__device__ void block_tree_sum(float* sh) {
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
}

// Element k (0 <= k < M) of channel c.
__device__ __forceinline__ int64_t channel_index(const BnLayout& L, int64_t c, int64_t k) {
  int64_t n = k / L.HW, i = k % L.HW;
  return (n * L.C + c) * L.HW + i;
}

// Part p of channel c: its elements [p M / P, (p + 1) M / P). With `center`, sums (x - center[c])^2.
__global__ void part_sums_kernel(BnLayout L, int64_t P, const float* __restrict__ x, const float* __restrict__ center,
                                 float* __restrict__ part) {
  __shared__ float sh[kBlock];
  const int64_t c = blockIdx.x, p = blockIdx.y, M = L.count();
  const int64_t k0 = p * M / P, k1 = (p + 1) * M / P;
  const float mu = center ? center[c] : 0.f;
  float s = 0.f;
  for (int64_t k = k0 + threadIdx.x; k < k1; k += kBlock) {
    float v = x[channel_index(L, c, k)];
    if (center) {
      v -= mu;
      v *= v;
    }
    s += v;
  }
  sh[threadIdx.x] = s;
  block_tree_sum(sh);
  if (threadIdx.x == 0) part[c * P + p] = sh[0];
}

// out[c] = (sum of the P parts of channel c, in order) / divisor.
__global__ void finish_sums_kernel(int64_t C, int64_t P, const float* __restrict__ part, float divisor,
                                   float* __restrict__ out) {
  SG_GRID_STRIDE(c, C) {
    float s = 0.f;
    for (int64_t p = 0; p < P; ++p) s += part[c * P + p];
    out[c] = divisor > 0.f ? s / divisor : 0.f;
  }
}

__global__ void forward_kernel(BnLayout L, const float* __restrict__ x, const float* __restrict__ mean,
                               const float* __restrict__ invstd, const float* __restrict__ gamma,
                               const float* __restrict__ beta, float* __restrict__ y, int64_t n) {
  SG_GRID_STRIDE(i, n) {
    int64_t c = L.channel_of(i);
    y[i] = bn_forward_element(x[i], mean[c], invstd[c], gamma[c], beta[c]);
  }
}

__global__ void invstd_kernel(int64_t C, const float* __restrict__ var, float eps, float* __restrict__ invstd) {
  SG_GRID_STRIDE(c, C) invstd[c] = bn_invstd(var[c], eps);
}

__global__ void update_running_kernel(BnLayout L, float* r_mean, float* r_var, const float* __restrict__ mean,
                                      const float* __restrict__ var, float momentum) {
  SG_GRID_STRIDE(c, L.C) bn_update_running(r_mean[c], r_var[c], mean[c], var[c], momentum, L.count());
}

// Both backward sums of part p of channel c: g, and g * xhat when part_gx is not null.
__global__ void backward_parts_kernel(BnLayout L, int64_t P, const float* __restrict__ g, const float* __restrict__ x,
                                      const float* __restrict__ mean, const float* __restrict__ invstd,
                                      float* __restrict__ part_g, float* __restrict__ part_gx) {
  __shared__ float sh_g[kBlock];
  __shared__ float sh_gx[kBlock];
  const int64_t c = blockIdx.x, p = blockIdx.y, M = L.count();
  const int64_t k0 = p * M / P, k1 = (p + 1) * M / P;
  const bool with_x = part_gx != nullptr;
  const float mu = with_x ? mean[c] : 0.f, r = with_x ? invstd[c] : 0.f;
  float a = 0.f, b = 0.f;
  for (int64_t k = k0 + threadIdx.x; k < k1; k += kBlock) {
    int64_t idx = channel_index(L, c, k);
    float gv = g[idx];
    a += gv;
    if (with_x) b += gv * ((x[idx] - mu) * r);
  }
  sh_g[threadIdx.x] = a;
  sh_gx[threadIdx.x] = b;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) {
      sh_g[threadIdx.x] += sh_g[threadIdx.x + s];
      sh_gx[threadIdx.x] += sh_gx[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    part_g[c * P + p] = sh_g[0];
    if (with_x) part_gx[c * P + p] = sh_gx[0];
  }
}

__global__ void backward_input_kernel(BnLayout L, bool training, const float* __restrict__ g,
                                      const float* __restrict__ x, const float* __restrict__ mean,
                                      const float* __restrict__ invstd, const float* __restrict__ gamma,
                                      const float* __restrict__ sum_g, const float* __restrict__ sum_gx,
                                      float* __restrict__ gx, int64_t n) {
  SG_GRID_STRIDE(i, n) {
    int64_t c = L.channel_of(i);
    gx[i] = training ? bn_grad_input(g[i], x[i], mean[c], invstd[c], gamma[c], sum_g[c], sum_gx[c], L.count())
                     : bn_grad_input_eval(g[i], invstd[c], gamma[c]);
  }
}

}  // namespace

void bn_stats_cuda(const BnLayout& L, const float* x, float* mean, float* var, float* scratch) {
  if (L.C == 0) return;
  const int64_t P = bn_parts(L);
  const float M = (float)L.count();
  const dim3 parts((unsigned)L.C, (unsigned)P);
  SG_LAUNCH(part_sums_kernel, parts, kBlock, 0, cuda::stream())(L, P, x, nullptr, scratch);
  SG_KERNEL_CHECK();
  SG_LAUNCH(finish_sums_kernel, grid(L.C), kBlock, 0, cuda::stream())(L.C, P, scratch, M, mean);
  SG_KERNEL_CHECK();
  SG_LAUNCH(part_sums_kernel, parts, kBlock, 0, cuda::stream())(L, P, x, mean, scratch);
  SG_KERNEL_CHECK();
  SG_LAUNCH(finish_sums_kernel, grid(L.C), kBlock, 0, cuda::stream())(L.C, P, scratch, M, var);
  SG_KERNEL_CHECK();
}

void bn_forward_cuda(const BnLayout& L, const float* x, const float* mean, const float* invstd,
                     const float* gamma, const float* beta, float* y) {
  int64_t n = L.N * L.C * L.HW;
  if (n == 0) return;
  SG_LAUNCH(forward_kernel, grid(n), kBlock, 0, cuda::stream())(L, x, mean, invstd, gamma, beta, y, n);
  SG_KERNEL_CHECK();
}

void bn_invstd_cuda(int64_t C, const float* var, float eps, float* invstd) {
  if (C == 0) return;
  SG_LAUNCH(invstd_kernel, grid(C), kBlock, 0, cuda::stream())(C, var, eps, invstd);
  SG_KERNEL_CHECK();
}

void bn_update_running_cuda(const BnLayout& L, float* r_mean, float* r_var, const float* mean,
                            const float* var, float momentum) {
  if (L.C == 0) return;
  SG_LAUNCH(update_running_kernel, grid(L.C), kBlock, 0, cuda::stream())(L, r_mean, r_var, mean, var, momentum);
  SG_KERNEL_CHECK();
}

void bn_backward_reduce_cuda(const BnLayout& L, const float* g, const float* x, const float* mean,
                             const float* invstd, float* sum_g, float* sum_gx, float* scratch) {
  if (L.C == 0) return;
  const int64_t P = bn_parts(L);
  float* part_g = scratch;
  float* part_gx = sum_gx ? scratch + L.C * P : nullptr;
  SG_LAUNCH(backward_parts_kernel, dim3((unsigned)L.C, (unsigned)P), kBlock, 0, cuda::stream())(L, P, g, x, mean,
                                                                                               invstd, part_g, part_gx);
  SG_KERNEL_CHECK();
  if (sum_g) {
    SG_LAUNCH(finish_sums_kernel, grid(L.C), kBlock, 0, cuda::stream())(L.C, P, part_g, 1.f, sum_g);
    SG_KERNEL_CHECK();
  }
  if (sum_gx) {
    SG_LAUNCH(finish_sums_kernel, grid(L.C), kBlock, 0, cuda::stream())(L.C, P, part_gx, 1.f, sum_gx);
    SG_KERNEL_CHECK();
  }
}

void bn_backward_input_cuda(const BnLayout& L, bool training, const float* g, const float* x,
                            const float* mean, const float* invstd, const float* gamma,
                            const float* sum_g, const float* sum_gx, float* gx) {
  int64_t n = L.N * L.C * L.HW;
  if (n == 0) return;
  SG_LAUNCH(backward_input_kernel, grid(n), kBlock, 0, cuda::stream())(L, training, g, x, mean, invstd, gamma,
                                                               sum_g, sum_gx, gx, n);
  SG_KERNEL_CHECK();
}

void channel_sum_cuda(int64_t N, int64_t C, int64_t HW, const float* g, float* sum, float* scratch) {
  BnLayout L;
  L.N = N, L.C = C, L.HW = HW;
  bn_backward_reduce_cuda(L, g, nullptr, nullptr, nullptr, sum, nullptr, scratch);
}

}  // namespace sg::kernels
