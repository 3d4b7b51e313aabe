// ops.h — the op layer: every differentiable operation the engine offers.
//
// Each op checks its inputs (shapes, devices) and throws sg::Error naming itself and the shapes,
// dispatches to a kernel family in kernels/ (CPU loop or CUDA kernel, raw pointers only), and, when
// a gradient is wanted, attaches its backward (autograd.h). Outputs live on the inputs' device.
#pragma once
#include <vector>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace sg {

// ---- elementwise with broadcasting (engine/ops_elementwise.cpp, kernels/elementwise.*) ----------
// Shapes broadcast as in NumPy (align right; a dimension of 1 stretches), e.g. a per-channel bias
// (1, C, 1, 1) or a (N, 1, H, W) mask against (N, C, H, W). Gradients are summed back to each
// input's shape.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
// Scalar forms: x + s, x * s, s - x (rsub) ...
Tensor add_scalar(const Tensor& x, float s);
Tensor mul_scalar(const Tensor& x, float s);
Tensor rsub_scalar(float s, const Tensor& x);  // s - x
Tensor neg(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor pow(const Tensor& x, float p);
Tensor sqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
// Sum `x` over broadcast dimensions down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
// acc += x in place, same shape, no graph: what autograd uses to add up a tensor's gradients when
// the running sum's storage is its own (the values are those of add(acc, x)).
void add_into(Tensor& acc, const Tensor& x);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add_scalar(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return add_scalar(a, -s); }
inline Tensor operator*(const Tensor& a, float s) { return mul_scalar(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return mul_scalar(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return mul_scalar(a, 1.0f / s); }
inline Tensor operator-(float s, const Tensor& a) { return rsub_scalar(s, a); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// ---- reductions (engine/ops_reduce.cpp, kernels/reduce.*) -----------------------------------
Tensor sum(const Tensor& x);                                 // -> shape ()  (one element)
Tensor mean(const Tensor& x);                                // -> shape ()
Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max_value(const Tensor& x);                           // no gradient; for metrics/tests

// ---- linear algebra (engine/ops_matmul.cpp; Eigen on the CPU, cuBLAS on the GPU) --------------
Tensor matmul(const Tensor& a, const Tensor& b);  // (M, K) x (K, N) -> (M, N)

// ---- convolution and image ops (engine/ops_conv.cpp, ops_pool.cpp, ops_norm.cpp) ---------------
// x: (N, Cin, H, W), w: (Cout, Cin, kh, kw), b: (Cout) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride = 1, int padding = 0);
// Floating-point operations conv2d has computed in this process so far, forward and backward
// passes, 2 per multiply-add (bench_train --roofline divides them by the time they took).
int64_t conv2d_flops();
// Batch norm over (N, H, W) per channel. Training: batch statistics (biased variance), and
// running_mean/running_var are updated in place: r = (1 - momentum) r + momentum * batch_stat
// (the running variance uses the unbiased batch variance, as PyTorch does). Eval: running stats.
// relu = true: relu(batch_norm2d(x)) as one op, the ReLU in the same pass and its mask taken from
// the output (y > 0 exactly where the normalised value was): the normalised tensor is never kept
// for the backward, one activation less per layer in memory and two passes less.
// shift (C), optional: batch_norm2d(x + shift) exactly, without adding it (the bias of a convolution
// right before, folded in: the batch statistics move with it and the normalised values do not);
// its gradient is 0 in training.
Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f,
                    bool relu = false, const Tensor& shift = Tensor());
Tensor max_pool2d(const Tensor& x);                // 2x2, stride 2 (H, W even)
Tensor avg_pool2d(const Tensor& x, int k);         // k x k, stride 1, zero padding k/2 counted
Tensor upsample_bilinear2x(const Tensor& x);       // (H, W) -> (2H, 2W), align_corners = true

// ---- shape ops (engine/ops_shape.cpp) ----------------------------------------------------------
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);        // dim 1: channel concat
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);  // [start, end)

// ---- activations and losses (engine/ops_loss.cpp) ---------------------------------------------
Tensor softmax(const Tensor& x, int64_t dim = 1);   // over channels of (N, C, H, W)
Tensor mse_loss(const Tensor& pred, const Tensor& target);  // mean of squared differences

}  // namespace sg
