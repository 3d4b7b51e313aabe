// device_compare.h — for `gpu`-labelled tests: run an op forward and backward on the CPU and on
// the GPU from the same inputs and the same output weights, and compare outputs and gradients.
#pragma once
#include "tests/test_util.h"

namespace sg::test {

// The general form (the op registry, tests/test_ops_registry.cpp, runs every op through it).
// `f` gets the inputs on one device (and that device, for ops without tensor inputs) and returns
// its outputs. Every output is compared. When some input is flagged in `differentiable`, output 0
// is also differentiated: sum(out0 * w) with the same random weights w on both devices, and the
// gradients of the flagged inputs are compared. The other inputs reach `f` without requires_grad.
// Returns the GPU's input gradients (empty for unflagged inputs), so callers can test determinism.
inline std::vector<std::vector<float>> compare_cpu_gpu_outputs(
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&, Device)>& f,
    const std::vector<Tensor>& inputs, const std::vector<bool>& differentiable, float atol, float rtol,
    uint64_t seed = 99) {
  REQUIRE(differentiable.size() == inputs.size());
  bool any_grad = false;
  std::vector<Tensor> in_c, in_g;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor c = inputs[k].to(Device::CPU).detach().clone().detach();
    Tensor g = inputs[k].to(Device::CUDA).detach().clone().detach();
    if (differentiable[k]) {
      c.requires_grad_(true);
      g.requires_grad_(true);
      any_grad = true;
    }
    in_c.push_back(c);
    in_g.push_back(g);
  }
  std::vector<Tensor> out_c = f(in_c, Device::CPU), out_g = f(in_g, Device::CUDA);
  REQUIRE(!out_c.empty());
  REQUIRE(out_c.size() == out_g.size());
  for (size_t k = 0; k < out_c.size(); ++k) {
    INFO("output ", k);
    REQUIRE(out_g[k].is_cuda());
    REQUIRE(out_c[k].shape() == out_g[k].shape());
    SG_CHECK_CLOSE(out_g[k].to_vector(), out_c[k].to_vector(), atol, rtol);
  }
  std::vector<std::vector<float>> grads(inputs.size());
  if (!any_grad) return grads;
  Tensor w = Tensor::uniform(out_c[0].shape(), 0.5f, 1.5f, seed, Device::CPU);
  sum(mul(out_c[0], w)).backward();
  sum(mul(out_g[0], w.to(Device::CUDA))).backward();
  for (size_t k = 0; k < in_c.size(); ++k) {
    if (!differentiable[k]) continue;
    INFO("gradient of input ", k);
    REQUIRE(in_c[k].grad().defined());
    REQUIRE(in_g[k].grad().defined());
    REQUIRE(in_g[k].grad().is_cuda());
    SG_CHECK_CLOSE(in_g[k].grad().to_vector(), in_c[k].grad().to_vector(), atol, rtol);
    grads[k] = in_g[k].grad().to_vector();
  }
  return grads;
}

// One output, every input differentiated. Returns the GPU's input gradients.
inline std::vector<std::vector<float>> compare_cpu_gpu(
    const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
    float atol, float rtol, uint64_t seed = 99) {
  return compare_cpu_gpu_outputs(
      [&f](const std::vector<Tensor>& in, Device) { return std::vector<Tensor>{f(in)}; }, inputs,
      std::vector<bool>(inputs.size(), true), atol, rtol, seed);
}

}  // namespace sg::test
