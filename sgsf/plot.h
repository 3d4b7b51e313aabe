// plot.h — small PNG figures for evaluation reports, drawn pixel by pixel (no plotting library):
// a curve plot (ROC, PR, PRO) with axes, ticks, labels and the area, and a three-panel anomaly-map
// overlay (image | anomaly map over the image | ground truth over the image).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "data/image.h"
#include "sgsf/metrics.h"

#include "report/colormap.h"

namespace sg::sgsf {

// Canvas size of plot_curve_png (RGB).
constexpr int kPlotWidth = 520, kPlotHeight = 480;

// Line plot of c.x (horizontal) against c.y (vertical), both axes spanning [0, 1] with ticks and
// grid lines at 0, .25, .5, .75, 1; white background, the curve in blue. `auc` is written in a box
// at the lower right as "AUC = 0.xxxx" (pass NAN to leave it out); `diagonal` adds the dashed
// chance line of a ROC plot. Text uses the built-in 5x7 font (unknown characters print as '?').
// Throws sg::Error when x and y differ in length or the file cannot be written.
void plot_curve_png(const std::string& path, const Curve& c, const std::string& title,
                    const std::string& xlabel, const std::string& ylabel, double auc,
                    bool diagonal = false);

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

// The jet colour map (report/colormap.h), shared with the report's gallery.
using report::jet;

}  // namespace sg::sgsf
