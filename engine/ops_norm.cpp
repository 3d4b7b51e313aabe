// ops_norm.cpp — batch_norm2d over (N, H, W) per channel, with a fused hand-written backward.
//
// Training: normalise with the batch mean and biased variance, and update running_mean /
// running_var in place (momentum blend; the running variance takes the unbiased batch variance).
// Eval: normalise with the running statistics. The backward (derivation in kernels/batchnorm.h)
// needs only the per-channel sums of g and g * xhat, which are also d beta and d gamma. With relu,
// the ReLU is part of the same passes: the forward writes max(0, .) and the backward masks g by the
// output y > 0 as it reads it. A shift (a convolution's bias) is folded into the statistics
// (kernels/batchnorm.h): two launches forward in training, one in eval, two backward.
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/batchnorm.h"
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
                    Tensor& running_var, bool training, float momentum, float eps, bool relu, const Tensor& shift) {
  SG_PROFILE_OP(relu ? "batch_norm2d + relu" : "batch_norm2d");
  check_defined(x, "batch_norm2d", "input");
  SG_CHECK(x.dim() == 4, "batch_norm2d: expects a 4-D input (N, C, H, W), got ", shape_str(x.shape()));
  const int64_t C = x.size(1);
  check_channel_vector(gamma, C, x, "gamma");
  check_channel_vector(beta, C, x, "beta");
  check_channel_vector(running_mean, C, x, "running_mean");
  check_channel_vector(running_var, C, x, "running_var");
  if (shift.defined()) check_channel_vector(shift, C, x, "shift");
  BnLayout L;
  L.N = x.size(0);
  L.C = C;
  L.HW = x.size(2) * x.size(3);
  SG_CHECK(!training || L.count() > 1, "batch_norm2d: training needs more than one value per channel, got input ",
           shape_str(x.shape()));
  const Device dev = x.device();

  // The statistics used to normalise, (C), kept for the backward (in eval a snapshot of the running
  // ones: later in-place updates must not leak in).
  Tensor mean = Tensor::empty({C}, dev), invstd = Tensor::empty({C}, dev);
  Tensor y = Tensor::empty(x.shape(), dev);
  kernels::BnArgs a;
  a.L = L;
  a.x = x.data();
  a.gamma = gamma.data();
  a.beta = beta.data();
  a.shift = shift.defined() ? shift.data() : nullptr;
  a.r_mean = running_mean.data();
  a.r_var = running_var.data();
  a.momentum = momentum;
  a.eps = eps;
  a.relu = relu;
  a.mean = mean.data();
  a.invstd = invstd.data();
  a.y = y.data();
  if (training)
    SG_DISPATCH(dev, kernels::bn_train_forward_cpu(a),
                kernels::bn_train_forward_cuda(a, Tensor::empty({kernels::bn_scratch_floats(L)}, dev).data()));
  else
    SG_DISPATCH(dev, kernels::bn_eval_forward_cpu(a), kernels::bn_eval_forward_cuda(a));
  const bool need_shift = shift.defined() && shift.requires_grad();
  if (!grad_enabled() || !(x.requires_grad() || gamma.requires_grad() || beta.requires_grad() || need_shift)) return y;

  const bool need_x = x.requires_grad(), need_gamma = gamma.requires_grad(), need_beta = beta.requires_grad();
  Tensor xs = x.detach(), gs = gamma.detach(), ys = relu ? y.detach() : Tensor();
  std::vector<Tensor> inputs = {x, gamma, beta};
  if (shift.defined()) inputs.push_back(shift);
  return attach_grad(y, relu ? "batch_norm2d + relu" : "batch_norm2d", inputs, [=](const Tensor& g_out) {
    Tensor sum_g = Tensor::empty({C}, dev), sum_gx = Tensor::empty({C}, dev);
    Tensor gx = need_x ? Tensor::empty(xs.shape(), dev) : Tensor();
    Tensor gshift = need_shift ? Tensor::empty({C}, dev) : Tensor();
    kernels::BnGrads b;
    b.L = L;
    b.training = training;
    b.relu = relu;
    b.g = g_out.data();
    b.x = xs.data();
    b.y = relu ? ys.data() : nullptr;
    b.mean = mean.data();
    b.invstd = invstd.data();
    b.gamma = gs.data();
    b.sum_g = sum_g.data();
    b.sum_gx = sum_gx.data();
    b.gx = need_x ? gx.data() : nullptr;
    b.gshift = need_shift ? gshift.data() : nullptr;
    SG_DISPATCH(dev, kernels::bn_backward_cpu(b),
                kernels::bn_backward_cuda(b, Tensor::empty({kernels::bn_scratch_floats(L)}, dev).data()));
    std::vector<Tensor> grads = {gx, need_gamma ? sum_gx : Tensor(), need_beta ? sum_g : Tensor()};
    if (inputs.size() == 4) grads.push_back(gshift);
    return grads;
  });
}

}  // namespace sg
