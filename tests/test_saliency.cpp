// test_saliency.cpp — the saliency maps of sgsf/README.md, 'Saliency maps' (border, spectral, file,
// none), and the image-processing helpers under them (Lab, Otsu, closing, hole filling,
// components).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "data/image_io.h"
#include "data/image_ops.h"
#include "data/saliency.h"
#include "data/textures.h"
#include "tests/test_util.h"

using namespace sg;
using namespace sg::data;
namespace fs = std::filesystem;

namespace {
// A plain gray background with a little seeded noise and a filled coloured disc.
Image disc_image(int size, float radius, Image* truth, uint64_t seed = 7) {
  Rng rng(seed);
  Image img(3, size, size);
  *truth = Image(1, size, size);
  const float cy = size * 0.45f, cx = size * 0.55f, col[3] = {0.75f, 0.3f, 0.2f};
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const bool in = (y - cy) * (y - cy) + (x - cx) * (x - cx) <= radius * radius;
      truth->at(0, y, x) = in ? 1.f : 0.f;
      for (int c = 0; c < 3; ++c) img.at(c, y, x) = std::clamp((in ? col[c] : 0.5f) + rng.normal(0.f, 0.02f), 0.f, 1.f);
    }
  return img;
}

float iou(const Image& a, const Image& b) {
  size_t inter = 0, uni = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const bool x = a.pixels[i] >= 0.5f, y = b.pixels[i] >= 0.5f;
    inter += x && y;
    uni += x || y;
  }
  return uni ? (float)inter / (float)uni : 1.f;
}

bool all_ones(const Image& m) {
  for (float v : m.pixels)
    if (v != 1.f) return false;
  return true;
}

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("sgsf_test_saliency_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string data_dir() { return sg::test::shared_data_dir(); }
}  // namespace

TEST_CASE("rgb_to_lab matches reference colours") {
  Image img(3, 1, 3, 0.f);
  for (int c = 0; c < 3; ++c) img.at(c, 0, 0) = 1.f;  // white
  img.at(0, 0, 1) = 1.f;                              // red
  img.at(2, 0, 2) = 1.f;                              // blue
  Image lab = rgb_to_lab(img);
  // Reference values (D65): white (100, 0, 0), red (53.24, 80.09, 67.20), blue (32.30, 79.19, -107.86).
  CHECK(lab.at(0, 0, 0) == doctest::Approx(100.f).epsilon(1e-3));
  CHECK(std::abs(lab.at(1, 0, 0)) < 0.05f);
  CHECK(std::abs(lab.at(2, 0, 0)) < 0.05f);
  CHECK(lab.at(0, 0, 1) == doctest::Approx(53.24f).epsilon(2e-3));
  CHECK(lab.at(1, 0, 1) == doctest::Approx(80.09f).epsilon(2e-3));
  CHECK(lab.at(2, 0, 1) == doctest::Approx(67.20f).epsilon(2e-3));
  CHECK(lab.at(0, 0, 2) == doctest::Approx(32.30f).epsilon(2e-3));
  CHECK(lab.at(2, 0, 2) == doctest::Approx(-107.86f).epsilon(2e-3));
}

TEST_CASE("gaussian blur keeps the mean and spreads a spike with the right variance") {
  Image img(1, 41, 41, 0.f);
  img.at(0, 20, 20) = 1.f;
  Image b = gaussian_blur(img, 2.f);
  double sum = 0, var = 0;
  for (int y = 0; y < 41; ++y)
    for (int x = 0; x < 41; ++x) sum += b.at(0, y, x), var += b.at(0, y, x) * (x - 20) * (x - 20);
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-4));
  CHECK(var == doctest::Approx(4.0).epsilon(0.02));
}

TEST_CASE("percentile interpolates like numpy") {
  CHECK(percentile({1, 2, 3, 4}, 50) == doctest::Approx(2.5f));
  CHECK(percentile({5, 1, 3}, 100) == 5.f);
  CHECK(percentile({0, 10}, 99) == doctest::Approx(9.9f));
}

TEST_CASE("otsu threshold lands between the modes of a bimodal histogram") {
  Rng rng(3);
  std::vector<float> v;
  for (int i = 0; i < 3000; ++i) v.push_back(std::clamp(rng.normal(0.2f, 0.04f), 0.f, 1.f));
  for (int i = 0; i < 1000; ++i) v.push_back(std::clamp(rng.normal(0.7f, 0.05f), 0.f, 1.f));
  const float t = otsu_threshold(v.data(), v.size());
  CHECK(t > 0.33f);
  CHECK(t < 0.55f);
  std::vector<float> flat(10, 0.4f);
  CHECK(otsu_threshold(flat.data(), flat.size()) == 0.4f);
}

