// ops_norm.cpp — batch_norm2d over (N, H, W) per channel, with a fused hand-written backward.
//
// Training: normalise with the batch mean and biased variance, and update running_mean /
// running_var in place (momentum blend; the running variance takes the unbiased batch variance).
// Eval: normalise with the running statistics. The backward (derivation in kernels/batchnorm.h)
// needs only the per-channel sums of g and g * xhat, which are also d beta and d gamma. With relu,
// the ReLU is applied to the output in place and its backward masks g by y > 0 first.
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "engine/profile.h"

namespace sg {
using kernels::BnLayout;

static void check_channel_vector(const Tensor& t, int64_t C, const Tensor& x, const char* what) {
  check_defined(t, "batch_norm2d", what);
  check_same_device(t, x, "batch_norm2d");
  SG_CHECK(t.dim() == 1 && t.size(0) == C, "batch_norm2d: ", what, " must have shape (", C,
           ") for input ", shape_str(x.shape()), ", got ", shape_str(t.shape()));
}

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, float momentum, float eps, bool relu) {
  SG_PROFILE_OP(relu ? "batch_norm2d + relu" : "batch_norm2d");
  check_defined(x, "batch_norm2d", "input");
  SG_CHECK(x.dim() == 4, "batch_norm2d: expects a 4-D input (N, C, H, W), got ", shape_str(x.shape()));
  const int64_t C = x.size(1);
  check_channel_vector(gamma, C, x, "gamma");
  check_channel_vector(beta, C, x, "beta");
  check_channel_vector(running_mean, C, x, "running_mean");
  check_channel_vector(running_var, C, x, "running_var");
  BnLayout L;
  L.N = x.size(0);
  L.C = C;
  L.HW = x.size(2) * x.size(3);
  SG_CHECK(!training || L.count() > 1, "batch_norm2d: training needs more than one value per channel, got input ",
           shape_str(x.shape()));
  const Device dev = x.device();

  Tensor mean, var;  // the statistics used to normalise, (C)
  if (training) {
    mean = Tensor::empty({C}, dev);
    var = Tensor::empty({C}, dev);
    SG_DISPATCH(dev, kernels::bn_stats_cpu(L, x.data(), mean.data(), var.data()),
                kernels::bn_stats_cuda(L, x.data(), mean.data(), var.data(),
                                       Tensor::empty({kernels::bn_scratch_floats(L)}, dev).data()));
    SG_DISPATCH(dev,
                kernels::bn_update_running_cpu(L, running_mean.data(), running_var.data(), mean.data(),
                                               var.data(), momentum),
                kernels::bn_update_running_cuda(L, running_mean.data(), running_var.data(), mean.data(),
                                                var.data(), momentum));
  } else {
    mean = running_mean.clone().detach();  // a snapshot: later in-place updates must not leak in
    var = running_var;
  }
  Tensor invstd = Tensor::empty({C}, dev);
  SG_DISPATCH(dev, kernels::bn_invstd_cpu(C, var.data(), eps, invstd.data()),
              kernels::bn_invstd_cuda(C, var.data(), eps, invstd.data()));
  Tensor y = Tensor::empty(x.shape(), dev);
  SG_DISPATCH(dev,
              kernels::bn_forward_cpu(L, x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), y.data()),
              kernels::bn_forward_cuda(L, x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), y.data()));
  const int64_t n = x.numel();
  if (relu)  // in place: the elementwise loops read each element before writing it
    SG_DISPATCH(dev, kernels::unary_cpu(kernels::UnaryOp::Relu, 0.f, y.data(), y.data(), n),
                kernels::unary_cuda(kernels::UnaryOp::Relu, 0.f, y.data(), y.data(), n));
  if (!grad_enabled() || !(x.requires_grad() || gamma.requires_grad() || beta.requires_grad())) return y;

  const bool need_x = x.requires_grad(), need_gamma = gamma.requires_grad(), need_beta = beta.requires_grad();
  Tensor xs = x.detach(), gs = gamma.detach(), ys = relu ? y.detach() : Tensor();
  return attach_grad(y, relu ? "batch_norm2d + relu" : "batch_norm2d", {x, gamma, beta}, [=](const Tensor& g_out) {
    Tensor g = g_out;
    if (relu) {  // through the ReLU first: its mask is y > 0 (ys stands for both input and output)
      g = Tensor::empty(ys.shape(), dev);
      SG_DISPATCH(dev,
                  kernels::unary_backward_cpu(kernels::UnaryOp::Relu, 0.f, ys.data(), ys.data(), g_out.data(), g.data(), n),
                  kernels::unary_backward_cuda(kernels::UnaryOp::Relu, 0.f, ys.data(), ys.data(), g_out.data(), g.data(), n));
    }
    Tensor sum_g = Tensor::empty({C}, dev), sum_gx = Tensor::empty({C}, dev);
    SG_DISPATCH(dev,
                kernels::bn_backward_reduce_cpu(L, g.data(), xs.data(), mean.data(), invstd.data(),
                                                sum_g.data(), sum_gx.data()),
                kernels::bn_backward_reduce_cuda(L, g.data(), xs.data(), mean.data(), invstd.data(),
                                                 sum_g.data(), sum_gx.data(),
                                                 Tensor::empty({kernels::bn_scratch_floats(L)}, dev).data()));
    Tensor gx;
    if (need_x) {
      gx = Tensor::empty(xs.shape(), dev);
      SG_DISPATCH(dev,
                  kernels::bn_backward_input_cpu(L, training, g.data(), xs.data(), mean.data(), invstd.data(),
                                                 gs.data(), sum_g.data(), sum_gx.data(), gx.data()),
                  kernels::bn_backward_input_cuda(L, training, g.data(), xs.data(), mean.data(),
                                                  invstd.data(), gs.data(), sum_g.data(), sum_gx.data(),
                                                  gx.data()));
    }
    return std::vector<Tensor>{gx, need_gamma ? sum_gx : Tensor(), need_beta ? sum_g : Tensor()};
  });
}

}  // namespace sg
