// evaluate.h — testing a trained SGSF model (sgsf/README.md, 'Testing' and 'Metrics'): anomaly
// maps, image scores, the paper's metrics, and the files a person reads afterwards (table, JSON
// report, CSV of scores, heat-map overlays, ROC and PR curves). Also scoring new, unlabelled
// images.
#pragma once
#include <string>
#include <vector>

#include "sgsf/config.h"

namespace sg::sgsf {

struct EvalOptions {
  std::string run;           // run folder holding checkpoint.safetensors and config.json
  std::string data;          // dataset root; empty = the one recorded in the config
  std::string layout;        // empty = the one recorded in the config
  std::string category;      // empty = the one recorded in the config
  std::string out;           // output folder; empty = <run>/test
  std::string device = "auto";
  int batch = 8;
  int workers = 2;
  int overlays = -1;         // heat-map overlays to write: -1 all, 0 none, N the first N
  bool progress = true;
};

struct CategoryMetrics {
  std::string category;
  std::string layout;  // mvtec, dagm, ksdd2 or generic: which table the row belongs in
  int images = 0, anomalous = 0;
  double image_auroc = 0, pixel_auroc = 0, pixel_ap = 0, aupro = 0, image_f1 = 0;
  // DAGM's classification set at the F1-optimal threshold (Table II) and KolektorSDD2's AP_det.
  double image_ap = 0, tpr = 0, tnr = 0, accuracy = 0, macc = 0, threshold = 0;
  bool has_pixel_metrics = false;
  double seconds = 0, images_per_second = 0;
};

// Load the run's checkpoint (validated against its config.json), run the test split, write the
// outputs under options.out and return the metrics.
CategoryMetrics evaluate(const EvalOptions& options);

// Score unlabelled images (a file or a folder): writes <out>/scores.csv and an overlay per image.
void score_images(const EvalOptions& options, const std::string& path);

// The paper-style table (one row per category and the mean) as text.
// DAGM runs get the classification columns of the paper's Table II.
std::string metrics_table(const std::vector<CategoryMetrics>& rows);
std::string metrics_json(const std::vector<CategoryMetrics>& rows);

}  // namespace sg::sgsf
