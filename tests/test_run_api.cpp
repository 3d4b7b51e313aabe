// test_run_api.cpp — what a finished run holds and what uses it: the guidance bank and the
// calibrated threshold written at the end of training, sgsf_test's decisions (--threshold, --score
// with the training data deleted), runs from older versions, the Detector API (its maps equal
// sgsf_test's), the example program, and sgsf_export's errors. The ONNX graph itself is checked in
// ONNX Runtime by tests/onnx_check.py (ctest onnx_export).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "data/image_io.h"
#include "engine/checkpoint.h"
#include "sgsf/calibration.h"
#include "sgsf/detector.h"
#include "sgsf/evaluate.h"
#include "sgsf/guidance.h"
#include "sgsf/onnx_export.h"
#include "sgsf/run_files.h"
#include "sgsf/trainer.h"
#include "tests/e2e_util.h"

namespace fs = std::filesystem;
using namespace sg;
using namespace sg::test;

namespace {

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}
std::vector<std::string> test_args(const fs::path& run, const fs::path& out) {
  return {"--run", run.string(), "--device", "cpu", "--workers", "1", "--quiet", "--out", out.string()};
}
// The image score by its definition, written out: the maximum over pixels of the mean of the k x k
// window centred there, zero padding counted.
double pooled_max(const std::vector<float>& map, int size, int k) {
  double best = -1;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      double sum = 0;
      for (int dy = -k / 2; dy <= k / 2; ++dy)
        for (int dx = -k / 2; dx <= k / 2; ++dx)
          if (y + dy >= 0 && y + dy < size && x + dx >= 0 && x + dx < size) sum += map[(size_t)((y + dy) * size + x + dx)];
      best = std::max(best, sum / (k * k));
    }
  return best;
}

void check_error(const ProgramResult& r, const std::string& program, const std::string& what) {
  CAPTURE(r.describe());
  CHECK(r.code() == 1);
  CHECK(r.err.find(program + ": error: ") != std::string::npos);
  CHECK(r.err.find(what) != std::string::npos);
}

// A copy of the tiny dataset (so that it can be deleted) and a run trained on it with a quarter of
// the 8 training images held out for calibration.
struct CalibratedRun {
  fs::path data, run, images;  // images: copies of the test images, kept after the data is deleted
};
const CalibratedRun& calibrated_run() {
  static const CalibratedRun r = [] {
    CalibratedRun c;
    fs::path s = scratch_dir("calibrated");
    c.data = s / "data";
    fs::copy(tiny_dataset_root(), c.data, fs::copy_options::recursive);
    c.images = s / "images";
    fs::create_directories(c.images);
    const fs::path test = c.data / tiny_dataset_options().category / "test";
    fs::copy_file(test / "good" / "000.png", c.images / "good_000.png");
    fs::copy_file(test / "good" / "001.png", c.images / "good_001.png");
    for (const auto& e : fs::directory_iterator(test))
      if (e.path().filename() != "good") fs::copy_file(e.path() / "000.png", c.images / (e.path().filename().string() + "_000.png"));
    c.run = s / "run";
    sgsf::TrainConfig cfg = tiny_config(c.run, 6);
    cfg.data = c.data.string();
    cfg.holdout = 0.25f;
    CerrCapture quiet;
    REQUIRE(sgsf::train(cfg, false, nullptr, false).status == sgsf::kTrainOk);
    return c;
  }();
  return r;
}

// A run trained without hold-out (no calibration).
const fs::path& plain_run() {
  static const fs::path dir = [] {
    fs::path d = scratch_dir("plain_run");
    CerrCapture quiet;
    REQUIRE(sgsf::train(tiny_config(d, 4), false, nullptr, false).status == sgsf::kTrainOk);
    return d;
  }();
  return dir;
}

// The numpy-default (linear) percentile, written out independently of the library's.
double percentile_linear(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * (double)(v.size() - 1);
  const size_t i = (size_t)pos;
  return i + 1 < v.size() ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v.back();
}

}  // namespace

