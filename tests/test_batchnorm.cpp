// test_batchnorm.cpp — batch_norm2d: closed-form mean/var, running statistics, eval mode,
// finite-difference gradients (training and eval), shape errors, CUDA vs CPU on large channels.
#include <cmath>

#include "kernels/batchnorm.h"
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

namespace {
// Per-channel mean and biased variance of (N, C, H, W) in double.
void channel_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  std::vector<float> v = x.to_vector();
  mean.assign((size_t)C, 0.0);
  var.assign((size_t)C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) mean[(size_t)c] += v[(size_t)((n * C + c) * HW + i)];
    mean[(size_t)c] /= (double)(N * HW);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        double d = v[(size_t)((n * C + c) * HW + i)] - mean[(size_t)c];
        var[(size_t)c] += d * d;
      }
    var[(size_t)c] /= (double)(N * HW);
  }
}
}  // namespace

TEST_CASE("batch_norm2d training normalises with batch statistics and updates running ones") {
  const int64_t N = 3, C = 4, H = 5, W = 2, M = N * H * W;
  Tensor x = Tensor::uniform({N, C, H, W}, -2.f, 3.f, 1, Device::CPU);
  Tensor gamma = Tensor::uniform({C}, 0.5f, 1.5f, 2, Device::CPU);
  Tensor beta = Tensor::uniform({C}, -1.f, 1.f, 3, Device::CPU);
  Tensor rm = Tensor::from_vector({C}, {0.1f, 0.2f, 0.3f, 0.4f}, Device::CPU);
  Tensor rv = Tensor::from_vector({C}, {1.f, 2.f, 3.f, 4.f}, Device::CPU);
  const float momentum = 0.25f, eps = 1e-3f;
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, true, momentum, eps);
  std::vector<double> mean, var;
  channel_stats(x, mean, var);
  std::vector<float> xv = x.to_vector(), yv = y.to_vector(), gv = gamma.to_vector(), bv = beta.to_vector();
  std::vector<float> ref(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    size_t c = (i / (size_t)(H * W)) % (size_t)C;
    ref[i] = (float)(gv[c] * (xv[i] - mean[c]) / std::sqrt(var[c] + eps) + bv[c]);
  }
  SG_CHECK_CLOSE(yv, ref, 1e-5f, 1e-5f);
  // Running statistics: blend with the unbiased variance.
  std::vector<float> rm0 = {0.1f, 0.2f, 0.3f, 0.4f}, rv0 = {1.f, 2.f, 3.f, 4.f}, rm_ref(C), rv_ref(C);
  for (size_t c = 0; c < (size_t)C; ++c) {
    rm_ref[c] = (float)((1 - momentum) * rm0[c] + momentum * mean[c]);
    rv_ref[c] = (float)((1 - momentum) * rv0[c] + momentum * var[c] * M / (M - 1));
  }
  SG_CHECK_CLOSE(rm.to_vector(), rm_ref, 1e-6f, 1e-5f);
  SG_CHECK_CLOSE(rv.to_vector(), rv_ref, 1e-6f, 1e-5f);
  // The output per channel has mean beta and (biased) std ~ gamma.
  std::vector<double> ym, yvar;
  channel_stats(y, ym, yvar);
  for (size_t c = 0; c < (size_t)C; ++c) {
    CHECK(ym[c] == doctest::Approx(bv[c]).epsilon(1e-4));
    CHECK(std::sqrt(yvar[c]) == doctest::Approx(gv[c] * std::sqrt(var[c] / (var[c] + eps))).epsilon(1e-4));
  }
}

TEST_CASE("batch_norm2d eval uses the running statistics and leaves them alone") {
  Tensor x = Tensor::uniform({2, 2, 3, 3}, -1.f, 1.f, 4, Device::CPU);
  Tensor gamma = Tensor::from_vector({2}, {2.f, 0.5f}, Device::CPU);
  Tensor beta = Tensor::from_vector({2}, {1.f, -1.f}, Device::CPU);
  Tensor rm = Tensor::from_vector({2}, {0.5f, -0.25f}, Device::CPU);
  Tensor rv = Tensor::from_vector({2}, {4.f, 0.25f}, Device::CPU);
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, false, 0.1f, 0.f);
  std::vector<float> xv = x.to_vector(), yv = y.to_vector(), ref(xv.size());
  const float m[2] = {0.5f, -0.25f}, sd[2] = {2.f, 0.5f}, g[2] = {2.f, 0.5f}, b[2] = {1.f, -1.f};
  for (size_t i = 0; i < xv.size(); ++i) {
    size_t c = (i / 9) % 2;
    ref[i] = g[c] * (xv[i] - m[c]) / sd[c] + b[c];
  }
  SG_CHECK_CLOSE(yv, ref, 1e-6f, 1e-6f);
  CHECK(rm.to_vector() == std::vector<float>{0.5f, -0.25f});
  CHECK(rv.to_vector() == std::vector<float>{4.f, 0.25f});
}

