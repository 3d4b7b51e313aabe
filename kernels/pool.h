// pool.h — the pooling kernel family: 2x2/stride-2 max pooling and the k x k box (average) filter.
//
// Layout: a batch of planes, x viewed as (P = N*C, H, W), contiguous.
//
// max_pool2x2: out (P, H/2, W/2) = max of each 2x2 window. The window is scanned in the order
// (0,0), (0,1), (1,0), (1,1) and the FIRST maximum wins on ties; the backward recomputes that
// argmax from x (nothing is saved) and routes each output gradient to it. The backward is written
// as a gather (one input element per call reads the one output it belongs to), so it needs no
// atomics and is deterministic on both devices.
//
// box filter (avg_pool2d, stride 1, zero padding r = k/2, divide by k*k always): separable, a row
// pass then a column pass, each summing the 2r+1 taps clipped to the image (the zero padding adds
// nothing). The filter is symmetric, so it is its own adjoint: the backward is the same filter
// applied to the output gradient.
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

// Index 0..3 of the first maximum of the 2x2 window whose top-left corner is p (row stride W).
SG_HD int max2x2_argmax(const float* p, int64_t W) {
  float v[4] = {p[0], p[1], p[W], p[W + 1]};
  int best = 0;
  for (int k = 1; k < 4; ++k)
    if (v[k] > v[best]) best = k;  // strict: the first maximum wins on ties
  return best;
}

// out element (p, oh, ow) of (P, H/2, W/2).
SG_HD float max_pool2x2_at(const float* x, int64_t H, int64_t W, int64_t p, int64_t oh, int64_t ow) {
  const float* q = x + (p * H + 2 * oh) * W + 2 * ow;
  int k = max2x2_argmax(q, W);
  return q[(k >> 1) * W + (k & 1)];
}

// gx element (p, h, w) of (P, H, W): g of its window's output if it is that window's argmax, else 0.
SG_HD float max_pool2x2_backward_at(const float* x, const float* g, int64_t H, int64_t W, int64_t p, int64_t h,
                                    int64_t w) {
  int64_t oh = h / 2, ow = w / 2;  // halving: a shift
  const float* q = x + (p * H + 2 * oh) * W + 2 * ow;
  int k = max2x2_argmax(q, W);
  int mine = (int)((h & 1) * 2 + (w & 1));
  return k == mine ? g[(p * (H / 2) + oh) * (W / 2) + ow] : 0.f;
}

// Sum of the taps c-r .. c+r of a line of length n (stride s), clipped to [0, n): zero padding.
SG_HD float box_line_sum(const float* line, int64_t n, int64_t s, int64_t c, int64_t r) {
  int64_t lo = c - r < 0 ? 0 : c - r, hi = c + r > n - 1 ? n - 1 : c + r;
  float acc = 0.f;
  for (int64_t j = lo; j <= hi; ++j) acc += line[j * s];
  return acc;
}

// ---- CPU twins (pool_cpu.cpp) ----
void max_pool2x2_cpu(const float* x, float* out, int64_t P, int64_t H, int64_t W);
void max_pool2x2_backward_cpu(const float* x, const float* g, float* gx, int64_t P, int64_t H, int64_t W);
// out = box_k(x) * scale on each of the P planes (H, W); k = 2r+1; tmp: scratch of P*H*W floats
// (the row pass). The CPU uses running sums (O(1) per output whatever k is).
void box_filter_cpu(const float* x, float* tmp, float* out, int64_t P, int64_t H, int64_t W, int r, float scale);

// ---- CUDA launchers (pool.cu) ----
void max_pool2x2_cuda(const float* x, float* out, int64_t P, int64_t H, int64_t W);
void max_pool2x2_backward_cuda(const float* x, const float* g, float* gx, int64_t P, int64_t H, int64_t W);
void box_filter_cuda(const float* x, float* tmp, float* out, int64_t P, int64_t H, int64_t W, int r, float scale);

}  // namespace sg::kernels