TEST_CASE("fill_holes fills a ring, closing bridges a gap, small components are dropped") {
  Image ring(1, 21, 21, 0.f);
  for (int y = 0; y < 21; ++y)
    for (int x = 0; x < 21; ++x) {
      const float r = std::hypot(y - 10.f, x - 10.f);
      if (r >= 5.f && r <= 7.f) ring.at(0, y, x) = 1.f;
    }
  Image filled = fill_holes(ring);
  CHECK(filled.at(0, 10, 10) == 1.f);
  CHECK(filled.at(0, 0, 0) == 0.f);
  CHECK(mask_area(filled) > mask_area(ring));
  // Two squares 2 px apart are joined by a closing with a 5x5 square, not by a 1x1.
  Image two(1, 20, 20, 0.f);
  for (int y = 5; y < 15; ++y)
    for (int x = 2; x < 18; ++x)
      if (x < 9 || x > 10) two.at(0, y, x) = 1.f;
  CHECK(binary_closing(two, 5).at(0, 10, 9) == 1.f);
  CHECK(binary_closing(two, 1).at(0, 10, 9) == 0.f);
  CHECK(binary_closing(two, 5).at(0, 5, 2) == 1.f);  // edges touching nothing are not eaten
  CHECK(connected_components(two).count == 2);
  Image speck = two;
  speck.at(0, 0, 19) = 1.f;
  CHECK(connected_components(speck).count == 3);
  CHECK(mask_area(remove_small_components(speck, 5)) == doctest::Approx(mask_area(two)));
}

TEST_CASE("border saliency covers a disc on a plain background") {
  Image truth;
  const int size = 256;
  const float radius = std::sqrt(0.3f / 3.14159265f) * size;  // ~30 % of the image
  Image img = disc_image(size, radius, &truth);
  SaliencyResult s = compute_saliency(img, SaliencyMode::Border);
  CHECK_FALSE(s.fallback);
  CHECK(s.map.channels == 1);
  CHECK(s.map.height == size);
  for (float v : s.map.pixels) REQUIRE((v == 0.f || v == 1.f));
  const float j = iou(s.map, truth);
  MESSAGE("border map IoU with the disc: ", j, ", area ", mask_area(s.map));
  CHECK(j > 0.9f);
  // Also on a non-square image (size = min(H, W)).
  Image wide = resize_bilinear(img, 128, 200), wide_truth = resize_bilinear(truth, 128, 200);
  binarize(wide_truth);
  SaliencyResult sw = compute_saliency(wide, SaliencyMode::Border);
  CHECK_FALSE(sw.fallback);
  CHECK(iou(sw.map, wide_truth) > 0.85f);
}

TEST_CASE("border saliency falls back to S = 1 on textures and on empty scenes") {
  int fallbacks = 0;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    Rng rng(seed);
    Image tex = procedural_texture(rng, 128, 128);
    SaliencyResult s = compute_saliency(tex, SaliencyMode::Border);
    if (s.fallback) {
      CHECK(all_ones(s.map));
      ++fallbacks;
    }
  }
  MESSAGE("border fallbacks on 6 procedural textures: ", fallbacks);
  CHECK(fallbacks >= 4);
  // A fine fractal noise filling the frame (stationary texture) always falls back.
  Image noise(3, 128, 128);
  Rng rng(11);
  for (float& v : noise.pixels) v = rng.uniform();
  SaliencyResult s = compute_saliency(gaussian_blur(noise, 1.f), SaliencyMode::Border);
  CHECK(s.fallback);
  CHECK(all_ones(s.map));
  SaliencyResult e = compute_saliency(Image(3, 64, 64, 0.4f), SaliencyMode::Border);
  CHECK(e.fallback);
  CHECK(all_ones(e.map));
  // An object covering almost everything (> 80 %) falls back too.
  Image truth;
  SaliencyResult big = compute_saliency(disc_image(128, 100.f, &truth), SaliencyMode::Border);
  CHECK(big.fallback);
}

TEST_CASE("spectral saliency marks a small odd patch and is binary") {
  const int size = 128;
  Rng rng(5);
  Image img(3, size, size);
  for (float& v : img.pixels) v = 0.5f + rng.normal(0.f, 0.01f);
  for (int c = 0; c < 3; ++c)
    for (int y = 80; y < 92; ++y)
      for (int x = 30; x < 42; ++x) img.at(c, y, x) = 0.1f;
  SaliencyResult s = compute_saliency(img, SaliencyMode::Spectral);
  CHECK_FALSE(s.fallback);
  for (float v : s.map.pixels) REQUIRE((v == 0.f || v == 1.f));
  const float area = mask_area(s.map);
  MESSAGE("spectral map area on a flat image with a patch: ", area);
  CHECK(s.map.at(0, 86, 36) == 1.f);
  CHECK(s.map.at(0, 20, 100) == 0.f);
  CHECK(area > 0.002f);
  CHECK(area < 0.2f);
  Image soft = spectral_residual_map(img);
  CHECK(soft.at(0, 86, 36) > 0.5f);
  // A constant image carries no saliency.
  CHECK(compute_saliency(Image(3, 32, 32, 0.5f), SaliencyMode::Spectral).fallback);
}

