// test_pool.cpp — max_pool2d, avg_pool2d (box filter) and upsample_bilinear2x: values against
// hand-computed cases and naive loops written here independently, finite-difference gradients
// (non-square images), error messages, speed of the 21x21 CPU box filter, the CPU loops against the
// per-element functions the CUDA kernels run, and CUDA cases the op registry does not cover.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/rng.h"
#include "kernels/pool.h"
#include "kernels/resize.h"
#include "tests/device_compare.h"

using namespace sg;
using sg::test::gradcheck;

namespace {

// Distinct values spaced 0.1 apart in a seeded random order: max pooling's argmax is then unique
// and stable under finite-difference steps.
Tensor distinct_values(const Shape& s, uint64_t seed) {
  std::vector<float> v((size_t)numel_of(s));
  std::vector<size_t> perm(v.size());
  std::iota(perm.begin(), perm.end(), 0);
  Rng rng(seed);
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.next_u64() % i]);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.1f * (float)perm[i] - 1.f;
  return Tensor::from_vector(s, v, Device::CPU);
}

// Direct k x k zero-padded window sum / (k*k), in double.
std::vector<float> naive_avg_pool(const Tensor& x, int k) {
  const Shape& s = x.shape();
  int64_t P = s[0] * s[1], H = s[2], W = s[3], r = k / 2;
  std::vector<float> xv = x.to_vector(), out(xv.size());
  for (int64_t p = 0; p < P; ++p)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) {
        double acc = 0;
        for (int64_t dh = -r; dh <= r; ++dh)
          for (int64_t dw = -r; dw <= r; ++dw) {
            int64_t hh = h + dh, ww = w + dw;
            if (hh >= 0 && hh < H && ww >= 0 && ww < W) acc += xv[(size_t)((p * H + hh) * W + ww)];
          }
        out[(size_t)((p * H + h) * W + w)] = (float)(acc / (k * k));
      }
  return out;
}

// Bilinear 2x upsampling, align_corners = true, straight from the formula, in double.
std::vector<float> naive_upsample(const Tensor& x) {
  const Shape& s = x.shape();
  int64_t P = s[0] * s[1], H = s[2], W = s[3];
  std::vector<float> xv = x.to_vector(), out((size_t)(P * 4 * H * W));
  auto at = [&](int64_t p, int64_t h, int64_t w) { return (double)xv[(size_t)((p * H + h) * W + w)]; };
  for (int64_t p = 0; p < P; ++p)
    for (int64_t oh = 0; oh < 2 * H; ++oh)
      for (int64_t ow = 0; ow < 2 * W; ++ow) {
        double sh = H > 1 ? oh * (H - 1.0) / (2.0 * H - 1.0) : 0.0;
        double sw = W > 1 ? ow * (W - 1.0) / (2.0 * W - 1.0) : 0.0;
        int64_t h0 = (int64_t)std::floor(sh), w0 = (int64_t)std::floor(sw);
        int64_t h1 = std::min(h0 + 1, H - 1), w1 = std::min(w0 + 1, W - 1);
        double fh = sh - h0, fw = sw - w0;
        double v = (1 - fh) * ((1 - fw) * at(p, h0, w0) + fw * at(p, h0, w1)) +
                   fh * ((1 - fw) * at(p, h1, w0) + fw * at(p, h1, w1));
        out[(size_t)((p * 2 * H + oh) * 2 * W + ow)] = (float)v;
      }
  return out;
}

}  // namespace

// ---- max_pool2d ---------------------------------------------------------------------------------

TEST_CASE("max_pool2d: hand-computed 2x4 case and gradient to the first max on ties") {
  Tensor x = Tensor::from_vector({1, 1, 2, 4}, {1, 5, 2, 2,  //
                                                3, 4, 2, 2},
                                 Device::CPU);
  x.requires_grad_(true);
  Tensor y = max_pool2d(x);
  CHECK(y.shape() == Shape{1, 1, 1, 2});
  CHECK(y.to_vector() == std::vector<float>{5, 2});
  y.backward(Tensor::from_vector({1, 1, 1, 2}, {10, 20}, Device::CPU));
  // window 1: max 5 at (0,1); window 2: all equal, the first (0,0) of the window takes it.
  CHECK(x.grad().to_vector() == std::vector<float>{0, 10, 20, 0, 0, 0, 0, 0});
}

