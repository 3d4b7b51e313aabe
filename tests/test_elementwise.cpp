// test_elementwise.cpp — broadcasting binary ops, unary ops and sum_to: values and gradients (the
// CPU-vs-CUDA cases are lines of the op registry, test_ops_registry.cpp).
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

TEST_CASE("add broadcasts a per-channel bias and a (N,1,H,W) mask") {
  Tensor x = Tensor::from_vector({1, 2, 1, 2}, {1, 2, 3, 4}, Device::CPU);
  Tensor b = Tensor::from_vector({1, 2, 1, 1}, {10, 20}, Device::CPU);
  CHECK(add(x, b).to_vector() == std::vector<float>{11, 12, 23, 24});
  Tensor m = Tensor::from_vector({1, 1, 1, 2}, {0, 1}, Device::CPU);
  CHECK(mul(x, m).to_vector() == std::vector<float>{0, 2, 0, 4});
  CHECK(sub(x, Tensor::scalar(1, Device::CPU)).to_vector() == std::vector<float>{0, 1, 2, 3});
  CHECK(div(x, b).to_vector() == std::vector<float>{0.1f, 0.2f, 0.15f, 0.2f});
}

TEST_CASE("incompatible shapes name the op and both shapes") {
  Tensor a = Tensor::zeros({2, 3}, Device::CPU), b = Tensor::zeros({4}, Device::CPU);
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("add: shapes (2, 3) and (4)"), sg::Error);
}

TEST_CASE("add_into adds in place, into the first tensor's own storage") {
  Tensor acc = Tensor::from_vector({2, 2}, {1, 2, 3, 4}, Device::CPU);
  const float* before = acc.data();
  add_into(acc, Tensor::from_vector({2, 2}, {10, 20, 30, 40}, Device::CPU));
  CHECK(acc.data() == before);
  CHECK(acc.to_vector() == std::vector<float>{11, 22, 33, 44});
  CHECK_THROWS_WITH_AS(add_into(acc, Tensor::zeros({4}, Device::CPU)), doctest::Contains("add_into"), sg::Error);
}

TEST_CASE("sum_to reduces broadcast dimensions") {
  Tensor x = Tensor::from_vector({2, 2, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8}, Device::CPU);
  CHECK(sum_to(x, {1, 2, 1, 1}).to_vector() == std::vector<float>{1 + 2 + 5 + 6, 3 + 4 + 7 + 8});
  CHECK(sum_to(x, {2}).to_vector() == std::vector<float>{1 + 3 + 5 + 7, 2 + 4 + 6 + 8});
}

TEST_CASE("unary ops match closed forms") {
  Tensor x = Tensor::from_vector({4}, {-1.f, 0.5f, 2.f, 3.f}, Device::CPU);
  std::vector<float> r = relu(x).to_vector(), s = sigmoid(x).to_vector(), e = exp(x).to_vector();
  for (int i = 0; i < 4; ++i) {
    float v = x.to_vector()[(size_t)i];
    CHECK(r[(size_t)i] == doctest::Approx(v > 0 ? v : 0));
    CHECK(s[(size_t)i] == doctest::Approx(1 / (1 + std::exp(-v))));
    CHECK(e[(size_t)i] == doctest::Approx(std::exp(v)));
  }
  CHECK(pow(Tensor::full({1}, 3.f, Device::CPU), 2.f).item() == doctest::Approx(9.f));
  CHECK(log(Tensor::full({1}, std::exp(1.5f), Device::CPU)).item() == doctest::Approx(1.5f));
}

TEST_CASE("gradients of broadcasting binary ops") {
  Tensor x = Tensor::uniform({2, 3, 2, 2}, 0.5f, 1.5f, 1, Device::CPU);
  Tensor c = Tensor::uniform({1, 3, 1, 1}, 0.5f, 1.5f, 2, Device::CPU);
  Tensor m = Tensor::uniform({2, 1, 2, 2}, 0.5f, 1.5f, 3, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, {x, c});
  gradcheck([](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }, {x, m});
  gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {x, c});
  gradcheck([](const std::vector<Tensor>& in) { return div(in[0], in[1]); }, {x, m});
}

TEST_CASE("gradients of unary ops") {
  Tensor x = Tensor::uniform({3, 4}, 0.2f, 2.0f, 4, Device::CPU);
  Tensor xs = Tensor::uniform({3, 4}, -1.f, 1.f, 5, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return relu(in[0]); }, {xs}, 1e-3f);
  gradcheck([](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, {xs});
  gradcheck([](const std::vector<Tensor>& in) { return exp(in[0]); }, {xs});
  gradcheck([](const std::vector<Tensor>& in) { return log(in[0]); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return pow(in[0], 3.f); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return sqrt(in[0]); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return 2.f - in[0] * 3.f + 1.f; }, {xs});
  gradcheck([](const std::vector<Tensor>& in) { return sum_to(in[0], {1, 4}); }, {xs});
}

