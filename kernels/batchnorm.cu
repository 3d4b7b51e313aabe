// batchnorm.cu — CUDA twins of batchnorm_cpu.cpp's fused passes (see batchnorm.h).
//
// Two kinds of kernel, and no per-element 64-bit division in either:
//  - part kernels, grid (C, P): block (c, p) reduces the contiguous part p of channel c's M = N*HW
//    elements (element k is (n, i) = (k / HW, k % HW); each thread divides once, then steps its
//    (n, i) by kBlock with a compare), every thread a fixed strided subset, then a shared-memory
//    tree;
//  - element kernels, on cuda::plane_grid(N, C, HW): block (b, c, n) handles elements
//    [b * blockDim, ...) of the plane (n, c), grid-strided over HW with 32-bit indices (check_grid
//    keeps C and N within one grid, so each block has one channel). Thread 0
//    first combines the channel's P parts in a fixed order (every block of the channel gets the
//    same values), and the block (0, c, 0) writes what is per channel.
// No atomics: results are bitwise reproducible.
#include "kernels/batchnorm.h"
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

// Tree-sum of a[0..kBlock) (and b, when given) into [0]; every thread must call it.
__device__ void block_tree_sum(float* a, float* b) {
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) {
      a[threadIdx.x] += a[threadIdx.x + s];
      if (b) b[threadIdx.x] += b[threadIdx.x + s];
    }
    __syncthreads();
  }
}

// The elements of part p of channel c, [k0, k1), walked by one thread: start at k0 + threadIdx.x,
// step kBlock, as (n, i) without dividing per element.
struct PartWalk {
  int64_t k, k1, n, i;
  int64_t step_n, step_i, HW, C, c;
  __device__ PartWalk(const BnLayout& L, int64_t c_, int64_t p, int64_t P) {
    const int64_t M = L.count();
    const int64_t k0 = p * M / P;
    k1 = (p + 1) * M / P;
    HW = L.HW;
    C = L.C;
    c = c_;
    k = k0 + threadIdx.x;
    n = k / HW;
    i = k % HW;
    step_n = kBlock / HW;
    step_i = kBlock % HW;
  }
  __device__ bool more() const { return k < k1; }
  __device__ int64_t index() const { return (n * C + c) * HW + i; }
  __device__ void next() {
    k += kBlock;
    n += step_n;
    i += step_i;
    if (i >= HW) {
      i -= HW;
      ++n;
    }
  }
};

// Per part: its mean and its sum of squared deviations from that mean (two passes over the part,
// the second mostly from cache).
__global__ void stats_parts_kernel(BnLayout L, int64_t P, const float* __restrict__ x, float* __restrict__ part_mean,
                                   float* __restrict__ part_m2) {
  __shared__ float sh[kBlock];
  const int64_t c = blockIdx.x, p = blockIdx.y, M = L.count();
  const int64_t len = (p + 1) * M / P - p * M / P;
  float s = 0.f;
  for (PartWalk w(L, c, p, P); w.more(); w.next()) s += x[w.index()];
  sh[threadIdx.x] = s;
  block_tree_sum(sh, nullptr);
  const float mu = len > 0 ? sh[0] / (float)len : 0.f;
  __syncthreads();  // everyone has read sh[0]
  float q = 0.f;
  for (PartWalk w(L, c, p, P); w.more(); w.next()) {
    const float d = x[w.index()] - mu;
    q += d * d;
  }
  sh[threadIdx.x] = q;
  block_tree_sum(sh, nullptr);
  if (threadIdx.x == 0) {
    part_mean[c * P + p] = mu;
    part_m2[c * P + p] = sh[0];
  }
}

// Channel c's mean and biased variance from its parts, in order (Chan et al., in double).
__device__ void combine_parts(const BnLayout& L, int64_t c, int64_t P, const float* part_mean, const float* part_m2,
                              float* mean, float* var) {
  const int64_t M = L.count();
  double n_a = 0, mean_a = 0, m2_a = 0;
  for (int64_t p = 0; p < P; ++p) {
    const double n_b = (double)((p + 1) * M / P - p * M / P);
    if (n_b == 0) continue;
    const double mean_b = part_mean[c * P + p], m2_b = part_m2[c * P + p];
    const double n = n_a + n_b, delta = mean_b - mean_a;
    mean_a += delta * n_b / n;
    m2_a += m2_b + delta * delta * n_a * n_b / n;
    n_a = n;
  }
  *mean = (float)mean_a;
  *var = M > 0 ? (float)(m2_a / (double)M) : 0.f;
}

