// saliency.cpp — border object maps, spectral-residual maps, PNG maps and previews (saliency.h).
#include "data/saliency.h"

#include <unsupported/Eigen/FFT>

#include <algorithm>
#include <cmath>
#include <complex>
#include <filesystem>
#include <vector>

#include "data/image_io.h"
#include "data/image_ops.h"
#include "engine/common.h"

namespace sg::data {

SaliencyMode parse_saliency_mode(const std::string& name) {
  if (name == "border") return SaliencyMode::Border;
  if (name == "spectral") return SaliencyMode::Spectral;
  if (name == "file") return SaliencyMode::File;
  if (name == "none") return SaliencyMode::None;
  throw sg::Error(sg::str("unknown saliency mode '", name, "' (choose border, spectral, file or none)"));
}

const char* saliency_mode_name(SaliencyMode mode) {
  switch (mode) {
    case SaliencyMode::Border: return "border";
    case SaliencyMode::Spectral: return "spectral";
    case SaliencyMode::File: return "file";
    case SaliencyMode::None: return "none";
  }
  return "?";
}

namespace {

SaliencyResult ones(int H, int W, bool fallback) { return {Image(1, H, W, 1.f), fallback}; }

SaliencyResult border_map(const Image& rgb) {
  const int H = rgb.height, W = rgb.width;
  const int size = std::min(H, W);
  Image lab = rgb_to_lab(gaussian_blur(rgb, size / 64.f));
  const int strip = std::max(1, (int)std::lround(size / 20.0));
  auto in_strip = [&](int y, int x) { return y < strip || y >= H - strip || x < strip || x >= W - strip; };

  // Background colour: per-channel median of the border strip.
  float bg[3];
  for (int c = 0; c < 3; ++c) {
    std::vector<float> v;
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x)
        if (in_strip(y, x)) v.push_back(lab.at(c, y, x));
    bg[c] = percentile(std::move(v), 50.f);
  }
  Image dist(1, H, W);
  std::vector<float> border_d;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      float s = 0;
      for (int c = 0; c < 3; ++c) s += (lab.at(c, y, x) - bg[c]) * (lab.at(c, y, x) - bg[c]);
      dist.at(0, y, x) = std::sqrt(s);
      if (in_strip(y, x)) border_d.push_back(dist.at(0, y, x));
    }
  const float p99 = percentile(std::move(border_d), 99.f);
  float vmax = 0;
  for (float& v : dist.pixels) {
    v = std::sqrt(std::clamp((v - p99) / 100.f, 0.f, 1.f));
    vmax = std::max(vmax, v);
  }
  if (vmax <= 0.05f) return ones(H, W, true);

  const float t = otsu_threshold(dist.pixels.data(), dist.pixels.size(), 0.f, 1.f, 256);
  Image mask(1, H, W);
  for (size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] = dist.pixels[i] > t ? 1.f : 0.f;
  const int k = 2 * (int)std::lround(3.0 * size / 128.0) + 1;
  mask = binary_closing(mask, k);
  mask = fill_holes(mask);
  mask = remove_small_components(mask, (int)std::ceil(0.01 * H * W));
  const float area = mask_area(mask);
  if (area < 0.02f || area > 0.8f) return ones(H, W, true);
  return {mask, false};
}

// In-place 2-D FFT of a row-major n x n complex grid via 1-D FFTs of rows, then columns.
void fft2(std::vector<std::complex<float>>& a, int n, bool inverse) {
  Eigen::FFT<float> fft;
  std::vector<std::complex<float>> in((size_t)n), out((size_t)n);
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) in[(size_t)j] = pass == 0 ? a[(size_t)i * n + j] : a[(size_t)j * n + i];
      if (inverse) fft.inv(out, in); else fft.fwd(out, in);  // inv scales by 1/n
      for (int j = 0; j < n; ++j) (pass == 0 ? a[(size_t)i * n + j] : a[(size_t)j * n + i]) = out[(size_t)j];
    }
}

}  // namespace

