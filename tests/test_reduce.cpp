// test_reduce.cpp — sum and mean over the whole tensor and along a dimension: values, gradients,
// errors, and the CUDA whole-tensor reductions against the CPU on a large tensor.
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

TEST_CASE("sums and means match hand values") {
  Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, Device::CPU);
  CHECK(sum(x).item() == 21.f);
  CHECK(mean(x).item() == doctest::Approx(3.5f));
  CHECK(sum(x, 0).to_vector() == std::vector<float>{5, 7, 9});
  CHECK(sum(x, 1).to_vector() == std::vector<float>{6, 15});
  CHECK(sum(x, -1, true).shape() == Shape{2, 1});
  CHECK(mean(x, 1).to_vector() == std::vector<float>{2, 5});
  CHECK(max_value(x).item() == 6.f);
  CHECK_THROWS_WITH_AS(sum(x, 2), doctest::Contains("sum: dimension 2 out of range for shape (2, 3)"), sg::Error);
}

TEST_CASE("a long sum is accurate (double accumulation on the CPU)") {
  Tensor x = Tensor::full({1 << 22}, 0.1f, Device::CPU);
  CHECK(sum(x).item() == doctest::Approx(0.1 * (1 << 22)).epsilon(1e-6));
}

TEST_CASE("gradients of sum and mean (finite differences)") {
  Tensor x = Tensor::uniform({2, 3, 4, 5}, -1.f, 1.f, 21, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return sum(in[0]); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return mean(in[0]); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], 1); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], 3, true); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], 0); }, {x});
}

TEST_CASE("CUDA whole-tensor reductions over many blocks match the CPU and are deterministic" *
          doctest::test_suite("gpu")) {
  // The registry (test_ops_registry.cpp) runs every reduction on CUDA at small sizes; this adds a
  // tensor of 45045 elements (many blocks of block partials) and the determinism of the sum.
  SG_REQUIRE_GPU();
  Tensor x = Tensor::uniform({3, 7, 33, 65}, -1.f, 1.f, 22, Device::CPU);
  Tensor xg = x.to(Device::CUDA);
  CHECK(sum(xg).item() == doctest::Approx(sum(x).item()).epsilon(1e-4));
  CHECK(max_value(xg).item() == max_value(x).item());
  for (int d = 0; d < 4; ++d) SG_CHECK_CLOSE(sum(xg, d).to_vector(), sum(x, d).to_vector(), 1e-4f, 1e-4f);
  CHECK(sum(xg).item() == sum(xg).item());  // deterministic: same tree every time
}
