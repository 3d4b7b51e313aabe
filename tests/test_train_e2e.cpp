// test_train_e2e.cpp — end-to-end training through the library on a tiny generated dataset
// (w = 4, 32x32, batch 4, a few dozen iterations on the CPU): the loss goes down, the checkpoint
// and config.json are written and evaluate() reads them back into metrics and report files; one
// seed gives bit-identical checkpoints; a run stopped and resumed (inside warm-up, right at the
// contrast-set build, between refreshes) ends bit-identical to an uninterrupted one; a diverging
// loss stops training with a message and leaves the last good checkpoint untouched. On a GPU: the
// same for CUDA, whose first loss and test scores match the CPU's.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/precision.h"
#include "sgsf/evaluate.h"
#include "sgsf/trainer.h"
#include "tests/e2e_util.h"
#include "tests/test_util.h"

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
  for (const char* f : {"report.json", "report.html", "scores.csv", "image_roc.svg", "pixel_roc.svg", "image_pr.svg",
                        "pixel_pr.svg", "image_roc.csv", "pixel_pr.csv"})
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

// ---- reproducibility -------------------------------------------------------------------------

namespace {
// The metadata of two checkpoints agree on everything but the run folder and the loader threads.
void check_same_metadata(const fs::path& a, const fs::path& b) {
  Metadata ma = load_safetensors(a.string()).metadata, mb = load_safetensors(b.string()).metadata;
  for (const char* k : {"out", "workers"}) {
    ma.erase(k);
    mb.erase(k);
  }
  CHECK(ma == mb);
}
}  // namespace

TEST_CASE("a bf16 run's loss curve stays near fp32's, and the run records its precision") {
  if (!cpu_has_native_bf16()) {
    MESSAGE("not run: this CPU has no bf16 instructions (AVX512_BF16 or AMX-BF16), so --precision bf16 is refused");
    return;
  }
  // The same 48 iterations as the fp32 run (joint_run), in bf16. Each log line is the mean loss of
  // 4 iterations; bf16 operands perturb each step by ~2^-8 relative, and 48 steps of training
  // carry that into the weights without blowing it up: every window within 15 % of fp32's
  // (measured on a Xeon with AVX512_BF16: at most 6 %), and the joint loss falls as fp32's does.
  const fs::path& f = joint_run();
  fs::path d = scratch_dir("joint_bf16");
  sgsf::TrainConfig c = tiny_config(d, 48);
  c.precision = "bf16";
  REQUIRE(quiet_train(c).status == sgsf::kTrainOk);
  const std::vector<LogLine> a = read_log(f / "train_log.jsonl"), b = read_log(d / "train_log.jsonl");
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("log line ", i, ": fp32 ", a[i].loss, ", bf16 ", b[i].loss);
    CHECK(b[i].loss == doctest::Approx(a[i].loss).epsilon(0.15));
    worst = std::max(worst, std::fabs(b[i].loss - a[i].loss) / a[i].loss);
  }
  MESSAGE("largest relative difference of a logged loss, bf16 against fp32: ", worst);
  CHECK(worst > 0);  // bf16 was in force
  auto [first, last] = first_last(b, true);
  CHECK(last < 0.9 * first);
  CHECK(sgsf::read_config_json(sgsf::config_path(d.string())).precision == "bf16");
  CHECK(sgsf::read_config_json(sgsf::config_path(f.string())).precision == "fp32");
}

TEST_CASE("two runs with one seed give bit-identical checkpoints; another seed does not") {
  fs::path a = scratch_dir("seed_a"), b = scratch_dir("seed_b"), c = scratch_dir("seed_c");
  sgsf::TrainConfig ca = tiny_config(a, 16), cb = tiny_config(b, 16), cc = tiny_config(c, 16);
  cb.workers = 2;  // batches do not depend on the number of loader threads
  cc.seed = ca.seed + 1;
  for (auto* cfg : {&ca, &cb, &cc}) REQUIRE(quiet_train(*cfg).status == sgsf::kTrainOk);
  const std::string ka = sgsf::checkpoint_path(a.string());
  CHECK_MESSAGE(checkpoint_difference(ka, sgsf::checkpoint_path(b.string())) == "", "same seed");
  check_same_metadata(ka, sgsf::checkpoint_path(b.string()));
  CHECK(checkpoint_difference(ka, sgsf::checkpoint_path(c.string())) != "");
  // The same losses were logged, to the last printed digit.
  std::vector<LogLine> la = read_log(a / "train_log.jsonl"), lb = read_log(b / "train_log.jsonl");
  REQUIRE(la.size() == lb.size());
  for (size_t i = 0; i < la.size(); ++i) CHECK(la[i].loss == lb[i].loss);
}