TEST_CASE("calibration: the threshold rules and the normalised score") {
  using sgsf::ThresholdRule;
  const std::vector<float> normal{0.5f, 0.1f, 0.3f, 0.2f, 0.4f};
  // spread: scores 0.1 .. 0.5: q99 = 0.496, median 0.3 -> 0.496 + 0.5 * 0.196 = 0.594
  sgsf::Calibration c = sgsf::calibrate(normal, {}, ThresholdRule::Spread);
  CHECK(c.q99 == doctest::Approx(0.496).epsilon(1e-6));
  CHECK(c.median == doctest::Approx(0.3).epsilon(1e-6));
  CHECK(c.threshold == doctest::Approx(0.594).epsilon(1e-6));
  CHECK(sgsf::calibrate({0.9f, 0.99f, 0.1f}, {}, ThresholdRule::Spread).threshold == 1.f);  // capped at 1
  CHECK(sgsf::calibrate({0.25f}, {}, ThresholdRule::Spread).threshold == 0.25f);
  CHECK_THROWS_WITH_AS(sgsf::calibrate({}), doctest::Contains("no scores"), Error);
  // forged (the default): the 10th percentile of the forged scores: of 0.6, 0.8, 0.9 -> 0.6 + 0.2 * 0.2.
  c = sgsf::calibrate(normal, {0.9f, 0.6f, 0.8f});
  CHECK(c.rule == ThresholdRule::Forged);
  CHECK(c.forged_median == doctest::Approx(0.8).epsilon(1e-6));
  CHECK(c.threshold == doctest::Approx(0.64).epsilon(1e-6));
  // ... and the spread rule when there are no forged scores.
  c = sgsf::calibrate(normal);
  CHECK(c.rule == ThresholdRule::Spread);
  CHECK(c.threshold == doctest::Approx(0.594).epsilon(1e-6));
  // target-fpr F: the (1 - F) quantile of the normal scores: F = 0.25 -> 75th percentile = 0.4.
  c = sgsf::calibrate(normal, {0.9f}, ThresholdRule::TargetFpr, 0.25);
  CHECK(c.threshold == doctest::Approx(0.4).epsilon(1e-6));
  CHECK(sgsf::calibrate(normal, {}, ThresholdRule::TargetFpr, 0.1).threshold == doctest::Approx(0.46).epsilon(1e-6));
  CHECK_THROWS_WITH_AS(sgsf::calibrate(normal, {}, ThresholdRule::TargetFpr, 1.0), doctest::Contains("between 0 and 1"),
                       Error);
  CHECK(sgsf::parse_threshold_rule("target-fpr") == ThresholdRule::TargetFpr);
  CHECK_THROWS_WITH_AS(sgsf::parse_threshold_rule("best"), doctest::Contains("--threshold-rule: unknown rule 'best'"),
                       Error);
  // 0.5 at the threshold, linear on either side, 0 and 1 at the ends.
  CHECK(sgsf::normalized_score(0.2f, 0.2f) == 0.5f);
  CHECK(sgsf::normalized_score(0.1f, 0.2f) == doctest::Approx(0.25));
  CHECK(sgsf::normalized_score(0.6f, 0.2f) == doctest::Approx(0.75));
  CHECK(sgsf::normalized_score(0.f, 0.2f) == 0.f);
  CHECK(sgsf::normalized_score(1.f, 0.2f) == 1.f);
  CHECK(sgsf::normalized_score(0.5f, 1.f) == 0.25f);
  CHECK(sgsf::normalized_score(0.f, 0.f) == 0.f);
  CHECK(sgsf::normalized_score(0.1f, 0.f) == doctest::Approx(0.55));
  CHECK(sgsf::is_defect(0.30001f, 0.3f));
  CHECK_FALSE(sgsf::is_defect(0.3f, 0.3f));
}

TEST_CASE("a finished run holds its guidance images, their features and the calibrated threshold") {
  const CalibratedRun& c = calibrated_run();
  // 2 of the 8 training images held out: 6 guidance images, 2 calibration scores.
  sgsf::LoadedRun run = sgsf::load_run(c.run.string(), Device::CPU);
  sgsf::GuidanceBank bank = sgsf::read_guidance(c.run.string(), 32, 32, run.fingerprint);
  CHECK(bank.count() == 6);
  CHECK(bank.dim == 32);
  for (int i = 0; i < bank.count(); ++i) {
    const fs::path png = c.run / "guidance" / bank.names[(size_t)i].substr(9);
    CHECK(fs::exists(png));
    for (float v : bank.images[(size_t)i].pixels) CHECK(std::fabs(v * 255.f - std::round(v * 255.f)) < 1e-3f);
  }
  CHECK_FALSE(fs::exists(c.run / "guidance" / "00006.png"));
  // The stored features are those of the stored images.
  std::vector<const data::Image*> ptrs;
  for (const auto& im : bank.images) ptrs.push_back(&im);
  int dim = 0;
  std::vector<float> again = sgsf::contrast_features(*run.model, ptrs, 4, Device::CPU, &dim);
  REQUIRE(again.size() == bank.features.size());
  for (size_t k = 0; k < again.size(); ++k) CHECK(again[k] == doctest::Approx(bank.features[k]).epsilon(1e-5));

  // calibration.csv: the 2 held-out images, then the anomalies forged on them (up to
  // kForgedPerImage each, each from one of the two, with a forged fraction in (0, 1]).
  auto rows = csv_rows(c.run / "calibration.csv");
  REQUIRE(rows.size() >= 4);
  REQUIRE(rows[0] == std::vector<std::string>{"path", "score", "kind", "forged_fraction"});
  std::vector<double> scores, forged;
  for (size_t i = 1; i < rows.size(); ++i) {
    CHECK(rows[i][0].rfind("train/good/", 0) == 0);
    (rows[i][2] == "normal" ? scores : forged).push_back(std::stod(rows[i][1]));
    if (rows[i][2] == "forged") {
      CHECK(std::stod(rows[i][3]) > 0);
      CHECK(std::stod(rows[i][3]) <= 1);
    } else {
      CHECK(rows[i][2] == "normal");
      CHECK(forged.empty());  // the normal images come first
    }
  }
  REQUIRE(scores.size() == 2);
  REQUIRE(!forged.empty());
  CHECK(forged.size() <= 2 * (size_t)sgsf::kForgedPerImage);
  const double mf = percentile_linear(forged, 50), q10 = percentile_linear(forged, 10);
  sgsf::Calibration cal = sgsf::read_calibration(c.run.string(), run.fingerprint);
  CHECK(cal.count == 2);
  CHECK(cal.rule == sgsf::ThresholdRule::Forged);
  CHECK(cal.forged_median == doctest::Approx(mf).epsilon(1e-6));
  CHECK(cal.threshold == doctest::Approx(q10).epsilon(1e-6));
  CHECK(cal.source.find("2 of the 8 training images") != std::string::npos);
  // Guidance and calibration checked against the checkpoint: other weights are refused.
  CHECK_THROWS_WITH_AS(sgsf::read_guidance(c.run.string(), 32, 32, "0123456789abcdef"),
                       doctest::Contains("guidance.safetensors' was computed with other model weights"), Error);
  CHECK_THROWS_WITH_AS(sgsf::read_calibration(c.run.string(), "0123456789abcdef"),
                       doctest::Contains("calibration.json' was computed with other model weights"), Error);
}

