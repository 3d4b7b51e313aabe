// elementwise.h — the elementwise kernel family: binary ops with broadcasting, unary ops and their
// derivatives, fill, and sum_to (the reduction that undoes broadcasting in backward).
//
// The per-element math sits here once as SG_HD functions; elementwise_cpu.cpp loops over it and
// elementwise.cu launches one thread per element over the very same functions.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

constexpr int kMaxDims = 8;

enum class BinaryOp : int { Add, Sub, Mul, Div };
enum class UnaryOp : int { Neg, AddScalar, MulScalar, RSubScalar, Relu, Sigmoid, Exp, Log, Pow, Sqrt, Tanh };

// How the output's flat index maps onto each operand: out has `shape`; operand k is read at
// sum_d coord_d * stride_k[d], where a broadcast dimension has stride 0. `same` marks the common
// case of identical shapes (flat index everywhere).
struct BroadcastLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride_a[kMaxDims] = {};
  int64_t stride_b[kMaxDims] = {};
  bool same = true;
};

SG_HD void broadcast_offsets(const BroadcastLayout& L, int64_t i, int64_t& ia, int64_t& ib) {
  if (L.same) {
    ia = ib = i;
    return;
  }
  ia = ib = 0;
  for (int d = L.ndim - 1; d >= 0; --d) {
    int64_t c = i % L.shape[d];
    i /= L.shape[d];
    ia += c * L.stride_a[d];
    ib += c * L.stride_b[d];
  }
}

SG_HD float binary_apply(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
  }
  return 0.f;
}

SG_HD float unary_apply(UnaryOp op, float x, float p) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::AddScalar: return x + p;
    case UnaryOp::MulScalar: return x * p;
    case UnaryOp::RSubScalar: return p - x;
    case UnaryOp::Relu: return x > 0.f ? x : 0.f;
    case UnaryOp::Sigmoid: return 1.f / (1.f + expf(-x));
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Pow: return powf(x, p);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Tanh: return tanhf(x);
  }
  return 0.f;
}

// dy/dx given the input x and the output y = unary_apply(op, x, p).
SG_HD float unary_derivative(UnaryOp op, float x, float y, float p) {
  switch (op) {
    case UnaryOp::Neg: return -1.f;
    case UnaryOp::AddScalar: return 1.f;
    case UnaryOp::MulScalar: return p;
    case UnaryOp::RSubScalar: return -1.f;
    case UnaryOp::Relu: return x > 0.f ? 1.f : 0.f;
    case UnaryOp::Sigmoid: return y * (1.f - y);
    case UnaryOp::Exp: return y;
    case UnaryOp::Log: return 1.f / x;
    case UnaryOp::Pow: return p == 0.f ? 0.f : p * powf(x, p - 1.f);
    case UnaryOp::Sqrt: return 0.5f / y;
    case UnaryOp::Tanh: return 1.f - y * y;
  }
  return 0.f;
}

// The input gradient g * dy/dx. ReLU's is a select of g (equal to g times its 0/1 derivative for
// finite g, and what PyTorch's threshold_backward computes): a CPU compiler vectorises a select,
// while the product with a 0/1 branch stayed a branch per element, 7x slower on mixed signs.
SG_HD float unary_grad(UnaryOp op, float x, float y, float g, float p) {
  if (op == UnaryOp::Relu) return x > 0.f ? g : 0.f;
  return g * unary_derivative(op, x, y, p);
}

// sum_to: out (shape `out_shape`, same rank as `shape`, 1 where reduced) receives, for each of its
// elements, the sum of x over the reduced dimensions. One output element per call, so that the CPU
// loop and one CUDA thread do exactly the same additions in the same order (deterministic).
struct SumToLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};      // x's shape
  int64_t out_shape[kMaxDims] = {};  // 1 on reduced dimensions
  int64_t reduce_count = 1;          // numel(x) / numel(out)
};

SG_HD float sum_to_element(const SumToLayout& L, const float* x, int64_t o) {
  // Coordinates of output element o (reduced dimensions have coordinate 0).
  int64_t coord[kMaxDims];
  for (int d = L.ndim - 1; d >= 0; --d) {
    coord[d] = o % L.out_shape[d];
    o /= L.out_shape[d];
  }
  float acc = 0.f;
  for (int64_t r = 0; r < L.reduce_count; ++r) {
    int64_t rr = r, idx = 0, stride = 1;
    for (int d = L.ndim - 1; d >= 0; --d) {
      int64_t c = coord[d];
      if (L.out_shape[d] == 1 && L.shape[d] != 1) {
        c = rr % L.shape[d];
        rr /= L.shape[d];
      }
      idx += c * stride;
      stride *= L.shape[d];
    }
    acc += x[idx];
  }
  return acc;
}

// ---- CPU twins (elementwise_cpu.cpp) ----
void fill_cpu(float* out, int64_t n, float value);
void binary_cpu(BinaryOp op, const BroadcastLayout& L, const float* a, const float* b, float* out, int64_t n);
// acc[i] += x[i] (autograd's in-place gradient sums)
void accumulate_cpu(float* acc, const float* x, int64_t n);
// y[i] = op(x[i]); y may be x (batch norm + ReLU and the loss means apply it in place).
void unary_cpu(UnaryOp op, float p, const float* x, float* y, int64_t n);
// gx = g * dy/dx
void unary_backward_cpu(UnaryOp op, float p, const float* x, const float* y, const float* g, float* gx, int64_t n);
void sum_to_cpu(const SumToLayout& L, const float* x, float* out, int64_t n_out);

// ---- CUDA launchers (elementwise.cu) ----
void fill_cuda(float* out, int64_t n, float value);
void binary_cuda(BinaryOp op, const BroadcastLayout& L, const float* a, const float* b, float* out, int64_t n);
void accumulate_cuda(float* acc, const float* x, int64_t n);
void unary_cuda(UnaryOp op, float p, const float* x, float* y, int64_t n);
void unary_backward_cuda(UnaryOp op, float p, const float* x, const float* y, const float* g, float* gx, int64_t n);
void sum_to_cuda(const SumToLayout& L, const float* x, float* out, int64_t n_out);

}  // namespace sg::kernels
