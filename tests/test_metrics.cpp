// test_metrics.cpp — ROC AUC, AP, curves, best-F1 and AUPRO: hand-computed cases, scikit-learn
// and MVTec-evaluation references (tests/reference/metrics_reference.{py,txt}), a large histogram
// cross-check with timing, and the error cases.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/common.h"
#include "report/metrics.h"

using namespace sg::report;

namespace {

// The reference file: lines `key count v1 ... vcount`, '#' starts a comment line.
const std::map<std::string, std::vector<double>>& reference() {
  static std::map<std::string, std::vector<double>> ref = [] {
    std::map<std::string, std::vector<double>> r;
    std::ifstream f(SGSF_SOURCE_DIR "/tests/reference/metrics_reference.txt");
    REQUIRE_MESSAGE(f.good(), "missing tests/reference/metrics_reference.txt");
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream in(line);
      std::string key;
      size_t n = 0;
      in >> key >> n;
      std::vector<double> v(n);
      for (size_t i = 0; i < n; ++i) in >> v[i];
      REQUIRE_MESSAGE(!in.fail(), "bad reference line for ", key);
      r[key] = std::move(v);
    }
    return r;
  }();
  return ref;
}

const std::vector<double>& refv(const std::string& key) {
  auto it = reference().find(key);
  REQUIRE_MESSAGE(it != reference().end(), "reference key missing: ", key);
  return it->second;
}

void check_vec(const std::vector<double>& got, const std::vector<double>& want, double tol,
               const std::string& what) {
  REQUIRE_MESSAGE(got.size() == want.size(), what, ": size ", got.size(), " vs ", want.size());
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= tol)) {
      FAIL_CHECK(what, "[", i, "] = ", got[i], " but reference ", want[i]);
      return;
    }
}

std::vector<float> as_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }
std::vector<uint8_t> as_u8(const std::vector<double>& v) {
  std::vector<uint8_t> r;
  for (double d : v) r.push_back((uint8_t)d);
  return r;
}

}  // namespace

TEST_CASE("hand-computed ranking cases") {
  std::vector<float> s = {0.1f, 0.4f, 0.35f, 0.8f};
  std::vector<uint8_t> y = {0, 0, 1, 1};
  CHECK(roc_auc(s, y) == doctest::Approx(0.75).epsilon(1e-15));
  CHECK(average_precision(s, y) == doctest::Approx(0.5 * 1.0 + 0.5 * 2.0 / 3.0).epsilon(1e-15));
  // perfect, reversed, all tied
  std::vector<float> p = {0.9f, 0.8f, 0.2f, 0.1f, 0.7f};
  std::vector<uint8_t> yp = {1, 1, 0, 0, 1};
  CHECK(roc_auc(p, yp) == 1.0);
  CHECK(average_precision(p, yp) == 1.0);
  std::vector<uint8_t> yr = {0, 0, 1, 1, 0};
  CHECK(roc_auc(p, yr) == 0.0);
  std::vector<float> tied(5, 0.3f);
  CHECK(roc_auc(tied, yp) == 0.5);
  CHECK(average_precision(tied, yp) == doctest::Approx(0.6).epsilon(1e-15));  // base rate 3/5
  // ties across classes: (pos .5 vs neg .5) counts one half; AP = 1/2 * 1/3 + 1/2 * 2/4
  std::vector<float> t = {0.5f, 0.5f, 0.2f, 0.9f};
  std::vector<uint8_t> yt = {1, 0, 1, 0};
  CHECK(roc_auc(t, yt) == doctest::Approx(0.125).epsilon(1e-15));
  CHECK(average_precision(t, yt) == doctest::Approx(5.0 / 12.0).epsilon(1e-15));
  // labels: any non-zero is anomalous (masks stored as 0/255)
  std::vector<uint8_t> y255 = {0, 0, 255, 255};
  CHECK(roc_auc(s, y255) == doctest::Approx(0.75));

  ClassificationAtBestF1 b = best_f1(s, y);  // threshold 0.8: tp 1 fp 0 fn 1 -> F1 2/3; 0.35: tp 2 fp 1 -> 4/5
  CHECK(b.threshold == doctest::Approx(0.35f));
  CHECK(b.f1 == doctest::Approx(0.8));
  CHECK(b.precision == doctest::Approx(2.0 / 3.0));
  CHECK(b.recall == 1.0);
  CHECK(b.tpr == 1.0);
  CHECK(b.tnr == 0.5);
  CHECK(b.accuracy == 0.75);
  CHECK(b.macc == 0.75);

  Curve r = roc_curve(t, yt);  // descending thresholds .9, .5, .2
  CHECK(r.x == std::vector<double>{0, 0.5, 1, 1});
  CHECK(r.y == std::vector<double>{0, 0, 0.5, 1});
  CHECK(r.thresholds[1] == doctest::Approx(0.9f));
  CHECK(r.thresholds[0] == doctest::Approx(1.9f));
  Curve pr = pr_curve(t, yt);  // ascending thresholds .2, .5, .9, then (0, 1)
  CHECK(pr.x == std::vector<double>{1, 0.5, 0, 0});
  CHECK(pr.y == std::vector<double>{0.5, 1.0 / 3.0, 0, 1});
  CHECK(pr.thresholds.size() == 3);
}

