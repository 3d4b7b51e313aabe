// test_softmax_mse.cpp — softmax over a dimension and mse_loss: values against naive double loops,
// numerical stability, finite-difference gradients, error messages (CUDA vs CPU: lines of the op
// registry, test_ops_registry.cpp).
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

namespace {
// Softmax over dim d of a tensor viewed as (outer, len, inner), in double, without max-subtraction
// (inputs kept small so that this direct form is accurate).
std::vector<float> naive_softmax(const Tensor& x, int64_t d) {
  const Shape& s = x.shape();
  int64_t outer = 1, inner = 1, len = s[(size_t)d];
  for (int64_t i = 0; i < d; ++i) outer *= s[(size_t)i];
  for (size_t i = (size_t)d + 1; i < s.size(); ++i) inner *= s[i];
  std::vector<float> xv = x.to_vector(), y(xv.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double z = 0;
      for (int64_t k = 0; k < len; ++k) z += std::exp((double)xv[(size_t)((o * len + k) * inner + i)]);
      for (int64_t k = 0; k < len; ++k) {
        size_t j = (size_t)((o * len + k) * inner + i);
        y[j] = (float)(std::exp((double)xv[j]) / z);
      }
    }
  return y;
}
}  // namespace

TEST_CASE("softmax: hand-computed two-channel case") {
  // channels (0, ln 3) at one pixel -> (1/4, 3/4); equal logits -> (1/2, 1/2).
  Tensor x = Tensor::from_vector({1, 2, 1, 2}, {0.f, 5.f, std::log(3.f), 5.f}, Device::CPU);
  SG_CHECK_CLOSE(softmax(x).to_vector(), (std::vector<float>{0.25f, 0.5f, 0.75f, 0.5f}), 1e-6f, 1e-6f);
}

TEST_CASE("softmax matches a naive loop over every dimension") {
  Tensor x = Tensor::normal({2, 3, 4, 5}, 0.f, 2.f, 1, Device::CPU);
  for (int64_t d = 0; d < 4; ++d) {
    INFO("dim ", d);
    SG_CHECK_CLOSE(softmax(x, d).to_vector(), naive_softmax(x, d), 1e-6f, 1e-5f);
  }
  SG_CHECK_CLOSE(softmax(x, -1).to_vector(), naive_softmax(x, 3), 1e-6f, 1e-5f);
}

TEST_CASE("softmax is numerically stable for huge logits") {
  Tensor x = Tensor::from_vector({1, 3, 1, 1}, {1000.f, 1000.f, -1000.f}, Device::CPU);
  std::vector<float> y = softmax(x).to_vector();
  CHECK(y[0] == doctest::Approx(0.5f));
  CHECK(y[1] == doctest::Approx(0.5f));
  CHECK(y[2] == 0.f);
  Tensor shifted = softmax(add_scalar(Tensor::normal({2, 4, 3, 3}, 0, 1, 2, Device::CPU), 500.f));
  Tensor plain = softmax(Tensor::normal({2, 4, 3, 3}, 0, 1, 2, Device::CPU));
  SG_CHECK_CLOSE(shifted.to_vector(), plain.to_vector(), 1e-4f, 1e-3f);
}

TEST_CASE("softmax gradient (finite differences)") {
  Tensor x = Tensor::normal({2, 3, 2, 3}, 0.f, 1.f, 3, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0], 1); }, {x}, 1e-2f, 1e-3f);
  gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0], -1); }, {x}, 1e-2f, 1e-3f);
  gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0], 0); }, {x}, 1e-2f, 1e-3f);
}

TEST_CASE("softmax errors name the op") {
  CHECK_THROWS_WITH_AS(softmax(Tensor::zeros({2, 3}, Device::CPU), 2),
                       doctest::Contains("softmax: dimension 2 out of range for shape (2, 3)"), sg::Error);
}

TEST_CASE("mse_loss: value and closed-form gradients") {
  Tensor p = Tensor::from_vector({2, 2}, {1, 2, 3, 4}, Device::CPU);
  Tensor t = Tensor::from_vector({2, 2}, {0, 2, 5, 3}, Device::CPU);
  p.requires_grad_(true);
  t.requires_grad_(true);
  Tensor l = mse_loss(p, t);
  CHECK(l.shape() == Shape{});
  CHECK(l.item() == doctest::Approx((1.0 + 0 + 4 + 1) / 4));
  l.backward();
  // 2 (p - t) / n with n = 4
  SG_CHECK_CLOSE(p.grad().to_vector(), (std::vector<float>{0.5f, 0.f, -1.f, 0.5f}), 1e-7f, 0.f);
  SG_CHECK_CLOSE(t.grad().to_vector(), (std::vector<float>{-0.5f, 0.f, 1.f, -0.5f}), 1e-7f, 0.f);
}

TEST_CASE("mse_loss matches a naive loop and its gradients match finite differences") {
  Tensor p = Tensor::normal({2, 3, 4, 5}, 0.f, 1.f, 4, Device::CPU);
  Tensor t = Tensor::uniform({2, 3, 4, 5}, 0.f, 1.f, 5, Device::CPU);
  std::vector<float> pv = p.to_vector(), tv = t.to_vector();
  double acc = 0;
  for (size_t i = 0; i < pv.size(); ++i) acc += ((double)pv[i] - tv[i]) * ((double)pv[i] - tv[i]);
  CHECK(mse_loss(p, t).item() == doctest::Approx(acc / (double)pv.size()).epsilon(1e-6));
  Tensor ps = Tensor::normal({2, 3, 2}, 0.f, 1.f, 6, Device::CPU), ts = Tensor::normal({2, 3, 2}, 0.f, 1.f, 7, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); }, {ps, ts});
  // inside a graph: the output gradient scales the loss gradient
  gradcheck([](const std::vector<Tensor>& in) { return mse_loss(in[0] * 3.f, in[1]) * 2.f; }, {ps, ts});
}

TEST_CASE("mse_loss gives no gradient to a target that does not need one") {
  Tensor p = Tensor::normal({3}, 0.f, 1.f, 8, Device::CPU), t = Tensor::zeros({3}, Device::CPU);
  p.requires_grad_(true);
  mse_loss(p, t).backward();
  CHECK(p.grad().defined());
  CHECK_FALSE(t.grad().defined());
}

TEST_CASE("mse_loss errors name the op and both shapes") {
  CHECK_THROWS_WITH_AS(mse_loss(Tensor::zeros({2, 3}, Device::CPU), Tensor::zeros({3, 2}, Device::CPU)),
                       doctest::Contains("mse_loss"), sg::Error);
  CHECK_THROWS_WITH_AS(mse_loss(Tensor::zeros({2, 3}, Device::CPU), Tensor::zeros({3, 2}, Device::CPU)),
                       doctest::Contains("(3, 2)"), sg::Error);
}

