// plot.cpp — rasterised curve plots and anomaly-map overlays written as PNG (see plot.h).
// Drawing happens on an sg::data::Image (planar RGB floats); coordinates are pixels, y downwards.
#include "sgsf/plot.h"

#include "report/colormap.h"

#include <algorithm>
#include <cstdio>

#include "data/image_io.h"
#include "engine/common.h"
#include "sgsf/font5x7.h"

namespace sg::sgsf {
namespace {

struct Rgb {
  float r, g, b;
};
const Rgb kBlack{0, 0, 0}, kGrid{0.88f, 0.88f, 0.88f}, kBlue{0.12f, 0.35f, 0.75f},
    kGray{0.55f, 0.55f, 0.55f}, kWhite{1, 1, 1};

void put(data::Image& img, int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  img.at(0, y, x) = c.r;
  img.at(1, y, x) = c.g;
  img.at(2, y, x) = c.b;
}

void fill_rect(data::Image& img, int x0, int y0, int x1, int y1, Rgb c) {  // inclusive corners
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) put(img, x, y, c);
}

// Bresenham line, each step stamped as a (2r+1)^2 square; dash > 0 draws `dash` on, `dash` off.
void line(data::Image& img, int x0, int y0, int x1, int y1, Rgb c, int r = 0, int dash = 0) {
  int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  int err = dx + dy, step = 0;
  for (;;) {
    if (dash <= 0 || (step / dash) % 2 == 0) fill_rect(img, x0 - r, y0 - r, x0 + r, y0 + r, c);
    ++step;
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

// Text with the 5x7 font; each glyph cell is 6 x 8 font pixels, scaled by `s`. Horizontal text has
// its top-left corner at (x, y); vertical text reads bottom to top, starting at (x, y) = its
// bottom-left corner.
int text_width(const std::string& t, int s) { return (int)t.size() * 6 * s - s; }

void text(data::Image& img, int x, int y, const std::string& t, int s, Rgb c, bool vertical = false) {
  for (size_t k = 0; k < t.size(); ++k) {
    const uint8_t* g = glyph5x7(t[k]);
    for (int gy = 0; gy < 7; ++gy)
      for (int gx = 0; gx < 5; ++gx) {
        if (!(g[gy] & (0x10 >> gx))) continue;
        int u = ((int)k * 6 + gx) * s, v = gy * s;  // glyph-space offsets
        if (vertical)
          fill_rect(img, x + v, y - u - s + 1, x + v + s - 1, y - u, c);
        else
          fill_rect(img, x + u, y + v, x + u + s - 1, y + v + s - 1, c);
      }
  }
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

void plot_curve_png(const std::string& path, const Curve& c, const std::string& title,
                    const std::string& xlabel, const std::string& ylabel, double auc, bool diagonal) {
  SG_CHECK(c.x.size() == c.y.size(), "plot_curve_png: curve has ", c.x.size(), " x but ", c.y.size(),
           " y values");
  data::Image img(3, kPlotHeight, kPlotWidth, 1.f);
  const int s = 2;                               // text scale: glyphs 10 x 14 pixels
  const int L = 100, R = kPlotWidth - 24, T = 48, B = kPlotHeight - 72;  // plot area
  auto px = [&](double v) { return L + (int)std::lround(std::clamp(v, 0.0, 1.0) * (R - L)); };
  auto py = [&](double v) { return B - (int)std::lround(std::clamp(v, 0.0, 1.0) * (B - T)); };

  const double ticks[5] = {0, 0.25, 0.5, 0.75, 1};
  const char* tick_text[5] = {"0", "0.25", "0.5", "0.75", "1"};
  for (int i = 0; i < 5; ++i) {
    line(img, px(ticks[i]), T, px(ticks[i]), B, kGrid);
    line(img, L, py(ticks[i]), R, py(ticks[i]), kGrid);
  }
  if (diagonal) line(img, L, B, R, T, kGray, 0, 6);
  for (int i = 0; i < 5; ++i) {  // ticks and their labels
    line(img, px(ticks[i]), B, px(ticks[i]), B + 6, kBlack);
    text(img, px(ticks[i]) - text_width(tick_text[i], s) / 2, B + 12, tick_text[i], s, kBlack);
    line(img, L - 6, py(ticks[i]), L, py(ticks[i]), kBlack);
    text(img, L - 12 - text_width(tick_text[i], s), py(ticks[i]) - 7, tick_text[i], s, kBlack);
  }
  for (size_t k = 1; k < c.x.size(); ++k)
    line(img, px(c.x[k - 1]), py(c.y[k - 1]), px(c.x[k]), py(c.y[k]), kBlue, 1);
  if (c.x.size() == 1) fill_rect(img, px(c.x[0]) - 2, py(c.y[0]) - 2, px(c.x[0]) + 2, py(c.y[0]) + 2, kBlue);
  // Frame last, so the curve never hides the axes.
  line(img, L, T, R, T, kBlack);
  line(img, L, B, R, B, kBlack);
  line(img, L, T, L, B, kBlack);
  line(img, R, T, R, B, kBlack);

  text(img, (kPlotWidth - text_width(title, s)) / 2, 14, title, s, kBlack);
  text(img, (L + R - text_width(xlabel, s)) / 2, kPlotHeight - 26, xlabel, s, kBlack);
  text(img, 14, (T + B + text_width(ylabel, s)) / 2, ylabel, s, kBlack, /*vertical=*/true);
  if (!std::isnan(auc)) {
    std::string a = "AUC = " + fmt("%.4f", auc);
    int w = text_width(a, s), x1 = R - 10, y1 = B - 10, x0 = x1 - w - 16, y0 = y1 - 14 - 16;
    fill_rect(img, x0, y0, x1, y1, kWhite);
    line(img, x0, y0, x1, y0, kBlack);
    line(img, x0, y1, x1, y1, kBlack);
    line(img, x0, y0, x0, y1, kBlack);
    line(img, x1, y0, x1, y1, kBlack);
    text(img, x0 + 8, y0 + 8, a, s, kBlack);
  }
  data::write_png(path, img);
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

}  // namespace sg::sgsf