TEST_CASE("ranking metrics match scikit-learn 1.2.1 on random scores with ties") {
  for (const char* c : {"rank_a", "rank_b", "rank_c", "rank_d"}) {
    CAPTURE(c);
    std::string k(c);
    std::vector<float> s = as_float(refv(k + ".scores"));
    std::vector<uint8_t> y = as_u8(refv(k + ".labels"));
    CHECK(std::fabs(roc_auc(s, y) - refv(k + ".roc_auc")[0]) <= 1e-9);
    CHECK(std::fabs(average_precision(s, y) - refv(k + ".ap")[0]) <= 1e-9);
    Curve r = roc_curve(s, y);
    check_vec(r.x, refv(k + ".roc_x"), 1e-9, k + " roc fpr");
    check_vec(r.y, refv(k + ".roc_y"), 1e-9, k + " roc tpr");
    check_vec(r.thresholds, refv(k + ".roc_thr"), 1e-9, k + " roc thresholds");
    Curve pr = pr_curve(s, y);
    check_vec(pr.x, refv(k + ".pr_x"), 1e-9, k + " recall");
    check_vec(pr.y, refv(k + ".pr_y"), 1e-9, k + " precision");
    check_vec(pr.thresholds, refv(k + ".pr_thr"), 1e-9, k + " pr thresholds");
    ClassificationAtBestF1 b = best_f1(s, y);
    check_vec({b.threshold, b.f1, b.precision, b.recall, b.tpr, b.tnr, b.accuracy, b.macc},
              refv(k + ".best_f1"), 1e-9, k + " best F1");
  }
}