TEST_CASE("batch_norm2d gradients (finite differences)") {
  Tensor x = Tensor::uniform({3, 3, 4, 3}, -1.f, 2.f, 5, Device::CPU);
  Tensor gamma = Tensor::uniform({3}, 0.5f, 1.5f, 6, Device::CPU);
  Tensor beta = Tensor::uniform({3}, -1.f, 1.f, 7, Device::CPU);
  Tensor rm = Tensor::zeros({3}, Device::CPU), rv = Tensor::ones({3}, Device::CPU);
  SUBCASE("training: x, gamma, beta") {
    gradcheck([&](const std::vector<Tensor>& in) { return batch_norm2d(in[0], in[1], in[2], rm, rv, true); },
              {x, gamma, beta}, 1e-2f, 2e-3f, 2e-2f);
  }
  SUBCASE("eval: x, gamma, beta") {
    Tensor rm2 = Tensor::from_vector({3}, {0.2f, -0.1f, 0.3f}, Device::CPU);
    Tensor rv2 = Tensor::from_vector({3}, {0.5f, 1.5f, 2.f}, Device::CPU);
    gradcheck([&](const std::vector<Tensor>& in) { return batch_norm2d(in[0], in[1], in[2], rm2, rv2, false); },
              {x, gamma, beta});
  }
  SUBCASE("training, one image: statistics over H, W only") {
    Tensor x1 = Tensor::uniform({1, 2, 3, 5}, -1.f, 1.f, 8, Device::CPU);
    Tensor g1 = Tensor::uniform({2}, 0.5f, 1.5f, 9, Device::CPU), b1 = Tensor::zeros({2}, Device::CPU);
    Tensor rm1 = Tensor::zeros({2}, Device::CPU), rv1 = Tensor::ones({2}, Device::CPU);
    gradcheck([&](const std::vector<Tensor>& in) { return batch_norm2d(in[0], in[1], in[2], rm1, rv1, true); },
              {x1, g1, b1});
  }
}

TEST_CASE("batch_norm2d shape errors") {
  Tensor x = Tensor::zeros({2, 3, 4, 4}, Device::CPU);
  Tensor c3 = Tensor::ones({3}, Device::CPU), c2 = Tensor::ones({2}, Device::CPU);
  Tensor rm = Tensor::zeros({3}, Device::CPU), rv = Tensor::ones({3}, Device::CPU);
  CHECK_THROWS_WITH_AS(batch_norm2d(Tensor::zeros({2, 3, 4}, Device::CPU), c3, c3, rm, rv, true),
                       doctest::Contains("batch_norm2d: expects a 4-D input (N, C, H, W), got (2, 3, 4)"), sg::Error);
  CHECK_THROWS_WITH_AS(batch_norm2d(x, c2, c3, rm, rv, true),
                       doctest::Contains("batch_norm2d: gamma must have shape (3) for input (2, 3, 4, 4), got (2)"),
                       sg::Error);
  Tensor rv2 = Tensor::ones({2}, Device::CPU);
  CHECK_THROWS_WITH_AS(batch_norm2d(x, c3, c3, rm, rv2, false), doctest::Contains("batch_norm2d: running_var"),
                       sg::Error);
  Tensor one = Tensor::zeros({1, 3, 1, 1}, Device::CPU);
  CHECK_THROWS_WITH_AS(batch_norm2d(one, c3, c3, rm, rv, true),
                       doctest::Contains("batch_norm2d: training needs more than one value per channel"), sg::Error);
}

