// test_guided_concat.cpp — guided concatenation: values, gradient split to both inputs (finite
// differences), one input without gradient, shape errors, and the CUDA twin against the CPU.
#include "sgsf/sgsf_ops.h"
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

TEST_CASE("guided_concat stacks seg then guide channels per sample") {
  Tensor a = Tensor::from_vector({2, 1, 1, 2}, {1, 2, 3, 4}, Device::CPU);
  Tensor b = Tensor::from_vector({2, 2, 1, 2}, {10, 11, 12, 13, 14, 15, 16, 17}, Device::CPU);
  Tensor c = sgsf::guided_concat(a, b);
  CHECK(c.shape() == Shape{2, 3, 1, 2});
  CHECK(c.to_vector() == std::vector<float>{1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17});
}

TEST_CASE("gradient of guided_concat reaches both inputs (finite differences)") {
  Tensor a = Tensor::uniform({2, 3, 4, 5}, -1.f, 1.f, 51, Device::CPU);
  Tensor b = Tensor::uniform({2, 2, 4, 5}, -1.f, 1.f, 52, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return sgsf::guided_concat(in[0], in[1]); }, {a, b});
  // only the guide needs a gradient
  Tensor bg = b.detach();
  bg.requires_grad_(true);
  Tensor w = Tensor::uniform({2, 5, 4, 5}, 0.5f, 1.5f, 53, Device::CPU);
  sum(mul(sgsf::guided_concat(a, bg), w)).backward();
  std::vector<float> g = bg.grad().to_vector(), wv = w.to_vector();
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 2 * 20; ++i) CHECK(g[(size_t)(k * 40 + i)] == wv[(size_t)(k * 100 + 60 + i)]);
}

TEST_CASE("guided_concat checks shapes") {
  Tensor a = Tensor::zeros({2, 3, 4, 5}, Device::CPU), b = Tensor::zeros({2, 3, 4, 6}, Device::CPU);
  CHECK_THROWS_WITH_AS(sgsf::guided_concat(a, b), doctest::Contains("guided_concat: seg (2, 3, 4, 5) and guide (2, 3, 4, 6)"),
                       sg::Error);
}

TEST_CASE("guided_concat CUDA kernels match the CPU twins" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  Tensor a = Tensor::uniform({3, 5, 7, 9}, -1.f, 1.f, 54, Device::CPU);
  Tensor b = Tensor::uniform({3, 4, 7, 9}, -1.f, 1.f, 55, Device::CPU);
  Tensor ag = a.to(Device::CUDA), bg = b.to(Device::CUDA);
  CHECK(sgsf::guided_concat(ag, bg).to_vector() == sgsf::guided_concat(a, b).to_vector());
  ag.requires_grad_(true);
  bg.requires_grad_(true);
  Tensor w = Tensor::uniform({3, 9, 7, 9}, 0.5f, 1.5f, 56, Device::CPU);
  sum(mul(sgsf::guided_concat(ag, bg), w.to(Device::CUDA))).backward();
  Tensor ac = a.detach(), bc = b.detach();
  ac.requires_grad_(true);
  bc.requires_grad_(true);
  sum(mul(sgsf::guided_concat(ac, bc), w)).backward();
  CHECK(ag.grad().to_vector() == ac.grad().to_vector());
  CHECK(bg.grad().to_vector() == bc.grad().to_vector());
}