TEST_CASE("max_pool2d matches a naive loop on a non-square batch") {
  Tensor x = Tensor::normal({2, 3, 6, 10}, 0.f, 1.f, 11, Device::CPU);
  std::vector<float> xv = x.to_vector(), ref;
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t w = 0; w < 5; ++w) {
        float m = -INFINITY;
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b) m = std::max(m, xv[(size_t)((p * 6 + 2 * h + a) * 10 + 2 * w + b)]);
        ref.push_back(m);
      }
  Tensor y = max_pool2d(x);
  CHECK(y.shape() == Shape{2, 3, 3, 5});
  CHECK(y.to_vector() == ref);
}

TEST_CASE("max_pool2d gradient (finite differences, H != W)") {
  gradcheck([](const std::vector<Tensor>& in) { return max_pool2d(in[0]); },
            {distinct_values({2, 3, 4, 6}, 3)}, 1e-2f);
}

TEST_CASE("max_pool2d rejects odd sizes and non-4D input, naming the op") {
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({1, 2, 5, 4}, Device::CPU)),
                       doctest::Contains("max_pool2d: 2x2 stride-2 pooling needs even H and W, got (1, 2, 5, 4)"),
                       sg::Error);
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({2, 4, 3}, Device::CPU)),
                       doctest::Contains("max_pool2d: expected an (N, C, H, W) tensor, got (2, 4, 3)"), sg::Error);
}

// ---- avg_pool2d ---------------------------------------------------------------------------------

TEST_CASE("avg_pool2d: hand-computed 3x3 case with counted zero padding") {
  Tensor x = Tensor::from_vector({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6}, Device::CPU);
  // k = 3: corner (0,0) sees 1+2+4+5 = 12 -> 12/9; (0,1) sees everything = 21 -> 21/9.
  std::vector<float> ref = {12.f / 9, 21.f / 9, 16.f / 9, 12.f / 9, 21.f / 9, 16.f / 9};
  SG_CHECK_CLOSE(avg_pool2d(x, 3).to_vector(), ref, 1e-6f, 1e-6f);
  CHECK(avg_pool2d(x, 1).to_vector() == x.to_vector());
}

TEST_CASE("avg_pool2d k = 21 matches a direct 21x21 zero-padded sum") {
  Tensor x = Tensor::uniform({2, 2, 37, 30}, -1.f, 2.f, 21, Device::CPU);
  SG_CHECK_CLOSE(avg_pool2d(x, 21).to_vector(), naive_avg_pool(x, 21), 1e-6f, 1e-5f);
  // window larger than the image
  Tensor s = Tensor::uniform({1, 3, 5, 8}, 0.f, 1.f, 22, Device::CPU);
  SG_CHECK_CLOSE(avg_pool2d(s, 21).to_vector(), naive_avg_pool(s, 21), 1e-6f, 1e-5f);
  SG_CHECK_CLOSE(avg_pool2d(s, 7).to_vector(), naive_avg_pool(s, 7), 1e-6f, 1e-5f);
  SG_CHECK_CLOSE(avg_pool2d(s, 9).to_vector(), naive_avg_pool(s, 9), 1e-6f, 1e-5f);
}

TEST_CASE("the GPU's per-element box sums (box_line_sum, two passes) agree with the CPU running sums") {
  // pool.cu computes each output as a direct clipped tap sum per pass; run that same SG_HD math here
  // so the arithmetic the GPU executes is checked even without a device.
  int64_t H = 19, W = 26;
  int r = 10;
  Tensor x = Tensor::uniform({1, 1, H, W}, -1.f, 1.f, 25, Device::CPU);
  std::vector<float> xv = x.to_vector(), t(xv.size()), out(xv.size());
  for (int64_t i = 0; i < H * W; ++i) t[(size_t)i] = kernels::box_line_sum(xv.data() + (i - i % W), W, 1, i % W, r);
  for (int64_t i = 0; i < H * W; ++i)
    out[(size_t)i] = kernels::box_line_sum(t.data() + i % W, H, W, i / W, r) * (1.f / 441.f);
  SG_CHECK_CLOSE(out, avg_pool2d(x, 21).to_vector(), 1e-6f, 1e-5f);
}

