// elementwise_cpu.cpp — the CPU reference loops of the elementwise family (see elementwise.h).
#include "kernels/elementwise.h"

namespace sg::kernels {

void fill_cpu(float* out, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

void binary_cpu(BinaryOp op, const BroadcastLayout& L, const float* a, const float* b, float* out,
                int64_t n) {
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    int64_t ia, ib;
    broadcast_offsets(L, i, ia, ib);
    out[i] = binary_apply(op, a[ia], b[ib]);
  }
}

void unary_cpu(UnaryOp op, float p, const float* x, float* y, int64_t n) {
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = unary_apply(op, x[i], p);
}

void unary_backward_cpu(UnaryOp op, float p, const float* x, const float* y, const float* g,
                        float* gx, int64_t n) {
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) gx[i] = g[i] * unary_derivative(op, x[i], y[i], p);
}

void sum_to_cpu(const SumToLayout& L, const float* x, float* out, int64_t n_out) {
#pragma omp parallel for if (n_out > 64) schedule(static)
  for (int64_t o = 0; o < n_out; ++o) out[o] = sum_to_element(L, x, o);
}

}  // namespace sg::kernels