TEST_CASE("a stopped and resumed run ends bit-identical to an uninterrupted one") {
  // 24 iterations of 2 per epoch; warm-up ends at 6, where the contrast sets are built, and they
  // are rebuilt every 2 epochs after that (at 10, 14, 18, 22).
  auto config = [](const fs::path& d) {
    sgsf::TrainConfig c = tiny_config(d, 24);
    c.contrast_refresh = 2;
    c.checkpoint_every = 3;
    return c;
  };
  fs::path full = scratch_dir("resume_full");
  REQUIRE(quiet_train(config(full)).status == sgsf::kTrainOk);
  const std::string reference = sgsf::checkpoint_path(full.string());
  std::vector<LogLine> full_log = read_log(full / "train_log.jsonl");

  for (int64_t stop_at : {3, 6, 10, 13}) {
    CAPTURE(stop_at);
    fs::path d = scratch_dir("resume_" + std::to_string(stop_at));
    sgsf::TrainConfig c = config(d);
    c.stop_at_iteration = stop_at;
    sgsf::TrainResult first = quiet_train(c);
    REQUIRE(first.status == sgsf::kTrainInterrupted);
    CHECK(first.iterations_done == stop_at);
    CHECK(load_safetensors(sgsf::checkpoint_path(d.string())).metadata.at("iteration") == std::to_string(stop_at));

    c.stop_at_iteration = -1;
    sgsf::TrainResult second = quiet_train(c, /*resume=*/true);
    REQUIRE(second.status == sgsf::kTrainOk);
    CHECK(second.iterations_done == 24);
    CHECK(checkpoint_difference(reference, sgsf::checkpoint_path(d.string())) == "");
    check_same_metadata(reference, sgsf::checkpoint_path(d.string()));
    // Log windows that lie wholly after the resume point hold the same losses.
    std::vector<LogLine> log = read_log(d / "train_log.jsonl");
    int compared = 0;
    for (const LogLine& l : log)
      for (const LogLine& f : full_log)
        if (l.iteration == f.iteration && l.iteration - c.log_every >= stop_at) {
          CHECK(l.loss == f.loss);
          ++compared;
        }
    CHECK(compared >= 2);
  }
}

TEST_CASE("resuming from an earlier checkpoint than the log's end keeps one log line per iteration") {
  // As after a crash: the log reaches iteration 16, the checkpoint on disk was saved at 8.
  fs::path d = scratch_dir("resume_log"), full = scratch_dir("resume_log_full");
  sgsf::TrainConfig c = tiny_config(d, 16);
  c.stop_at_iteration = 8;
  REQUIRE(quiet_train(c).status == sgsf::kTrainInterrupted);
  const std::string ckpt = sgsf::checkpoint_path(d.string()), at8 = read_file(ckpt);
  c.stop_at_iteration = -1;
  REQUIRE(quiet_train(c, true).status == sgsf::kTrainOk);
  REQUIRE(read_log(d / "train_log.jsonl").size() == 4);
  std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << at8;
  REQUIRE(quiet_train(c, true).status == sgsf::kTrainOk);
  REQUIRE(quiet_train(tiny_config(full, 16)).status == sgsf::kTrainOk);
  std::vector<LogLine> log = read_log(d / "train_log.jsonl"), ref = read_log(full / "train_log.jsonl");
  REQUIRE(log.size() == ref.size());
  for (size_t i = 0; i < log.size(); ++i) {
    CHECK(log[i].iteration == ref[i].iteration);
    CHECK(log[i].loss == ref[i].loss);
  }
}

