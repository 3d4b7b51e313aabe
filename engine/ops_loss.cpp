// ops_loss.cpp — softmax over one dimension and the mean-squared-error loss, with backwards
// (kernels/softmax.*, kernels/mse.*, kernels/reduce.* for the deterministic sum).
//
//   softmax(x, dim): y = exp(x - max) / sum exp(x - max) along dim (channels of NCHW by default).
//     backward: g_x = y * (g - sum_dim(g * y)).
//   mse_loss(p, t) = (1/n) sum_i (p_i - t_i)^2, a scalar (shape ()).
//     backward: g_p = 2 g (p - t) / n, g_t = -g_p.
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/elementwise.h"
#include "kernels/mse.h"
#include "kernels/reduce.h"
#include "kernels/softmax.h"
#include "engine/profile.h"

namespace sg {

Tensor softmax(const Tensor& x, int64_t dim) {
  SG_PROFILE_OP("softmax");
  check_defined(x, "softmax", "input");
  const Shape& s = x.shape();
  int64_t nd = x.dim();
  int64_t d = dim < 0 ? dim + nd : dim;
  SG_CHECK(d >= 0 && d < nd, "softmax: dimension ", dim, " out of range for shape ", shape_str(s));
  int64_t outer = 1, inner = 1, len = s[(size_t)d];
  for (int64_t i = 0; i < d; ++i) outer *= s[(size_t)i];
  for (int64_t i = d + 1; i < nd; ++i) inner *= s[(size_t)i];
  SG_CHECK(len > 0, "softmax: empty dimension ", d, " in shape ", shape_str(s));
  Tensor y = Tensor::empty(s, x.device());
  SG_DISPATCH(x.device(), kernels::softmax_cpu(x.data(), y.data(), outer, len, inner),
              kernels::softmax_cuda(x.data(), y.data(), outer, len, inner));
  if (!grad_enabled() || !x.requires_grad()) return y;
  Tensor ys = y.detach();
  return attach_grad(y, "softmax", {x}, [ys, outer, len, inner](const Tensor& g) {
    Tensor gx = Tensor::empty(ys.shape(), ys.device());
    SG_DISPATCH(ys.device(), kernels::softmax_backward_cpu(ys.data(), g.data(), gx.data(), outer, len, inner),
                kernels::softmax_backward_cuda(ys.data(), g.data(), gx.data(), outer, len, inner));
    return std::vector<Tensor>{gx};
  });
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  SG_PROFILE_OP("mse_loss");
  check_defined(pred, "mse_loss", "pred");
  check_defined(target, "mse_loss", "target");
  check_same_device(pred, target, "mse_loss");
  check_same_shape(pred, target, "mse_loss");
  int64_t n = pred.numel();
  SG_CHECK(n > 0, "mse_loss: empty tensors ", shape_str(pred.shape()));
  Tensor d = Tensor::empty(pred.shape(), pred.device());
  Tensor out = Tensor::empty({}, pred.device());
  float inv_n = (float)(1.0 / (double)n);
  SG_DISPATCH(pred.device(),
              (kernels::sq_diff_cpu(pred.data(), target.data(), d.data(), n),
               kernels::sum_all_cpu(d.data(), n, out.data()),
               kernels::unary_cpu(kernels::UnaryOp::MulScalar, inv_n, out.data(), out.data(), 1)),
              (kernels::sq_diff_cuda(pred.data(), target.data(), d.data(), n),
               kernels::sum_all_cuda(d.data(), n, out.data()),
               kernels::unary_cuda(kernels::UnaryOp::MulScalar, inv_n, out.data(), out.data(), 1)));
  if (!grad_enabled() || !(pred.requires_grad() || target.requires_grad())) return out;
  bool need_p = pred.requires_grad(), need_t = target.requires_grad();
  Tensor p = pred.detach(), t = target.detach();
  float scale = (float)(2.0 / (double)n);
  return attach_grad(out, "mse_loss", {pred, target}, [p, t, scale, need_p, need_t](const Tensor& g) {
    // d/dp_i (1/n) sum (p - t)^2 = 2 (p_i - t_i) / n, times the scalar output gradient g.
    Tensor gp = Tensor::empty(p.shape(), p.device());
    int64_t n = p.numel();
    SG_DISPATCH(p.device(), kernels::mse_grad_cpu(p.data(), t.data(), g.data(), scale, gp.data(), n),
                kernels::mse_grad_cuda(p.data(), t.data(), g.data(), scale, gp.data(), n));
    return std::vector<Tensor>{need_p ? gp : Tensor(), need_t ? neg(gp) : Tensor()};
  });
}

}  // namespace sg