TEST_CASE("hold-out: 0 trains exactly as before, validation/good calibrates without touching training") {
  fs::path s = scratch_dir("holdout");
  // A dataset copy with a validation/good folder (MVTec 3D-AD's layout).
  fs::path data = s / "data";
  fs::copy(tiny_dataset_root(), data, fs::copy_options::recursive);
  const fs::path cat = data / tiny_dataset_options().category;
  fs::create_directories(cat / "validation" / "good");
  fs::copy_file(cat / "test" / "good" / "002.png", cat / "validation" / "good" / "a.png");
  fs::copy_file(cat / "test" / "good" / "003.png", cat / "validation" / "good" / "b.png");
  sgsf::TrainConfig plain = tiny_config(s / "plain", 6), valid = tiny_config(s / "valid", 6);
  valid.data = data.string();
  valid.holdout = 0.25f;  // not used: the validation folder takes precedence
  CerrCapture quiet;
  REQUIRE(sgsf::train(plain, false, nullptr, false).status == sgsf::kTrainOk);
  REQUIRE(sgsf::train(valid, false, nullptr, false).status == sgsf::kTrainOk);
  // Same weights apart from the metadata (the hold-out fraction, the folders).
  auto a = checkpoint_values(sgsf::checkpoint_path(plain.out)), b = checkpoint_values(sgsf::checkpoint_path(valid.out));
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].second == b[i].second);
  CHECK_FALSE(fs::exists(s / "plain" / "calibration.json"));
  CHECK(fs::exists(s / "plain" / "guidance" / "00007.png"));  // all 8 training images guide
  sgsf::LoadedRun run = sgsf::load_run(valid.out, Device::CPU);
  sgsf::Calibration cal = sgsf::read_calibration(valid.out, run.fingerprint);
  CHECK(cal.count == 2);
  CHECK(cal.source == "validation/good");
  CHECK(csv_rows(s / "valid" / "calibration.csv")[1][0] == "validation/good/a.png");
  // An unreadable calibration image stops the run before training, naming the file.
  write_text(cat / "validation" / "good" / "c.png", "not a PNG");
  sgsf::TrainConfig broken = tiny_config(s / "broken", 6);
  broken.data = data.string();
  CHECK_THROWS_WITH_AS(sgsf::train(broken, false, nullptr, false),
                       doctest::Contains((cat / "validation" / "good" / "c.png").string().c_str()), Error);
  CHECK_FALSE(fs::exists(s / "broken"));
  // A hold-out that leaves fewer than 2 training images is refused.
  sgsf::TrainConfig tight = tiny_config(s / "tight", 2);
  tight.holdout = 0.5f;
  fs::path small = s / "small";
  fs::create_directories(small / "train" / "good");
  fs::create_directories(small / "test" / "good");
  for (const char* n : {"000.png", "001.png", "002.png"})
    fs::copy_file(cat / "train" / "good" / n, small / "train" / "good" / n);
  fs::copy_file(cat / "test" / "good" / "000.png", small / "test" / "good" / "000.png");
  tight.data = small.string();
  tight.category = "";
  CHECK_THROWS_WITH_AS(sgsf::train(tight, false, nullptr, false), doctest::Contains("leaves fewer than 2"), Error);
}

