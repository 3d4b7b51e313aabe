// optim.cpp — Adam (state handling and dispatch to the fused kernels/adam.* update) and MultiStepLR.
#include "engine/optim.h"

#include <algorithm>
#include <cmath>

#include "engine/dispatch.h"
#include "engine/nn.h"
#include "kernels/adam.h"
#include "engine/profile.h"

namespace sg {

static NamedTensors number_names(const std::vector<Tensor>& params) {
  NamedTensors out;
  for (size_t i = 0; i < params.size(); ++i) out.emplace_back(std::to_string(i), params[i]);
  return out;
}

Adam::Adam(const std::vector<Tensor>& params, float lr, float beta1, float beta2, float eps)
    : Adam(number_names(params), lr, beta1, beta2, eps) {}

Adam::Adam(const NamedTensors& params, float lr, float beta1, float beta2, float eps)
    : params_(params), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  SG_CHECK(lr >= 0.f, "Adam: negative learning rate ", lr);
  SG_CHECK(beta1 >= 0.f && beta1 < 1.f && beta2 >= 0.f && beta2 < 1.f, "Adam: betas (", beta1,
           ", ", beta2, ") must lie in [0, 1)");
  SG_CHECK(eps > 0.f, "Adam: eps ", eps, " must be positive");
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, p] = params_[i];
    check_defined(p, "Adam", name.c_str());
    SG_CHECK(p.is_leaf(), "Adam: parameter '", name, "' is not a leaf tensor");
    for (size_t j = 0; j < i; ++j) {
      SG_CHECK(params_[j].first != name, "Adam: parameter name '", name, "' appears twice");
      SG_CHECK(params_[j].second.impl() != p.impl(), "Adam: parameter '", name,
               "' is the same tensor as '", params_[j].first, "'");
    }
    m_.push_back(Tensor::zeros(p.shape(), p.device()));
    v_.push_back(Tensor::zeros(p.shape(), p.device()));
  }
  step_ = Tensor::zeros({(int64_t)params_.size()}, Device::CPU);
}

void Adam::set_lr(float lr) {
  SG_CHECK(lr >= 0.f, "Adam::set_lr: negative learning rate ", lr);
  lr_ = lr;
}

int64_t Adam::step_count() const {
  int64_t t = 0;
  for (float s : step_.to_vector()) t = std::max(t, (int64_t)s);
  return t;
}

void Adam::zero_grad() {
  SG_PROFILE_OP("zero_grad");
  for (auto& kv : params_) kv.second.zero_grad();
}

void Adam::step() {
  SG_PROFILE_OP("adam step");
  // Each parameter counts its own steps (as PyTorch's Adam does), so a parameter that receives its
  // first gradient late (the segmentation module after the autoencoder's warm-up) starts with the
  // full bias correction of a first step. The tensors go to the multi-tensor kernel in batches of
  // kAdamTensorsPerLaunch, one batch per device: one launch per 64 tensors, not one per tensor.
  float* steps = step_.data();
  kernels::AdamBatch batch[2];  // CPU, CUDA
  for (auto& b : batch) {
    b.beta1 = beta1_;
    b.beta2 = beta2_;
    b.eps = eps_;
    b.count = 0;
  }
  auto flush = [&](Device d) {
    kernels::AdamBatch& b = batch[d == Device::CPU ? 0 : 1];
    if (b.count == 0) return;
    SG_DISPATCH(d, kernels::adam_update_many_cpu(b), kernels::adam_update_many_cuda(b));
    b.count = 0;
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_[i].first;
    Tensor p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    SG_CHECK(g.shape() == p.shape(), "Adam::step: gradient of '", name, "' has shape ",
             shape_str(g.shape()), ", parameter ", shape_str(p.shape()));
    SG_CHECK(g.device() == p.device(), "Adam::step: gradient of '", name, "' is on ",
             device_name(g.device()), ", parameter on ", device_name(p.device()));
    int64_t t = (int64_t)steps[i] + 1;
    SG_CHECK(t < (int64_t(1) << 24), "Adam::step: step count ", t,
             " no longer fits the float32 state exactly");
    // Bias corrections in double, once per parameter and step (adam.h).
    double bc1 = 1.0 - std::pow((double)beta1_, (double)t);
    double bc2 = 1.0 - std::pow((double)beta2_, (double)t);
    move_to_device_(m_[i], p.device());  // no-op unless the parameter moved since
    move_to_device_(v_[i], p.device());
    kernels::AdamBatch& b = batch[p.device() == Device::CPU ? 0 : 1];
    b.t[b.count++] = kernels::AdamTensor{g.data(), p.data(), m_[i].data(), v_[i].data(), p.numel(),
                                         (float)((double)lr_ / bc1), (float)(1.0 / std::sqrt(bc2))};
    if (b.count == kernels::kAdamTensorsPerLaunch) flush(p.device());
    steps[i] = (float)t;
  }
  flush(Device::CPU);
  flush(Device::CUDA);
}

NamedTensors Adam::state() const {
  NamedTensors out;
  out.emplace_back("step", step_);
  for (size_t i = 0; i < params_.size(); ++i) out.emplace_back("m." + params_[i].first, m_[i]);
  for (size_t i = 0; i < params_.size(); ++i) out.emplace_back("v." + params_[i].first, v_[i]);
  return out;
}

// ---- MultiStepLR --------------------------------------------------------------------------
MultiStepLR::MultiStepLR(float base_lr, std::vector<int64_t> milestones, float gamma)
    : base_lr_(base_lr), gamma_(gamma), milestones_(std::move(milestones)) {
  SG_CHECK(base_lr >= 0.f && gamma > 0.f, "MultiStepLR: base_lr ", base_lr, " and gamma ", gamma,
           " must be non-negative and positive");
  std::sort(milestones_.begin(), milestones_.end());
}

MultiStepLR MultiStepLR::at_fractions(float base_lr, int64_t total_iterations,
                                      const std::vector<double>& fractions, float gamma) {
  SG_CHECK(total_iterations > 0, "MultiStepLR::at_fractions: total_iterations ", total_iterations,
           " must be positive");
  std::vector<int64_t> ms;
  for (double f : fractions) {
    SG_CHECK(f >= 0.0 && f <= 1.0, "MultiStepLR::at_fractions: fraction ", f, " outside [0, 1]");
    ms.push_back((int64_t)std::llround(f * (double)total_iterations));
  }
  return MultiStepLR(base_lr, ms, gamma);
}

float MultiStepLR::lr(int64_t iteration) const {
  int passed = 0;
  for (int64_t m : milestones_) passed += m <= iteration ? 1 : 0;
  return (float)((double)base_lr_ * std::pow((double)gamma_, passed));
}

}  // namespace sg