TEST_CASE("--resume refuses a different configuration and a missing checkpoint") {
  fs::path d = scratch_dir("resume_mismatch");
  sgsf::TrainConfig c = tiny_config(d, 8);
  c.stop_at_iteration = 2;
  REQUIRE(quiet_train(c).status == sgsf::kTrainInterrupted);
  c.stop_at_iteration = -1;
  sgsf::TrainConfig other = c;
  other.lr = 2e-3f;
  CHECK_THROWS_WITH_AS(quiet_train(other, true), doctest::Contains("lr"), Error);
  other = c;
  other.iterations = 10;
  CHECK_THROWS_WITH_AS(quiet_train(other, true), doctest::Contains("iterations"), Error);
  // Run-local settings may change.
  other = c;
  other.workers = 2;
  other.log_every = 3;
  CHECK(quiet_train(other, true).status == sgsf::kTrainOk);

  fs::path empty = scratch_dir("resume_none");
  CHECK_THROWS_WITH_AS(quiet_train(tiny_config(empty, 8), true), doctest::Contains("no checkpoint"), Error);
}

// ---- outputs that cannot be written ------------------------------------------------------------

TEST_CASE("a log planted as a link (to /dev/full) is refused before training: nothing is written through it") {
  fs::path d = scratch_dir("log_link");
  sgsf::TrainConfig c = tiny_config(d, 8);
  c.log_every = 1;
  fs::create_symlink("/dev/full", d / "train_log.jsonl");
  CHECK_THROWS_WITH_AS(quiet_train(c), doctest::Contains(std::string("cannot write '" + (d / "train_log.jsonl").string() +
                                                         "': it is a symbolic link").c_str()),
                       Error);
  CHECK(fs::is_symlink(d / "train_log.jsonl"));
  CHECK_FALSE(fs::exists(sgsf::checkpoint_path(d.string())));
  fs::remove(d / "train_log.jsonl");
  sgsf::TrainResult r = quiet_train(c);
  CHECK(r.status == sgsf::kTrainOk);
  CHECK(r.iterations_done == 8);
}

TEST_CASE("a log line cut short by a failed write is removed; the error says the checkpoint was not saved") {
  fs::path d = scratch_dir("log_limit");
  sgsf::TrainConfig c = tiny_config(d, 8);
  c.log_every = 1;
  std::string error;
  {
    FileSizeLimit limit(1000);  // about three log lines; far below a checkpoint
    try {
      quiet_train(c);
    } catch (const Error& e) {
      error = e.what();
    }
  }
  INFO(error);
  CHECK(error.find("cannot write '" + (d / "train_log.jsonl").string() + "': File too large") != std::string::npos);
  CHECK(error.find("the checkpoint could not be saved either") != std::string::npos);
  const std::string log = read_bytes(d / "train_log.jsonl");
  REQUIRE_FALSE(log.empty());
  CHECK(log.back() == '\n');
  std::vector<LogLine> lines = read_log(d / "train_log.jsonl");
  CHECK(lines.size() >= 1);
  for (size_t i = 0; i < lines.size(); ++i) CHECK(lines[i].iteration == (int64_t)i + 1);
}

TEST_CASE("--resume whose log rewrite fails keeps the log and the checkpoint as they were") {
  fs::path d = scratch_dir("resume_limit");
  sgsf::TrainConfig c = tiny_config(d, 8);
  c.log_every = 1;
  c.stop_at_iteration = 4;
  REQUIRE(quiet_train(c).status == sgsf::kTrainInterrupted);
  c.stop_at_iteration = -1;
  const std::string log = read_bytes(d / "train_log.jsonl"), ckpt = read_bytes(sgsf::checkpoint_path(d.string()));
  REQUIRE(log.size() > 600);
  std::string error;
  {
    FileSizeLimit limit(600);
    try {
      quiet_train(c, true);
    } catch (const Error& e) {
      error = e.what();
    }
  }
  INFO(error);
  CHECK(error.find("cannot write '" + (d / "train_log.jsonl").string() + "'") != std::string::npos);
  CHECK(read_bytes(d / "train_log.jsonl") == log);
  CHECK(read_bytes(sgsf::checkpoint_path(d.string())) == ckpt);
  CHECK_FALSE(fs::exists(d / "train_log.jsonl.tmp"));
}