// The threads of an element block and the part of the plane they cover: grid (blocks over HW, C, N).
struct PlaneWalk {
  int64_t base;   // offset of plane (n, c)
  int32_t first, stride, HW;
  __device__ PlaneWalk(const BnLayout& L) {
    base = ((int64_t)blockIdx.z * L.C + blockIdx.y) * L.HW;
    first = (int32_t)(blockIdx.x * blockDim.x + threadIdx.x);
    stride = (int32_t)(gridDim.x * blockDim.x);
    HW = (int32_t)L.HW;
  }
};

// Training forward, second launch: statistics from the parts, the running update (block (0, c, 0)),
// normalise (+ ReLU).
__global__ void train_forward_kernel(BnLayout L, int64_t P, const float* __restrict__ part_mean,
                                     const float* __restrict__ part_m2, const float* __restrict__ gamma,
                                     const float* __restrict__ beta, const float* __restrict__ shift, float* r_mean,
                                     float* r_var, float momentum, float eps, bool relu,
                                     const float* __restrict__ x, float* __restrict__ mean_out,
                                     float* __restrict__ invstd_out, float* __restrict__ y) {
  __shared__ float stat[2];
  const int64_t c = blockIdx.y;
  if (threadIdx.x == 0) {
    float mean, var;
    combine_parts(L, c, P, part_mean, part_m2, &mean, &var);
    stat[0] = mean;
    stat[1] = bn_invstd(var, eps);
    if (blockIdx.x == 0 && blockIdx.z == 0) {
      mean_out[c] = stat[0];
      invstd_out[c] = stat[1];
      bn_update_running(r_mean[c], r_var[c], shift ? mean + shift[c] : mean, var, momentum, L.count());
    }
  }
  __syncthreads();
  const float mu = stat[0], r = stat[1], ga = gamma[c], be = beta[c];
  const PlaneWalk w(L);
  for (int32_t i = w.first; i < w.HW; i += w.stride) {
    const float v = bn_forward_element(x[w.base + i], mu, r, ga, be);
    y[w.base + i] = relu ? fmaxf(v, 0.f) : v;
  }
}

// Eval forward: the running statistics (less the shift); block (0, c, 0) records them.
__global__ void eval_forward_kernel(BnLayout L, const float* __restrict__ gamma, const float* __restrict__ beta,
                                    const float* __restrict__ shift, const float* __restrict__ r_mean,
                                    const float* __restrict__ r_var, float eps, bool relu, const float* __restrict__ x,
                                    float* __restrict__ mean_out, float* __restrict__ invstd_out, float* __restrict__ y) {
  const int64_t c = blockIdx.y;
  const float mu = shift ? r_mean[c] - shift[c] : r_mean[c], r = bn_invstd(r_var[c], eps);
  if (threadIdx.x == 0 && blockIdx.x == 0 && blockIdx.z == 0) {
    mean_out[c] = mu;
    invstd_out[c] = r;
  }
  const float ga = gamma[c], be = beta[c];
  const PlaneWalk w(L);
  for (int32_t i = w.first; i < w.HW; i += w.stride) {
    const float v = bn_forward_element(x[w.base + i], mu, r, ga, be);
    y[w.base + i] = relu ? fmaxf(v, 0.f) : v;
  }
}

// The ReLU's mask on the incoming gradient: g where the output was positive.
__device__ __forceinline__ float masked(const float* g, const float* y, int64_t idx) {
  return y && !(y[idx] > 0.f) ? 0.f : g[idx];
}