TEST_CASE("avg_pool2d gradient (finite differences, H != W)") {
  Tensor x = Tensor::uniform({2, 2, 5, 7}, -1.f, 1.f, 23, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 3); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 5); }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 9); }, {x});
}

TEST_CASE("avg_pool2d rejects even k, naming the op") {
  CHECK_THROWS_WITH_AS(avg_pool2d(Tensor::zeros({1, 1, 4, 4}, Device::CPU), 4),
                       doctest::Contains("avg_pool2d: the window size k must be odd"), sg::Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(Tensor::zeros({1, 1, 4, 4}, Device::CPU), 0),
                       doctest::Contains("got k = 0 for input (1, 1, 4, 4)"), sg::Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(Tensor::zeros({4, 4}, Device::CPU), 3),
                       doctest::Contains("avg_pool2d: expected an (N, C, H, W) tensor"), sg::Error);
}

// ---- upsample_bilinear2x ------------------------------------------------------------------------

TEST_CASE("upsample_bilinear2x: hand-computed 2x2 -> 4x4") {
  // Sources along an axis of length 2: o * 1/3 for o = 0..3. With x = [[0, 1], [2, 3]],
  // out[h][w] = 2 * (h/3) + (w/3).
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {0, 1, 2, 3}, Device::CPU);
  std::vector<float> ref;
  for (int h = 0; h < 4; ++h)
    for (int w = 0; w < 4; ++w) ref.push_back(2.f * h / 3.f + w / 3.f);
  Tensor y = upsample_bilinear2x(x);
  CHECK(y.shape() == Shape{1, 1, 4, 4});
  SG_CHECK_CLOSE(y.to_vector(), ref, 1e-6f, 1e-6f);
}

TEST_CASE("upsample_bilinear2x matches the direct formula (non-square, corners kept)") {
  Tensor x = Tensor::normal({2, 3, 5, 9}, 0.f, 1.f, 31, Device::CPU);
  std::vector<float> y = upsample_bilinear2x(x).to_vector(), xv = x.to_vector();
  SG_CHECK_CLOSE(y, naive_upsample(x), 1e-5f, 1e-5f);
  CHECK(y[0] == xv[0]);                       // align_corners: corners coincide
  CHECK(y[10 * 18 - 1] == doctest::Approx(xv[5 * 9 - 1]));
  Tensor row = Tensor::uniform({1, 2, 1, 4}, 0.f, 1.f, 32, Device::CPU);  // H = 1
  SG_CHECK_CLOSE(upsample_bilinear2x(row).to_vector(), naive_upsample(row), 1e-6f, 1e-5f);
}

TEST_CASE("upsample_bilinear2x gradient (finite differences, H != W)") {
  gradcheck([](const std::vector<Tensor>& in) { return upsample_bilinear2x(in[0]); },
            {Tensor::normal({1, 2, 3, 5}, 0.f, 1.f, 33, Device::CPU)});
  gradcheck([](const std::vector<Tensor>& in) { return upsample_bilinear2x(in[0]); },
            {Tensor::normal({2, 1, 4, 1}, 0.f, 1.f, 34, Device::CPU)});
}

TEST_CASE("upsample_bilinear2x backward is the adjoint on larger images: <Ux, g> = <x, U^T g>") {
  // Covers the gather's output window [2i-2, 2i+2] for sizes too large for finite differences.
  for (Shape s : {Shape{1, 1, 17, 23}, Shape{1, 2, 64, 40}}) {
    Tensor x = Tensor::normal(s, 0.f, 1.f, 35, Device::CPU);
    x.requires_grad_(true);
    Tensor y = upsample_bilinear2x(x);
    Tensor g = Tensor::normal(y.shape(), 0.f, 1.f, 36, Device::CPU);
    y.backward(g);
    std::vector<float> yv = y.to_vector(), gv = g.to_vector(), xv = x.to_vector(), gx = x.grad().to_vector();
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < yv.size(); ++i) lhs += (double)yv[i] * gv[i];
    for (size_t i = 0; i < xv.size(); ++i) rhs += (double)xv[i] * gx[i];
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
    // the gradient of a constant-one output weight: each input receives its total weight, and
    // the weights of every output sum to one, so the total is the output count.
    Tensor x1 = x.detach();
    x1.requires_grad_(true);
    sum(upsample_bilinear2x(x1)).backward();
    std::vector<float> w = x1.grad().to_vector();
    CHECK(std::accumulate(w.begin(), w.end(), 0.0) == doctest::Approx((double)yv.size()).epsilon(1e-5));
  }
}

