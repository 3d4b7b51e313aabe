// report_html.cpp — the inspection report page (see report_html.h).
#include "report/report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "data/image_io.h"
#include "engine/common.h"
#include "engine/file_io.h"
#include "report/markup.h"
#include "report/colormap.h"
#include "sgsf/calibration.h"

namespace fs = std::filesystem;

namespace sg::report {
namespace {

constexpr int kMaxSide = 1024;  // gallery images: at most this many pixels on the long side


// A file name as a relative URL: every byte outside [A-Za-z0-9._-] percent-encoded.
std::string url_escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      o += (char)c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      o += buf;
    }
  }
  return o;
}

std::string num(double v, int digits = 4) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

// What a gallery entry is: "missed defect", "false alarm", "defect", "ok", or the decision alone.
struct Verdict {
  bool wrong = false;
  int rank = 3;  // 0 missed defect, 1 false alarm, 2 anything else
  std::string text, css;
};

Verdict verdict(const ReportInput& in, const GalleryImage& g) {
  Verdict v;
  if (!in.has_threshold) {
    v.text = g.label == 1 ? "defective (no threshold)" : g.label == 0 ? "normal (no threshold)" : "no threshold";
    v.css = "none";
    return v;
  }
  const bool defect = sgsf::is_defect(g.score, in.threshold);
  if (g.label == 1 && !defect) v = Verdict{true, 0, "missed defect", "miss"};
  else if (g.label == 0 && defect) v = Verdict{true, 1, "false alarm", "alarm"};
  else v = Verdict{false, 2, defect ? "defect" : "ok", defect ? "defect" : "ok"};
  return v;
}

// The gallery image of one entry: the image at its own resolution (at most kMaxSide on its long
// side), the map upsampled over it half and half, coloured on the scale anchored to the
// threshold, and the ground truth's outline in white.
void write_gallery_image(const std::string& path, const ReportInput& in, const GalleryImage& g) {
  data::Image img = data::read_image_within(g.source_path, 3, kMaxSide);
  const int h = img.height, w = img.width;
  const int s = in.map_size;
  data::Image map(1, s, s);
  map.pixels = g.map;
  map = data::resize_bilinear(map, h, w);
  data::Image mask;
  if (!g.mask.empty()) {
    mask = data::Image(1, s, s);
    for (size_t i = 0; i < g.mask.size(); ++i) mask.pixels[i] = g.mask[i] ? 1.f : 0.f;
    mask = data::resize_bilinear(mask, h, w);
    data::binarize(mask, 0.5f);
  }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const float v = map.at(0, y, x);
      float c[3];
      jet(in.has_threshold ? sgsf::normalized_score(v, in.threshold) : v, c[0], c[1], c[2]);
      bool edge = false;
      if (!mask.empty() && mask.at(0, y, x) > 0.5f)
        edge = y == 0 || x == 0 || y == h - 1 || x == w - 1 || mask.at(0, y - 1, x) < 0.5f ||
               mask.at(0, y + 1, x) < 0.5f || mask.at(0, y, x - 1) < 0.5f || mask.at(0, y, x + 1) < 0.5f;
      for (int ch = 0; ch < 3; ++ch)
        img.at(ch, y, x) = edge ? 1.f : 0.5f * img.at(ch, y, x) + 0.5f * c[ch];
    }
  data::write_jpeg(path, img);
}

