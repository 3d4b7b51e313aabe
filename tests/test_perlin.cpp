// test_perlin.cpp — Perlin noise: determinism, the unrotated field (zero at lattice points, crop of
// the next multiple), statistics over many seeds (bound, mean, every resolution and angles drawn,
// DRAEM's mask area at threshold 0.5), and the CUDA twin against the CPU.
#include <algorithm>
#include <set>

#include "kernels/perlin.h"
#include "sgsf/sgsf_ops.h"
#include "tests/test_util.h"

using namespace sg;

namespace {
std::vector<float> gradient_table(uint64_t seed, int64_t n) {
  std::vector<float> g((size_t)(n * 2 * kernels::kPerlinLattice * kernels::kPerlinLattice));
  kernels::perlin_gradients_cpu(seed, n, g.data());
  return g;
}
}  // namespace

TEST_CASE("perlin_noise is deterministic per seed and differs between seeds") {
  Tensor a = sgsf::perlin_noise(3, 40, 50, 7, Device::CPU), b = sgsf::perlin_noise(3, 40, 50, 7, Device::CPU);
  Tensor c = sgsf::perlin_noise(3, 40, 50, 8, Device::CPU);
  CHECK(a.shape() == Shape{3, 1, 40, 50});
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  CHECK_THROWS_AS(sgsf::perlin_noise(0, 4, 4, 1, Device::CPU), sg::Error);
}

TEST_CASE("unrotated field: zero on lattice points, unit gradients, crop of the next multiple") {
  std::vector<float> g = gradient_table(3, 1);
  for (size_t k = 0; k < g.size(); k += 2) CHECK(g[k] * g[k] + g[k + 1] * g[k + 1] == doctest::Approx(1.f).epsilon(1e-5));
  kernels::PerlinSample p{2, 3, 1.f, 0.f, 0.f};  // rx = 4 cells along H, ry = 8 along W
  // 37 x 45 is computed as 40 x 48 (cells of 10 x 6 px) and cropped.
  for (int64_t i = 0; i < 37; ++i)
    for (int64_t j = 0; j < 45; ++j) {
      float v = kernels::perlin_at(p, g.data(), 37, 45, i, j);
      CHECK(v == kernels::perlin_at(p, g.data(), 40, 48, i, j));
      if (i % 10 == 0 && j % 6 == 0) CHECK(v == 0.f);
    }
  // angle 0: the rotation is the identity
  std::vector<float> field(37 * 45);
  kernels::perlin_field_cpu(&p, g.data(), 1, 37, 45, field.data());
  std::vector<float> rot(field.size());
  kernels::perlin_rotate_cpu(&p, field.data(), 1, 37, 45, rot.data());
  SG_CHECK_CLOSE(rot, field, 1e-6f, 1e-5f);
  CHECK(field[(size_t)(3 * 45 + 4)] == kernels::perlin_at(p, g.data(), 37, 45, 3, 4));
  // Near a lattice point the field is the dot product with its gradient (fade ~ 0): n ~ sqrt2 (u g0 + v g1).
  float v = kernels::perlin_at(p, g.data(), 400, 480, 1, 1);  // u = 1/100, v = 1/60
  CHECK(v == doctest::Approx(1.41421356f * (0.01f * g[0] + (1.f / 60) * g[1])).epsilon(1e-3));
}

TEST_CASE("perlin statistics over many seeds: bound, mean, resolutions, angles, DRAEM mask area") {
  const int64_t n = 240, h = 256, w = 256;
  Tensor noise = sgsf::perlin_noise(n, h, w, 2024, Device::CPU);
  std::vector<float> v = noise.to_vector();
  double sum = 0, area = 0;
  float lo = 0, hi = 0;
  int nonempty = 0;
  for (int64_t s = 0; s < n; ++s) {
    int64_t count = 0;
    for (int64_t i = 0; i < h * w; ++i) {
      float x = v[(size_t)(s * h * w + i)];
      sum += x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      count += x > 0.5f;
    }
    area += (double)count / (h * w);
    nonempty += count > 0;
  }
  // One-octave 2-D Perlin with unit gradients is bounded by sqrt(2)/2; times sqrt(2): |n| <= 1.
  CHECK(hi <= 1.0f);
  CHECK(lo >= -1.0f);
  CHECK(hi > 0.6f);
  CHECK(lo < -0.6f);
  CHECK(std::fabs(sum / (double)v.size()) < 0.02);
  // DRAEM's threshold 0.5: sgsf/README.md, 'Forging anomalies', measured 5.4 % of the image,
  // non-empty 95 % of the time.
  MESSAGE("mask area at 0.5: ", 100 * area / n, " %, non-empty ", 100.0 * nonempty / n, " %");
  CHECK(area / n > 0.035);
  CHECK(area / n < 0.075);
  CHECK(nonempty >= 0.85 * n);
  std::set<int> kx, ky;
  float amin = 0, amax = 0;
  for (int64_t s = 0; s < 600; ++s) {
    kernels::PerlinSample p = kernels::perlin_sample_params(2024, s);
    kx.insert(p.kx);
    ky.insert(p.ky);
    amin = std::min(amin, p.angle_deg);
    amax = std::max(amax, p.angle_deg);
    CHECK(p.cos_a * p.cos_a + p.sin_a * p.sin_a == doctest::Approx(1.f).epsilon(1e-5));
  }
  CHECK(kx == std::set<int>{0, 1, 2, 3, 4, 5});
  CHECK(ky == std::set<int>{0, 1, 2, 3, 4, 5});
  CHECK(amin >= -90.f);
  CHECK(amax <= 90.f);
  CHECK(amin < -80.f);
  CHECK(amax > 80.f);
}

TEST_CASE("perlin CUDA kernels match the CPU twin" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  for (uint64_t seed : {1ull, 99ull, 123456789ull}) {
    Tensor c = sgsf::perlin_noise(8, 67, 129, seed, Device::CPU);
    Tensor g = sgsf::perlin_noise(8, 67, 129, seed, Device::CUDA);
    SG_CHECK_CLOSE(g.to_vector(), c.to_vector(), 2e-5f, 1e-4f);
  }
  Tensor c = sgsf::perlin_noise(16, 256, 256, 5, Device::CPU);
  SG_CHECK_CLOSE(sgsf::perlin_noise(16, 256, 256, 5, Device::CUDA).to_vector(), c.to_vector(), 2e-5f, 1e-4f);
}
