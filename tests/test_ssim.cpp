// test_ssim.cpp — SSIM: skimage reference on the interior, closed form (identical images -> 1),
// finite-difference gradient of ssim_mean w.r.t. recon, and the CUDA twin against the CPU.
#include <cstdlib>
#include <fstream>
#include <sstream>

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

TEST_CASE("SSIM CUDA kernels match the CPU twins" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  for (Shape s : {Shape{2, 3, 37, 45}, Shape{1, 1, 70, 90}, Shape{1, 2, 5, 3}}) {
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