const char* kStyle = R"(
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
.warn { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 0.8em; margin: 0.3em 0; }
.curves img { width: 360px; margin-right: 1em; }
.scale { display: flex; align-items: center; gap: 0.6em; margin: 0.5em 0 1em; }
.bar { width: 320px; height: 14px; position: relative;
       background: linear-gradient(to right, #00007f, #0000ff, #00ffff, #7fff7f, #ffff00, #ff0000, #7f0000); }
.bar .mid { position: absolute; left: 50%; top: -4px; bottom: -4px; border-left: 2px solid #000; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 260px; border: 3px solid #ccc; padding: 4px; }
figure img { width: 100%; display: block; }
figcaption { font-size: 12px; line-height: 1.4; word-break: break-all; }
figure.miss { border-color: #d9534f; } figure.alarm { border-color: #f0ad4e; }
figure.defect { border-color: #a05cc8; } figure.ok { border-color: #5cb85c; }
)";

// Counts the gallery's images as they load or fail, into data attributes of <body>, so a browser
// test can read how many were shown.
const char* kScript = R"(
(function () {
  var imgs = document.querySelectorAll('.gallery img'), loaded = 0, failed = 0;
  function done() { document.body.setAttribute('data-loaded', loaded); document.body.setAttribute('data-failed', failed); }
  imgs.forEach(function (im) {
    if (im.complete && im.naturalWidth > 0) { loaded++; return; }
    im.addEventListener('load', function () { loaded++; done(); });
    im.addEventListener('error', function () { failed++; done(); });
  });
  done();
})();
)";

}  // namespace

std::vector<size_t> gallery_order(const ReportInput& in) {
  std::vector<size_t> order(in.images.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int ra = verdict(in, in.images[a]).rank, rb = verdict(in, in.images[b]).rank;
    if (ra != rb) return ra < rb;
    return in.images[a].score > in.images[b].score;
  });
  return order;
}

int write_report(const std::string& out_dir, const ReportInput& in) {
  const fs::path files = fs::path(out_dir) / "report_files";
  fs::create_directories(files);
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" << markup_escape(in.title)
    << "</title>\n<style>" << kStyle << "</style></head>\n<body data-gallery=\"" << in.images.size() << "\">\n";
  o << "<h1>" << markup_escape(in.title) << "</h1>\n";
  for (const std::string& w : in.warnings) o << "<div class=\"warn\">warning: " << markup_escape(w) << "</div>\n";
  if (!in.metrics.empty()) {
    o << "<h2>Metrics</h2>\n<table>\n";
    for (const auto& [k, v] : in.metrics) o << "<tr><td>" << markup_escape(k) << "</td><td>" << markup_escape(v) << "</td></tr>\n";
    o << "</table>\n";
  }
  if (!in.curve_files.empty()) {
    o << "<div class=\"curves\">";
    for (const std::string& f : in.curve_files) o << "<img src=\"" << url_escape(f) << "\" alt=\"" << markup_escape(f) << "\">";
    o << "</div>\n";
  }
  // The decision at the threshold.
  int tp = 0, fp = 0, tn = 0, fn = 0, flagged = 0;
  for (const GalleryImage& g : in.images) {
    const bool d = in.has_threshold && sgsf::is_defect(g.score, in.threshold);
    flagged += d;
    if (g.label == 1) (d ? tp : fn)++;
    if (g.label == 0) (d ? fp : tn)++;
  }
  o << "<h2>Decision</h2>\n";
  if (in.has_threshold) {
    o << "<table>\n<tr><th>threshold</th><th>source</th><th>images</th><th>called defects</th>";
    const bool labelled = tp + fp + tn + fn > 0;
    if (labelled) o << "<th>defects caught</th><th>defects missed</th><th>false alarms</th><th>precision</th><th>recall</th>";
    o << "</tr>\n<tr><td>" << num(in.threshold) << "</td><td>" << markup_escape(in.threshold_source) << "</td><td>"
      << in.images.size() << "</td><td>" << flagged << "</td>";
    if (labelled)
      o << "<td>" << tp << "</td><td>" << fn << "</td><td>" << fp << "</td><td>"
        << (tp + fp > 0 ? num(100.0 * tp / (tp + fp), 3) + " %" : std::string("n/a")) << "</td><td>"
        << (tp + fn > 0 ? num(100.0 * tp / (tp + fn), 3) + " %" : std::string("n/a")) << "</td>";
    o << "</tr>\n</table>\n";
  } else {
    o << "<p>No threshold: the run has no calibrated one (decisions need <code>--threshold</code>).</p>\n";
  }
  // The colour scale, anchored to the threshold.
  o << "<div class=\"scale\"><span>0</span><div class=\"bar\">"
    << (in.has_threshold ? "<div class=\"mid\"></div>" : "") << "</div><span>1</span><span>"
    << (in.has_threshold ? "map colour: normalised score of each pixel; the black mark is the threshold " +
                               num(in.threshold) + " (normalised 0.5); white outline: ground truth"
                         : std::string("map colour: each pixel's anomaly value; white outline: ground truth"))
    << "</span></div>\n";
  // The gallery.
  o << "<h2>Images (" << in.images.size() << "), wrong decisions first, then by score</h2>\n<div class=\"gallery\">\n";
  int written = 0;
  for (const size_t i : gallery_order(in)) {
    const GalleryImage& g = in.images[i];
    char file[32];
    std::snprintf(file, sizeof file, "%05zu.jpg", i);
    write_gallery_image((files / file).string(), in, g);
    ++written;
    const Verdict v = verdict(in, g);
    o << "<figure class=\"" << v.css << "\"><img src=\"report_files/" << file << "\" alt=\"" << markup_escape(g.name)
      << "\"><figcaption><b>" << markup_escape(v.text) << "</b> &middot; " << markup_escape(g.name)
      << (g.defect.empty() || g.defect == "unknown" ? std::string() : " (" + markup_escape(g.defect) + ")")
      << "<br>score " << num(g.score);
    if (in.has_threshold)
      o << " &middot; normalised " << num(sgsf::normalized_score(g.score, in.threshold), 3) << " &middot; threshold "
        << num(in.threshold);
    o << "</figcaption></figure>\n";
  }
  o << "</div>\n<script>" << kScript << "</script>\n</body></html>\n";
  write_file_atomic((fs::path(out_dir) / "report.html").string(), o.str());
  return written;
}

}  // namespace sg::report