Image spectral_residual_map(const Image& rgb) {
  SG_CHECK(rgb.channels == 3, "spectral saliency: expected an RGB image, got ", rgb.channels, " channels");
  const int n = 64;
  Image g = resize_bilinear(to_gray(rgb), n, n);
  std::vector<std::complex<float>> F((size_t)n * n);
  for (size_t i = 0; i < F.size(); ++i) F[i] = g.pixels[i];
  fft2(F, n, false);
  Image logamp(1, n, n);
  std::vector<float> phase(F.size());
  for (size_t i = 0; i < F.size(); ++i) {
    logamp.pixels[i] = std::log(std::abs(F[i]) + 1e-8f);
    phase[i] = std::arg(F[i]);
  }
  Image avg = box_blur3(logamp);
  for (size_t i = 0; i < F.size(); ++i)
    F[i] = std::polar(std::exp(logamp.pixels[i] - avg.pixels[i]), phase[i]);
  fft2(F, n, true);
  Image sal(1, n, n);
  for (size_t i = 0; i < F.size(); ++i) sal.pixels[i] = std::norm(F[i]);
  sal = gaussian_blur(sal, 2.5f);
  auto [lo, hi] = std::minmax_element(sal.pixels.begin(), sal.pixels.end());
  const float mn = *lo, range = *hi - *lo;
  for (float& v : sal.pixels) v = range > 0 ? (v - mn) / range : 0.f;
  Image out = resize_bilinear(sal, rgb.height, rgb.width);
  for (float& v : out.pixels) v = std::clamp(v, 0.f, 1.f);
  return out;
}

SaliencyResult compute_saliency(const Image& rgb, SaliencyMode mode, const std::string& map_file) {
  SG_CHECK(rgb.channels == 3 && !rgb.empty(), "compute_saliency: expected a non-empty RGB image, got ",
           rgb.channels, " channels");
  const int H = rgb.height, W = rgb.width;
  switch (mode) {
    case SaliencyMode::None: return ones(H, W, false);
    case SaliencyMode::Border: return border_map(rgb);
    case SaliencyMode::Spectral: {
      Image gray = to_gray(rgb);
      auto [glo, ghi] = std::minmax_element(gray.pixels.begin(), gray.pixels.end());
      if (*ghi - *glo < 1.f / 255.f) return ones(H, W, true);  // flat image: nothing stands out
      Image m = spectral_residual_map(rgb);
      auto [lo, hi] = std::minmax_element(m.pixels.begin(), m.pixels.end());
      if (*hi - *lo <= 1e-6f) return ones(H, W, true);
      const float t = otsu_threshold(m.pixels.data(), m.pixels.size(), 0.f, 1.f, 256);
      for (float& v : m.pixels) v = v > t ? 1.f : 0.f;
      if (mask_area(m) == 0.f) return ones(H, W, true);
      return {m, false};
    }
    case SaliencyMode::File: {
      SG_CHECK(!map_file.empty(), "saliency mode 'file': no map file given for the image");
      SG_CHECK(std::filesystem::is_regular_file(map_file), "saliency map file missing: '", map_file, "'");
      Image m = read_image_resized(map_file, 1, H, W);
      for (float& v : m.pixels) v = std::clamp(v, 0.f, 1.f);
      if (mask_area(m) < 0.01f) return ones(H, W, true);
      return {m, false};
    }
  }
  throw sg::Error("compute_saliency: unknown mode");
}

std::string saliency_file_for(const std::string& saliency_dir, const std::string& relative_image_path) {
  std::filesystem::path p = std::filesystem::path(saliency_dir) / relative_image_path;
  p.replace_extension(".png");
  return p.string();
}

void save_saliency_preview(const std::string& out_png, const Image& rgb, const SaliencyResult& s) {
  SG_CHECK(rgb.channels == 3, "save_saliency_preview: expected an RGB image");
  const int H = rgb.height, W = rgb.width;
  Image map = (s.map.height == H && s.map.width == W) ? s.map : resize_bilinear(s.map, H, W);
  Image out(3, H, 3 * W);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const float m = map.at(0, y, x), v = rgb.at(c, y, x);
        out.at(c, y, x) = v;
        out.at(c, y, W + x) = m;
        out.at(c, y, 2 * W + x) = v * (0.3f + 0.7f * m);
      }
  write_png(out_png, out);
}

}  // namespace sg::data
