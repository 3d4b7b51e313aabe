// elementwise.cu — CUDA twins of elementwise_cpu.cpp: one thread per element (grid-stride loop),
// calling the same SG_HD math from elementwise.h.
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/elementwise.h"

namespace sg::kernels {
namespace {

using cuda::grid;
using cuda::kBlock;

__global__ void fill_kernel(float* out, int64_t n, float value) {
  SG_GRID_STRIDE(i, n)
    out[i] = value;
}

__global__ void binary_kernel(BinaryOp op, BroadcastLayout L, const float* __restrict__ a,
                              const float* __restrict__ b, float* __restrict__ out, int64_t n) {
  SG_GRID_STRIDE(i, n) {
    int64_t ia, ib;
    broadcast_offsets(L, i, ia, ib);
    out[i] = binary_apply(op, a[ia], b[ib]);
  }
}

__global__ void accumulate_kernel(float* acc, const float* __restrict__ x, int64_t n) {
  SG_GRID_STRIDE(i, n) { acc[i] += x[i]; }
}

// No __restrict__ here: callers run it in place (y == x), which restrict would make undefined.
__global__ void unary_kernel(UnaryOp op, float p, const float* x, float* y, int64_t n) {
  SG_GRID_STRIDE(i, n)
    y[i] = unary_apply(op, x[i], p);
}

__global__ void unary_backward_kernel(UnaryOp op, float p, const float* __restrict__ x,
                                      const float* __restrict__ y, const float* __restrict__ g,
                                      float* __restrict__ gx, int64_t n) {
  SG_GRID_STRIDE(i, n)
    gx[i] = unary_grad(op, x[i], y[i], g[i], p);
}

__global__ void sum_to_kernel(SumToLayout L, const float* __restrict__ x, float* __restrict__ out, int64_t n_out) {
  SG_GRID_STRIDE(o, n_out)
    out[o] = sum_to_element(L, x, o);
}

}  // namespace

void fill_cuda(float* out, int64_t n, float value) {
  SG_TRAFFIC("fill", 4.0 * n, 0.0);
  SG_LAUNCH(fill_kernel, grid(n), kBlock, 0, cuda::stream())(out, n, value);
  SG_KERNEL_CHECK();
}

void binary_cuda(BinaryOp op, const BroadcastLayout& L, const float* a, const float* b, float* out, int64_t n) {
  SG_TRAFFIC("binary (broadcast)", 12.0 * n, 1.0 * n);
  SG_LAUNCH(binary_kernel, grid(n), kBlock, 0, cuda::stream())(op, L, a, b, out, n);
  SG_KERNEL_CHECK();
}

void accumulate_cuda(float* acc, const float* x, int64_t n) {
  if (n == 0) return;
  SG_TRAFFIC("accumulate (gradient sums)", 12.0 * n, 1.0 * n);
  SG_LAUNCH(accumulate_kernel, grid(n), kBlock, 0, cuda::stream())(acc, x, n);
  SG_KERNEL_CHECK();
}

void unary_cuda(UnaryOp op, float p, const float* x, float* y, int64_t n) {
  SG_TRAFFIC("unary", 8.0 * n, 1.0 * n);
  SG_LAUNCH(unary_kernel, grid(n), kBlock, 0, cuda::stream())(op, p, x, y, n);
  SG_KERNEL_CHECK();
}

void unary_backward_cuda(UnaryOp op, float p, const float* x, const float* y, const float* g, float* gx, int64_t n) {
  SG_TRAFFIC("unary backward", 16.0 * n, 2.0 * n);
  SG_LAUNCH(unary_backward_kernel, grid(n), kBlock, 0, cuda::stream())(op, p, x, y, g, gx, n);
  SG_KERNEL_CHECK();
}

void sum_to_cuda(const SumToLayout& L, const float* x, float* out, int64_t n_out) {
  SG_TRAFFIC("sum_to (broadcast backward)", 4.0 * (double)n_out * (L.reduce_count + 1), 1.0 * n_out * L.reduce_count);
  SG_LAUNCH(sum_to_kernel, grid(n_out), kBlock, 0, cuda::stream())(L, x, out, n_out);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
