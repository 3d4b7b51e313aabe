// test_focal.cpp — focal loss: closed form on hand values, clamping, gamma = 0 (cross-entropy),
// finite-difference gradient w.r.t. the logits (the CPU-vs-CUDA case is a line of the op registry,
// test_ops_registry.cpp).
#include "sgsf/sgsf_ops.h"
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

namespace {
double focal_ref(double l0, double l1, double y, double g) {
  double p = 1.0 / (1.0 + std::exp(l0 - l1));
  p = std::min(std::max(p, 1e-6), 1.0 - 1e-6);
  return y > 0.5 ? -std::pow(1 - p, g) * std::log(p) : -std::pow(p, g) * std::log(1 - p);
}
}  // namespace

TEST_CASE("focal loss matches the closed form on hand values") {
  // (N=1, 2, 1, 4): pixels (l0, l1, y)
  std::vector<float> l0 = {0.3f, -1.2f, 2.0f, 0.0f}, l1 = {1.1f, 0.4f, -0.5f, 0.0f}, y = {1, 0, 1, 0};
  std::vector<float> logits = l0;
  logits.insert(logits.end(), l1.begin(), l1.end());
  Tensor L = Tensor::from_vector({1, 2, 1, 4}, logits, Device::CPU), M = Tensor::from_vector({1, 1, 1, 4}, y, Device::CPU);
  for (float g : {2.f, 0.f, 1.f, 3.5f}) {
    double ref = 0;
    for (int i = 0; i < 4; ++i) ref += focal_ref(l0[i], l1[i], y[i], g) / 4.0;
    CHECK(sgsf::focal_loss(L, M, g).item() == doctest::Approx(ref).epsilon(1e-5));
  }
  // p = 0.5 at the last pixel, y = 0, gamma 2: 0.25 * log 2
  Tensor one = Tensor::from_vector({1, 2, 1, 1}, {0.f, 0.f}, Device::CPU);
  CHECK(sgsf::focal_loss(one, Tensor::zeros({1, 1, 1, 1}, Device::CPU)).item() ==
        doctest::Approx(0.25 * std::log(2.0)).epsilon(1e-6));
}

TEST_CASE("focal loss clamps p to [1e-6, 1 - 1e-6]: finite loss, zero gradient when clipped") {
  Tensor L = Tensor::from_vector({1, 2, 1, 2}, {40.f, -40.f, -40.f, 40.f}, Device::CPU);
  L.requires_grad_(true);
  Tensor M = Tensor::from_vector({1, 1, 1, 2}, {1.f, 1.f}, Device::CPU);  // pixel 0 badly wrong
  Tensor loss = sgsf::focal_loss(L, M);
  double p = 1e-6;
  CHECK(loss.item() == doctest::Approx((-std::pow(1 - p, 2) * std::log(p) + 0.0) / 2).epsilon(1e-3));
  loss.backward();
  for (float v : L.grad().to_vector()) CHECK(v == 0.f);
}

TEST_CASE("gradient of focal loss w.r.t. logits (finite differences)") {
  Tensor logits = Tensor::uniform({2, 2, 3, 5}, -2.f, 2.f, 41, Device::CPU);
  std::vector<float> m = Tensor::uniform({2, 1, 3, 5}, 0.f, 1.f, 42, Device::CPU).to_vector();
  for (float& v : m) v = v > 0.6f ? 1.f : 0.f;
  Tensor mask = Tensor::from_vector({2, 1, 3, 5}, m, Device::CPU);
  for (float g : {2.f, 0.f, 1.5f})
    gradcheck([mask, g](const std::vector<Tensor>& in) { return sgsf::focal_loss(in[0], mask, g) * 30.f; },
              {logits}, 1e-2f, 1e-3f, 2e-2f);
}

TEST_CASE("focal loss checks shapes") {
  Tensor L = Tensor::zeros({1, 3, 4, 4}, Device::CPU), M = Tensor::zeros({1, 1, 4, 4}, Device::CPU);
  CHECK_THROWS_WITH_AS(sgsf::focal_loss(L, M), doctest::Contains("focal_loss: logits must have 2 channel"), sg::Error);
}

