// report_html.h — the inspection report: one HTML page a person opens offline (no server, no
// script from elsewhere), with its images in a folder beside it.
//
// It holds the metrics table, the curves, the decision at the threshold and a gallery of every
// image: the image at its input resolution (at most 1024 pixels on its long side) with the anomaly
// map over it, coloured on a scale anchored to the threshold (the threshold is the scale's middle:
// normalised score 0.5), the ground truth's outline where there is a mask, and the image's score,
// normalised score and decision. Wrong decisions come first (missed defects, then false alarms),
// then the rest by score, highest first.
//
// Reporting code: it knows images, maps and numbers, not the model.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sg::report {

struct GalleryImage {
  std::string name;         // as shown (the path relative to the dataset, or the file name)
  std::string source_path;  // the image file, read again at its own resolution
  int label = -1;           // 1 defective, 0 normal, -1 unknown (scored images)
  std::string defect;       // the defect type, when known
  float score = 0;
  std::vector<float> map;      // map_size x map_size, the model's resolution
  std::vector<uint8_t> mask;   // map_size x map_size ground truth, or empty
};

struct ReportInput {
  std::string title;  // e.g. "widget: test split"
  // Threshold-free metrics as rows of (name, value); empty when there are none (unlabelled images).
  std::vector<std::pair<std::string, std::string>> metrics;
  // Curve images already written in the output folder (file names), shown as they are.
  std::vector<std::string> curve_files;
  bool has_threshold = false;
  float threshold = 0;
  std::string threshold_source;  // "calibrated", "--threshold"
  std::vector<std::string> warnings;  // shown above everything
  int map_size = 0;
  std::vector<GalleryImage> images;
};

// Writes <out_dir>/report.html and its gallery images in <out_dir>/report_files/ (JPEG), every
// file through the one safe writer. Returns the number of gallery images written.
int write_report(const std::string& out_dir, const ReportInput& in);

// The gallery's order (indices into in.images), as described above.
std::vector<size_t> gallery_order(const ReportInput& in);

}  // namespace sg::report