TEST_CASE("sgsf_test: decisions at the calibrated threshold or --threshold; --score without the training data") {
  const CalibratedRun& c = calibrated_run();
  fs::path s = scratch_dir("decisions");
  sgsf::LoadedRun run = sgsf::load_run(c.run.string(), Device::CPU);
  const float t = sgsf::read_calibration(c.run.string(), run.fingerprint).threshold;

  ProgramResult ok = run_program("sgsf_test", test_args(c.run, s / "test"), s);
  CAPTURE(ok.describe());
  REQUIRE(ok.code() == 0);
  CHECK(ok.out.find("at the decision threshold") != std::string::npos);
  CHECK(ok.out.find("calibrated") != std::string::npos);
  CHECK(read_file(s / "test" / "report.json").find("\"fpr_normal\": ") != std::string::npos);
  auto rows = csv_rows(s / "test" / "scores.csv");
  REQUIRE(rows.size() == 13);  // header + 12 test images
  CHECK(rows[0] == std::vector<std::string>{"path", "defect", "label", "score", "normalized_score", "decision", "guidance"});
  // scores.csv prints 7 significant digits: a score within that rounding of t may go either way (an
  // untrained tiny model can score every image alike, and the threshold then equals that score).
  auto decision_matches = [t](float score, const std::string& d) {
    if (std::fabs(score - t) <= 1e-6f * std::max(1.f, std::fabs(t))) return d == "ok" || d == "defect";
    return d == (score > t ? "defect" : "ok");
  };
  int fp = 0, normals = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const float score = std::stof(rows[i][3]);
    CHECK(decision_matches(score, rows[i][5]));
    CHECK(std::stof(rows[i][4]) == doctest::Approx(sgsf::normalized_score(score, t)).epsilon(1e-5));
    CHECK(rows[i][6].rfind("guidance/", 0) == 0);
    if (rows[i][2] == "0") {
      ++normals;
      fp += rows[i][5] == "defect";
    }
  }
  const std::string report = read_file(s / "test" / "report.json");
  CHECK(report.find(str("\"fpr_normal\": ", (double)fp / normals)) != std::string::npos);

  // --score, then the same with the training data gone: the same scores and decisions.
  ProgramResult a = run_program("sgsf_test", with(test_args(c.run, s / "a"), {"--score", c.images.string(), "--maps"}), s);
  CAPTURE(a.describe());
  REQUIRE(a.code() == 0);
  const std::string before = read_file(s / "a" / "scores.csv");
  auto sc = csv_rows(s / "a" / "scores.csv");
  REQUIRE(sc.size() == 7);  // header + 2 good + 4 defect types
  CHECK(sc[0] == std::vector<std::string>{"path", "score", "normalized_score", "decision", "overlay"});
  for (size_t i = 1; i < sc.size(); ++i) CHECK(decision_matches(std::stof(sc[i][1]), sc[i][3]));
  fs::path gone = c.data.string() + ".gone";
  fs::rename(c.data, gone);
  ProgramResult b = run_program("sgsf_test", with(test_args(c.run, s / "b"), {"--score", c.images.string()}), s);
  fs::rename(gone, c.data);
  CAPTURE(b.describe());
  REQUIRE(b.code() == 0);
  CHECK(read_file(s / "b" / "scores.csv") == before);
  CHECK(b.err.find("note:") == std::string::npos);

  // --threshold overrides: 0 calls every image a defect, 1 none.
  ProgramResult zero = run_program("sgsf_test", with(test_args(c.run, s / "z"), {"--score", c.images.string(), "--threshold", "0"}), s);
  REQUIRE(zero.code() == 0);
  for (size_t i = 1; i < 7; ++i) CHECK(csv_rows(s / "z" / "scores.csv")[i][3] == "defect");
  ProgramResult one = run_program("sgsf_test", with(test_args(c.run, s / "o"), {"--threshold", "1"}), s);
  REQUIRE(one.code() == 0);
  CHECK(one.out.find("--threshold") != std::string::npos);
  for (const auto& r : csv_rows(s / "o" / "scores.csv")) CHECK(r[5] != "defect");
  check_error(run_program("sgsf_test", with(test_args(c.run, s / "x"), {"--threshold", "1.5"}), s), "sgsf_test",
              "--threshold must be from 0 to 1, got 1.5");
  // An image that cannot be decoded is named.
  fs::path bad = s / "bad";
  fs::create_directories(bad);
  write_text(bad / "broken.png", "not a PNG at all");
  check_error(run_program("sgsf_test", with(test_args(c.run, s / "x"), {"--score", bad.string()}), s), "sgsf_test",
              (bad / "broken.png").string());
}

