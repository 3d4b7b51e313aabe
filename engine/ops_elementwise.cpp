// ops_elementwise.cpp — broadcasting binary ops, unary ops and sum_to, with their backwards.
//
// The worked example of the op layer: validate, compute the output shape, dispatch to
// kernels/elementwise.*, and attach a backward. For c = a ∘ b with broadcasting, the gradient of
// each input is the elementwise gradient summed back over the dimensions it was stretched along
// (sum_to), e.g. a per-channel bias (1, C, 1, 1) receives the sum over N, H and W.
#include <algorithm>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/elementwise.h"
#include "engine/profile.h"

namespace sg {
using kernels::BinaryOp;
using kernels::UnaryOp;

void Tensor::fill_(float value) {
  SG_DISPATCH(device(), kernels::fill_cpu(data(), numel(), value),
              kernels::fill_cuda(data(), numel(), value));
}

// NumPy broadcasting of two shapes; throws naming `op` when they are incompatible.
static Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  SG_CHECK(n <= (size_t)kernels::kMaxDims, op, ": at most ", kernels::kMaxDims, " dimensions");
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    SG_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Strides of `s` viewed in `out`'s rank, 0 where `s` is broadcast.
static void broadcast_strides(const Shape& s, const Shape& out, int64_t* strides) {
  size_t n = out.size(), lead = n - s.size();
  int64_t stride = 1;
  for (size_t i = n; i-- > 0;) {
    int64_t d = i < lead ? 1 : s[i - lead];
    strides[i] = (d == 1 && out[i] != 1) ? 0 : stride;
    stride *= d;
  }
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  SG_PROFILE_OP("sum_to");
  check_defined(x, "sum_to", "input");
  if (x.shape() == shape) return x;
  Shape full = x.shape();
  SG_CHECK(broadcast_shape(shape, full, "sum_to") == full, "sum_to: cannot reduce ",
           shape_str(full), " to ", shape_str(shape));
  kernels::SumToLayout L;
  L.ndim = (int)full.size();
  size_t lead = full.size() - shape.size();
  for (size_t i = 0; i < full.size(); ++i) {
    L.shape[i] = full[i];
    L.out_shape[i] = i < lead ? 1 : shape[i - lead];
  }
  Tensor out = Tensor::empty(shape, x.device());
  int64_t n_out = out.numel();
  L.reduce_count = n_out ? x.numel() / n_out : 0;
  SG_DISPATCH(x.device(), kernels::sum_to_cpu(L, x.data(), out.data(), n_out),
              kernels::sum_to_cuda(L, x.data(), out.data(), n_out));
  Shape full_shape = full;
  return attach_grad(out, "sum_to", {x}, [full_shape](const Tensor& g) {
    // d(sum_to)/dx broadcasts the gradient back: multiply a ones tensor of the full shape.
    return std::vector<Tensor>{mul(Tensor::ones(full_shape, g.device()), g)};
  });
}

static Tensor binary(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  SG_PROFILE_OP(name);
  check_defined(a, name, "first input");
  check_defined(b, name, "second input");
  check_same_device(a, b, name);
  Shape shape = broadcast_shape(a.shape(), b.shape(), name);
  kernels::BroadcastLayout L;
  L.ndim = (int)shape.size();
  L.same = a.shape() == shape && b.shape() == shape;
  for (int i = 0; i < L.ndim; ++i) L.shape[i] = shape[(size_t)i];
  broadcast_strides(a.shape(), shape, L.stride_a);
  broadcast_strides(b.shape(), shape, L.stride_b);
  Tensor out = Tensor::empty(shape, a.device());
  int64_t n = out.numel();
  SG_DISPATCH(a.device(), kernels::binary_cpu(op, L, a.data(), b.data(), out.data(), n),
              kernels::binary_cuda(op, L, a.data(), b.data(), out.data(), n));
  if (!grad_enabled() || !(a.requires_grad() || b.requires_grad())) return out;

  Shape sa = a.shape(), sb = b.shape();
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  BackwardFn fn;
  switch (op) {
    case BinaryOp::Add:
      fn = [=](const Tensor& g) {
        return std::vector<Tensor>{need_a ? sum_to(g, sa) : Tensor(), need_b ? sum_to(g, sb) : Tensor()};
      };
      break;
    case BinaryOp::Sub:
      fn = [=](const Tensor& g) {
        return std::vector<Tensor>{need_a ? sum_to(g, sa) : Tensor(), need_b ? sum_to(neg(g), sb) : Tensor()};
      };
      break;
    case BinaryOp::Mul:  // d(ab) = b da + a db
      fn = [=](const Tensor& g) {
        return std::vector<Tensor>{need_a ? sum_to(mul(g, b), sa) : Tensor(),
                                   need_b ? sum_to(mul(g, a), sb) : Tensor()};
      };
      break;
    case BinaryOp::Div:  // d(a/b) = da / b - a db / b^2
      fn = [=](const Tensor& g) {
        Tensor ga = div(g, b);
        return std::vector<Tensor>{need_a ? sum_to(ga, sa) : Tensor(),
                                   need_b ? sum_to(neg(mul(ga, div(a, b))), sb) : Tensor()};
      };
      break;
  }
  return attach_grad(out, name, {a, b}, fn);
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, "add", a, b); }

void add_into(Tensor& acc, const Tensor& x) {
  SG_PROFILE_OP("add_into");
  check_defined(acc, "add_into", "accumulator");
  check_defined(x, "add_into", "input");
  check_same_device(acc, x, "add_into");
  check_same_shape(acc, x, "add_into");
  SG_DISPATCH(acc.device(), kernels::accumulate_cpu(acc.data(), x.data(), acc.numel()),
              kernels::accumulate_cuda(acc.data(), x.data(), acc.numel()));
}
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, "sub", a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, "mul", a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, "div", a, b); }

static Tensor unary(UnaryOp op, const char* name, const Tensor& x, float p = 0.f) {
  SG_PROFILE_OP(name);
  check_defined(x, name, "input");
  Tensor y = Tensor::empty(x.shape(), x.device());
  int64_t n = x.numel();
  SG_DISPATCH(x.device(), kernels::unary_cpu(op, p, x.data(), y.data(), n),
              kernels::unary_cuda(op, p, x.data(), y.data(), n));
  if (!grad_enabled() || !x.requires_grad()) return y;
  Tensor y_saved = y.detach();
  return attach_grad(y, name, {x}, [op, p, x, y_saved](const Tensor& g) {
    Tensor gx = Tensor::empty(x.shape(), x.device());
    int64_t n = x.numel();
    SG_DISPATCH(x.device(),
                kernels::unary_backward_cpu(op, p, x.data(), y_saved.data(), g.data(), gx.data(), n),
                kernels::unary_backward_cuda(op, p, x.data(), y_saved.data(), g.data(), gx.data(), n));
    return std::vector<Tensor>{gx};
  });
}

Tensor add_scalar(const Tensor& x, float s) { return unary(UnaryOp::AddScalar, "add_scalar", x, s); }
Tensor mul_scalar(const Tensor& x, float s) { return unary(UnaryOp::MulScalar, "mul_scalar", x, s); }
Tensor rsub_scalar(float s, const Tensor& x) { return unary(UnaryOp::RSubScalar, "rsub_scalar", x, s); }
Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, "neg", x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, "relu", x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::Sigmoid, "sigmoid", x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, "exp", x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, "log", x); }
Tensor pow(const Tensor& x, float p) { return unary(UnaryOp::Pow, "pow", x, p); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, "sqrt", x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::Tanh, "tanh", x); }

}  // namespace sg
