// calibration.h — the decision threshold of a run, set from the image scores of normal images the
// model never trained on, and the normalised score a person reads.
//
// Rules (--threshold-rule; bench/README.md, 'Decision threshold rules', compares them over seeds):
//   forged      the default: the 10th percentile of the scores of anomalies forged on the held-out
//               normal images (kForgedPerImage draws each of the training's own forging, every draw
//               with a non-empty mask): the threshold that catches 90 % of forged anomalies. It is
//               set by what anomalies score on this model, not extrapolated from the normal images'
//               tail, which a few images place badly. A warning says when it lies below more than a
//               tenth of the held-out normal scores. Without forged scores it falls back to `spread`.
//   spread      with q = the 99th percentile and m = the median of the held-out normal scores,
//               min(1, q + 0.5 (q - m)): above the normal images' tail (with few images q is close
//               to their maximum), whatever defects score.
//   target-fpr  the (1 - F) quantile of the held-out normal scores for --target-fpr F: about F of
//               normal images above it, as finely as the number of held-out images allows.
// Percentiles interpolate linearly (numpy's default). An image is a defect when its score is above
// the threshold.
//
// Normalised score (0.5 at the threshold, monotone, in [0, 1] for scores in [0, 1]):
//   n(s) = 0.5 s / t                    for s <= t
//   n(s) = 0.5 + 0.5 (s - t) / (1 - t)   for s > t
//
// Stored with the run: <run>/calibration.json (a flat JSON object of strings: format, threshold,
// rule, source, count, q99, median, weights_fingerprint) and <run>/calibration.csv (each held-out
// image and its score).
#pragma once
#include <string>
#include <vector>

namespace sg::sgsf {

constexpr const char* kCalibrationFormat = "sgsf-calibration-1";

enum class ThresholdRule { Forged, Spread, TargetFpr };
constexpr ThresholdRule kDefaultThresholdRule = ThresholdRule::Forged;
constexpr double kForgedRecall = 0.90;  // the forged rule: the share of forged anomalies above the threshold
// "forged", "spread", "target-fpr"; anything else throws naming `option` and the choices.
ThresholdRule parse_threshold_rule(const std::string& name, const std::string& option = "--threshold-rule");
const char* threshold_rule_name(ThresholdRule r);
constexpr double kCalibrationQuantile = 99.0;  // percent
constexpr double kCalibrationMargin = 0.5;     // times (q - median)
// Forged anomalies drawn per held-out normal image, to score beside them (calibration.csv).
constexpr int kForgedPerImage = 4;
// Fewer held-out normal images than this calibrate a rough threshold (a warning says so).
constexpr int kMinCalibrationImages = 20;

struct Calibration {
  float threshold = 0;
  ThresholdRule rule = kDefaultThresholdRule;  // the rule that set it (Spread when Forged had no forged scores)
  double target_fpr = 0;                       // TargetFpr's F
  float q99 = 0, median = 0;                   // of the held-out normal scores
  float forged_median = 0;                     // of the forged scores (0 without them)
  int count = 0;
  std::string source;               // "validation/good" or "held out: F of the training images, seed S"
  std::string weights_fingerprint;  // of the checkpoint the scores were computed with
  std::vector<std::string> images;  // the held-out images (dataset paths)
  std::vector<float> scores;        // and their scores
  // Forged anomalies on the held-out images (the training's own forging, kForgedPerImage draws per
  // image): the image each was forged from, its score and the fraction of its pixels forged.
  std::vector<std::string> forged_images;
  std::vector<float> forged_scores, forged_fraction;
};

// A rule above; fills threshold, rule, q99, median, forged_median, count and the score vectors
// from `scores` (the held-out normal images', at least one) and `forged` (may be empty).
Calibration calibrate(const std::vector<float>& scores, const std::vector<float>& forged = {},
                      ThresholdRule rule = kDefaultThresholdRule, double target_fpr = 0.05);
// The rule in words, as calibration.json records it.
std::string threshold_rule_text(ThresholdRule rule, double target_fpr);
// The normalised score (0.5 at the threshold).
float normalized_score(float score, float threshold);
// "ok" or "defect": defect when score > threshold.
inline bool is_defect(float score, float threshold) { return score > threshold; }

std::string calibration_path(const std::string& run);
bool has_calibration(const std::string& run);
void write_calibration(const std::string& run, const Calibration& c);
// Reads and checks calibration.json (threshold in [0, 1], the fingerprint equal to `fingerprint`);
// throws naming the file.
Calibration read_calibration(const std::string& run, const std::string& fingerprint);

// The text said when a run has no calibrated threshold.
std::string no_calibration_notice(const std::string& run);

// What is wrong with deciding `scores` at `threshold` (defect when score > threshold), in words, one
// line each; empty when nothing is: the threshold above every score or below every one (nothing or
// everything would be called a defect), and, with `calibrated_from` > 0, fewer calibration images
// than kMinCalibrationImages. `what` names the scores ("held-out normal images", "scored images").
std::vector<std::string> decision_warnings(const std::vector<float>& scores, float threshold, const std::string& what,
                                           int calibrated_from = 0);

}  // namespace sg::sgsf
