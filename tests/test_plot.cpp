// test_plot.cpp — curve plots (SVG, with their points as CSV) and anomaly-map overlays: files hold
// the text, the curve and the colours where they belong.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "engine/common.h"
#include "report/plot.h"

using namespace sg::report;
using sg::data::Image;

namespace {
std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("plot_curve_svg: an SVG with its labels as text and the curve's points in place; the CSV holds them") {
  std::vector<float> s = {0.9f, 0.8f, 0.7f, 0.6f, 0.55f, 0.5f, 0.4f, 0.3f, 0.2f, 0.1f};
  std::vector<uint8_t> y = {1, 1, 0, 1, 1, 0, 0, 1, 0, 0};
  Curve c = roc_curve(s, y);
  plot_curve_svg("test_plot_roc.svg", c, "ROC <test> & more", "False positive rate", "True positive rate",
                 roc_auc(s, y), true);
  const std::string svg = read_text("test_plot_roc.svg");
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("viewBox=\"0 0 " + std::to_string(kPlotWidth) + " " + std::to_string(kPlotHeight) + "\"") !=
        std::string::npos);
  // Text is text (the viewer draws it), escaped as XML.
  CHECK(svg.find(">ROC &lt;test&gt; &amp; more</text>") != std::string::npos);
  CHECK(svg.find(">False positive rate</text>") != std::string::npos);
  CHECK(svg.find(">AUC = " + sg::str(std::fixed, std::setprecision(4), roc_auc(s, y)) + "</text>") != std::string::npos);
  CHECK(svg.find("stroke-dasharray") != std::string::npos);  // the chance line
  // The polyline passes through the curve's points, mapped to the plot area: (0, 0) at the lower left
  // corner (100, 408) and (1, 1) at the upper right (496, 48).
  const size_t at = svg.find("<polyline");
  REQUIRE(at != std::string::npos);
  const std::string points = svg.substr(svg.find("points=\"", at) + 8);
  CHECK(points.rfind("100.00,408.00 ", 0) == 0);
  CHECK(points.find("496.00,48.00 \"") != std::string::npos);
  // The CSV: a header, then the points (all of them here: they are far apart), with thresholds.
  write_curve_csv("test_plot_roc.csv", c, "fpr", "tpr");
  const std::string csv = read_text("test_plot_roc.csv");
  CHECK(csv.rfind("fpr,tpr,threshold\n", 0) == 0);
  CHECK((size_t)std::count(csv.begin(), csv.end(), '\n') == c.x.size() + 1);
  // A curve of a million points keeps the visible ones in the SVG, and far fewer than a million in the
  // CSV, first and last included.
  Curve big;
  for (int k = 0; k <= 1000000; ++k) {
    big.x.push_back(k / 1e6);
    big.y.push_back(std::sqrt(k / 1e6));
  }
  const std::vector<size_t> keep = visible_points(big, kCsvResolution);
  CHECK(keep.front() == 0);
  CHECK(keep.back() == 1000000);
  CHECK(keep.size() < 20000);
  Curve bad;
  bad.x = {0, 1};
  bad.y = {0};
  CHECK_THROWS_AS(plot_curve_svg("never.svg", bad, "", "", "", 0.5), sg::Error);
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
