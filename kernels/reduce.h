// reduce.h — reductions: the sum and the maximum of a whole tensor, and the sum along one dimension.
//
// A tensor viewed as (outer, len, inner) reduces over `len`: out[o, i] = sum_k x[o, k, i].
// Whole-tensor sums are deterministic on both devices: the CPU adds in double precision in
// index order; the GPU adds fixed blocks in a fixed tree, so repeated runs agree bit for bit.
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

SG_HD float sum_along_element(const float* x, int64_t len, int64_t inner, int64_t o, int64_t i) {
  const float* p = x + o * len * inner + i;
  float acc = 0.f;
  for (int64_t k = 0; k < len; ++k) acc += p[k * inner];
  return acc;
}

void sum_all_cpu(const float* x, int64_t n, float* out);   // out: one float
void sum_along_cpu(const float* x, int64_t outer, int64_t len, int64_t inner, float* out);
float max_all_cpu(const float* x, int64_t n);

void sum_all_cuda(const float* x, int64_t n, float* out);  // out: one float on the device
void sum_along_cuda(const float* x, int64_t outer, int64_t len, int64_t inner, float* out);
float max_all_cuda(const float* x, int64_t n);  // copies the result to the host: the host waits

}  // namespace sg::kernels
