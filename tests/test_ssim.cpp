// test_ssim.cpp — SSIM: skimage reference on the interior, closed form (identical images -> 1),
// finite-difference gradient of ssim_mean w.r.t. recon, the CPU's blur against the per-pixel window
// sums of the CUDA kernel, and the CUDA twin against the CPU over several tiles.
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "kernels/ssim.h"
#include "sgsf/sgsf_ops.h"
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

namespace {

// The inputs of tests/reference/ssim_reference.py (same formulas, float64 rounded to float32).
void reference_inputs(std::vector<float>& x, std::vector<float>& y, int C, int H, int W) {
  x.resize((size_t)C * H * W);
  y.resize(x.size());
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        double xv = 0.5 + 0.4 * std::sin(0.37 * i + 0.23 * j + 1.1 * c);
        double yv = xv + 0.15 * std::cos(0.51 * i - 0.29 * j + 0.7 * c) + 0.05 * std::sin(1.3 * i * j / 17.0);
        yv = yv < 0 ? 0 : (yv > 1 ? 1 : yv);
        
        x[((size_t)c * H + i) * W + j] = (float)xv;
        y[((size_t)c * H + i) * W + j] = (float)yv;
      }
}

// The numbers after `"key":` in a flat JSON file (a number or an array of numbers).
std::vector<double> json_numbers(const std::string& text, const std::string& key) {
  size_t at = text.find("\"" + key + "\"");
  REQUIRE_MESSAGE(at != std::string::npos, "key ", key, " missing from the reference file");
  at = text.find(':', at) + 1;
  std::vector<double> out;
  const char* p = text.c_str() + at;
  while (*p == ' ' || *p == '\n' || *p == '[') ++p;
  while (true) {
    char* end = nullptr;
    double v = std::strtod(p, &end);
    if (end == p) break;
    out.push_back(v);
    p = end;
    while (*p == ' ' || *p == '\n' || *p == ',') ++p;
    if (*p == ']' || *p == '}' || *p == '"') break;
  }
  return out;
}

}  // namespace

TEST_CASE("ssim_map interior matches scikit-image (tests/reference/ssim_reference.py)") {
  std::ifstream f(std::string(SGSF_SOURCE_DIR) + "/tests/reference/ssim_reference.json");
  REQUIRE_MESSAGE(f.good(), "tests/reference/ssim_reference.json not found");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  const int C = 3, H = 24, W = 20, P = 5;
  std::vector<float> xv, yv;
  reference_inputs(xv, yv, C, H, W);
  Tensor x = Tensor::from_vector({1, C, H, W}, xv, Device::CPU), y = Tensor::from_vector({1, C, H, W}, yv, Device::CPU);
  std::vector<float> map = sgsf::ssim_map(x, y).to_vector();
  // skimage reflects at the border and averages only over [5, H-5) x [5, W-5): compare there.
  std::vector<float> interior;
  double sum = 0;
  for (int c = 0; c < C; ++c)
    for (int i = P; i < H - P; ++i)
      for (int j = P; j < W - P; ++j) {
        interior.push_back(map[((size_t)c * H + i) * W + j]);
        sum += interior.back();
      }
  std::vector<double> ref = json_numbers(text, "interior_map");
  std::vector<float> reff(ref.begin(), ref.end());
  REQUIRE(reff.size() == interior.size());
  SG_CHECK_CLOSE(interior, reff, 2e-5f, 1e-5f);
  CHECK(sum / interior.size() == doctest::Approx(json_numbers(text, "interior_mean")[0]).epsilon(1e-5));
  // The border differs (zero padding vs reflection), and must: a check that padding is zeros.
  CHECK(std::fabs(map[0] - 1.f) > 1e-3f);
}

TEST_CASE("identical images give SSIM 1 everywhere (zero padding included)") {
  Tensor x = Tensor::uniform({2, 3, 17, 23}, 0.f, 1.f, 11, Device::CPU);
  std::vector<float> map = sgsf::ssim_map(x, x).to_vector();
  SG_CHECK_CLOSE(map, std::vector<float>(map.size(), 1.f), 1e-5f, 0.f);
  CHECK(sgsf::ssim_loss(x, x).item() == doctest::Approx(0.f).epsilon(1e-5));
}