TEST_CASE("a decision that flags nothing, or everything, says so; precision is n/a when nothing is flagged") {
  // decision_warnings against hand-made scores.
  const std::vector<float> scores = {0.2f, 0.3f, 0.45f};
  CHECK(sgsf::decision_warnings(scores, 0.4f, "test images").empty());
  auto above = sgsf::decision_warnings(scores, 0.5f, "held-out normal images", 3);
  REQUIRE(above.size() == 2);
  CHECK(above[0].find("lies above every one of the 3 held-out normal images (highest score 0.45") != std::string::npos);
  CHECK(above[1].find("calibrated from 3 normal images, fewer than 20") != std::string::npos);
  auto below = sgsf::decision_warnings(scores, 0.1f, "scored images");
  REQUIRE(below.size() == 1);
  CHECK(below[0].find("everything is called a defect") != std::string::npos);
  // Through sgsf_test: --threshold 1 flags nothing.
  const CalibratedRun& c = calibrated_run();
  fs::path s = scratch_dir("decisions_none");
  ProgramResult r =
      run_program("sgsf_test", with(test_args(c.run, s / "test"), {"--threshold", "1", "--overlays", "3"}), s);
  CAPTURE(r.describe());
  REQUIRE(r.code() == 0);
  CHECK(r.err.find("warning: the threshold 1 lies above every one of the 12 test images") != std::string::npos);
  CHECK(r.out.find("n/a") != std::string::npos);
  const std::string report = read_file(s / "test" / "report.json");
  CHECK(report.find("\"flagged\": 0, \"precision\": null") != std::string::npos);
  CHECK(report.find("\"thresholds\": {\"best_f1_on_test_labels\": ") != std::string::npos);
  CHECK(report.find("\"given\": 1}") != std::string::npos);
  // --overlays 3: the most informative first; with nothing flagged every defective image is a miss,
  // so the three are defective images (the highest-scoring misses), none of the good ones.
  std::vector<std::string> overlays;
  for (const auto& e : fs::directory_iterator(s / "test" / "overlays")) overlays.push_back(e.path().filename().string());
  CHECK(overlays.size() == 3);
  for (const auto& o : overlays) CHECK(o.rfind("good_", 0) != 0);
  // Training with 2 held-out images warns that its threshold is rough (the calibrated run: 2 of 8).
  CHECK(sgsf::read_calibration(c.run.string(), sgsf::load_run(c.run.string(), Device::CPU).fingerprint).count < 20);
  // The progress line before the first window is read back shows no loss, not a loss of 0.
  CHECK(sgsf::WindowStats().progress_text(1.0, 1, 4).rfind("loss - |", 0) == 0);
}

TEST_CASE("a run folder from an older version still tests and says what is unavailable") {
  fs::path s = scratch_dir("old_run");
  fs::path old = s / "run";
  fs::create_directories(old);
  // The checkpoint and config.json only, without the keys a later version added.
  SafetensorsFile f = load_safetensors(sgsf::checkpoint_path(plain_run().string()));
  std::string cfg = read_file(plain_run() / "config.json");
  for (const char* key : {"holdout", "score_pool", "test_flip", "precision", "threshold_rule", "target_fpr"}) {
    CAPTURE(key);
    REQUIRE(f.metadata.count(key));
    f.metadata.erase(key);
    const size_t at = cfg.find(std::string("  \"") + key + "\"");
    REQUIRE(at != std::string::npos);
    cfg.erase(at, cfg.find('\n', at) - at + 1);
  }
  save_safetensors(sgsf::checkpoint_path(old.string()), f.tensors, f.metadata);
  write_text(old / "config.json", cfg);

  ProgramResult r = run_program("sgsf_test", test_args(old, s / "out"), s);
  CAPTURE(r.describe());
  REQUIRE(r.code() == 0);
  CHECK(r.out.find("AUROC_det") != std::string::npos);
  CHECK(r.err.find("no calibrated threshold") != std::string::npos);
  CHECK(r.err.find("decisions need --threshold") != std::string::npos);
  CHECK(r.err.find("holds no guidance images") != std::string::npos);
  CHECK(r.out.find("at the decision threshold") == std::string::npos);
  ProgramResult th = run_program("sgsf_test", with(test_args(old, s / "out"), {"--threshold", "0.5"}), s);
  REQUIRE(th.code() == 0);
  CHECK(th.out.find("--threshold") != std::string::npos);
  // --score: scores without decisions.
  const fs::path good = fs::path(tiny_dataset_root()) / tiny_dataset_options().category / "test" / "good";
  ProgramResult sc = run_program("sgsf_test", with(test_args(old, s / "sc"), {"--score", good.string(), "--maps"}), s);
  REQUIRE(sc.code() == 0);
  const auto old_rows = csv_rows(s / "sc" / "scores.csv");
  for (const auto& row : old_rows) CHECK(row.size() == 5);
  CHECK(old_rows[1][3] == "");
  // Its scores pool 21 x 21 windows, as it was calibrated with (a newer run of this size pools 3 x 3).
  SafetensorsFile old_maps = load_safetensors((s / "sc" / "maps.safetensors").string());
  for (size_t i = 1; i < old_rows.size(); ++i) {
    CAPTURE(old_rows[i][0]);
    std::vector<float> m = find_tensor(old_maps.tensors, fs::path(old_rows[i][0]).filename().string()).to_vector();
    CHECK(std::stod(old_rows[i][1]) == doctest::Approx(pooled_max(m, 32, 21)).epsilon(1e-5));
  }
  // The Detector loads it too, without a threshold until one is set.
  sgsf::Detector det(old.string(), "cpu");
  CHECK_FALSE(det.has_threshold());
  sgsf::Detection d = det.detect((good / "000.png").string());
  CHECK(std::isnan(d.normalized));
  CHECK_FALSE(d.defect);
  det.set_threshold(0.f);
  CHECK(det.detect((good / "000.png").string()).defect);

  // Guidance files of other weights are refused, naming the file.
  fs::path mixed = s / "mixed";
  fs::create_directories(mixed);
  for (const char* n : {"checkpoint.safetensors", "config.json"}) fs::copy_file(plain_run() / n, mixed / n);
  fs::copy_file(calibrated_run().run / "guidance.safetensors", mixed / "guidance.safetensors");
  ProgramResult m = run_program("sgsf_test", test_args(mixed, s / "out"), s);
  check_error(m, "sgsf_test", (mixed / "guidance.safetensors").string() + "' was computed with other model weights");
}