// ---- divergence --------------------------------------------------------------------------------

TEST_CASE("a non-finite loss stops training with a message and keeps the last good checkpoint") {
  // lr = 1e30: Adam's first step moves every weight by ~1e30, so the second loss overflows.
  auto config = [](const fs::path& d) {
    sgsf::TrainConfig c = tiny_config(d, 8);
    c.lr = 1e30f;
    return c;
  };
  fs::path d = scratch_dir("diverge");
  sgsf::TrainConfig c = config(d);
  c.stop_at_iteration = 1;  // one finite step, saved
  REQUIRE(quiet_train(c).status == sgsf::kTrainInterrupted);
  const std::string ckpt = sgsf::checkpoint_path(d.string());
  const std::string saved = read_file(ckpt), saved_config = read_file(sgsf::config_path(d.string()));
  REQUIRE(!saved.empty());

  c.stop_at_iteration = -1;
  sgsf::TrainResult r;
  std::string message;
  {
    CerrCapture cap;
    r = sgsf::train(c, true, nullptr, false);
    message = cap.text();
  }
  CHECK(r.status == sgsf::kTrainDiverged);
  CHECK(r.iterations_done == 1);
  CHECK(message.find("the loss became") != std::string::npos);
  CHECK(message.find("at iteration 1") != std::string::npos);
  CHECK(message.find("last good checkpoint is kept at " + ckpt) != std::string::npos);
  CHECK(read_file(ckpt) == saved);  // untouched, byte for byte
  CHECK(read_file(sgsf::config_path(d.string())) == saved_config);
  CHECK_FALSE(fs::exists(ckpt + ".tmp"));

  // A fresh run that diverges before its first checkpoint says so and writes none.
  fs::path fresh = scratch_dir("diverge_fresh");
  {
    CerrCapture cap;
    r = sgsf::train(config(fresh), false, nullptr, false);
    message = cap.text();
  }
  CHECK(r.status == sgsf::kTrainDiverged);
  CHECK(message.find("No checkpoint was written") != std::string::npos);
  CHECK_FALSE(fs::exists(sgsf::checkpoint_path(fresh.string())));

  // With a checkpoint every epoch (here one iteration each), the one saved before the bad step stays.
  fs::path periodic = scratch_dir("diverge_periodic");
  sgsf::TrainConfig p = config(periodic);
  p.batch = 8;
  p.checkpoint_every = 1;
  {
    CerrCapture cap;
    r = sgsf::train(p, false, nullptr, false);
  }
  CHECK(r.status == sgsf::kTrainDiverged);
  CHECK(r.iterations_done == 1);
  SafetensorsFile kept = load_safetensors(sgsf::checkpoint_path(periodic.string()));
  CHECK(kept.metadata.at("iteration") == "1");
}

// ---- the same on the GPU -------------------------------------------------------------------------

namespace {
// scores.csv rows: (guidance, score) per test image, the columns found by their header names.
std::vector<std::pair<std::string, double>> read_scores(const fs::path& csv) {
  const std::vector<std::vector<std::string>> table = csv_rows(csv);
  REQUIRE(!table.empty());
  const std::vector<std::string>& header = table[0];
  const auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    REQUIRE_MESSAGE(it != header.end(), "scores.csv has no column ", name);
    return (size_t)(it - header.begin());
  };
  const size_t score = column("score"), guidance = column("guidance");
  std::vector<std::pair<std::string, double>> rows;
  for (size_t i = 1; i < table.size(); ++i) {
    REQUIRE(table[i].size() == header.size());
    rows.emplace_back(table[i][guidance], std::stod(table[i][score]));
  }
  return rows;
}
}  // namespace