TEST_CASE("the CPU upsampling loops agree with the per-element functions the GPU runs") {
  // The CPU passes treat the two edge columns apart from the rest: widths 1-3 have no interior
  // or a one-column one.
  const int64_t shapes[][3] = {{3, 7, 10}, {2, 1, 1}, {2, 2, 2}, {1, 3, 3}, {2, 5, 4}};
  for (const auto& shape : shapes) {
    const int64_t P = shape[0], H = shape[1], W = shape[2];
    CAPTURE(H);
    CAPTURE(W);
    std::vector<float> x = Tensor::uniform({P, H, W}, -1.f, 1.f, 41, Device::CPU).to_vector();
    std::vector<float> g = Tensor::uniform({P, 2 * H, 2 * W}, -1.f, 1.f, 42, Device::CPU).to_vector();
    std::vector<float> y((size_t)(P * 4 * H * W)), gx((size_t)(P * H * W));
    sg::kernels::upsample2x_cpu(x.data(), y.data(), P, H, W);
    sg::kernels::upsample2x_backward_cpu(g.data(), gx.data(), P, H, W);
    // Same sums in the same order; only fused multiply-adds (compiler's choice) may differ.
    std::vector<float> ye(y.size()), gxe(gx.size());
    const sg::kernels::UpAxis ah(H), aw(W);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t oh = 0; oh < 2 * H; ++oh)
        for (int64_t ow = 0; ow < 2 * W; ++ow)
          ye[(size_t)((p * 2 * H + oh) * 2 * W + ow)] = sg::kernels::upsample2x_at(x.data(), ah, aw, p, oh, ow);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw)
          gxe[(size_t)((p * H + ih) * W + iw)] = sg::kernels::upsample2x_backward_at(g.data(), ah, aw, p, ih, iw);
    SG_CHECK_CLOSE(y, ye, 1e-6f, 1e-6f);
    SG_CHECK_CLOSE(gx, gxe, 1e-6f, 1e-6f);
  }
}

TEST_CASE("upsampling taps: exact source cells and fractions within one float rounding") {
  // s = o (n - 1) / (2n - 1): i0 = floor(s) and f = s - i0, against the exact rational in double.
  // Rounding s to float first (and subtracting i0 after) errs by up to half of s's ulp, 1e-6 at
  // n = 32; the taps computed from the integer remainder err by at most one rounding of f. The
  // estimate of i0 (no division) is corrected exactly: checked up to the largest axis (4096).
  for (int64_t n : {1, 2, 7, 32, 100, 513, 1023, 2048, 4095, 4096}) {
    CAPTURE(n);
    for (int64_t o = 0; o < 2 * n; ++o) {
      int64_t i0, i1;
      float f;
      sg::kernels::upsample_taps(sg::kernels::UpAxis(n), o, i0, i1, f);
      const double s = (double)(o * (n - 1)) / (double)(2 * n - 1);
      CHECK(i0 == (int64_t)std::floor(s));
      CHECK(i1 == std::min(i0 + 1, n - 1));
      CHECK(std::fabs((double)f - (s - (double)i0)) <= 6e-8 * std::max(1e-30, s - (double)i0) + 1e-12);
    }
  }
}

TEST_CASE("upsample_bilinear2x rejects non-4D input") {
  CHECK_THROWS_WITH_AS(upsample_bilinear2x(Tensor::zeros({3, 4}, Device::CPU)),
                       doctest::Contains("upsample_bilinear2x: expected an (N, C, H, W) tensor, got (3, 4)"),
                       sg::Error);
}

// ---- CUDA twins ---------------------------------------------------------------------------------

