// metrics.h — exact evaluation metrics of anomaly detection (sgsf/README.md, 'Metrics'): ROC AUC,
// average precision, the ROC and precision-recall curves, the classification at the F1-optimal
// threshold (DAGM table), and AUPRO (the per-region-overlap curve of the MVTec AD benchmark).
//
// Host-only, no tensors. Every metric sorts the scores once (radix sort, O(n)) and sweeps the
// distinct score values as thresholds, so pixel metrics over millions of pixels are exact (ties
// handled as scikit-learn does) and fast. Counts are integers; sums are accumulated in double.
//
// Conventions shared by all functions:
//   - labels / masks: 0 = normal, anything non-zero = anomalous (positive class);
//   - a sample is predicted anomalous at threshold t when score >= t;
//   - scores must be finite; empty input, mismatched sizes or a single class throw sg::Error
//     (scikit-learn raises for roc_auc_score too; here average_precision and best_f1 also refuse).
#pragma once
#include <cstdint>
#include <vector>

namespace sg::report {

// Area under the ROC curve: trapezoid over the distinct thresholds, exactly
// sklearn.metrics.roc_auc_score (computed from integer counts, so no rounding drift).
double roc_auc(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

// Average precision: sum over distinct thresholds (descending) of (R_k - R_{k-1}) * P_k, no
// interpolation, exactly sklearn.metrics.average_precision_score.
double average_precision(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

struct Curve {
  std::vector<double> x, y, thresholds;
};

// ROC curve as sklearn.metrics.roc_curve(drop_intermediate=False) of scikit-learn 1.2:
// x = FPR, y = TPR, one point per distinct threshold (descending), preceded by the point (0, 0)
// whose threshold is thresholds[1] + 1 (scikit-learn >= 1.3 writes +inf there instead).
// x, y and thresholds all have (distinct scores + 1) entries.
Curve roc_curve(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

// Precision-recall curve as sklearn.metrics.precision_recall_curve (1.2, full curve): x = recall,
// y = precision, ordered by increasing threshold, with the final point (recall 0, precision 1)
// appended; thresholds (ascending) has one entry fewer than x and y.
Curve pr_curve(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

// Classification at the threshold maximising F1 = 2TP / (2TP + FP + FN) over the distinct score
// values (predict anomalous when score >= threshold). Ties in F1 go to the highest threshold.
struct ClassificationAtBestF1 {
  double threshold = 0, f1 = 0, precision = 0, recall = 0 /* = TPR */, tpr = 0, tnr = 0,
         accuracy = 0, macc = 0 /* (TPR + TNR) / 2 */;
};
ClassificationAtBestF1 best_f1(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

// The PRO curve of the MVTec AD evaluation code (compute_pro): maps and masks are N images of
// height x width (row-major); ground-truth regions are the 8-connected components of the non-zero
// mask pixels of each image. For every distinct map value t (descending), x = FPR = normal pixels
// with score >= t / all normal pixels, y = PRO = mean over all regions of all images of the
// fraction of the region's pixels with score >= t. The curve starts at (0, 0) and ends at (1, 1)
// (both appended, as the official code does); thresholds[0] = +inf, thresholds.back() = -inf.
// Differences from the official code: FPR is computed in double (it uses float32) and the region
// overlap sum is compensated (Kahan), so values are exact to ~1e-15.
Curve pro_curve(const std::vector<const float*>& maps, const std::vector<const uint8_t*>& masks,
                int height, int width);

// Normalised area under the PRO curve for FPR in [0, fpr_limit]: trapezoid rule, the curve
// interpolated linearly at exactly fpr_limit, divided by fpr_limit (MVTec AD: fpr_limit = 0.3).
double aupro(const std::vector<const float*>& maps, const std::vector<const uint8_t*>& masks,
             int height, int width, double fpr_limit = 0.3);

// Trapezoid area under (x, y) for x in [x[0], x_max] with y interpolated at x_max, as the MVTec
// evaluation code's trapezoid(): x must be non-decreasing. Exposed for tests.
double trapezoid_to(const std::vector<double>& x, const std::vector<double>& y, double x_max);

}  // namespace sg::report