// The registry (test_ops_registry.cpp) runs batch_norm2d on CUDA at a small size; this case adds
// channels of 8192 and 300 elements, and 3 channels of 3 x 4096 + 7 elements, which the GPU
// reduces in parts (bn_parts: 3 parts of uneven length, added in order).
TEST_CASE("batch_norm2d on CUDA matches the CPU on large channels, forward, running stats and backward" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  const int64_t shapes[][4] = {{8, 16, 32, 32}, {1, 4, 1, 300}, {1, 3, 1, 3 * 4096 + 7}, {40, 3, 1, 7}};
  CHECK(kernels::bn_parts({1, 3, 3 * 4096 + 7}) == 3);
  CHECK(kernels::bn_parts({8, 16, 1024}) == 2);
  for (auto& s : shapes) {
    for (int mode = 0; mode < 4; ++mode) {
      const int training = mode & 1;
      const bool relu = mode >= 2;  // with the ReLU and a folded shift
      INFO("shape ", shape_str({s[0], s[1], s[2], s[3]}), std::string(training ? " training" : " eval"),
           std::string(relu ? ", relu and shift" : ""));
      Tensor shift = Tensor::uniform({s[1]}, -1.f, 1.f, 17, Device::CPU);
      Tensor x = Tensor::uniform({s[0], s[1], s[2], s[3]}, -1.f, 3.f, 11, Device::CPU);
      Tensor gamma = Tensor::uniform({s[1]}, 0.5f, 1.5f, 12, Device::CPU);
      Tensor beta = Tensor::uniform({s[1]}, -1.f, 1.f, 13, Device::CPU);
      Tensor rm0 = Tensor::uniform({s[1]}, -0.5f, 0.5f, 14, Device::CPU);
      Tensor rv0 = Tensor::uniform({s[1]}, 0.5f, 2.f, 15, Device::CPU);
      Tensor gy = Tensor::uniform(x.shape(), -1.f, 1.f, 16, Device::CPU);
      std::vector<float> out[2][6];
      for (int d = 0; d < 2; ++d) {
        Device dev = d ? Device::CUDA : Device::CPU;
        // detach: to() on the same device returns the input's own handle, which must stay unmarked
        Tensor xd = x.to(dev).detach(), gd = gamma.to(dev).detach(), bd = beta.to(dev).detach();
        Tensor rm = rm0.clone().to(dev), rv = rv0.clone().to(dev);
        xd.requires_grad_(true);
        gd.requires_grad_(true);
        bd.requires_grad_(true);
        Tensor y = relu ? batch_norm2d(xd, gd, bd, rm, rv, training != 0, 0.1f, 1e-5f, true, shift.to(dev))
                        : batch_norm2d(xd, gd, bd, rm, rv, training != 0);
        y.backward(gy.to(dev));
        out[d][0] = y.to_vector();
        out[d][1] = rm.to_vector();
        out[d][2] = rv.to_vector();
        out[d][3] = xd.grad().to_vector();
        out[d][4] = gd.grad().to_vector();
        out[d][5] = bd.grad().to_vector();
      }
      for (int k = 0; k < 6; ++k) {
        INFO("0: y, 1: running mean, 2: running var, 3: gx, 4: ggamma, 5: gbeta -> ", k);
        SG_CHECK_CLOSE(out[1][k], out[0][k], 2e-4f, 2e-4f);
      }
    }
  }
}

TEST_CASE("a folded shift is batch_norm2d of x + shift: outputs, running statistics and gradients") {
  // The shift (a convolution's bias) moves the batch mean and nothing else in training; in eval it
  // meets the running mean. Compared with the shift added to x by an ordinary op.
  const Shape s = {2, 3, 5, 4};
  Tensor x0 = Tensor::uniform(s, -1.f, 2.f, 31, Device::CPU);
  Tensor b0 = Tensor::uniform({3}, -2.f, 2.f, 32, Device::CPU);
  Tensor gamma = Tensor::uniform({3}, 0.5f, 1.5f, 33, Device::CPU), beta = Tensor::uniform({3}, -1.f, 1.f, 34, Device::CPU);
  Tensor gy = Tensor::uniform(s, -1.f, 1.f, 35, Device::CPU);
  for (int training = 0; training < 2; ++training) {
    INFO(std::string(training ? "training" : "eval"));
    std::vector<float> out[2][4];
    for (int folded = 0; folded < 2; ++folded) {
      Tensor x = x0.clone().detach(), b = b0.clone().detach();
      x.requires_grad_(true);
      b.requires_grad_(true);
      Tensor rm = Tensor::uniform({3}, -0.5f, 0.5f, 36, Device::CPU), rv = Tensor::uniform({3}, 0.5f, 2.f, 37, Device::CPU);
      Tensor y = folded ? batch_norm2d(x, gamma, beta, rm, rv, training != 0, 0.1f, 1e-5f, true, b)
                        : batch_norm2d(x + b.reshape({1, 3, 1, 1}), gamma, beta, rm, rv, training != 0, 0.1f, 1e-5f, true);
      y.backward(gy);
      out[folded][0] = y.to_vector();
      out[folded][1] = rm.to_vector();
      out[folded][2] = x.grad().to_vector();
      out[folded][3] = b.grad().to_vector();
    }
    for (int k = 0; k < 3; ++k) {
      INFO("0: y, 1: running mean, 2: gx -> ", k);
      SG_CHECK_CLOSE(out[1][k], out[0][k], 1e-5f, 1e-5f);
    }
    // The shift's gradient: exactly 0 in training; in eval the sum of the input gradients.
    if (training) {
      for (float v : out[1][3]) CHECK(v == 0.f);
      for (float v : out[0][3]) CHECK(std::fabs(v) < 1e-4f);  // the unfolded one: round-off
    } else {
      SG_CHECK_CLOSE(out[1][3], out[0][3], 1e-5f, 1e-5f);
    }
  }
}