TEST_CASE("CUDA: training lowers the loss, is reproducible and resumable, and scores like the CPU" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  auto config = [](const fs::path& d, const char* device) {
    sgsf::TrainConfig c = tiny_config(d, 32);  // warm-up ends at 8, contrast refreshed every 4
    c.contrast_refresh = 2;
    c.device = device;
    return c;
  };
  // The first loss (same initial weights, same batch) agrees with the CPU's up to rounding.
  fs::path cpu = scratch_dir("gpu_ref_cpu"), gpu = scratch_dir("gpu_full"), again = scratch_dir("gpu_again");
  sgsf::TrainResult rc = quiet_train(config(cpu, "cpu")), rg = quiet_train(config(gpu, "cuda"));
  REQUIRE(rc.status == sgsf::kTrainOk);
  REQUIRE(rg.status == sgsf::kTrainOk);
  CHECK(rg.first_loss == doctest::Approx(rc.first_loss).epsilon(1e-4));
  std::vector<LogLine> log = read_log(gpu / "train_log.jsonl");
  auto [first, last] = first_last(log, true);
  MESSAGE("CUDA joint loss: first window ", first, ", last window ", last);
  CHECK(last < first);
  CHECK(last == doctest::Approx(first_last(read_log(cpu / "train_log.jsonl"), true).second).epsilon(0.1));

  // One seed, one device: bit-identical, also when stopped and resumed at a contrast refresh.
  REQUIRE(quiet_train(config(again, "cuda")).status == sgsf::kTrainOk);
  const std::string ref = sgsf::checkpoint_path(gpu.string());
  CHECK(checkpoint_difference(ref, sgsf::checkpoint_path(again.string())) == "");
  fs::path stopped = scratch_dir("gpu_resume");
  sgsf::TrainConfig s = config(stopped, "cuda");
  s.stop_at_iteration = 10;
  REQUIRE(quiet_train(s).status == sgsf::kTrainInterrupted);
  s.stop_at_iteration = -1;
  REQUIRE(quiet_train(s, true).status == sgsf::kTrainOk);
  CHECK(checkpoint_difference(ref, sgsf::checkpoint_path(stopped.string())) == "");

  // The CUDA checkpoint scored on both devices.
  sgsf::EvalOptions o;
  o.run = gpu.string();
  o.workers = 1;
  o.batch = 4;
  o.overlays = 0;
  o.progress = false;
  sgsf::CategoryMetrics m[2];
  const char* devices[2] = {"cuda", "cpu"};
  for (int k = 0; k < 2; ++k) {
    o.device = devices[k];
    o.out = (gpu / (std::string("test_") + devices[k])).string();
    CerrCapture quiet;
    m[k] = sgsf::evaluate(o);
  }
  for (double v : {m[0].image_auroc, m[0].pixel_auroc, m[0].pixel_ap}) {
    CHECK(v >= 0.0);
    CHECK(v <= 1.0);
  }
  auto sg_ = read_scores(gpu / "test_cuda" / "scores.csv"), sc = read_scores(gpu / "test_cpu" / "scores.csv");
  REQUIRE(sg_.size() == sc.size());
  int other_guidance = 0;
  for (size_t i = 0; i < sg_.size(); ++i) {
    if (sg_[i].first != sc[i].first) {  // a near-tie in feature similarity may pick another image
      ++other_guidance;
      continue;
    }
    CHECK(sg_[i].second == doctest::Approx(sc[i].second).epsilon(1e-3).scale(1.0));
  }
  CHECK(other_guidance <= 1);
}

TEST_CASE("a CUDA training iteration does not wait for the device: the waits do not grow with the iterations" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  // Same schedule shape at 12 and at 24 iterations (one contrast build at the end of the warm-up,
  // calibration and guidance bank at the end), one log line each: any per-iteration wait (a loss
  // read back, a SAM count copied to the host, a pageable upload) would add at least 12.
  auto waits = [](int64_t iterations) {
    fs::path d = scratch_dir("gpu_waits_" + std::to_string(iterations));
    sgsf::TrainConfig c = tiny_config(d, iterations);
    c.device = "cuda";
    c.log_every = (int)iterations;
    const int64_t before = cuda_host_waits();
    REQUIRE(quiet_train(c).status == sgsf::kTrainOk);
    return cuda_host_waits() - before;
  };
  const int64_t w12 = waits(12), w24 = waits(24);
  MESSAGE("host waits for the device: ", w12, " in a 12-iteration run, ", w24, " in a 24-iteration run");
  CHECK(w24 == w12);
}

