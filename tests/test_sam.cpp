// test_sam.cpp — SAM forging (sgsf/README.md, 'Forging anomalies'): masks only where S > 0, mu
// exactly a + b mean(S), the blend exactly per Eq. 2, empty masks and non-forged samples leave the
// image unchanged, the sum(S) = 0 fallback, per-sample draws (forge ratio, alpha range), and the
// CUDA twin against the CPU.
#include "sgsf/sgsf_ops.h"
#include "tests/test_util.h"

using namespace sg;

namespace {

struct Batch {
  Tensor A, S, B, noise;
};

// Saliency: a centred disc of value `level` (0 elsewhere) per sample; noise from perlin_noise.
Batch make_batch(int64_t n, int64_t h, int64_t w, float level, uint64_t seed) {
  Batch b;
  b.A = Tensor::uniform({n, 3, h, w}, 0.f, 1.f, seed, Device::CPU);
  b.B = Tensor::uniform({n, 3, h, w}, 0.f, 1.f, seed + 1, Device::CPU);
  std::vector<float> s((size_t)(n * h * w), 0.f);
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        double dy = i - h / 2.0, dx = j - w / 2.0;
        if (dy * dy + dx * dx < 0.1 * h * w) s[(size_t)((k * h + i) * w + j)] = level;
      }
  b.S = Tensor::from_vector({n, 1, h, w}, s, Device::CPU);
  b.noise = sgsf::perlin_noise(n, h, w, seed + 2, Device::CPU);
  return b;
}

// Amplify the noise so that masks are not rare (the test then sees many mask pixels).
Tensor amplified(const Tensor& noise, float k) { return noise * k; }

}  // namespace

TEST_CASE("forged masks: inside the saliency, strict threshold mu = a + b mean(S), exact blend") {
  const int64_t n = 12, h = 32, w = 40, hw = h * w;
  Batch b = make_batch(n, h, w, 1.f, 100);
  b.noise = amplified(b.noise, 2.5f);
  sgsf::SamParams p;
  p.forge_prob = 1.f;
  sgsf::Forged f = sgsf::forge_anomalies(b.A, b.S, b.B, b.noise, p, 7);
  std::vector<float> A = b.A.to_vector(), B = b.B.to_vector(), S = b.S.to_vector(), N = b.noise.to_vector();
  std::vector<float> I = f.image.to_vector(), M = f.mask.to_vector();
  int total = 0;
  for (int64_t k = 0; k < n; ++k) {
    CHECK(f.forged[(size_t)k] == 1);
    double ssum = 0;
    for (int64_t i = 0; i < hw; ++i) ssum += S[(size_t)(k * hw + i)];
    float mu = p.a + p.b * (float)(ssum / (double)hw);
    int count = 0;
    float alpha = -1;
    for (int64_t i = 0; i < hw; ++i) {
      size_t q = (size_t)(k * hw + i);
      float m = (N[q] * S[q] > mu) ? 1.f : 0.f;
      CHECK(M[q] == m);
      if (M[q] > 0) CHECK(S[q] > 0.f);
      count += m > 0;
      for (int c = 0; c < 3; ++c) {
        size_t r = (size_t)((k * 3 + c) * hw + i);
        if (m == 0.f) {
          CHECK(I[r] == A[r]);
        } else if (alpha < 0 && std::fabs(B[r] - A[r]) > 0.2f) {
          alpha = (I[r] - A[r]) / (B[r] - A[r]);  // recover alpha from one pixel
        }
      }
    }
    CHECK(f.mask_fraction()[(size_t)k] == doctest::Approx((float)count / hw));
    total += count;
    if (alpha >= 0) {
      CHECK(alpha >= 0.1f - 1e-4f);
      CHECK(alpha <= 1.f + 1e-4f);
      for (int64_t i = 0; i < hw; ++i)  // every masked pixel follows Eq. 2 with this alpha
        for (int c = 0; c < 3; ++c) {
          size_t q = (size_t)(k * hw + i), r = (size_t)((k * 3 + c) * hw + i);
          if (M[q] > 0) CHECK(I[r] == doctest::Approx(A[r] * 0.f + alpha * B[r] + (1 - alpha) * A[r]).epsilon(1e-4));
        }
    }
  }
  CHECK(total > 200);  // the test saw masks
}

TEST_CASE("the blend is exactly Eq. 2 for a known alpha") {
  const int64_t n = 4, h = 24, w = 28, hw = h * w;
  Batch b = make_batch(n, h, w, 1.f, 150);
  b.noise = amplified(b.noise, 3.f);
  sgsf::SamParams p;
  p.forge_prob = 1.f;
  p.alpha_lo = p.alpha_hi = 0.3f;
  sgsf::Forged f = sgsf::forge_anomalies(b.A, b.S, b.B, b.noise, p, 4);
  std::vector<float> A = b.A.to_vector(), B = b.B.to_vector(), I = f.image.to_vector(), M = f.mask.to_vector();
  const float alpha = 0.3f;
  int masked = 0;
  for (int64_t k = 0; k < n; ++k)
    for (int c = 0; c < 3; ++c)
      for (int64_t i = 0; i < hw; ++i) {
        float m = M[(size_t)(k * hw + i)];
        size_t r = (size_t)((k * 3 + c) * hw + i);
        float expect = A[r] * (1.f - m) + alpha * B[r] * m + (1.f - alpha) * A[r] * m;
        CHECK(I[r] == doctest::Approx(expect).epsilon(1e-6));
        masked += m > 0;
      }
  CHECK(masked > 50);
}