TEST_CASE("ssim_mean equals the mean of ssim_map; shapes are checked") {
  Tensor x = Tensor::uniform({2, 3, 19, 16}, 0.f, 1.f, 12, Device::CPU);
  Tensor y = Tensor::uniform({2, 3, 19, 16}, 0.f, 1.f, 13, Device::CPU);
  CHECK(sgsf::ssim_mean(x, y).item() == doctest::Approx(mean(sgsf::ssim_map(x, y)).item()).epsilon(1e-6));
  Tensor bad = Tensor::zeros({2, 3, 19, 15}, Device::CPU);
  CHECK_THROWS_WITH_AS(sgsf::ssim_mean(x, bad), doctest::Contains("ssim_mean"), sg::Error);
}

TEST_CASE("gradient of ssim_mean / ssim_loss w.r.t. recon (finite differences)") {
  // Scaled by 100: the mean over 2*9*11 pixels makes each element's derivative small.
  Tensor target = Tensor::uniform({1, 2, 9, 11}, 0.1f, 0.9f, 21, Device::CPU);
  Tensor recon = Tensor::uniform({1, 2, 9, 11}, 0.1f, 0.9f, 22, Device::CPU);
  auto f = [target](const std::vector<Tensor>& in) { return sgsf::ssim_mean(in[0], target) * 100.f; };
  gradcheck(f, {recon}, 1e-2f, 2e-3f, 2e-2f);
  // A structured pair (recon close to target) exercises a different regime.
  Tensor near = add(target, Tensor::uniform({1, 2, 9, 11}, -0.05f, 0.05f, 23, Device::CPU));
  auto l = [target](const std::vector<Tensor>& in) { return sgsf::ssim_loss(in[0], target) * 100.f; };
  gradcheck(l, {near}, 5e-3f, 2e-3f, 3e-2f);
  // the gradient is not trivially small
  Tensor r = recon.detach();
  r.requires_grad_(true);
  (sgsf::ssim_mean(r, target) * 100.f).backward();
  CHECK(max_value(r.grad()).item() > 0.05f);
}

namespace {
// The 11x11 zero-padded window sum at (i, j) the way ssim.cu's tile kernel forms it for one output
// pixel: 11 horizontal sums (rows i-5 .. i+5, taps 0..10 in order, 0 outside the image), then the
// vertical sum of those in order. `val(r, c)` reads the map inside the image.
template <class F>
float window_sum_at(F val, int64_t h, int64_t w, int64_t i, int64_t j, const kernels::SsimTaps& t) {
  float v = 0.f;
  for (int dv = 0; dv < kernels::kSsimTaps; ++dv) {
    const int64_t r = i + dv - kernels::kSsimRadius;
    float row = 0.f;
    for (int dh = 0; dh < kernels::kSsimTaps; ++dh) {
      const int64_t c = j + dh - kernels::kSsimRadius;
      row += t.w[dh] * (r >= 0 && r < h && c >= 0 && c < w ? val(r, c) : 0.f);
    }
    v += t.w[dv] * row;
  }
  return v;
}
}  // namespace

