// elementwise_cpu.cpp — the CPU reference loops of the elementwise family (see elementwise.h).
#include "kernels/elementwise.h"

namespace sg::kernels {

void fill_cpu(float* out, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

template <BinaryOp kOp>
static void binary_loop(const BroadcastLayout& L, const float* a, const float* b, float* out, int64_t n) {
  if (L.same) {  // the common case: no index arithmetic, a loop that vectorises
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = binary_apply(kOp, a[i], b[i]);
    return;
  }
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    int64_t ia, ib;
    broadcast_offsets(L, i, ia, ib);
    out[i] = binary_apply(kOp, a[ia], b[ib]);
  }
}

void binary_cpu(BinaryOp op, const BroadcastLayout& L, const float* a, const float* b, float* out,
                int64_t n) {
  switch (op) {
    case BinaryOp::Add: binary_loop<BinaryOp::Add>(L, a, b, out, n); break;
    case BinaryOp::Sub: binary_loop<BinaryOp::Sub>(L, a, b, out, n); break;
    case BinaryOp::Mul: binary_loop<BinaryOp::Mul>(L, a, b, out, n); break;
    case BinaryOp::Div: binary_loop<BinaryOp::Div>(L, a, b, out, n); break;
  }
}

void accumulate_cpu(float* acc, const float* x, int64_t n) {
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i];
}

// The op is a template argument inside the loops, so the switch in unary_apply is resolved at
// compile time and each loop vectorises; the switch below picks the instantiation once per call.
template <UnaryOp kOp>
static void unary_loop(float p, const float* x, float* y, int64_t n) {
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = unary_apply(kOp, x[i], p);
}

template <UnaryOp kOp>
static void unary_backward_loop(float p, const float* x, const float* y, const float* g, float* gx, int64_t n) {
#pragma omp parallel for if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; ++i) gx[i] = unary_grad(kOp, x[i], y[i], g[i], p);
}

#define SG_UNARY_CASES(CALL)                                   \
  switch (op) {                                                \
    case UnaryOp::Neg: CALL(UnaryOp::Neg); break;              \
    case UnaryOp::AddScalar: CALL(UnaryOp::AddScalar); break;  \
    case UnaryOp::MulScalar: CALL(UnaryOp::MulScalar); break;  \
    case UnaryOp::RSubScalar: CALL(UnaryOp::RSubScalar); break;\
    case UnaryOp::Relu: CALL(UnaryOp::Relu); break;            \
    case UnaryOp::Sigmoid: CALL(UnaryOp::Sigmoid); break;      \
    case UnaryOp::Exp: CALL(UnaryOp::Exp); break;              \
    case UnaryOp::Log: CALL(UnaryOp::Log); break;              \
    case UnaryOp::Pow: CALL(UnaryOp::Pow); break;              \
    case UnaryOp::Sqrt: CALL(UnaryOp::Sqrt); break;            \
    case UnaryOp::Tanh: CALL(UnaryOp::Tanh); break;            \
  }

void unary_cpu(UnaryOp op, float p, const float* x, float* y, int64_t n) {
#define SG_CALL(OP) unary_loop<OP>(p, x, y, n)
  SG_UNARY_CASES(SG_CALL)
#undef SG_CALL
}

void unary_backward_cpu(UnaryOp op, float p, const float* x, const float* y, const float* g,
                        float* gx, int64_t n) {
#define SG_CALL(OP) unary_backward_loop<OP>(p, x, y, g, gx, n)
  SG_UNARY_CASES(SG_CALL)
#undef SG_CALL
}

void sum_to_cpu(const SumToLayout& L, const float* x, float* out, int64_t n_out) {
#pragma omp parallel for if (n_out > 64) schedule(static)
  for (int64_t o = 0; o < n_out; ++o) out[o] = sum_to_element(L, x, o);
}

}  // namespace sg::kernels
