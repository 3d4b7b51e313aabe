// device_compare.h — for `gpu`-labelled tests: run an op forward and backward on the CPU and on
// the GPU from the same inputs and the same output weights, and compare outputs and gradients.
#pragma once
#include "tests/test_util.h"

namespace sg::test {

// Returns the GPU's input gradients (so callers can also test determinism).
inline std::vector<std::vector<float>> compare_cpu_gpu(
    const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
    float atol, float rtol, uint64_t seed = 99) {
  std::vector<Tensor> in_c, in_g;
  for (const Tensor& t : inputs) {
    Tensor c = t.to(Device::CPU).detach().clone().detach();
    c.requires_grad_(true);
    Tensor g = t.to(Device::CUDA).detach().clone().detach();
    g.requires_grad_(true);
    in_c.push_back(c);
    in_g.push_back(g);
  }
  Tensor out_c = f(in_c), out_g = f(in_g);
  REQUIRE(out_g.is_cuda());
  REQUIRE(out_c.shape() == out_g.shape());
  SG_CHECK_CLOSE(out_g.to_vector(), out_c.to_vector(), atol, rtol);
  Tensor w = Tensor::uniform(out_c.shape(), 0.5f, 1.5f, seed, Device::CPU);
  sum(mul(out_c, w)).backward();
  sum(mul(out_g, w.to(Device::CUDA))).backward();
  std::vector<std::vector<float>> grads;
  for (size_t k = 0; k < in_c.size(); ++k) {
    REQUIRE(in_g[k].grad().defined());
    REQUIRE(in_g[k].grad().is_cuda());
    INFO("gradient of input ", k);
    SG_CHECK_CLOSE(in_g[k].grad().to_vector(), in_c[k].grad().to_vector(), atol, rtol);
    grads.push_back(in_g[k].grad().to_vector());
  }
  return grads;
}

}  // namespace sg::test
