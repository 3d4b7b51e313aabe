// test_plot.cpp — curve plots and anomaly-map overlays: files are written with the expected size,
// are not blank, and put the curve / colours where they belong; the built-in font is complete.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "engine/common.h"
#include "sgsf/font5x7.h"
#include "sgsf/plot.h"

using namespace sg::sgsf;
using sg::data::Image;

namespace {
// Pixels that are not (nearly) white.
int inked(const Image& img) {
  int n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      if (img.at(0, y, x) < 0.9f || img.at(1, y, x) < 0.9f || img.at(2, y, x) < 0.9f) ++n;
  return n;
}
bool bluish(const Image& img, int y, int x) {
  return img.at(2, y, x) > 0.6f && img.at(0, y, x) < 0.3f;
}
}  // namespace

TEST_CASE("the 5x7 font has distinct glyphs for digits and letters") {
  std::set<std::vector<uint8_t>> seen;
  std::string chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.,:-=()/%";
  for (char c : chars) {
    const uint8_t* g = glyph5x7(c);
    REQUIRE(g != nullptr);
    std::vector<uint8_t> rows(g, g + 7);
    int bits = 0;
    for (uint8_t r : rows) {
      bits += __builtin_popcount(r);
      CHECK(r < 32);
    }
    CHECK_MESSAGE(bits > 0, "glyph '", c, "' is empty");
    CHECK_MESSAGE(seen.insert(rows).second, "glyph '", c, "' duplicates another");
  }
  CHECK(glyph5x7('~') == glyph5x7('?'));  // unknown characters print as '?'
}

TEST_CASE("plot_curve_png writes a non-blank plot of the expected size with the curve in place") {
  std::vector<float> s = {0.9f, 0.8f, 0.7f, 0.6f, 0.55f, 0.5f, 0.4f, 0.3f, 0.2f, 0.1f};
  std::vector<uint8_t> y = {1, 1, 0, 1, 1, 0, 0, 1, 0, 0};
  Curve c = roc_curve(s, y);
  const std::string path = "test_plot_roc.png";
  std::remove(path.c_str());
  plot_curve_png(path, c, "ROC test", "False positive rate", "True positive rate", roc_auc(s, y), true);
  Image img = sg::data::read_image(path, 3);
  CHECK(img.width == kPlotWidth);
  CHECK(img.height == kPlotHeight);
  int ink = inked(img);
  CHECK(ink > 5000);                             // axes, grid, text, curve
  CHECK(ink < kPlotWidth * kPlotHeight / 3);     // but mostly white background
  // The curve passes through (0, 0.4) -> along the left axis, and the top edge at (0.6, 1) -> (1, 1):
  // somewhere on the top half of the plot's left border region there must be blue pixels.
  int blue = 0;
  for (int yy = 0; yy < img.height; ++yy)
    for (int xx = 0; xx < img.width; ++xx) blue += bluish(img, yy, xx);
  CHECK(blue > 300);
  // Corners of the canvas are background.
  CHECK(img.at(0, 0, 0) == 1.f);
  CHECK(img.at(2, img.height - 1, img.width - 1) == 1.f);

  Curve pr = pr_curve(s, y);
  plot_curve_png("test_plot_pr.png", pr, "PR test", "Recall", "Precision", NAN);
  Image img2 = sg::data::read_image("test_plot_pr.png", 3);
  CHECK(img2.width == kPlotWidth);
  CHECK(inked(img2) > 3000);

  Curve bad;
  bad.x = {0, 1};
  bad.y = {0};
  CHECK_THROWS_AS(plot_curve_png("never.png", bad, "", "", "", 0.5), sg::Error);
}

TEST_CASE("heatmap_overlay_png: three panels, jet colours, red ground truth") {
  const int h = 40, w = 50;
  Image rgb(3, h, w);
  for (int yy = 0; yy < h; ++yy)
    for (int x = 0; x < w; ++x) {
      rgb.at(0, yy, x) = 0.5f;
      rgb.at(1, yy, x) = (float)x / w;
      rgb.at(2, yy, x) = 0.25f;
    }
  std::vector<float> map((size_t)h * w, 0.f);
  std::vector<uint8_t> mask((size_t)h * w, 0);
  for (int yy = 10; yy < 20; ++yy)
    for (int x = 20; x < 35; ++x) {
      map[(size_t)yy * w + x] = 1.f;
      mask[(size_t)yy * w + x] = 255;
    }
  heatmap_overlay_png("test_overlay.png", rgb, map.data(), mask.data(), h, w);
  Image out = sg::data::read_image("test_overlay.png", 3);
  CHECK(out.height == h);
  CHECK(out.width == 3 * w + 8);
  // Panel 1 is the image (to 8-bit rounding).
  CHECK(std::fabs(out.at(1, 5, 30) - 30.f / w) < 1.f / 255 + 1e-6f);
  // Panel 2: map 0 -> jet dark blue blended, map 1 -> jet dark red blended.
  float r0, g0, b0, r1, g1, b1;
  jet(0.f, r0, g0, b0);
  jet(1.f, r1, g1, b1);
  CHECK(b0 > 0.4f);
  CHECK(r0 == 0.f);
  CHECK(r1 > 0.4f);
  CHECK(b1 == 0.f);
  CHECK(std::fabs(out.at(2, 2, w + 4 + 2) - (0.5f * 0.25f + 0.5f * b0)) < 2.f / 255);
  CHECK(std::fabs(out.at(0, 15, w + 4 + 25) - (0.5f * 0.5f + 0.5f * r1)) < 2.f / 255);
  // Panel 3: contour pure red, inside tinted, outside untouched.
  const int o3 = 2 * (w + 4);
  CHECK(out.at(0, 10, o3 + 25) == 1.f);
  CHECK(out.at(1, 10, o3 + 25) == 0.f);
  CHECK(out.at(0, 15, o3 + 25) > 0.7f);
  CHECK(std::fabs(out.at(1, 15, o3 + 25) - 0.55f * 25 / w) < 1.f / 255 + 1e-6f);
  CHECK(std::fabs(out.at(1, 30, o3 + 25) - 25.f / w) < 1.f / 255 + 1e-6f);
  // Separator columns are white.
  CHECK(out.at(0, 20, w + 1) == 1.f);

  // No ground truth (scoring unlabelled images) and a gray image are fine: two panels, the image and
  // the map (a third would only repeat the first); wrong sizes are not.
  Image gray(1, h, w, 0.3f);
  heatmap_overlay_png("test_overlay_nogt.png", gray, map.data(), nullptr, h, w);
  Image out2 = sg::data::read_image("test_overlay_nogt.png", 3);
  CHECK(out2.width == 2 * w + 4);
  CHECK(std::fabs(out2.at(0, 15, 25) - 0.3f) < 1.f / 255 + 1e-6f);
  CHECK_THROWS_AS(heatmap_overlay_png("never.png", rgb, map.data(), nullptr, h + 1, w), sg::Error);
}
