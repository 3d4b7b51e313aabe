// softmax_cpu.cpp — CPU reference loops of the softmax family (softmax.h).
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

}  // namespace sg::kernels