TEST_CASE("large input: histogram cross-check of AUC and AP, and timing") {
  // Scores on a grid of 1000 values: AUC = sum_pos (neg below + neg tied / 2) / (P N), computable
  // from per-class histograms, and AP from cumulative histograms, independently of the sweep.
  const size_t n = 4000000;
  const int bins = 1000;
  std::mt19937_64 gen(5);
  std::vector<float> s(n);
  std::vector<uint8_t> y(n);
  std::vector<int64_t> hp(bins, 0), hn(bins, 0);
  for (size_t i = 0; i < n; ++i) {
    y[i] = (gen() % 100) < 7;
    int b = (int)((gen() % 700) + (y[i] ? 300 : 0));
    s[i] = (float)b / bins;
    (y[i] ? hp : hn)[(size_t)b]++;
  }
  auto t0 = std::chrono::steady_clock::now();
  double auc = roc_auc(s, y);
  auto t1 = std::chrono::steady_clock::now();
  double ap = average_precision(s, y);
  double P = 0, N = 0, num = 0, neg_below = 0;
  for (int b = 0; b < bins; ++b) {
    num += hp[(size_t)b] * (neg_below + 0.5 * hn[(size_t)b]);
    neg_below += hn[(size_t)b];
    P += hp[(size_t)b];
    N += hn[(size_t)b];
  }
  double tp = 0, fp = 0, ap_ref = 0;
  for (int b = bins - 1; b >= 0; --b) {
    if (!hp[(size_t)b] && !hn[(size_t)b]) continue;
    tp += hp[(size_t)b];
    fp += hn[(size_t)b];
    ap_ref += hp[(size_t)b] / P * (tp / (tp + fp));
  }
  CHECK(std::fabs(auc - num / (P * N)) <= 1e-12);
  CHECK(std::fabs(ap - ap_ref) <= 1e-10);
  MESSAGE("roc_auc on ", n, " samples: ", std::chrono::duration<double, std::milli>(t1 - t0).count(), " ms");

  // AUPRO over an MVTec-sized category: 100 maps of 256 x 256 with square regions.
  const int H = 256, W = 256, images = 100;
  std::vector<float> maps((size_t)images * H * W);
  std::vector<uint8_t> masks(maps.size(), 0);
  std::vector<const float*> mp;
  std::vector<const uint8_t*> kp;
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int i = 0; i < images; ++i) {
    float* m = maps.data() + (size_t)i * H * W;
    uint8_t* k = masks.data() + (size_t)i * H * W;
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        bool in = (i % 2) && y >= 40 + i && y < 80 + i && x >= 100 && x < 100 + i;
        k[y * W + x] = in;
        m[y * W + x] = u(gen) * 0.6f + (in ? 0.4f : 0.f);
      }
    mp.push_back(m);
    kp.push_back(k);
  }
  t0 = std::chrono::steady_clock::now();
  double a = aupro(mp, kp, H, W);
  t1 = std::chrono::steady_clock::now();
  CHECK(a > 0.5);
  CHECK(a < 1.0);
  MESSAGE("aupro on ", maps.size(), " pixels: ", std::chrono::duration<double, std::milli>(t1 - t0).count(), " ms");
}

TEST_CASE("AUPRO: analytic two-image case, perfect maps, 8-connectivity") {
  const int h = 4, w = 4;
  std::vector<uint8_t> m0(16, 0), m1(16, 0);
  std::vector<float> a0(16), a1(16);
  for (int i : {5, 6, 9, 10}) m0[(size_t)i] = 1;  // region A: 2x2 block
  for (int i : {0, 1}) m1[(size_t)i] = 1;          // region B: 2 pixels
  // A: half its pixels at 0.9, half at 0.1; B: all at 0.8; 26 normal pixels, 13 at 0.5, 13 at 0.
  a0[5] = a0[6] = 0.9f;
  a0[9] = a0[10] = 0.1f;
  a1[0] = a1[1] = 0.8f;
  int normal = 0;
  for (auto* pr : {&a0, &a1}) {
    auto& a = *pr;
    const auto& m = (pr == &a0) ? m0 : m1;
    for (int i = 0; i < 16; ++i)
      if (!m[(size_t)i]) a[(size_t)i] = (normal++ % 2) ? 0.5f : 0.0f;
  }
  std::vector<const float*> maps = {a0.data(), a1.data()};
  std::vector<const uint8_t*> masks = {m0.data(), m1.data()};
  // Curve: (0,0) (0,.25) (0,.75) (.5,.75) (.5,1) (1,1) (1,1).
  Curve c = pro_curve(maps, masks, h, w);
  CHECK(c.x == std::vector<double>{0, 0, 0, 0.5, 0.5, 1, 1});
  CHECK(c.y == std::vector<double>{0, 0.25, 0.75, 0.75, 1, 1, 1});
  CHECK(aupro(maps, masks, h, w) == doctest::Approx(0.75).epsilon(1e-15));
  CHECK(aupro(maps, masks, h, w, 0.5) == doctest::Approx(0.75).epsilon(1e-15));
  CHECK(aupro(maps, masks, h, w, 1.0) == doctest::Approx(0.875).epsilon(1e-15));

  std::vector<float> p0(m0.begin(), m0.end()), p1(m1.begin(), m1.end());
  CHECK(aupro({p0.data(), p1.data()}, masks, h, w) == 1.0);

  // Pixels (0,0) and (1,1) touch diagonally: one region under 8-connectivity; (3,3) is another.
  std::vector<uint8_t> d(16, 0);
  d[0] = d[5] = d[15] = 1;
  std::vector<float> s(16, 0.f);
  s[0] = 1.f;
  Curve cd = pro_curve({s.data()}, {d.data()}, h, w);
  CHECK(cd.y[1] == 0.25);  // (1/2 + 0) / 2 regions; 4-connectivity would give 1/3
}