TEST_CASE("a signal while the guidance bank and calibration are written: the checkpoint is kept, 143, and --resume finishes") {
  fs::path d = scratch_dir("finish_signal");
  sgsf::TrainConfig c = tiny_config(d, 4);
  c.holdout = 0.25f;
  REQUIRE(quiet_train(c).status == sgsf::kTrainOk);
  const std::string guidance = read_bytes(d / "guidance.safetensors"), calibration = read_bytes(d / "calibration.json");
  const std::string ckpt = read_bytes(d / "checkpoint.safetensors");
  // Resumed at its last iteration, the loop has nothing left to do: the signal, already there, is
  // seen while the run is being finished.
  std::atomic<int> stop{SIGTERM};
  sgsf::TrainResult r;
  {
    CerrCapture quiet;
    r = sgsf::train(c, true, &stop, false);
  }
  CHECK(r.status == sgsf::kTrainTerminated);
  CHECK(r.iterations_done == 4);
  CHECK(read_bytes(d / "checkpoint.safetensors") == ckpt);
  // Nothing was deleted ahead of a new version; nothing half-written is left.
  CHECK(read_bytes(d / "guidance.safetensors") == guidance);
  CHECK(read_bytes(d / "calibration.json") == calibration);
  for (const auto& e : fs::recursive_directory_iterator(d)) CHECK(e.path().extension() != ".tmp");
  sgsf::TrainResult done = quiet_train(c, true);
  CHECK(done.status == sgsf::kTrainOk);
  CHECK(fs::exists(d / "calibration.json"));
}

#ifdef SGSF_WITH_CUDA
#include "engine/optim.h"
#include "kernels/cuda_launch.h"
#include "sgsf/model.h"

// Kernel launches of one joint training step (after the warm-up) of the `tiny` preset's model on
// the CUDA device: Perlin noise, forging, forward, the three losses, backward and the Adam update,
// as sgsf::train runs them. The count depends on the network's structure only (its width, the
// image size and the batch change the grids, not the number of launches), so a small width and
// size stand in for the preset's. Measured on the emulated device (bench/README.md, "Launches per
// step"): 791 launches with one Adam launch per tensor, copied leaf gradients and batch norm in
// separate passes; 642 with the multi-tensor Adam and uncopied leaf gradients; 235 with batch norm
// in four launches a layer and the convolutions' biases folded into it. The bound, 250, is under a
// third of 791 and leaves room for a few launches, not for a pass per layer.
TEST_CASE("launches per training step stay within their bound" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  sgsf::TrainConfig c;
  sgsf::apply_preset(c, "tiny");
  const int64_t n = 2, s = 32;
  sgsf::SGSFModel model(4, sgsf::parse_guidance(c.guidance), 3);
  model.to(Device::CUDA);
  model.train();
  Adam opt(model.named_parameters(), c.lr);
  const Tensor image = Tensor::uniform({n, 3, s, s}, 0.f, 1.f, 1, Device::CUDA);
  const Tensor guidance = Tensor::uniform({n, 3, s, s}, 0.f, 1.f, 2, Device::CUDA);
  const Tensor aux = Tensor::uniform({n, 3, s, s}, 0.f, 1.f, 3, Device::CUDA);
  const Tensor saliency = Tensor::ones({n, 1, s, s}, Device::CUDA);
  auto step = [&](uint64_t seed) { sgsf::joint_step(model, opt, image, saliency, aux, guidance, c, seed); };
  step(1);  // the first step also creates the optimiser's state
  const int64_t before = cuda::launches();
  step(2);
  const int64_t launches = cuda::launches() - before;
  MESSAGE("kernel launches in one joint training step: ", launches);
  CHECK(launches > 100);  // the counter counts
  CHECK(launches <= 250);
}
#endif
