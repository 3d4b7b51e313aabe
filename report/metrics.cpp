// metrics.cpp — ROC / PR / AP / F1 / AUPRO by one sort and one threshold sweep (see metrics.h).
//
// The core is `sort_by_score`: every sample becomes a 64-bit key (order-preserving bits of its
// float score in the high word, a small payload — label or region id — in the low word), sorted
// ascending by the high word with a 3-pass LSD radix sort. Sweeping the keys from the end visits
// the scores in descending order; a run of equal high words is one distinct threshold.
#include "report/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/common.h"

namespace sg::report {
namespace {

// Map a float to uint32 so that unsigned order equals float order (-0 and +0 map alike).
inline uint32_t order_bits(float f) {
  if (f == 0.f) f = 0.f;  // -0 -> +0
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
inline float from_order_bits(uint32_t b) {
  b = (b & 0x80000000u) ? (b & 0x7fffffffu) : ~b;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// keys[i] = order_bits(score) << 32 | payload; sorts ascending by the high word (stable radix sort
// over 11 + 11 + 10 bits: three counting passes, O(n)).
void radix_sort_high_word(std::vector<uint64_t>& keys) {
  std::vector<uint64_t> tmp(keys.size());
  const int shifts[3] = {32, 43, 54};
  const int bits[3] = {11, 11, 10};
  for (int p = 0; p < 3; ++p) {
    const size_t buckets = size_t(1) << bits[p];
    const uint64_t mask = buckets - 1;
    std::vector<size_t> count(buckets + 1, 0);
    for (uint64_t k : keys) ++count[((k >> shifts[p]) & mask) + 1];
    for (size_t b = 0; b < buckets; ++b) count[b + 1] += count[b];
    for (uint64_t k : keys) tmp[count[(k >> shifts[p]) & mask]++] = k;
    keys.swap(tmp);
  }
}

// Counts at each distinct threshold, thresholds in descending order (sklearn's _binary_clf_curve):
// tps[k] / fps[k] = positives / negatives with score >= thr[k].
struct ClfCurve {
  std::vector<double> thr;
  std::vector<int64_t> tps, fps;
  int64_t P() const { return tps.back(); }
  int64_t N() const { return fps.back(); }
};

ClfCurve binary_clf_curve(const char* who, const std::vector<float>& scores,
                          const std::vector<uint8_t>& labels) {
  SG_CHECK(!scores.empty(), who, ": empty input (no scores)");
  SG_CHECK(scores.size() == labels.size(), who, ": ", scores.size(), " scores but ", labels.size(),
           " labels");
  std::vector<uint64_t> keys(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    SG_CHECK(std::isfinite(scores[i]), who, ": score ", i, " is not finite (", scores[i], ")");
    keys[i] = (uint64_t(order_bits(scores[i])) << 32) | uint64_t(labels[i] != 0);
  }
  radix_sort_high_word(keys);
  ClfCurve c;
  int64_t tp = 0, fp = 0;
  for (size_t i = keys.size(); i-- > 0;) {
    if (keys[i] & 1) ++tp; else ++fp;
    if (i == 0 || (keys[i - 1] >> 32) != (keys[i] >> 32)) {  // last sample of this score value
      c.thr.push_back(from_order_bits(uint32_t(keys[i] >> 32)));
      c.tps.push_back(tp);
      c.fps.push_back(fp);
    }
  }
  SG_CHECK(tp > 0 && fp > 0, who, ": only one class present in the labels (", tp, " anomalous, ",
           fp, " normal); the metric is undefined");
  return c;
}

}  // namespace

double roc_auc(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  ClfCurve c = binary_clf_curve("roc_auc", scores, labels);
  // Trapezoids between consecutive (fp, tp) points, starting at (0, 0); twice the area in integer
  // units is sum (fp_k - fp_{k-1}) * (tp_k + tp_{k-1}), exact in 128-bit arithmetic.
  __int128 twice = 0;
  int64_t ptp = 0, pfp = 0;
  for (size_t k = 0; k < c.thr.size(); ++k) {
    twice += (__int128)(c.fps[k] - pfp) * (c.tps[k] + ptp);
    ptp = c.tps[k];
    pfp = c.fps[k];
  }
  return (double)twice / (2.0 * (double)c.P() * (double)c.N());
}

double average_precision(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  ClfCurve c = binary_clf_curve("average_precision", scores, labels);
  // AP = sum_k (R_k - R_{k-1}) P_k = sum_k (tp_k - tp_{k-1}) / P * tp_k / (tp_k + fp_k).
  double ap = 0;
  int64_t ptp = 0;
  for (size_t k = 0; k < c.thr.size(); ++k) {
    if (c.tps[k] != ptp) ap += (double)(c.tps[k] - ptp) * ((double)c.tps[k] / (double)(c.tps[k] + c.fps[k]));
    ptp = c.tps[k];
  }
  return ap / (double)c.P();
}

Curve roc_curve(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  ClfCurve c = binary_clf_curve("roc_curve", scores, labels);
  Curve r;
  size_t n = c.thr.size();
  r.x.reserve(n + 1);
  r.y.reserve(n + 1);
  r.thresholds.reserve(n + 1);
  r.x.push_back(0);
  r.y.push_back(0);
  r.thresholds.push_back(c.thr[0] + 1);
  for (size_t k = 0; k < n; ++k) {
    r.x.push_back((double)c.fps[k] / (double)c.N());
    r.y.push_back((double)c.tps[k] / (double)c.P());
    r.thresholds.push_back(c.thr[k]);
  }
  return r;
}

Curve pr_curve(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  ClfCurve c = binary_clf_curve("pr_curve", scores, labels);
  Curve r;
  size_t n = c.thr.size();
  r.x.reserve(n + 1);
  r.y.reserve(n + 1);
  r.thresholds.reserve(n);
  for (size_t k = n; k-- > 0;) {  // increasing threshold
    r.x.push_back((double)c.tps[k] / (double)c.P());
    r.y.push_back((double)c.tps[k] / (double)(c.tps[k] + c.fps[k]));
    r.thresholds.push_back(c.thr[k]);
  }
  r.x.push_back(0);
  r.y.push_back(1);
  return r;
}

ClassificationAtBestF1 best_f1(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  ClfCurve c = binary_clf_curve("best_f1", scores, labels);
  const int64_t P = c.P(), N = c.N();
  size_t best = 0;
  double best_f1 = -1;
  for (size_t k = 0; k < c.thr.size(); ++k) {  // descending thresholds: strict > keeps the highest
    double f1 = (double)(2 * c.tps[k]) / (double)(2 * c.tps[k] + c.fps[k] + (P - c.tps[k]));
    if (f1 > best_f1) {
      best_f1 = f1;
      best = k;
    }
  }
  const double tp = (double)c.tps[best], fp = (double)c.fps[best];
  ClassificationAtBestF1 r;
  r.threshold = c.thr[best];
  r.f1 = best_f1;
  r.precision = tp / (tp + fp);
  r.recall = r.tpr = tp / (double)P;
  r.tnr = ((double)N - fp) / (double)N;
  r.accuracy = (tp + (double)N - fp) / (double)(P + N);
  r.macc = 0.5 * (r.tpr + r.tnr);
  return r;
}

// ---- AUPRO -------------------------------------------------------------------------------------

namespace {

// 8-connected components of the non-zero pixels of one mask (h x w). labels_out: 0 = normal,
// else first_id + component index; sizes gets one entry per new component. Iterative flood fill.
void label_regions(const uint8_t* mask, int h, int w, uint32_t first_id, std::vector<uint32_t>& lab,
                   std::vector<int64_t>& sizes) {
  lab.assign((size_t)h * w, 0);
  std::vector<int> stack;
  uint32_t next = first_id;
  for (int start = 0; start < h * w; ++start) {
    if (!mask[start] || lab[(size_t)start]) continue;
    int64_t size = 0;
    lab[(size_t)start] = next;
    stack.push_back(start);
    while (!stack.empty()) {
      int p = stack.back();
      stack.pop_back();
      ++size;
      int py = p / w, px = p % w;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          int y = py + dy, x = px + dx;
          if (y < 0 || y >= h || x < 0 || x >= w) continue;
          int q = y * w + x;
          if (mask[q] && !lab[(size_t)q]) {
            lab[(size_t)q] = next;
            stack.push_back(q);
          }
        }
    }
    sizes.push_back(size);
    ++next;
  }
}

// Sorted keys of all pixels (payload: region id, 0 = normal) plus the per-region weights.
struct ProInput {
  std::vector<uint64_t> keys;
  std::vector<double> inv_size;  // 1 / region size, index = region id
  int64_t num_ok = 0, num_regions = 0;
};

ProInput prepare_pro(const char* who, const std::vector<const float*>& maps,
                     const std::vector<const uint8_t*>& masks, int height, int width) {
  SG_CHECK(!maps.empty(), who, ": empty input (no anomaly maps)");
  SG_CHECK(maps.size() == masks.size(), who, ": ", maps.size(), " maps but ", masks.size(), " masks");
  SG_CHECK(height > 0 && width > 0, who, ": bad map size ", height, "x", width);
  const size_t hw = (size_t)height * width, n = maps.size() * hw;
  ProInput in;
  std::vector<int64_t> sizes(1, 0);  // sizes[0] unused; region ids are 1-based over all images
  std::vector<uint32_t> lab;
  in.keys.resize(n);
  for (size_t i = 0; i < maps.size(); ++i) {
    SG_CHECK(maps[i] && masks[i], who, ": null map or mask pointer at image ", i);
    label_regions(masks[i], height, width, (uint32_t)sizes.size(), lab, sizes);
    for (size_t p = 0; p < hw; ++p) {
      float s = maps[i][p];
      SG_CHECK(std::isfinite(s), who, ": map ", i, " pixel ", p, " is not finite (", s, ")");
      in.keys[i * hw + p] = (uint64_t(order_bits(s)) << 32) | lab[p];
      in.num_ok += lab[p] == 0;
    }
  }
  in.num_regions = (int64_t)sizes.size() - 1;
  SG_CHECK(in.num_regions > 0, who, ": the ground truth has no anomalous region; PRO is undefined");
  SG_CHECK(in.num_ok > 0, who, ": the ground truth has no normal pixel; the FPR is undefined");
  in.inv_size.assign(sizes.size(), 0.0);
  for (size_t r = 1; r < sizes.size(); ++r) in.inv_size[r] = 1.0 / (double)sizes[r];
  radix_sort_high_word(in.keys);
  return in;
}

// Walk the distinct thresholds in descending order, calling point(fpr, pro, threshold) for each;
// stops early when point returns false.
template <typename F>
void sweep_pro(const ProInput& in, F&& point) {
  int64_t fp = 0;
  double pro_sum = 0, comp = 0;  // Kahan-compensated sum of 1/size over covered region pixels
  for (size_t i = in.keys.size(); i-- > 0;) {
    uint32_t region = uint32_t(in.keys[i] & 0xffffffffu);
    if (region == 0) {
      ++fp;
    } else {
      double yv = in.inv_size[region] - comp, t = pro_sum + yv;
      comp = (t - pro_sum) - yv;
      pro_sum = t;
    }
    if (i == 0 || (in.keys[i - 1] >> 32) != (in.keys[i] >> 32)) {
      if (!point(std::min(1.0, (double)fp / (double)in.num_ok),
                 std::min(1.0, pro_sum / (double)in.num_regions),
                 (double)from_order_bits(uint32_t(in.keys[i] >> 32))))
        return;
    }
  }
}

}  // namespace

Curve pro_curve(const std::vector<const float*>& maps, const std::vector<const uint8_t*>& masks,
                int height, int width) {
  ProInput in = prepare_pro("pro_curve", maps, masks, height, width);
  Curve c;
  const double inf = std::numeric_limits<double>::infinity();
  c.x.push_back(0);
  c.y.push_back(0);
  c.thresholds.push_back(inf);
  sweep_pro(in, [&](double x, double y, double t) {
    c.x.push_back(x);
    c.y.push_back(y);
    c.thresholds.push_back(t);
    return true;
  });
  c.x.push_back(1);
  c.y.push_back(1);
  c.thresholds.push_back(-inf);
  return c;
}

double trapezoid_to(const std::vector<double>& x, const std::vector<double>& y, double x_max) {
  SG_CHECK(x.size() == y.size() && !x.empty(), "trapezoid_to: x and y differ in length or are empty");
  double area = 0;
  for (size_t k = 1; k < x.size(); ++k) {
    if (x[k] <= x_max) {
      area += 0.5 * (y[k] + y[k - 1]) * (x[k] - x[k - 1]);
    } else {
      // First point past the limit: interpolate at x_max from the last point before it.
      if (x[k - 1] < x_max) {
        double yi = y[k - 1] + (y[k] - y[k - 1]) * (x_max - x[k - 1]) / (x[k] - x[k - 1]);
        area += 0.5 * (yi + y[k - 1]) * (x_max - x[k - 1]);
      }
      break;
    }
  }
  return area;
}

double aupro(const std::vector<const float*>& maps, const std::vector<const uint8_t*>& masks,
             int height, int width, double fpr_limit) {
  SG_CHECK(fpr_limit > 0 && fpr_limit <= 1, "aupro: fpr_limit must be in (0, 1], got ", fpr_limit);
  ProInput in = prepare_pro("aupro", maps, masks, height, width);
  // trapezoid_to() on the streamed curve (0,0), points..., (1,1), stopping past the limit.
  double area = 0, px = 0, py = 0;
  bool done = false;
  auto add = [&](double x, double y) {
    if (x <= fpr_limit) {
      area += 0.5 * (y + py) * (x - px);
    } else {
      if (px < fpr_limit) {
        double yi = py + (y - py) * (fpr_limit - px) / (x - px);
        area += 0.5 * (yi + py) * (fpr_limit - px);
      }
      done = true;
    }
    px = x;
    py = y;
    return !done;
  };
  sweep_pro(in, [&](double x, double y, double) { return add(x, y); });
  if (!done) add(1, 1);
  return area / fpr_limit;
}

}  // namespace sg::report