TEST_CASE("mu uses mean(S): a soft saliency of level 0.5 raises nothing it should not") {
  // S = 0.5 on a disc: mean(S) = 0.5 * disc area; threshold b = 0 vs b = 1 gives different masks.
  Batch b = make_batch(4, 24, 24, 0.5f, 200);
  b.noise = amplified(b.noise, 4.f);
  sgsf::SamParams p;
  p.forge_prob = 1.f;
  p.b = 0.f;
  float f0 = 0, f1 = 0;
  for (float v : sgsf::forge_anomalies(b.A, b.S, b.B, b.noise, p, 1).mask_fraction()) f0 += v;
  p.b = 1.f;
  for (float v : sgsf::forge_anomalies(b.A, b.S, b.B, b.noise, p, 1).mask_fraction()) f1 += v;
  CHECK(f1 < f0);
}

TEST_CASE("empty masks and non-forged samples leave the image unchanged") {
  Batch b = make_batch(6, 16, 16, 1.f, 300);
  sgsf::SamParams p;
  p.forge_prob = 0.f;  // nothing forged
  b.noise = amplified(b.noise, 5.f);
  sgsf::Forged f = sgsf::forge_anomalies(b.A, b.S, b.B, b.noise, p, 2);
  CHECK(f.image.to_vector() == b.A.to_vector());
  for (float v : f.mask.to_vector()) CHECK(v == 0.f);
  for (int v : f.forged) CHECK(v == 0);
  p.forge_prob = 1.f;  // forged, but the noise never exceeds mu: empty masks, normal samples
  f = sgsf::forge_anomalies(b.A, b.S, b.B, Tensor::full(b.S.shape(), 0.39f, Device::CPU), p, 2);
  CHECK(f.image.to_vector() == b.A.to_vector());
  for (float v : f.mask_fraction()) CHECK(v == 0.f);
}

TEST_CASE("sum(S) == 0 falls back to S = 1 everywhere and mu = a + b") {
  const int64_t n = 3, h = 20, w = 20;
  Batch b = make_batch(n, h, w, 1.f, 400);
  Tensor S0 = Tensor::zeros({n, 1, h, w}, Device::CPU);
  b.noise = amplified(b.noise, 3.f);
  sgsf::SamParams p;
  p.forge_prob = 1.f;
  sgsf::Forged f = sgsf::forge_anomalies(b.A, S0, b.B, b.noise, p, 3);
  std::vector<float> N = b.noise.to_vector(), M = f.mask.to_vector();
  int count = 0;
  for (size_t i = 0; i < N.size(); ++i) {
    CHECK(M[i] == (N[i] > p.a + p.b ? 1.f : 0.f));
    count += M[i] > 0;
  }
  CHECK(count > 0);
}

TEST_CASE("per-sample draws: forge ratio ~ 0.75, deterministic per seed, shapes checked") {
  Batch b = make_batch(400, 4, 4, 1.f, 500);
  sgsf::SamParams p;
  sgsf::Forged f = sgsf::forge_anomalies(b.A, b.S, b.B, b.noise, p, 9);
  int forged = 0;
  for (int v : f.forged) forged += v;
  CHECK(forged > 0.68 * 400);
  CHECK(forged < 0.82 * 400);
  CHECK(sgsf::forge_anomalies(b.A, b.S, b.B, b.noise, p, 9).forged == f.forged);
  CHECK_THROWS_WITH_AS(sgsf::forge_anomalies(b.A, b.A, b.B, b.noise, p, 9),
                       doctest::Contains("forge_anomalies: S must have 1 channel"), sg::Error);
}

TEST_CASE("SAM CUDA kernels match the CPU twins" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  Batch b = make_batch(16, 67, 75, 1.f, 600);
  b.noise = amplified(b.noise, 2.5f);
  std::vector<float> s = b.S.to_vector();
  for (size_t i = 0; i < s.size() / 16; ++i) s[i] = 0.f;  // sample 0: the sum(S) = 0 fallback
  Tensor S = Tensor::from_vector(b.S.shape(), s, Device::CPU);
  sgsf::SamParams p;
  sgsf::Forged c = sgsf::forge_anomalies(b.A, S, b.B, b.noise, p, 11);
  sgsf::Forged g = sgsf::forge_anomalies(b.A.to(Device::CUDA), S.to(Device::CUDA), b.B.to(Device::CUDA),
                                         b.noise.to(Device::CUDA), p, 11);
  CHECK(g.forged == c.forged);
  CHECK(g.mask.to_vector() == c.mask.to_vector());
  CHECK(g.mask_fraction() == c.mask_fraction());
  SG_CHECK_CLOSE(g.image.to_vector(), c.image.to_vector(), 1e-6f, 1e-6f);
}
