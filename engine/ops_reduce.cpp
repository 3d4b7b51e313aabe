// ops_reduce.cpp — sum and mean, over the whole tensor or along one dimension, with backwards.
//
// The backward of a sum copies the output gradient to every element that was summed (a broadcast),
// the backward of a mean does the same divided by the count.
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/reduce.h"
#include "engine/profile.h"

namespace sg {

Tensor sum(const Tensor& x) {
  SG_PROFILE_OP("sum");
  check_defined(x, "sum", "input");
  Tensor out = Tensor::empty({}, x.device());
  SG_DISPATCH(x.device(), kernels::sum_all_cpu(x.data(), x.numel(), out.data()),
              kernels::sum_all_cuda(x.data(), x.numel(), out.data()));
  Shape s = x.shape();
  return attach_grad(out, "sum", {x}, [s](const Tensor& g) {
    return std::vector<Tensor>{mul(Tensor::ones(s, g.device()), g)};
  });
}

Tensor mean(const Tensor& x) {
  SG_PROFILE_OP("mean");
  SG_CHECK(x.numel() > 0, "mean: empty tensor ", shape_str(x.shape()));
  return mul_scalar(sum(x), 1.0f / (float)x.numel());
}

static int64_t wrap_dim(const Tensor& x, int64_t dim, const char* op) {
  int64_t n = x.dim();
  int64_t d = dim < 0 ? dim + n : dim;
  SG_CHECK(d >= 0 && d < n, op, ": dimension ", dim, " out of range for shape ", shape_str(x.shape()));
  return d;
}

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) {
  SG_PROFILE_OP("sum");
  check_defined(x, "sum", "input");
  int64_t d = wrap_dim(x, dim, "sum");
  const Shape& s = x.shape();
  int64_t outer = 1, inner = 1, len = s[(size_t)d];
  for (int64_t i = 0; i < d; ++i) outer *= s[(size_t)i];
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= s[(size_t)i];
  Shape kept = s;
  kept[(size_t)d] = 1;
  Tensor out = Tensor::empty(kept, x.device());
  SG_DISPATCH(x.device(), kernels::sum_along_cpu(x.data(), outer, len, inner, out.data()),
              kernels::sum_along_cuda(x.data(), outer, len, inner, out.data()));
  Shape full = s;
  out = attach_grad(out, "sum", {x}, [full, kept](const Tensor& g) {
    return std::vector<Tensor>{mul(Tensor::ones(full, g.device()), g.reshape(kept))};
  });
  if (keepdim) return out;
  Shape squeezed;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i != d) squeezed.push_back(s[(size_t)i]);
  return out.reshape(squeezed);
}

Tensor mean(const Tensor& x, int64_t dim, bool keepdim) {
  SG_PROFILE_OP("mean");
  int64_t d = wrap_dim(x, dim, "mean");
  int64_t len = x.shape()[(size_t)d];
  SG_CHECK(len > 0, "mean: empty dimension ", dim, " in ", shape_str(x.shape()));
  return mul_scalar(sum(x, d, keepdim), 1.0f / (float)len);
}

Tensor max_value(const Tensor& x) {
  check_defined(x, "max_value", "input");
  SG_CHECK(x.numel() > 0, "max_value: empty tensor");
  float m = 0;
  // On CUDA the maximum is copied to the host, a wait the engine counts (cuda_host_waits()) here:
  // the kernels do not know the counter.
  SG_DISPATCH(x.device(), m = kernels::max_all_cpu(x.data(), x.numel()),
              (note_cuda_host_wait(), m = kernels::max_all_cuda(x.data(), x.numel())));
  return Tensor::scalar(m, x.device());
}
}  // namespace sg