TEST_CASE("file saliency loads a PNG, falls back under 1 %, and names a missing file") {
  fs::path dir = temp_dir("file");
  Image map(1, 40, 50, 0.f);
  for (int y = 10; y < 30; ++y)
    for (int x = 10; x < 30; ++x) map.at(0, y, x) = 1.f;
  map.at(0, 0, 0) = 0.6f;
  write_png((dir / "a.png").string(), map);
  Image rgb(3, 80, 100, 0.5f);
  SaliencyResult s = compute_saliency(rgb, SaliencyMode::File, (dir / "a.png").string());
  CHECK_FALSE(s.fallback);
  CHECK(s.map.height == 80);
  CHECK(s.map.width == 100);
  CHECK(s.map.at(0, 40, 40) == doctest::Approx(1.f));
  CHECK(s.map.at(0, 70, 90) == doctest::Approx(0.f));
  CHECK(mask_area(s.map) == doctest::Approx(0.2f).epsilon(0.05));
  // Values are /255, not binarised.
  Image grey(1, 40, 50, 153 / 255.f);
  write_png((dir / "g.png").string(), grey);
  CHECK(compute_saliency(rgb, SaliencyMode::File, (dir / "g.png").string()).map.at(0, 5, 5) ==
        doctest::Approx(0.6f));
  // Under 1 % reaching 0.5: S = 1.
  Image tiny(1, 40, 50, 0.f);
  for (int x = 0; x < 10; ++x) tiny.at(0, 0, x) = 1.f;  // 0.5 %
  write_png((dir / "tiny.png").string(), tiny);
  SaliencyResult t = compute_saliency(rgb, SaliencyMode::File, (dir / "tiny.png").string());
  CHECK(t.fallback);
  CHECK(all_ones(t.map));
  const std::string missing = (dir / "nope.png").string();
  CHECK_THROWS_WITH_AS(compute_saliency(rgb, SaliencyMode::File, missing), doctest::Contains(missing.c_str()), sg::Error);
  fs::remove_all(dir);
}

TEST_CASE("none mode, mode names, map paths, preview") {
  SaliencyResult n = compute_saliency(Image(3, 8, 9, 0.2f), SaliencyMode::None);
  CHECK_FALSE(n.fallback);
  CHECK(all_ones(n.map));
  CHECK(n.map.width == 9);
  CHECK(parse_saliency_mode("border") == SaliencyMode::Border);
  CHECK(parse_saliency_mode("spectral") == SaliencyMode::Spectral);
  CHECK(parse_saliency_mode("file") == SaliencyMode::File);
  CHECK(parse_saliency_mode("none") == SaliencyMode::None);
  CHECK_THROWS_WITH_AS(parse_saliency_mode("cpd"), doctest::Contains("cpd"), sg::Error);
  CHECK(saliency_file_for("maps", "train/good/000.jpg") == "maps/train/good/000.png");
  CHECK(saliency_file_for("maps/", "a.b.JPG") == "maps/a.b.png");
  fs::path dir = temp_dir("preview");
  Image truth;
  Image img = disc_image(64, 20.f, &truth);
  save_saliency_preview((dir / "p.png").string(), img, compute_saliency(img, SaliencyMode::Border));
  Image back = read_image((dir / "p.png").string());
  CHECK(back.width == 192);
  CHECK(back.height == 64);
  fs::remove_all(dir);
}

TEST_CASE("border saliency on MVTec 3D-AD tire images covers a plausible area") {
  const fs::path dir = fs::path(data_dir()) / "mvtec3d_tire_rgb/tire/train/good";
  if (!fs::is_directory(dir)) {
    MESSAGE("skipped: ", dir.string(), " not present");
    return;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  double total_area = 0, total_ms = 0, spectral_area = 0;
  int n = 0, fallbacks = 0;
  const char* save = std::getenv("SGSF_SAVE_SALIENCY");  // optional folder for previews
  for (size_t i = 0; i < files.size() && n < 12; i += std::max<size_t>(1, files.size() / 12), ++n) {
    Image img = resize_bilinear(read_image(files[i].string()), 256, 256);
    auto t0 = std::chrono::steady_clock::now();
    SaliencyResult s = compute_saliency(img, SaliencyMode::Border);
    total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    fallbacks += s.fallback;
    const float area = s.fallback ? 0.f : mask_area(s.map);
    total_area += area;
    if (save) save_saliency_preview(std::string(save) + "/" + files[i].stem().string() + ".png", img, s);
    CHECK_FALSE(s.fallback);
    CHECK(area > 0.02f);  // a bright highlight can win Otsu's split on a few images (~5 %)
    CHECK(area < 0.7f);
    SaliencyResult sp = compute_saliency(img, SaliencyMode::Spectral);
    spectral_area += sp.fallback ? 1.f : mask_area(sp.map);
  }
  const double mean_area = total_area / std::max(1, n - fallbacks);
  MESSAGE("tire border maps: ", n, " images, mean area ", mean_area, ", fallbacks ", fallbacks, ", ",
          total_ms / n, " ms per 256x256 image; spectral maps: mean area ", spectral_area / n);
  CHECK(mean_area > 0.2);  // sgsf/README.md, 'Saliency maps': about 33 % on the tire
  CHECK(mean_area < 0.5);
}