// Backward, first launch: per part, the sums of g' and (when x is given) g' * xhat.
__global__ void backward_parts_kernel(BnLayout L, int64_t P, const float* __restrict__ g, const float* __restrict__ y,
                                      const float* __restrict__ x, const float* __restrict__ mean,
                                      const float* __restrict__ invstd, float* __restrict__ part_g,
                                      float* __restrict__ part_gx) {
  __shared__ float sh_g[kBlock];
  __shared__ float sh_gx[kBlock];
  const int64_t c = blockIdx.x, p = blockIdx.y;
  const bool with_x = part_gx != nullptr;
  const float mu = with_x ? mean[c] : 0.f, r = with_x ? invstd[c] : 0.f;
  float a = 0.f, b = 0.f;
  for (PartWalk w(L, c, p, P); w.more(); w.next()) {
    const int64_t idx = w.index();
    const float gv = masked(g, y, idx);
    a += gv;
    if (with_x) b += gv * ((x[idx] - mu) * r);
  }
  sh_g[threadIdx.x] = a;
  sh_gx[threadIdx.x] = b;
  block_tree_sum(sh_g, sh_gx);
  if (threadIdx.x == 0) {
    part_g[c * P + p] = sh_g[0];
    if (with_x) part_gx[c * P + p] = sh_gx[0];
  }
}

// out[c] = the P parts of channel c added in order.
__global__ void finish_sums_kernel(int64_t C, int64_t P, const float* __restrict__ part, float* __restrict__ out) {
  SG_GRID_STRIDE(c, C) {
    float s = 0.f;
    for (int64_t p = 0; p < P; ++p) s += part[c * P + p];
    out[c] = s;
  }
}

// Backward, second launch: the sums from their parts (block (0, c, 0) writes them and the shift's
// gradient), then the input gradient of the block's elements (when gx is given).
__global__ void backward_input_kernel(BnLayout L, int64_t P, bool training, const float* __restrict__ part_g,
                                      const float* __restrict__ part_gx, const float* __restrict__ g,
                                      const float* __restrict__ y, const float* __restrict__ x,
                                      const float* __restrict__ mean, const float* __restrict__ invstd,
                                      const float* __restrict__ gamma, float* __restrict__ sum_g_out,
                                      float* __restrict__ sum_gx_out, float* __restrict__ gshift,
                                      float* __restrict__ gx) {
  __shared__ float sums[2];
  const int64_t c = blockIdx.y;
  if (threadIdx.x == 0) {
    float a = 0.f, b = 0.f;
    for (int64_t p = 0; p < P; ++p) {
      a += part_g[c * P + p];
      b += part_gx[c * P + p];
    }
    sums[0] = a;
    sums[1] = b;
    if (blockIdx.x == 0 && blockIdx.z == 0) {
      sum_g_out[c] = a;
      sum_gx_out[c] = b;
      if (gshift) gshift[c] = bn_shift_grad(training, gamma[c], invstd[c], a);
    }
  }
  if (!gx) return;  // uniform across the block: no thread waits at the barrier below
  __syncthreads();
  const float s1 = sums[0], s2 = sums[1], mu = mean[c], r = invstd[c], ga = gamma[c];
  const PlaneWalk w(L);
  for (int32_t i = w.first; i < w.HW; i += w.stride) {
    const int64_t idx = w.base + i;
    const float gv = masked(g, y, idx);
    gx[idx] = training ? bn_grad_input(gv, x[idx], mu, r, ga, s1, s2, L.count()) : bn_grad_input_eval(gv, r, ga);
  }
}

void check_grid(const BnLayout& L) {
  if (!(L.C <= 65535 && L.N <= 65535 && L.HW < (int64_t(1) << 31)))
    throw Error(str("batch norm on CUDA: ", L.N, " x ", L.C, " x ", L.HW,
                    " is beyond its grid (at most 65,535 channels and samples, 2^31 elements a plane)"));
}

}  // namespace

