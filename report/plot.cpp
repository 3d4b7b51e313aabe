// plot.cpp — curve plots as SVG with their points as CSV, and anomaly-map overlays as PNG (see
// plot.h).
#include "report/plot.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "data/image_io.h"
#include "engine/common.h"
#include "engine/file_io.h"
#include "report/markup.h"

namespace sg::report {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}


}  // namespace

std::vector<size_t> visible_points(const Curve& c, double resolution) {
  std::vector<size_t> keep;
  for (size_t k = 0; k < c.x.size(); ++k) {
    if (!keep.empty() && k + 1 < c.x.size()) {
      const size_t j = keep.back();
      if (std::fabs(c.x[k] - c.x[j]) < resolution && std::fabs(c.y[k] - c.y[j]) < resolution) continue;
    }
    keep.push_back(k);
  }
  return keep;
}

void plot_curve_svg(const std::string& path, const Curve& c, const std::string& title, const std::string& xlabel,
                    const std::string& ylabel, double auc, bool diagonal) {
  SG_CHECK(c.x.size() == c.y.size(), "plot_curve_svg: curve has ", c.x.size(), " x but ", c.y.size(), " y values");
  const int W = kPlotWidth, H = kPlotHeight;
  const int L = 100, R = W - 24, T = 48, B = H - 72;  // plot area
  auto px = [&](double v) { return L + std::clamp(v, 0.0, 1.0) * (R - L); };
  auto py = [&](double v) { return B - std::clamp(v, 0.0, 1.0) * (B - T); };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
    << " " << H << "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"15\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  const double ticks[5] = {0, 0.25, 0.5, 0.75, 1};
  const char* tick_text[5] = {"0", "0.25", "0.5", "0.75", "1"};
  for (int i = 0; i < 5; ++i) {
    o << "<line x1=\"" << px(ticks[i]) << "\" y1=\"" << T << "\" x2=\"" << px(ticks[i]) << "\" y2=\"" << B
      << "\" stroke=\"#e0e0e0\"/>\n<line x1=\"" << L << "\" y1=\"" << py(ticks[i]) << "\" x2=\"" << R << "\" y2=\""
      << py(ticks[i]) << "\" stroke=\"#e0e0e0\"/>\n";
    o << "<text x=\"" << px(ticks[i]) << "\" y=\"" << B + 22 << "\" text-anchor=\"middle\">" << tick_text[i]
      << "</text>\n<text x=\"" << L - 10 << "\" y=\"" << py(ticks[i]) + 5 << "\" text-anchor=\"end\">" << tick_text[i]
      << "</text>\n";
  }
  if (diagonal)
    o << "<line x1=\"" << L << "\" y1=\"" << B << "\" x2=\"" << R << "\" y2=\"" << T
      << "\" stroke=\"#8c8c8c\" stroke-dasharray=\"6 6\"/>\n";
  const std::vector<size_t> keep = visible_points(c, 0.5 / (R - L));
  if (keep.size() == 1) {
    o << "<circle cx=\"" << px(c.x[keep[0]]) << "\" cy=\"" << py(c.y[keep[0]]) << "\" r=\"3\" fill=\"#1f59bf\"/>\n";
  } else if (!keep.empty()) {
    o << "<polyline fill=\"none\" stroke=\"#1f59bf\" stroke-width=\"2\" points=\"";
    for (size_t k : keep) o << fmt("%.2f", px(c.x[k])) << "," << fmt("%.2f", py(c.y[k])) << " ";
    o << "\"/>\n";
  }
  o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << R - L << "\" height=\"" << B - T
    << "\" fill=\"none\" stroke=\"black\"/>\n";
  o << "<text x=\"" << W / 2 << "\" y=\"28\" text-anchor=\"middle\" font-size=\"17\">" << markup_escape(title)
    << "</text>\n<text x=\"" << (L + R) / 2 << "\" y=\"" << H - 22 << "\" text-anchor=\"middle\">" << markup_escape(xlabel)
    << "</text>\n<text transform=\"translate(26," << (T + B) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << markup_escape(ylabel) << "</text>\n";
  if (!std::isnan(auc))
    o << "<rect x=\"" << R - 150 << "\" y=\"" << B - 42 << "\" width=\"140\" height=\"32\" fill=\"white\" "
      << "stroke=\"black\"/>\n<text x=\"" << R - 80 << "\" y=\"" << B - 21 << "\" text-anchor=\"middle\">AUC = "
      << fmt("%.4f", auc) << "</text>\n";
  o << "</svg>\n";
  write_file_atomic(path, o.str());
}

void write_curve_csv(const std::string& path, const Curve& c, const std::string& xname, const std::string& yname) {
  SG_CHECK(c.x.size() == c.y.size(), "write_curve_csv: curve has ", c.x.size(), " x but ", c.y.size(), " y values");
  std::ostringstream o;
  o << csv_field(xname) << "," << csv_field(yname) << (c.thresholds.size() == c.x.size() ? ",threshold" : "") << "\n";
  for (size_t k : visible_points(c, kCsvResolution)) {
    o << fmt("%.9g", c.x[k]) << "," << fmt("%.9g", c.y[k]);
    if (c.thresholds.size() == c.x.size()) o << "," << fmt("%.9g", c.thresholds[k]);
    o << "\n";
  }
  write_file_atomic(path, o.str());
}

void heatmap_overlay_png(const std::string& path, const data::Image& rgb, const float* map,
                         const uint8_t* gt, int h, int w, float vmin, float vmax) {
  SG_CHECK(map != nullptr, "heatmap_overlay_png: null anomaly map");
  SG_CHECK(h > 0 && w > 0 && rgb.height == h && rgb.width == w &&
               (rgb.channels == 3 || rgb.channels == 1),
           "heatmap_overlay_png: image is ", rgb.channels, "x", rgb.height, "x", rgb.width,
           " but the map is ", h, "x", w, " (need a 1- or 3-channel image of the map's size)");
  SG_CHECK(vmax > vmin, "heatmap_overlay_png: vmax (", vmax, ") must exceed vmin (", vmin, ")");
  const int gap = 4;
  const int panels = gt ? 3 : 2;  // without a ground truth the third panel would repeat the first
  data::Image out(3, h, panels * w + (panels - 1) * gap, 1.f);
  auto src = [&](int ch, int y, int x) { return std::clamp(rgb.at(rgb.channels == 3 ? ch : 0, y, x), 0.f, 1.f); };
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t p = (size_t)y * w + x;
      float im[3] = {src(0, y, x), src(1, y, x), src(2, y, x)};
      float c[3];
      jet((map[p] - vmin) / (vmax - vmin), c[0], c[1], c[2]);
      bool in = gt && gt[p];
      bool edge = false;  // a mask pixel with a 4-neighbour outside the mask (or the border)
      if (in)
        edge = y == 0 || x == 0 || y == h - 1 || x == w - 1 || !gt[p - 1] || !gt[p + 1] ||
               !gt[p - (size_t)w] || !gt[p + (size_t)w];
      const float red[3] = {1, 0, 0};
      for (int ch = 0; ch < 3; ++ch) {
        out.at(ch, y, x) = im[ch];
        out.at(ch, y, w + gap + x) = 0.5f * im[ch] + 0.5f * c[ch];
        if (gt) out.at(ch, y, 2 * (w + gap) + x) = edge ? red[ch] : in ? 0.55f * im[ch] + 0.45f * red[ch] : im[ch];
      }
    }
  data::write_png(path, out);
}

}  // namespace sg::report
