// batchnorm.cu — CUDA twins of batchnorm_cpu.cpp. Per-channel reductions run one block per
// channel: each thread sums a fixed strided subset of the channel's M = N*HW elements, then a
// shared-memory tree combines the partial sums. No atomics, so results are bitwise reproducible.
#include "engine/cuda_check.h"
#include "kernels/batchnorm.h"

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

__global__ void stats_kernel(BnLayout L, const float* __restrict__ x, float* __restrict__ mean,
                             float* __restrict__ var) {
  __shared__ float sh[kBlock];
  const int64_t c = blockIdx.x, M = L.count();
  float s = 0.f;
  for (int64_t k = threadIdx.x; k < M; k += kBlock) s += x[channel_index(L, c, k)];
  sh[threadIdx.x] = s;
  block_tree_sum(sh);
  const float mu = M ? sh[0] / (float)M : 0.f;
  __syncthreads();
  float ss = 0.f;
  for (int64_t k = threadIdx.x; k < M; k += kBlock) {
    float d = x[channel_index(L, c, k)] - mu;
    ss += d * d;
  }
  sh[threadIdx.x] = ss;
  block_tree_sum(sh);
  if (threadIdx.x == 0) {
    mean[c] = mu;
    var[c] = M ? sh[0] / (float)M : 0.f;
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

__global__ void backward_reduce_kernel(BnLayout L, const float* __restrict__ g, const float* __restrict__ x,
                                       const float* __restrict__ mean, const float* __restrict__ invstd,
                                       float* __restrict__ sum_g, float* __restrict__ sum_gx) {
  __shared__ float sh_g[kBlock];
  __shared__ float sh_gx[kBlock];
  const int64_t c = blockIdx.x, M = L.count();
  const bool with_x = sum_gx != nullptr;
  const float mu = with_x ? mean[c] : 0.f, r = with_x ? invstd[c] : 0.f;
  float a = 0.f, b = 0.f;
  for (int64_t k = threadIdx.x; k < M; k += kBlock) {
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
    if (sum_g) sum_g[c] = sh_g[0];
    if (sum_gx) sum_gx[c] = sh_gx[0];
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

void bn_stats_cuda(const BnLayout& L, const float* x, float* mean, float* var) {
  if (L.C == 0) return;
  SG_LAUNCH(stats_kernel, (unsigned)L.C, kBlock, 0, cuda::stream())(L, x, mean, var);
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
                             const float* invstd, float* sum_g, float* sum_gx) {
  if (L.C == 0) return;
  SG_LAUNCH(backward_reduce_kernel, (unsigned)L.C, kBlock, 0, cuda::stream())(L, g, x, mean, invstd, sum_g, sum_gx);
  SG_KERNEL_CHECK();
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

void channel_sum_cuda(int64_t N, int64_t C, int64_t HW, const float* g, float* sum) {
  BnLayout L;
  L.N = N, L.C = C, L.HW = HW;
  bn_backward_reduce_cuda(L, g, nullptr, nullptr, nullptr, sum, nullptr);
}

}  // namespace sg::kernels