void bn_train_forward_cuda(const BnArgs& a, float* scratch) {
  const BnLayout& L = a.L;
  if (L.C == 0 || L.count() == 0) return;
  check_grid(L);
  const int64_t P = bn_parts(L);
  float *part_mean = scratch, *part_m2 = scratch + L.C * P;
  const double n = (double)L.count() * (double)L.C;
  {
    SG_TRAFFIC("batchnorm: statistics (parts)", 4 * n, 3 * n);
    SG_LAUNCH(stats_parts_kernel, dim3((unsigned)L.C, (unsigned)P), kBlock, 0, cuda::stream())(L, P, a.x, part_mean,
                                                                                             part_m2);
    SG_KERNEL_CHECK();
  }
  const cuda::PlaneGrid pg = cuda::plane_grid(L.N, L.C, L.HW);
  SG_TRAFFIC("batchnorm: normalise (+ relu)", 8 * n, 4 * n);
  SG_LAUNCH(train_forward_kernel, pg.blocks, pg.threads, 0, cuda::stream())(L, P, part_mean, part_m2, a.gamma, a.beta,
                                                                            a.shift, a.r_mean, a.r_var, a.momentum,
                                                                            a.eps, a.relu, a.x, a.mean, a.invstd, a.y);
  SG_KERNEL_CHECK();
}

void bn_eval_forward_cuda(const BnArgs& a) {
  const BnLayout& L = a.L;
  if (L.C == 0 || L.count() == 0) return;
  check_grid(L);
  const cuda::PlaneGrid pg = cuda::plane_grid(L.N, L.C, L.HW);
  SG_TRAFFIC("batchnorm: normalise (+ relu), eval", 8.0 * L.count() * L.C, 4.0 * L.count() * L.C);
  SG_LAUNCH(eval_forward_kernel, pg.blocks, pg.threads, 0, cuda::stream())(L, a.gamma, a.beta, a.shift, a.r_mean,
                                                                           a.r_var, a.eps, a.relu, a.x, a.mean,
                                                                           a.invstd, a.y);
  SG_KERNEL_CHECK();
}

void bn_backward_cuda(const BnGrads& a, float* scratch) {
  const BnLayout& L = a.L;
  if (L.C == 0 || L.count() == 0) return;
  check_grid(L);
  const int64_t P = bn_parts(L);
  float *part_g = scratch, *part_gx = scratch + L.C * P;
  const float* y = a.relu ? a.y : nullptr;
  const double n = (double)L.count() * (double)L.C, reads = y ? 3 : 2;
  {
    SG_TRAFFIC("batchnorm backward: sums (parts)", 4 * reads * n, 5 * n);
    SG_LAUNCH(backward_parts_kernel, dim3((unsigned)L.C, (unsigned)P), kBlock, 0, cuda::stream())(
        L, P, a.g, y, a.x, a.mean, a.invstd, part_g, part_gx);
    SG_KERNEL_CHECK();
  }
  // Without an input gradient, one block per channel only combines the sums.
  cuda::PlaneGrid pg = cuda::plane_grid(L.N, L.C, L.HW);
  if (!a.gx) pg.blocks = dim3(1, (unsigned)L.C, 1);
  SG_TRAFFIC("batchnorm backward: input gradient", a.gx ? 4 * (reads + 1) * n : 0.0, a.gx ? 8 * n : 0.0);
  SG_LAUNCH(backward_input_kernel, pg.blocks, pg.threads, 0, cuda::stream())(L, P, a.training, part_g, part_gx, a.g, y,
                                                                             a.x, a.mean, a.invstd, a.gamma, a.sum_g,
                                                                             a.sum_gx, a.gshift, a.gx);
  SG_KERNEL_CHECK();
}

void channel_sum_cuda(int64_t N, int64_t C, int64_t HW, const float* g, float* sum, float* scratch) {
  BnLayout L;
  L.N = N, L.C = C, L.HW = HW;
  if (C == 0) return;
  const int64_t P = bn_parts(L);
  SG_TRAFFIC("conv bias gradient (channel sums)", 4.0 * N * C * HW, 1.0 * N * C * HW);
  SG_LAUNCH(backward_parts_kernel, dim3((unsigned)C, (unsigned)P), kBlock, 0, cuda::stream())(
      L, P, g, nullptr, nullptr, nullptr, nullptr, scratch, nullptr);
  SG_KERNEL_CHECK();
  SG_LAUNCH(finish_sums_kernel, grid(C), kBlock, 0, cuda::stream())(C, P, scratch, sum);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
