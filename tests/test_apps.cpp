// test_apps.cpp — the programs sgsf_train and sgsf_test run as child processes on a tiny generated
// dataset: bad input (options, presets, numbers, data folders, corrupt images, truncated or
// mismatched checkpoints) ends with a message naming the culprit on stderr and a non-zero exit
// code, never a crash; a diverging run exits with 3; a trained run folder is tested by sgsf_test;
// Ctrl-C saves a checkpoint and exits with 130, and --resume then ends bit-identical to an
// uninterrupted run.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <thread>

#include "sgsf/trainer.h"
#include "tests/e2e_util.h"

namespace fs = std::filesystem;
using namespace sg;
using namespace sg::test;

namespace {

// sgsf_train's options for a tiny run on the generated dataset (see tiny_config).
std::vector<std::string> train_args(const fs::path& out, int iterations) {
  return {"--data", tiny_dataset_root(), "--category", tiny_dataset_options().category, "--width", "4",
          "--size", "32", "--batch", "4", "--iterations", std::to_string(iterations), "--lr", "1e-3",
          "--warmup", "0.25", "--device", "cpu", "--workers", "1", "--log-every", "1", "--seed", "3",
          "--quiet", "--out", out.string()};
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// A program that failed as it should: it exited (no signal), with code 1 and a one-line error
// naming `what` on stderr.
void check_error(const ProgramResult& r, const std::string& program, const std::string& what) {
  CAPTURE(r.describe());
  CHECK(r.exited());
  CHECK(r.code() == 1);
  CHECK(r.err.find(program + ": error: ") != std::string::npos);
  CHECK(r.err.find(what) != std::string::npos);
}

// A trained run folder (4 iterations through the library), shared by the sgsf_test cases.
const fs::path& trained_run() {
  static const fs::path dir = [] {
    fs::path d = scratch_dir("run");
    CerrCapture quiet;
    REQUIRE(sgsf::train(tiny_config(d, 4), false, nullptr, false).status == sgsf::kTrainOk);
    return d;
  }();
  return dir;
}

// A copy of the trained run folder to damage.
fs::path run_copy(const std::string& name) {
  fs::path d = scratch_dir(name);
  for (const char* f : {"checkpoint.safetensors", "config.json"}) fs::copy_file(trained_run() / f, d / f);
  return d;
}

}  // namespace

TEST_CASE("sgsf_train: bad command lines give a message and exit code 1") {
  fs::path s = scratch_dir("train_cli");
  const auto base = train_args(s / "run", 4);
  check_error(run_program("sgsf_train", with(base, {"--preset", "huge"}), s), "sgsf_train", "unknown preset 'huge'");
  check_error(run_program("sgsf_train", with(base, {"--bogus", "1"}), s), "sgsf_train", "unknown option --bogus");
  check_error(run_program("sgsf_train", with(base, {"--lr", "abc"}), s), "sgsf_train", "--lr expects a number, got 'abc'");
  check_error(run_program("sgsf_train", with(base, {"--batch", "4x"}), s), "sgsf_train",
              "--batch expects an integer, got '4x'");
  check_error(run_program("sgsf_train", with(base, {"--width", "0"}), s), "sgsf_train", "width");
  check_error(run_program("sgsf_train", with(base, {"--size", "30"}), s), "sgsf_train", "multiple of 8");
  check_error(run_program("sgsf_train", with(base, {"--layout", "weird"}), s), "sgsf_train", "'weird'");
  check_error(run_program("sgsf_train", with(base, {"--lr"}), s), "sgsf_train", "--lr needs a value");
  check_error(run_program("sgsf_train", with(base, {"stray"}), s), "sgsf_train", "unexpected argument 'stray'");
  check_error(run_program("sgsf_train", with(base, {"--batch", "99999999999"}), s), "sgsf_train",
              "--batch is out of range");
  // The program's name is said once.
  ProgramResult once = run_program("sgsf_train", with(base, {"--lr", "x"}), s);
  CHECK(once.err.find("sgsf_train: error: --lr expects a number") != std::string::npos);
  // Bad values in an otherwise valid command line are caught before any dataset is generated.
  check_error(run_program("sgsf_train", {"--width", "0", "--out", (s / "gen" / "run").string()}, s), "sgsf_train",
              "width");
  CHECK_FALSE(fs::exists(s / "gen"));
  CHECK_FALSE(fs::exists(s / "run"));

  ProgramResult help = run_program("sgsf_train", {"--help"}, s);
  CHECK(help.code() == 0);
  CHECK(help.out.find("--resume") != std::string::npos);
}

TEST_CASE("sgsf_train: missing data, a corrupt image, divergence and a bad checkpoint are reported") {
  fs::path s = scratch_dir("train_data");
  const std::string missing = (s / "no_such_folder").string();
  auto args = train_args(s / "run", 4);
  args[1] = missing;
  check_error(run_program("sgsf_train", args, s), "sgsf_train", missing);

  // A copy of the dataset with one training image that is not an image.
  fs::path copy = s / "data";
  fs::copy(tiny_dataset_root(), copy, fs::copy_options::recursive);
  fs::path bad = copy / tiny_dataset_options().category / "train" / "good" / "003.png";
  REQUIRE(fs::exists(bad));
  std::ofstream(bad, std::ios::trunc) << "this is not a PNG file";
  args[1] = copy.string();
  check_error(run_program("sgsf_train", args, s), "sgsf_train", bad.string());

  check_error(run_program("sgsf_train", with(train_args(s / "fresh", 4), {"--resume"}), s), "sgsf_train",
              "no checkpoint at '" + sgsf::checkpoint_path((s / "fresh").string()) + "'");

  // A diverging run: its own exit code and a message, no crash.
  ProgramResult nan = run_program("sgsf_train", with(train_args(s / "nan", 8), {"--lr", "1e30"}), s);
  CAPTURE(nan.describe());
  CHECK(nan.exited());
  CHECK(nan.code() == sgsf::kTrainDiverged);
  CHECK(nan.err.find("the loss became") != std::string::npos);

  // --resume from a truncated checkpoint.
  fs::path t = run_copy("resume_truncated");
  const fs::path ck = t / "checkpoint.safetensors";
  fs::resize_file(ck, fs::file_size(ck) - 100);
  check_error(run_program("sgsf_train", with(train_args(t, 4), {"--resume"}), s), "sgsf_train", ck.string());
}

TEST_CASE("sgsf_test: a trained run is tested; damaged run folders are named") {
  fs::path s = scratch_dir("test_cli");
  const fs::path& run = trained_run();
  ProgramResult ok = run_program("sgsf_test", {"--run", run.string(), "--device", "cpu", "--workers", "1", "--quiet",
                                               "--overlays", "2", "--out", (s / "report").string()}, s);
  CAPTURE(ok.describe());
  REQUIRE(ok.code() == 0);
  CHECK(ok.out.find("AUROC_det") != std::string::npos);
  CHECK(ok.out.find("widget") != std::string::npos);
  CHECK(fs::exists(s / "report" / "report.json"));
  CHECK(fs::exists(s / "report" / "scores.csv"));

  auto test_args = [&](const fs::path& r) {
    return std::vector<std::string>{"--run", r.string(), "--device", "cpu", "--quiet", "--out", (s / "out").string()};
  };
  const std::string nowhere = (s / "no_such_run").string();
  check_error(run_program("sgsf_test", test_args(nowhere), s), "sgsf_test", nowhere);

  // Truncated checkpoint.
  fs::path t = run_copy("truncated");
  const fs::path ck = t / "checkpoint.safetensors";
  fs::resize_file(ck, fs::file_size(ck) / 2);
  check_error(run_program("sgsf_test", test_args(t), s), "sgsf_test", ck.string());

  // Checkpoint and config.json from different runs.
  fs::path m = run_copy("mismatched");
  std::string cfg = read_file(m / "config.json");
  const std::string from = "\"width\": \"4\"";
  REQUIRE(cfg.find(from) != std::string::npos);
  cfg.replace(cfg.find(from), from.size(), "\"width\": \"8\"");
  std::ofstream(m / "config.json", std::ios::trunc) << cfg;
  check_error(run_program("sgsf_test", test_args(m), s), "sgsf_test", "disagree on width");

  // config.json that is not JSON; a missing checkpoint.
  fs::path j = run_copy("bad_json");
  std::ofstream(j / "config.json", std::ios::trunc) << "{ width: 4";
  check_error(run_program("sgsf_test", test_args(j), s), "sgsf_test", (j / "config.json").string());
  fs::path n = run_copy("no_checkpoint");
  fs::remove(n / "checkpoint.safetensors");
  check_error(run_program("sgsf_test", test_args(n), s), "sgsf_test", (n / "checkpoint.safetensors").string());

  check_error(run_program("sgsf_test", with(test_args(run), {"--batch", "0"}), s), "sgsf_test", "--batch");
  check_error(run_program("sgsf_test", with(test_args(run), {"--overlays", "some"}), s), "sgsf_test", "'some'");
  check_error(run_program("sgsf_test", with(test_args(run), {"--score", (s / "nothing.png").string()}), s),
              "sgsf_test", "nothing.png");
}

TEST_CASE("sgsf_train: Ctrl-C saves and exits with 130; --resume ends as an uninterrupted run") {
  fs::path s = scratch_dir("sigint");
  const int iterations = 80;
  const fs::path run = s / "run", log = run / "train_log.jsonl";
  const fs::path out = s / "train.out", err = s / "train.err";
  std::vector<std::string> argv = {program_path("sgsf_train")};
  for (const auto& a : train_args(run, iterations)) argv.push_back(a);
  pid_t pid = spawn(argv, out, err);

  // Once the first log line exists, training is under way: interrupt it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool started = false, ended = false;
  ProgramResult r;
  while (!started && !ended && std::chrono::steady_clock::now() < deadline) {
    started = fs::exists(log) && fs::file_size(log) > 0;
    ended = waitpid(pid, &r.status, WNOHANG) == pid;  // finished (or failed) before we could interrupt
    if (!started && !ended) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (ended) {
    r.err = read_file(err);
  } else {
    kill(pid, started ? SIGINT : SIGKILL);
    r = wait_program(pid, out, err, 120);
  }
  CAPTURE(r.describe());
  REQUIRE(started);
  REQUIRE_FALSE(ended);
  REQUIRE(r.exited());
  REQUIRE(r.code() == sgsf::kTrainInterrupted);
  std::smatch at;
  REQUIRE(std::regex_search(r.err, at, std::regex("interrupted: checkpoint saved at iteration ([0-9]+)")));
  const int stopped = std::stoi(at[1]);
  CHECK(stopped >= 1);
  CHECK(stopped < iterations);
  SafetensorsFile saved = load_safetensors(sgsf::checkpoint_path(run.string()));
  CHECK(saved.metadata.at("iteration") == std::to_string(stopped));
  CHECK(fs::exists(sgsf::config_path(run.string())));

  ProgramResult resumed = run_program("sgsf_train", with(train_args(run, iterations), {"--resume"}), s);
  CAPTURE(resumed.describe());
  REQUIRE(resumed.code() == 0);
  CHECK(resumed.err.find("resumed from") != std::string::npos);
  CHECK(resumed.err.find("at iteration " + std::to_string(stopped)) != std::string::npos);

  fs::path straight = s / "straight";
  ProgramResult full = run_program("sgsf_train", train_args(straight, iterations), s);
  REQUIRE(full.code() == 0);
  CHECK(checkpoint_difference(sgsf::checkpoint_path(straight.string()), sgsf::checkpoint_path(run.string())) == "");
}