TEST_CASE("Detector: the maps and scores of sgsf_test, from files and from memory, at the input's resolution") {
  const CalibratedRun& c = calibrated_run();
  fs::path s = scratch_dir("detector");
  ProgramResult r = run_program("sgsf_test", with(test_args(c.run, s / "scored"), {"--score", c.images.string(), "--maps"}), s);
  CAPTURE(r.describe());
  REQUIRE(r.code() == 0);
  SafetensorsFile maps = load_safetensors((s / "scored" / "maps.safetensors").string());
  auto rows = csv_rows(s / "scored" / "scores.csv");

  sgsf::Detector det(c.run.string(), "cpu");
  REQUIRE(det.has_threshold());
  CHECK(det.input_size() == 32);
  // At 32 x 32 the score pools 3 x 3 windows (score_pool_size), not the paper's 21 x 21 at 256.
  const int pool = sgsf::score_pool_size(sgsf::read_config_json((c.run / "config.json").string()));
  CHECK(pool == 3);
  std::vector<std::string> files;
  for (size_t i = 1; i < rows.size(); ++i) files.push_back(rows[i][0]);
  std::vector<sgsf::Detection> got = det.detect_files(files);
  REQUIRE(got.size() == files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    CAPTURE(files[i]);
    const sgsf::Detection& d = got[i];
    Tensor ref = find_tensor(maps.tensors, fs::path(files[i]).filename().string());
    REQUIRE(ref.defined());
    std::vector<float> rv = ref.to_vector();
    REQUIRE(d.model_map.size() == rv.size());
    float diff = 0;
    for (size_t k = 0; k < rv.size(); ++k) diff = std::max(diff, std::fabs(rv[k] - d.model_map[k]));
    CHECK(diff <= 1e-6f);
    CHECK(std::stod(rows[i + 1][1]) == doctest::Approx(pooled_max(rv, 32, pool)).epsilon(1e-5));
    CHECK(d.score == doctest::Approx(std::stod(rows[i + 1][1])).epsilon(1e-5));
    CHECK((d.defect ? "defect" : "ok") == rows[i + 1][3]);
    CHECK(d.normalized == doctest::Approx(std::stod(rows[i + 1][2])).epsilon(1e-5));
    CHECK(d.width == 32);
    CHECK(d.map == d.model_map);
  }

  // Other scoring on the same run: the paper's 21 x 21 window, and test-time flips. The calibrated
  // threshold belongs to the run's scoring, so decisions are left out and a note says why.
  ProgramResult p21 = run_program(
      "sgsf_test", with(test_args(c.run, s / "p21"), {"--score", c.images.string(), "--maps", "--score-pool", "21"}), s);
  CAPTURE(p21.describe());
  REQUIRE(p21.code() == 0);
  CHECK(p21.err.find("decisions need --threshold") != std::string::npos);
  const auto rows21 = csv_rows(s / "p21" / "scores.csv");
  ProgramResult fl = run_program(
      "sgsf_test", with(test_args(c.run, s / "flip"), {"--score", c.images.string(), "--maps", "--test-flip", "on"}), s);
  REQUIRE(fl.code() == 0);
  SafetensorsFile fmaps = load_safetensors((s / "flip" / "maps.safetensors").string());
  const auto rowsf = csv_rows(s / "flip" / "scores.csv");
  REQUIRE(rows21.size() == rows.size());
  REQUIRE(rowsf.size() == rows.size());
  float flip_moved = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    CAPTURE(rows[i][0]);
    const std::string name = fs::path(rows[i][0]).filename().string();
    std::vector<float> m = find_tensor(maps.tensors, name).to_vector(), mf = find_tensor(fmaps.tensors, name).to_vector();
    CHECK(std::stod(rows21[i][1]) == doctest::Approx(pooled_max(m, 32, 21)).epsilon(1e-5));
    CHECK(rows21[i][3] == "");
    CHECK(std::stod(rowsf[i][1]) == doctest::Approx(pooled_max(mf, 32, pool)).epsilon(1e-5));
    for (size_t k = 0; k < m.size(); ++k) flip_moved = std::max(flip_moved, std::fabs(m[k] - mf[k]));
  }
  CHECK(flip_moved > 1e-6f);
  // The run's own scoring asked for by name keeps the calibrated threshold.
  ProgramResult same = run_program(
      "sgsf_test", with(test_args(c.run, s / "same"), {"--score", c.images.string(), "--score-pool", "3", "--test-flip", "off"}), s);
  REQUIRE(same.code() == 0);
  CHECK(csv_rows(s / "same" / "scores.csv")[1][3] == rows[1][3]);
  check_error(run_program("sgsf_test", with(test_args(c.run, s / "x"), {"--score", c.images.string(), "--score-pool", "4"}), s),
              "sgsf_test", "--score-pool must be odd");
  check_error(run_program("sgsf_test", with(test_args(c.run, s / "x"), {"--test-flip", "maybe"}), s), "sgsf_test",
              "--test-flip must be run, on or off");

  // From memory: the same image as 8-bit RGB, and a 48x40 version (resized as in testing) whose map
  // comes back at 48x40.
  data::Image img = data::read_image(files[2], 3);
  std::vector<uint8_t> rgb = data::interleaved_u8(img);
  sgsf::Detection mem = det.detect(sgsf::RgbImage{rgb.data(), img.width, img.height, 0});
  CHECK(mem.model_map == got[2].model_map);
  CHECK(mem.score == got[2].score);
  data::Image big = data::resize_bilinear(img, 40, 48);
  const fs::path big_png = s / "big.png";
  data::write_png(big_png.string(), big);
  data::Image big8 = data::read_image(big_png.string(), 3);
  std::vector<uint8_t> padded((size_t)(48 * 3 + 5) * 40, 0);  // rows with a stride larger than 3 x width
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 48; ++x)
      for (int ch = 0; ch < 3; ++ch) padded[(size_t)y * (48 * 3 + 5) + (size_t)x * 3 + ch] = (uint8_t)std::lround(big8.at(ch, y, x) * 255.f);
  sgsf::Detection bm = det.detect(sgsf::RgbImage{padded.data(), 48, 40, 48 * 3 + 5});
  sgsf::Detection bf = det.detect(big_png.string());
  CHECK(bm.width == 48);
  CHECK(bm.height == 40);
  CHECK(bm.map.size() == 48u * 40u);
  CHECK(bm.model_map.size() == 32u * 32u);
  CHECK(bm.map == bf.map);
  CHECK(bm.score == bf.score);

  // Several threads score at once, through one Detector and through a second one on the same run,
  // single images and batches (the CPU scorer shares their images out among its threads, or gives a
  // lone image every thread): bit for bit the results of one call after another.
  {
    sgsf::Detector det2(c.run.string(), "cpu");
    const int kThreads = 6;
    std::vector<std::vector<sgsf::Detection>> par((size_t)kThreads);
    std::vector<std::string> errors((size_t)kThreads);
    std::vector<std::thread> threads;
    for (int k = 0; k < kThreads; ++k)
      threads.emplace_back([&, k] {
        try {
          sgsf::Detector& d = k % 2 ? det2 : det;
          for (int rep = 0; rep < 3; ++rep) {
            if ((k + rep) % 3 == 0) {  // a batch of every file
              std::vector<sgsf::Detection> all = d.detect_files(files);
              par[(size_t)k].insert(par[(size_t)k].end(), all.begin(), all.end());
            } else {
              for (const auto& f : files) par[(size_t)k].push_back(d.detect(f));
            }
          }
        } catch (const std::exception& e) {
          errors[(size_t)k] = e.what();
        }
      });
    for (auto& th : threads) th.join();
    for (int k = 0; k < kThreads; ++k) {
      CAPTURE(k);
      CHECK(errors[(size_t)k] == "");
      REQUIRE(par[(size_t)k].size() == 3 * files.size());
      for (size_t i = 0; i < par[(size_t)k].size(); ++i) {
        const sgsf::Detection& a = par[(size_t)k][i];
        const sgsf::Detection& b = got[i % files.size()];
        CHECK(a.model_map == b.model_map);
        CHECK(a.score == b.score);
        CHECK(a.defect == b.defect);
      }
    }
  }

  // Two Detectors that compute differently (fp32 and bf16) scored at once from several threads:
  // each call gets its own Detector's results, though the CPU scorer's threads take the images of
  // both.
  {
    std::unique_ptr<sgsf::Detector> half;
    try {
      half = std::make_unique<sgsf::Detector>(c.run.string(), "cpu", "bf16");
    } catch (const std::exception& e) {
      MESSAGE("no bf16 on this CPU, so no second Detector that computes differently: ", e.what());
    }
    if (half) {
      std::vector<sgsf::Detection> half_ref;
      for (const auto& f : files) half_ref.push_back(half->detect(f));
      CHECK(half_ref[0].model_map != got[0].model_map);  // they differ: a mix-up would show
      const int kThreads = 4;
      std::vector<std::vector<sgsf::Detection>> par((size_t)kThreads);
      std::vector<std::thread> threads;
      for (int k = 0; k < kThreads; ++k)
        threads.emplace_back([&, k] {
          sgsf::Detector& d = k % 2 ? *half : det;
          for (int rep = 0; rep < 3; ++rep)
            for (const auto& f : files) par[(size_t)k].push_back(d.detect(f));
        });
      for (auto& th : threads) th.join();
      for (int k = 0; k < kThreads; ++k) {
        CAPTURE(k);
        const std::vector<sgsf::Detection>& want = k % 2 ? half_ref : got;
        REQUIRE(par[(size_t)k].size() == 3 * files.size());
        for (size_t i = 0; i < par[(size_t)k].size(); ++i) {
          CHECK(par[(size_t)k][i].model_map == want[i % files.size()].model_map);
          CHECK(par[(size_t)k][i].score == want[i % files.size()].score);
        }
      }
    }
  }

  // Errors name what is wrong.
  const fs::path broken = s / "broken.png";
  write_text(broken, "not a PNG");
  CHECK_THROWS_WITH_AS(det.detect(broken.string()), doctest::Contains(broken.string().c_str()), std::runtime_error);
  CHECK_THROWS_WITH_AS(det.detect(sgsf::RgbImage{nullptr, 4, 4, 0}), doctest::Contains("needs pixels"), std::runtime_error);
  CHECK_THROWS_WITH_AS(det.set_threshold(2.f), doctest::Contains("from 0 to 1"), std::runtime_error);
  CHECK_THROWS_WITH_AS(sgsf::Detector((s / "nowhere").string(), "cpu"), doctest::Contains("nowhere"), std::runtime_error);
}

