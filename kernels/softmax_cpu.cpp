// softmax_cpu.cpp — CPU reference loops of the softmax family and the MSE kernels (softmax.h).
#include "kernels/softmax.h"

namespace sg::kernels {

void softmax_cpu(const float* x, float* y, int64_t outer, int64_t len, int64_t inner) {
  int64_t cols = outer * inner;
#pragma omp parallel for if (cols * len > 16384) schedule(static)
  for (int64_t c = 0; c < cols; ++c) softmax_column(x, y, len, inner, c / inner, c % inner);
}

void softmax_backward_cpu(const float* y, const float* g, float* gx, int64_t outer, int64_t len, int64_t inner) {
  int64_t cols = outer * inner;
#pragma omp parallel for if (cols * len > 16384) schedule(static)
  for (int64_t c = 0; c < cols; ++c) softmax_backward_column(y, g, gx, len, inner, c / inner, c % inner);
}

void sq_diff_cpu(const float* p, const float* t, float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = sq_diff(p[i], t[i]);
}

void mse_grad_cpu(const float* p, const float* t, const float* g, float scale, float* gp, int64_t n) {
  float gv = g[0];
  for (int64_t i = 0; i < n; ++i) gp[i] = mse_grad(p[i], t[i], gv, scale);
}

}  // namespace sg::kernels
