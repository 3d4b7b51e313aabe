// calibration.cpp — threshold rule, normalised scores and calibration.json (see calibration.h).
#include "sgsf/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "data/image_ops.h"
#include "engine/common.h"
#include "engine/file_io.h"
#include "engine/json_subset.h"
#include "sgsf/config.h"

namespace fs = std::filesystem;

namespace sg::sgsf {

namespace {
// The keys of calibration.json written as JSON numbers.
bool calibration_number_key(const std::string& k) {
  return k == "threshold" || k == "count" || k == "q99" || k == "median" || k == "forged_count" ||
         k == "forged_median" || k == "target_fpr";
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
}  // namespace

ThresholdRule parse_threshold_rule(const std::string& name, const std::string& option) {
  if (name == "forged") return ThresholdRule::Forged;
  if (name == "spread") return ThresholdRule::Spread;
  if (name == "target-fpr") return ThresholdRule::TargetFpr;
  throw Error(str(option, ": unknown rule '", name, "' (expected forged, spread or target-fpr)"));
}
const char* threshold_rule_name(ThresholdRule r) {
  switch (r) {
    case ThresholdRule::Forged: return "forged";
    case ThresholdRule::Spread: return "spread";
    case ThresholdRule::TargetFpr: return "target-fpr";
  }
  return "?";
}

std::string threshold_rule_text(ThresholdRule rule, double target_fpr) {
  switch (rule) {
    case ThresholdRule::Forged:
      return str("threshold = the ", fmt(100 * (1 - kForgedRecall)), "th percentile of the scores of anomalies "
                 "forged on the held-out normal images (it catches ", fmt(100 * kForgedRecall), " % of them); defect "
                 "when score > threshold");
    case ThresholdRule::Spread:
      return "threshold = min(1, q99 + 0.5 * (q99 - median)) of the held-out normal image scores; defect when "
             "score > threshold";
    case ThresholdRule::TargetFpr:
      return str("threshold = the ", fmt(100 * (1 - target_fpr)), "th percentile of the held-out normal image "
                 "scores (target false-positive rate ", fmt(target_fpr), "); defect when score > threshold");
  }
  return "";
}

Calibration calibrate(const std::vector<float>& scores, const std::vector<float>& forged, ThresholdRule rule,
                      double target_fpr) {
  SG_CHECK(!scores.empty(), "calibration: no scores");
  SG_CHECK(target_fpr > 0 && target_fpr < 1, "calibration: the target false-positive rate must be between 0 and 1, "
           "got ", target_fpr);
  Calibration c;
  c.count = (int)scores.size();
  c.scores = scores;
  c.forged_scores = forged;
  c.q99 = data::percentile(scores, (float)kCalibrationQuantile);
  c.median = data::percentile(scores, 50.f);
  c.forged_median = forged.empty() ? 0.f : data::percentile(forged, 50.f);
  c.rule = rule == ThresholdRule::Forged && forged.empty() ? ThresholdRule::Spread : rule;
  c.target_fpr = target_fpr;
  double t = 0;
  switch (c.rule) {
    case ThresholdRule::Forged: t = data::percentile(forged, (float)(100.0 * (1.0 - kForgedRecall))); break;
    case ThresholdRule::Spread: t = (double)c.q99 + kCalibrationMargin * ((double)c.q99 - c.median); break;
    case ThresholdRule::TargetFpr: t = data::percentile(scores, (float)(100.0 * (1.0 - target_fpr))); break;
  }
  c.threshold = (float)std::min(1.0, std::max(0.0, t));
  return c;
}

float normalized_score(float s, float t) {
  double n;
  if (s <= t)
    n = t > 0 ? 0.5 * s / t : 0.0;
  else
    n = t < 1 ? 0.5 + 0.5 * (s - t) / (1.0 - t) : 1.0;
  return (float)std::min(1.0, std::max(0.0, n));
}

std::string calibration_path(const std::string& run) { return (fs::path(run) / "calibration.json").string(); }
bool has_calibration(const std::string& run) { return fs::exists(calibration_path(run)); }

void write_calibration(const std::string& run, const Calibration& c) {
  std::map<std::string, std::string> kv = {
      {"format", kCalibrationFormat},
      {"threshold", fmt(c.threshold)},
      {"rule_name", threshold_rule_name(c.rule)},
      {"rule", threshold_rule_text(c.rule, c.target_fpr)},
      {"forged_count", std::to_string(c.forged_scores.size())},
      {"forged_median", fmt(c.forged_median)},
      {"normalized_score", "0.5 * s / t for s <= t, else 0.5 + 0.5 * (s - t) / (1 - t)"},
      {"source", c.source},
      {"count", std::to_string(c.count)},
      {"q99", fmt(c.q99)},
      {"median", fmt(c.median)},
      {"weights_fingerprint", c.weights_fingerprint}};
  if (c.rule == ThresholdRule::TargetFpr) kv["target_fpr"] = fmt(c.target_fpr);
  std::ostringstream o;
  o << "{\n";
  size_t i = 0;
  for (const auto& [k, v] : kv)
    o << "  " << json::quote(k) << ": " << (calibration_number_key(k) ? v : json::quote(v))
      << (++i < kv.size() ? ",\n" : "\n");
  o << "}\n";
  std::ostringstream csv;
  csv << "path,score,kind,forged_fraction\n";
  for (size_t k = 0; k < c.scores.size(); ++k)
    csv << csv_field(k < c.images.size() ? c.images[k] : std::string()) << "," << fmt(c.scores[k]) << ",normal,0\n";
  for (size_t k = 0; k < c.forged_scores.size(); ++k)
    csv << csv_field(k < c.forged_images.size() ? c.forged_images[k] : std::string()) << ","
        << fmt(c.forged_scores[k]) << ",forged," << fmt(k < c.forged_fraction.size() ? c.forged_fraction[k] : 0.f)
        << "\n";
  write_file_atomic((fs::path(run) / "calibration.csv").string(), csv.str());
  write_file_atomic(calibration_path(run), o.str());
}

Calibration read_calibration(const std::string& run, const std::string& fingerprint) {
  const std::string path = calibration_path(run);
  const std::string text = read_regular_file(path, 1u << 20, "calibration");
  std::map<std::string, std::string> kv;
  try {
    json::Reader r(text.data(), text.size());
    SG_CHECK(r.peek() == json::Kind::Object, "must hold a JSON object");
    r.begin_object();
    std::string key;
    while (r.next_key(&key)) {
      // Numbers are JSON numbers; a string holding one is read too (files from before).
      const json::Kind kind = r.peek();
      SG_CHECK(kind == json::Kind::String || (calibration_number_key(key) && kind == json::Kind::Integer),
               "the value of '", key, "' must be ", calibration_number_key(key) ? "a number" : "a string");
      std::string value = kind == json::Kind::String ? r.get_string() : r.get_number_text();
      SG_CHECK(kv.emplace(key, std::move(value)).second, "key '", key, "' appears twice");
    }
    r.finish();
  } catch (const Error& e) {
    throw Error(str("calibration: '", path, "': ", e.what()));
  }
  auto get = [&](const std::string& k) -> std::string {
    SG_CHECK(kv.count(k), "calibration: '", path, "' has no '", k, "'");
    return kv.at(k);
  };
  SG_CHECK(get("format") == kCalibrationFormat, "calibration: '", path, "' has format '", get("format"),
           "', expected '", kCalibrationFormat, "'");
  Calibration c;
  SG_CHECK(parse_number(get("threshold"), &c.threshold) && c.threshold >= 0 && c.threshold <= 1, "calibration: '", path,
           "': threshold must be a number in [0, 1], got '", get("threshold"), "'");
  int64_t n = 0;
  SG_CHECK(parse_int64(get("count"), &n) && n >= 1, "calibration: '", path, "': count must be a positive integer");
  c.count = (int)n;
  parse_number(get("q99"), &c.q99);
  parse_number(get("median"), &c.median);
  // Added later (a file from before was calibrated by the spread rule, without forged scores).
  c.rule = kv.count("rule_name") ? parse_threshold_rule(kv.at("rule_name"), str("calibration: '", path, "': rule_name"))
                                 : ThresholdRule::Spread;
  if (kv.count("forged_median")) parse_number(kv.at("forged_median"), &c.forged_median);
  if (kv.count("target_fpr")) parse_number(kv.at("target_fpr"), &c.target_fpr);
  c.source = get("source");
  c.weights_fingerprint = get("weights_fingerprint");
  SG_CHECK(c.weights_fingerprint == fingerprint, "calibration: '", path,
           "' was computed with other model weights (fingerprint ", c.weights_fingerprint, ", the checkpoint's is ",
           fingerprint, "): train the run again, or pass --threshold");
  return c;
}

std::vector<std::string> decision_warnings(const std::vector<float>& scores, float threshold, const std::string& what,
                                           int calibrated_from) {
  auto fmt = [](double v) {  // four significant digits, for a person
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return std::string(buf);
  };
  std::vector<std::string> w;
  if (!scores.empty()) {
    const auto [lo, hi] = std::minmax_element(scores.begin(), scores.end());
    if (threshold >= *hi)
      w.push_back(str("the threshold ", fmt(threshold), " lies above every one of the ", scores.size(), " ", what,
                      " (highest score ", fmt(*hi), "): nothing is called a defect"));
    else if (threshold < *lo)
      w.push_back(str("the threshold ", fmt(threshold), " lies below every one of the ", scores.size(), " ", what,
                      " (lowest score ", fmt(*lo), "): everything is called a defect"));
  }
  if (calibrated_from > 0 && calibrated_from < kMinCalibrationImages)
    w.push_back(str("the threshold was calibrated from ", calibrated_from, " normal images, fewer than ",
                    kMinCalibrationImages, ": it is rough (more images in validation/good, or a larger --holdout, "
                    "make it firmer)"));
  return w;
}

std::string no_calibration_notice(const std::string& run) {
  return str("no calibrated threshold: '", calibration_path(run),
             "' is missing (a run from an older version, or trained with --holdout 0 on a layout without "
             "validation/good); decisions need --threshold");
}

}  // namespace sg::sgsf
