// plot.h — the figures of the reports: curve plots (ROC, PR) as SVG with their points as CSV, and
// the anomaly-map overlay as a PNG of panels (image | anomaly map over the image | ground truth).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "data/image.h"
#include "report/metrics.h"

#include "report/colormap.h"

namespace sg::report {

// Canvas of plot_curve_svg (the viewBox, in CSS pixels).
constexpr int kPlotWidth = 520, kPlotHeight = 480;
// The curves' CSV files keep the points that move x or y by at least this much (a pixel-level ROC
// has a point per distinct score: millions), and always the first and the last.
constexpr double kCsvResolution = 1e-4;

// Line plot of c.x (horizontal) against c.y (vertical), both axes spanning [0, 1] with ticks and
// grid lines, as SVG: the viewer draws the text (no font of ours). The area is printed in the
// lower right unless auc is NaN; diagonal draws the chance line of a ROC plot. The polyline keeps
// the points that move by half a pixel or more. Throws sg::Error when x and y differ in length or
// the file cannot be written.
void plot_curve_svg(const std::string& path, const Curve& c, const std::string& title,
                    const std::string& xlabel, const std::string& ylabel, double auc,
                    bool diagonal = false);

// The curve's points as CSV (x and y named, and the threshold of each point when the curve has
// them), for users who plot them themselves; see kCsvResolution.
void write_curve_csv(const std::string& path, const Curve& c, const std::string& xname, const std::string& yname);

// Indices of the points of c that move x or y by at least `resolution` from the last one kept
// (with the first and the last).
std::vector<size_t> visible_points(const Curve& c, double resolution);

// Three panels side by side, each h x w, separated by 4 white columns:
//   1. the image (rgb: 3 or 1 channels, h x w, values in [0,1]);
//   2. the anomaly map (h x w, row-major) through a jet colour map, values clipped to
//      [vmin, vmax], blended 50/50 over the image;
//   3. the ground truth: mask pixels (non-zero) tinted red over the image with a pure red contour
//      (a normal test image's empty mask leaves the plain image); left out when gt_mask_or_null is
//      null (unlabelled images), so the strip is then two panels wide.
void heatmap_overlay_png(const std::string& path, const sg::data::Image& rgb, const float* map,
                         const uint8_t* gt_mask_or_null, int h, int w, float vmin = 0.f,
                         float vmax = 1.f);


}  // namespace sg::report
