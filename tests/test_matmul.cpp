// test_matmul.cpp — matmul: hand values, finite-difference gradients, shape errors, CUDA vs CPU.
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

TEST_CASE("matmul on CUDA matches the CPU, forward and backward" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  const int64_t shapes[][3] = {{2, 3, 4}, {37, 64, 19}, {128, 1, 70}, {1, 200, 1}};
  uint64_t seed = 5;
  for (auto& s : shapes) {
    INFO("M ", s[0], " K ", s[1], " N ", s[2]);
    Tensor a = Tensor::uniform({s[0], s[1]}, -1.f, 1.f, seed++, Device::CPU);
    Tensor b = Tensor::uniform({s[1], s[2]}, -1.f, 1.f, seed++, Device::CPU);
    Tensor g = Tensor::uniform({s[0], s[2]}, -1.f, 1.f, seed++, Device::CPU);
    std::vector<float> out[2][3];
    for (int d = 0; d < 2; ++d) {
      Device dev = d ? Device::CUDA : Device::CPU;
      // detach: to() on the same device returns the input's own handle, which must stay unmarked
      Tensor ad = a.to(dev).detach(), bd = b.to(dev).detach();
      ad.requires_grad_(true);
      bd.requires_grad_(true);
      Tensor c = matmul(ad, bd);
      c.backward(g.to(dev));
      out[d][0] = c.to_vector();
      out[d][1] = ad.grad().to_vector();
      out[d][2] = bd.grad().to_vector();
    }
    for (int k = 0; k < 3; ++k) {
      INFO("0: C, 1: dA, 2: dB -> ", k);
      SG_CHECK_CLOSE(out[1][k], out[0][k], 1e-4f, 1e-4f);
    }
  }
}
