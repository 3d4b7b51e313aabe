// evaluate.h — testing a trained SGSF model (sgsf/README.md, 'Testing' and 'Metrics'): anomaly
// maps, image scores, the paper's metrics, and the files a person reads afterwards (table, JSON
// report, CSV of scores, heat-map overlays, ROC and PR curves). Also scoring new, unlabelled
// images.
#pragma once
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "data/loader.h"
#include "engine/precision.h"
#include "sgsf/calibration.h"
#include "sgsf/config.h"
#include "sgsf/guidance.h"
#include "sgsf/model.h"

namespace sg::sgsf {

struct EvalOptions {
  std::string run;           // run folder holding checkpoint.safetensors and config.json
  std::string data;          // dataset root; empty = the one recorded in the config
  std::string layout;        // empty = the one recorded in the config
  std::string category;      // empty = the one recorded in the config
  std::string out;           // output folder; empty = <run>/test
  std::string device = "auto";
  std::string precision;     // fp32 | bf16 | tf32 | auto; empty = the run's (fp32 where the device lacks it)
  int batch = 8;
  int workers = 2;
  int overlays = -1;         // heat-map overlays to write: -1 all, 0 none, N the first N
  bool progress = true;
  double threshold = NAN;    // decision threshold; NaN = the run's calibrated one (if any)
  bool save_maps = false;    // --score: also write every anomaly map to <out>/maps.safetensors
  // Scoring other than the run's (to compare choices on a trained run): the score's pooling window
  // (-1: the run's) and test-time flips (-1: the run's, 0 off, 1 on). The calibrated threshold was
  // set with the run's own scoring, so when these change it, decisions need `threshold`.
  int score_pool = -1;
  int test_flip = -1;
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
  // At the decision threshold (the calibrated one or --threshold), when there is one: precision,
  // recall, F1 and accuracy of the defect decision, and the false-positive rate on the normal images.
  bool has_decision = false;
  std::string decision_source;  // "calibrated" or "--threshold"
  // precision is NaN when nothing is flagged (undefined; "n/a" in the table, null in report.json).
  double decision_threshold = 0, precision = 0, recall = 0, f1 = 0, decision_accuracy = 0, fpr = 0;
  int flagged = 0;  // test images called defects
};

// A run folder loaded for inference: its config, the model (eval mode, on the device) with its
// checkpoint validated against config.json, and the fingerprint of its weights.
struct LoadedRun {
  TrainConfig cfg;
  std::unique_ptr<SGSFModel> model;
  std::string fingerprint;
};
LoadedRun load_run(const std::string& run, Device dev);

// The precision to run a trained run in on `dev`: `requested` (parse_precision: an unknown mode or
// one the device lacks throws naming `option`), or when it is empty the run's own, falling back to
// fp32 (with a note on stderr) where this device lacks it.
Precision run_precision(const std::string& requested, const TrainConfig& cfg, Device dev,
                        const std::string& option = "--precision");

// The guidance images of a run: its own bank (guidance.safetensors), or, for a run from an older
// version without one, the training images of its dataset (`data`/`layout`/`category` override the
// run's; a note on stderr says so). Throws naming the file or folder at fault.
GuidanceBank run_guidance(const LoadedRun& run, const std::string& run_dir, const std::string& data,
                          const std::string& layout, const std::string& category, int batch, int workers, Device dev);

// The run's decision threshold: `override_threshold` when it is a number, else the calibrated one
// (calibration.json); `source` says which ("--threshold", "calibrated", or "" when there is none).
bool run_threshold(const LoadedRun& run, const std::string& run_dir, double override_threshold, float* threshold,
                   std::string* source);

// How a run turns the network's output into anomaly maps and image scores (its config's choices).
struct Scoring {
  int pool = 21;      // the score is the maximum of the map after pool x pool mean pooling
  bool flip = false;  // the map is the mean of the image's and of its mirror image's (mirrored back)
};
Scoring scoring_of(const TrainConfig& c);

// Anomaly maps and image scores of `images` (3 x size x size each) with guidance from `bank`.
struct Inference {
  std::vector<std::vector<float>> maps;  // per image, H*W
  std::vector<float> scores;
  std::vector<int> guide;                // index into the bank of the guidance image used
};
// The lock that serialises loading runs and scoring on the GPU (sgsf/detector.cpp; CPU scoring
// runs without it), and the Python package's in-process runs of the programs.
std::mutex& engine_lock();

// The guidance features (SGSFModel::guidance_features) of bank images, each computed once, on its
// first use, and kept: a guide's features depend only on the guide and the weights, and recomputing
// them is a third of the work of scoring an image (the whole autoencoder, beside its encoder for the
// look-up and the segmentation module). Entries are kept until they would take more than
// `limit_bytes`; past that, guides are computed every time as without a cache. For a model whose
// weights no longer change (a loaded run): the cache does not see the weights. Safe to share between
// threads; an entry is a guide's features at batch 1, which equal its row of a batch (scoring is
// batch-invariant, tests/test_model.cpp).
class GuidanceCache {
 public:
  static constexpr size_t kDefaultLimitBytes = size_t(512) << 20;
  explicit GuidanceCache(size_t limit_bytes = kDefaultLimitBytes) : limit_(limit_bytes) {}
  // The features of bank images `guides` (mirror images of them if `mirrored`), as one batch.
  std::array<Tensor, 4> batch(SGSFModel& model, const GuidanceBank& bank, const std::vector<int>& guides,
                              bool mirrored, Device dev);
  size_t bytes() const;
  size_t entries() const;

 private:
  mutable std::mutex m_;
  std::map<std::pair<int, bool>, std::array<Tensor, 4>> kept_;
  size_t bytes_ = 0, limit_;
};

// With `cache`, the guides' features come from it (the same numbers, computed once per guide).
Inference infer(SGSFModel& model, const std::vector<const data::Image*>& images, const GuidanceBank& bank,
                const Scoring& how, int batch, Device dev, bool progress, GuidanceCache* cache = nullptr);

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