TEST_CASE("the CPU's separable SSIM blur agrees with the GPU's per-pixel window sums") {
  // ssim_cpu.cpp blurs whole planes (tap-outer loops, taps outside the image skipped); the CUDA
  // kernel sums each pixel's window from a shared-memory tile padded with zeros. Both then call
  // ssim_from_moments / ssim_grad_combine. Evaluate the GPU's per-pixel order here with those
  // functions and compare with the CPU forward (map and the three coefficient maps) and backward.
  const int64_t planes = 2, h = 13, w = 21, hw = h * w;  // edges on every side, a 5-pixel-wide interior
  const kernels::SsimTaps taps = kernels::ssim_gaussian_taps();
  std::vector<float> x = Tensor::uniform({planes, h, w}, 0.f, 1.f, 33, Device::CPU).to_vector();
  std::vector<float> y = Tensor::uniform({planes, h, w}, 0.f, 1.f, 34, Device::CPU).to_vector();
  std::vector<float> map(x.size()), dmx(x.size()), dexx(x.size()), dexy(x.size()), gx(x.size());
  kernels::ssim_forward_cpu(x.data(), y.data(), planes, h, w, taps, map.data(), dmx.data(), dexx.data(), dexy.data());
  const float g = 0.75f, scale = 1.f / (float)(planes * hw);
  kernels::ssim_backward_cpu(x.data(), y.data(), dmx.data(), dexx.data(), dexy.data(), planes, h, w, taps, &g, scale,
                             gx.data());
  std::vector<float> map_ref(x.size()), dmx_ref(x.size()), dexx_ref(x.size()), dexy_ref(x.size()), gx_ref(x.size());
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x.data() + p * hw;
    const float* yp = y.data() + p * hw;
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        auto X = [&](int64_t r, int64_t c) { return xp[r * w + c]; };
        auto Y = [&](int64_t r, int64_t c) { return yp[r * w + c]; };
        float mx = window_sum_at(X, h, w, i, j, taps), my = window_sum_at(Y, h, w, i, j, taps);
        float exx = window_sum_at([&](int64_t r, int64_t c) { return X(r, c) * X(r, c); }, h, w, i, j, taps);
        float eyy = window_sum_at([&](int64_t r, int64_t c) { return Y(r, c) * Y(r, c); }, h, w, i, j, taps);
        float exy = window_sum_at([&](int64_t r, int64_t c) { return X(r, c) * Y(r, c); }, h, w, i, j, taps);
        const size_t k = (size_t)(p * hw + i * w + j);
        map_ref[k] = kernels::ssim_from_moments(mx, my, exx, eyy, exy, &dmx_ref[k], &dexx_ref[k], &dexy_ref[k]);
      }
  }
  // The sums agree up to rounding (the CPU adds in the same tap order; a compiler may contract to
  // FMA, and the CPU skips the zero taps the GPU adds). The moments are O(1), so 1e-6 absolute on the
  // map is ~10 float32 ulps; the coefficient maps divide by the small B2 ~ 0.1 and get 1e-4 relative.
  SG_CHECK_CLOSE(map, map_ref, 1e-6f, 1e-5f);
  SG_CHECK_CLOSE(dmx, dmx_ref, 1e-5f, 1e-4f);
  SG_CHECK_CLOSE(dexx, dexx_ref, 1e-5f, 1e-4f);
  SG_CHECK_CLOSE(dexy, dexy_ref, 1e-5f, 1e-4f);
  // Backward from the CPU's own coefficient maps: the blur of three maps plus the epilogue.
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < h; ++i)
      for (int64_t j = 0; j < w; ++j) {
        auto at = [&](const std::vector<float>& m) {
          return [&m, p, hw, w](int64_t r, int64_t c) { return m[(size_t)(p * hw + r * w + c)]; };
        };
        const size_t k = (size_t)(p * hw + i * w + j);
        gx_ref[k] = kernels::ssim_grad_combine(window_sum_at(at(dmx), h, w, i, j, taps),
                                               window_sum_at(at(dexx), h, w, i, j, taps),
                                               window_sum_at(at(dexy), h, w, i, j, taps), x[k], y[k], g * scale);
      }
  float gmax = 0.f;
  for (float v : gx_ref) gmax = std::max(gmax, std::fabs(v));
  CHECK(gmax > 0.f);
  SG_CHECK_CLOSE(gx, gx_ref, 1e-4f * gmax, 1e-4f);
}

// The registry (test_ops_registry.cpp) compares ssim_map, ssim_mean and ssim_loss on CUDA with the
// CPU at small sizes; this case adds sizes of several 32x16 tiles, with partial tiles at the edges.
TEST_CASE("SSIM CUDA matches the CPU over several tiles, forward and backward" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  for (Shape s : {Shape{2, 3, 37, 45}, Shape{1, 1, 70, 90}}) {
    INFO("shape ", shape_str(s));
    Tensor x = Tensor::uniform(s, 0.f, 1.f, 31, Device::CPU), y = Tensor::uniform(s, 0.f, 1.f, 32, Device::CPU);
    Tensor xg = x.to(Device::CUDA), yg = y.to(Device::CUDA);
    SG_CHECK_CLOSE(sgsf::ssim_map(xg, yg).to_vector(), sgsf::ssim_map(x, y).to_vector(), 2e-5f, 1e-4f);
    Tensor xc = x.detach(), xd = xg.detach();
    xc.requires_grad_(true);
    xd.requires_grad_(true);
    Tensor lc = sgsf::ssim_loss(xc, y), ld = sgsf::ssim_loss(xd, yg);
    CHECK(ld.item() == doctest::Approx(lc.item()).epsilon(1e-5));
    lc.backward();
    ld.backward();
    std::vector<float> gc = xc.grad().to_vector(), gd = xd.grad().to_vector();
    float scale = 0;
    for (float v : gc) scale = std::max(scale, std::fabs(v));
    SG_CHECK_CLOSE(gd, gc, 1e-4f * scale, 1e-3f);
  }
}