TEST_CASE("AUPRO matches a dense sweep and the MVTec AD evaluation code") {
  for (const char* c : {"pro_a", "pro_b"}) {
    CAPTURE(c);
    std::string k(c);
    const auto& shape = refv(k + ".shape");
    int n = (int)shape[0], h = (int)shape[1], w = (int)shape[2];
    std::vector<float> maps = as_float(refv(k + ".maps"));
    std::vector<uint8_t> masks = as_u8(refv(k + ".masks"));
    std::vector<const float*> mp;
    std::vector<const uint8_t*> kp;
    for (int i = 0; i < n; ++i) {
      mp.push_back(maps.data() + (size_t)i * h * w);
      kp.push_back(masks.data() + (size_t)i * h * w);
    }
    Curve cv = pro_curve(mp, kp, h, w);
    check_vec(cv.x, refv(k + ".pro_x"), 1e-12, k + " fpr");
    check_vec(cv.y, refv(k + ".pro_y"), 1e-12, k + " pro");
    CHECK(std::fabs(aupro(mp, kp, h, w) - refv(k + ".aupro_0.3")[0]) <= 1e-9);
    CHECK(std::fabs(aupro(mp, kp, h, w, 0.05) - refv(k + ".aupro_0.05")[0]) <= 1e-9);
    CHECK(std::fabs(aupro(mp, kp, h, w, 1.0) - refv(k + ".aupro_1.0")[0]) <= 1e-9);
    // The official code keeps the FPR in float32: agreement to its rounding.
    CHECK(std::fabs(aupro(mp, kp, h, w) - refv(k + ".aupro_official_0.3")[0]) <= 1e-6);
  }
}

TEST_CASE("errors: empty input, one class, mismatched sizes, non-finite scores") {
  std::vector<float> e;
  std::vector<uint8_t> ey;
  CHECK_THROWS_WITH_AS(roc_auc(e, ey), doctest::Contains("roc_auc: empty input"), sg::Error);
  CHECK_THROWS_WITH_AS(average_precision({0.1f, 0.2f}, {1, 1}),
                       doctest::Contains("only one class present"), sg::Error);
  CHECK_THROWS_WITH_AS(roc_auc({0.1f, 0.2f}, {0, 0}), doctest::Contains("only one class"), sg::Error);
  CHECK_THROWS_AS(best_f1({0.1f, 0.2f}, {0, 0}), sg::Error);
  CHECK_THROWS_AS(roc_curve({0.1f}, {1}), sg::Error);
  CHECK_THROWS_AS(pr_curve({0.1f, 0.2f}, {1}), sg::Error);
  CHECK_THROWS_WITH_AS(roc_auc({0.1f, NAN}, {0, 1}), doctest::Contains("not finite"), sg::Error);
  std::vector<float> a(4, 0.5f);
  std::vector<uint8_t> none(4, 0), all(4, 1);
  CHECK_THROWS_WITH_AS(aupro({a.data()}, {none.data()}, 2, 2), doctest::Contains("no anomalous region"), sg::Error);
  CHECK_THROWS_WITH_AS(aupro({a.data()}, {all.data()}, 2, 2), doctest::Contains("no normal pixel"), sg::Error);
  CHECK_THROWS_AS(aupro({}, {}, 2, 2), sg::Error);
  CHECK_THROWS_AS(aupro({a.data()}, {all.data()}, 2, 2, 0.0), sg::Error);
}