TEST_CASE("the Detector example program scores images; sgsf_export names a checkpoint that does not match") {
  const CalibratedRun& c = calibrated_run();
  fs::path s = scratch_dir("example");
  fs::copy_file(c.images / "good_000.png", s / "a.png");
  ProgramResult r = run_program("sgsf_detect_example", {c.run.string(), (s / "a.png").string()}, s);
  CAPTURE(r.describe());
  REQUIRE(r.code() == 0);
  sgsf::Detector det(c.run.string(), "cpu");
  sgsf::Detection d = det.detect((s / "a.png").string());
  CHECK(r.out.find((s / "a.png").string() + "\t" + (d.defect ? "defect" : "ok") + "\tscore ") == 0);
  CHECK(read_file(s / "a.png.map.pgm").rfind("P5\n32 32\n255\n", 0) == 0);
  ProgramResult bad = run_program("sgsf_detect_example", {c.run.string(), (s / "missing.png").string()}, s);
  CHECK(bad.code() == 1);
  CHECK(bad.err.find("missing.png") != std::string::npos);

  // Export: one ONNX file by default, holding the guidance bank (a ModelProto starts with
  // ir_version, field 1), two without it with --split, and the same error as sgsf_test for a
  // config.json that does not match its checkpoint.
  ProgramResult e = run_program("sgsf_export", {"--run", c.run.string(), "--out", (s / "m.onnx").string()}, s);
  CAPTURE(e.describe());
  REQUIRE(e.code() == 0);
  CHECK(read_file(s / "m.onnx").rfind(std::string("\x08\x08", 2), 0) == 0);
  CHECK_FALSE(fs::exists(s / "m.features.onnx"));
  ProgramResult sp =
      run_program("sgsf_export", {"--run", c.run.string(), "--out", (s / "split.onnx").string(), "--split"}, s);
  CAPTURE(sp.describe());
  REQUIRE(sp.code() == 0);
  CHECK(fs::file_size(s / "split.features.onnx") > 1000);
  const sgsf::GuidanceBank bank =
      sgsf::read_guidance(c.run.string(), 32, 32, sgsf::load_run(c.run.string(), Device::CPU).fingerprint);
  CHECK(fs::file_size(s / "m.onnx") > fs::file_size(s / "split.onnx") + sgsf::onnx_bank_bytes(bank.count(), 32, 32));
  CHECK(sgsf::onnx_bank_bytes(bank.count(), 32, 32) == (uint64_t)bank.count() * (3 * 32 * 32 + 32 * 4));
  // A run without calibration: the one graph's decision needs --threshold; --split does not.
  const std::string plain = plain_run().string();
  ProgramResult nt = run_program("sgsf_export", {"--run", plain, "--out", (s / "p.onnx").string()}, s);
  check_error(nt, "sgsf_export", "give --threshold T");
  CHECK_FALSE(fs::exists(s / "p.onnx"));
  CHECK(run_program("sgsf_export", {"--run", plain, "--out", (s / "p.onnx").string(), "--threshold", "0.5"}, s).code() == 0);
  CHECK(run_program("sgsf_export", {"--run", plain, "--out", (s / "q.onnx").string(), "--split"}, s).code() == 0);
  fs::path m = s / "mismatched";
  fs::create_directories(m);
  fs::copy_file(c.run / "checkpoint.safetensors", m / "checkpoint.safetensors");
  std::string cfg = read_file(c.run / "config.json");
  const std::string from = "\"width\": 4,";
  REQUIRE(cfg.find(from) != std::string::npos);
  cfg.replace(cfg.find(from), from.size(), "\"width\": 8,");
  write_text(m / "config.json", cfg);
  ProgramResult te = run_program("sgsf_test", test_args(m, s / "out"), s);
  ProgramResult ee = run_program("sgsf_export", {"--run", m.string(), "--out", (s / "x.onnx").string()}, s);
  check_error(te, "sgsf_test", "disagree on width");
  check_error(ee, "sgsf_export", "disagree on width");
  const std::string msg = te.err.substr(te.err.find("error: "));
  CHECK(ee.err.find(msg) != std::string::npos);
  CHECK_FALSE(fs::exists(s / "x.onnx"));
}
