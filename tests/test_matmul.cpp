// test_matmul.cpp — matmul: hand values, finite-difference gradients, shape errors (CUDA vs CPU:
// lines of the op registry, test_ops_registry.cpp).
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

TEST_CASE("matmul hand values") {
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, Device::CPU);
  Tensor b = Tensor::from_vector({3, 2}, {7, 8, 9, 10, 11, 12}, Device::CPU);
  Tensor c = matmul(a, b);
  CHECK(c.shape() == Shape{2, 2});
  CHECK(c.to_vector() == std::vector<float>{58, 64, 139, 154});
  // (1, 3) x (3, 1): a dot product; (3, 1) x (1, 2): an outer product.
  CHECK(matmul(Tensor::from_vector({1, 3}, {1, 2, 3}, Device::CPU),
               Tensor::from_vector({3, 1}, {4, 5, 6}, Device::CPU)).item() == 32.f);
  CHECK(matmul(Tensor::from_vector({3, 1}, {1, 2, 3}, Device::CPU), Tensor::from_vector({1, 2}, {1, -1}, Device::CPU))
            .to_vector() == std::vector<float>{1, -1, 2, -2, 3, -3});
}

TEST_CASE("matmul gradients: dA = dC B^T, dB = A^T dC") {
  Tensor a = Tensor::uniform({4, 3}, -1.f, 1.f, 1, Device::CPU);
  Tensor b = Tensor::uniform({3, 5}, -1.f, 1.f, 2, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {a, b});
  // Closed form with dC = ones: dA[i, k] = sum_j B[k, j], dB[k, j] = sum_i A[i, k].
  Tensor a2 = a.detach(), b2 = b.detach();
  a2.requires_grad_(true);
  b2.requires_grad_(true);
  sum(matmul(a2, b2)).backward();
  std::vector<float> av = a.to_vector(), bv = b.to_vector(), ga = a2.grad().to_vector(), gb = b2.grad().to_vector();
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < 3; ++k) {
      float s = 0;
      for (int j = 0; j < 5; ++j) s += bv[(size_t)(k * 5 + j)];
      CHECK(ga[(size_t)(i * 3 + k)] == doctest::Approx(s));
    }
  for (int k = 0; k < 3; ++k)
    for (int j = 0; j < 5; ++j) {
      float s = 0;
      for (int i = 0; i < 4; ++i) s += av[(size_t)(i * 3 + k)];
      CHECK(gb[(size_t)(k * 5 + j)] == doctest::Approx(s));
    }
}

TEST_CASE("matmul shape errors") {
  Tensor a = Tensor::zeros({2, 3}, Device::CPU);
  CHECK_THROWS_WITH_AS(matmul(a, Tensor::zeros({2, 3}, Device::CPU)),
                       doctest::Contains("matmul: inner dimensions differ: (2, 3) x (2, 3)"), sg::Error);
  CHECK_THROWS_WITH_AS(matmul(a, Tensor::zeros({3}, Device::CPU)),
                       doctest::Contains("matmul: expects two 2-D tensors, got (2, 3) and (3)"), sg::Error);
}