TEST_CASE("the CPU max-pool forward and backward agree with the per-element functions, ties included") {
  // max_pool2x2_backward_cpu walks windows and fills four entries per argmax; pool.cu evaluates
  // max_pool2x2_backward_at once per input element. Evaluate it over every element here.
  const int64_t P = 5, H = 6, W = 10;
  std::vector<float> x = Tensor::uniform({P, H, W}, -1.f, 1.f, 46, Device::CPU).to_vector();
  for (int64_t i = 0; i < 2 * W; ++i) x[(size_t)i] = 0.25f;   // plane 0, rows 0-1: all-equal windows
  for (int64_t i = 0; i < H * W; i += 3) x[(size_t)(H * W + i)] = 0.5f;  // plane 1: some ties
  x[(size_t)(2 * H * W)] = NAN;                // plane 2, first window: a NaN first is never beaten
  x[(size_t)(2 * H * W + 2 * W + 3)] = NAN;    // a NaN later is never taken
  std::vector<float> g = Tensor::uniform({P, H / 2, W / 2}, -1.f, 1.f, 47, Device::CPU).to_vector();
  std::vector<float> gx((size_t)(P * H * W), NAN), ref(gx.size());
  kernels::max_pool2x2_backward_cpu(x.data(), g.data(), gx.data(), P, H, W);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        ref[(size_t)((p * H + h) * W + w)] = kernels::max_pool2x2_backward_at(x.data(), g.data(), H, W, p, h, w);
  CHECK(gx == ref);
  // and the forward, row by row on the CPU, picks the value max_pool2x2_at picks
  std::vector<float> y((size_t)(P * (H / 2) * (W / 2)));
  kernels::max_pool2x2_cpu(x.data(), y.data(), P, H, W);
  for (size_t o = 0; o < y.size(); ++o) {
    const int64_t Ho = H / 2, Wo = W / 2;
    const float e = kernels::max_pool2x2_at(x.data(), H, W, (int64_t)o / (Ho * Wo), ((int64_t)o / Wo) % Ho, (int64_t)o % Wo);
    CHECK(((std::isnan(y[o]) && std::isnan(e)) || y[o] == e));
  }
}

// The registry (test_ops_registry.cpp) compares every pooling op on CUDA with the CPU at small
// sizes; the cases below add what it does not: ties, a training-size 21x21 box filter, and the
// determinism of the upsampling backward.
TEST_CASE("max_pool2d CUDA on ties routes to the same element as the CPU" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  // all-equal windows must route to the same (first) element on both devices
  sg::test::compare_cpu_gpu([](const std::vector<Tensor>& in) { return max_pool2d(in[0]); },
                            {Tensor::full({1, 2, 4, 6}, 0.5f, Device::CPU)}, 0.f, 0.f);
}

TEST_CASE("avg_pool2d CUDA matches the CPU on a 256x256 score map, k = 21" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  sg::test::compare_cpu_gpu([](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 21); },
                            {Tensor::uniform({1, 1, 256, 256}, 0.f, 1.f, 43, Device::CPU)}, 1e-5f, 1e-4f);
}

TEST_CASE("upsample_bilinear2x: the GPU backward is deterministic" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  auto f = [](const std::vector<Tensor>& in) { return upsample_bilinear2x(in[0]); };
  Tensor x = Tensor::normal({2, 3, 13, 20}, 0.f, 1.f, 44, Device::CPU);
  auto g1 = sg::test::compare_cpu_gpu(f, {x}, 1e-5f, 1e-5f);
  auto g2 = sg::test::compare_cpu_gpu(f, {x}, 1e-5f, 1e-5f);
  CHECK(g1 == g2);  // bit for bit
}

TEST_CASE("pooling and upsampling on CUDA past one grid's planes and rows (the grid-stride loops)" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  // cuda::plane_grid puts planes on blockIdx.z and rows on blockIdx.y, at most 65,535 each: these
  // shapes need the loops to come round again.
  Tensor many = Tensor::uniform({1, 65537, 2, 2}, -1.f, 1.f, 61, Device::CPU);  // 65,537 planes
  SG_CHECK_CLOSE(max_pool2d(many.to(Device::CUDA)).to_vector(), max_pool2d(many).to_vector(), 0.f, 0.f);
  Tensor tall = Tensor::uniform({1, 1, 33000, 1}, -1.f, 1.f, 62, Device::CPU);  // 66,000 output rows
  SG_CHECK_CLOSE(upsample_bilinear2x(tall.to(Device::CUDA)).to_vector(), upsample_bilinear2x(tall).to_vector(), 1e-6f,
                 1e-6f);
}
