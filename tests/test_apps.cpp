// test_apps.cpp — the programs sgsf_train and sgsf_test run as child processes on a tiny generated
// dataset: bad input (options, presets, numbers, data folders, corrupt images, truncated or
// mismatched checkpoints) ends with a message naming the culprit on stderr and a non-zero exit
// code, never a crash; a diverging run exits with 3; a trained run folder is tested by sgsf_test;
// Ctrl-C saves a checkpoint and exits with 130, and --resume then ends bit-identical to an
// uninterrupted run.
#include <doctest/doctest.h>

#include <sys/mount.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <regex>
#include <thread>

#include "data/image_io.h"
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
              "--batch must be from 1 to 256, got 99999999999");
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
  const std::string from = "\"width\": 4,";
  REQUIRE(cfg.find(from) != std::string::npos);
  cfg.replace(cfg.find(from), from.size(), "\"width\": 8,");
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

namespace {

// Start a training run of `iterations`, send `sig` once its first log line exists, and return how
// the program ended.
ProgramResult train_and_signal(const fs::path& s, const fs::path& run, int iterations, int sig) {
  const fs::path log = run / "train_log.jsonl", out = s / "train.out", err = s / "train.err";
  std::vector<std::string> argv = {program_path("sgsf_train")};
  for (const auto& a : train_args(run, iterations)) argv.push_back(a);
  pid_t pid = spawn(argv, out, err);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool started = false, ended = false;
  ProgramResult r;
  while (!started && !ended && std::chrono::steady_clock::now() < deadline) {
    started = fs::exists(log) && fs::file_size(log) > 0;
    ended = waitpid(pid, &r.status, WNOHANG) == pid;
    if (!started && !ended) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (ended) {
    r.err = read_file(err);
    FAIL("training ended before it could be signalled: ", r.describe());
  }
  kill(pid, started ? sig : SIGKILL);
  REQUIRE(started);
  return wait_program(pid, out, err, 120);
}

std::vector<std::string> test_args_for(const fs::path& run, const fs::path& out) {
  return {"--run", run.string(), "--device", "cpu", "--workers", "1", "--quiet", "--out", out.string()};
}

// Every file under `dir` whose name ends in .tmp (a temporary file left behind).
std::vector<std::string> leftover_tmp_files(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".tmp") found.push_back(e.path().string());
  return found;
}

}  // namespace

TEST_CASE("sgsf_train: Ctrl-C saves and exits with 130; --resume ends as an uninterrupted run") {
  fs::path s = scratch_dir("sigint");
  const int iterations = 80;
  const fs::path run = s / "run";
  ProgramResult r = train_and_signal(s, run, iterations, SIGINT);
  CAPTURE(r.describe());
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

TEST_CASE("sgsf_train: SIGTERM saves a checkpoint and exits with 143, as SIGINT does with 130") {
  fs::path s = scratch_dir("sigterm");
  const fs::path run = s / "run";
  ProgramResult r = train_and_signal(s, run, 80, SIGTERM);
  CAPTURE(r.describe());
  REQUIRE(r.exited());  // not killed by the signal
  CHECK(r.code() == sgsf::kTrainTerminated);
  CHECK(r.code() == 143);
  std::smatch at;
  REQUIRE(std::regex_search(r.err, at, std::regex("terminated \\(SIGTERM\\): checkpoint saved at iteration ([0-9]+)")));
  SafetensorsFile saved = load_safetensors(sgsf::checkpoint_path(run.string()));
  CHECK(saved.metadata.at("iteration") == std::string(at[1]));
  CHECK(fs::exists(sgsf::config_path(run.string())));
  ProgramResult resumed = run_program("sgsf_train", with(train_args(run, 80), {"--resume"}), s);
  CAPTURE(resumed.describe());
  CHECK(resumed.code() == 0);
  CHECK(resumed.err.find("at iteration " + std::string(at[1])) != std::string::npos);
}

TEST_CASE("sgsf_train: out-of-range options are refused with the option and its limits named") {
  fs::path s = scratch_dir("train_ranges");
  const auto base = train_args(s / "run", 4);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--log-every", "0"}, "--log-every must be from 1 to 2147483647, got 0"},
      {{"--checkpoint-every", "-1"}, "--checkpoint-every must be from 0 to 2147483647, got -1"},
      {{"--save-forged", "-1"}, "--save-forged must be from 0 to 2147483647, got -1"},
      {{"--seed", "-1"}, "--seed expects an integer, got '-1' (0 to 18446744073709551615)"},
      {{"--seed", "18446744073709551616"}, "--seed expects an integer, got '18446744073709551616' (0 to"},
      {{"--batch", "1000000"}, "--batch must be from 1 to 256, got 1000000"},
      {{"--size", "100000"}, "--size must be from 16 to 1024, got 100000"},
      {{"--batch", "256", "--size", "512"}, "makes 67108864 pixels per batch; the limit is 16777216"},
      {{"--workers", "0"}, "--workers must be from 1 to 64, got 0"},
      {{"--workers", "100000"}, "--workers must be from 1 to 64, got 100000"},
      {{"--iterations", "-5"}, "--iterations must be from 0 to"},
      {{"--score-pool", "4"}, "--score-pool must be odd"},
      {{"--score-pool", "0"}, "--score-pool must be from 1 to"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.second);
    check_error(run_program("sgsf_train", with(base, c.first), s, 60), "sgsf_train", c.second);
  }
  CHECK_FALSE(fs::exists(s / "run"));  // refused before any work
  ProgramResult help = run_program("sgsf_train", {"--help"}, s);
  CHECK(help.code() == 0);
  for (const char* limit : {"multiple of 8 from 16 to 1024", "batch size from 1 to 256", "at most 16777216",
                            "16777216 pixels (4096 x 4096)", "16 MiB", "SIGTERM", "143"})
    CHECK_MESSAGE(help.out.find(limit) != std::string::npos, limit);
}

TEST_CASE("sgsf_test: out-of-range options are refused with the option and its limits named") {
  fs::path s = scratch_dir("test_ranges");
  const auto base = test_args_for(trained_run(), s / "out");
  for (const char* w : {"0", "-1", "100000"})
    check_error(run_program("sgsf_test", with(base, {"--workers", w}), s, 60), "sgsf_test",
                std::string("--workers must be from 1 to 64, got ") + w);
  check_error(run_program("sgsf_test", with(base, {"--batch", "100000"}), s, 60), "sgsf_test",
              "--batch must be from 1 to 256");
  check_error(run_program("sgsf_test", with(base, {"--overlays", "-3"}), s, 60), "sgsf_test", "'-3'");
  ProgramResult help = run_program("sgsf_test", {"--help"}, s);
  CHECK(help.out.find("1 to 64") != std::string::npos);
  CHECK(help.out.find("16777216 pixels") != std::string::npos);
}

TEST_CASE("the largest seed trains, is written to config.json and the run is tested") {
  fs::path s = scratch_dir("seed_max");
  const fs::path run = s / "run";
  ProgramResult t = run_program("sgsf_train", with(train_args(run, 4), {"--seed", "18446744073709551615"}), s);
  CAPTURE(t.describe());
  REQUIRE(t.code() == 0);
  CHECK(read_file(run / "config.json").find("\"seed\": 18446744073709551615,") != std::string::npos);
  CHECK(sgsf::read_config_json((run / "config.json").string()).seed == UINT64_MAX);
  ProgramResult r = run_program("sgsf_test", with(test_args_for(run, s / "out"), {"--overlays", "none"}), s);
  CAPTURE(r.describe());
  CHECK(r.code() == 0);
}

TEST_CASE("sgsf_train --profile prints where the time went, by op family") {
  fs::path s = scratch_dir("profile");
  ProgramResult t = run_program("sgsf_train", with(train_args(s / "run", 4), {"--profile"}), s);
  CAPTURE(t.describe());
  REQUIRE(t.code() == 0);
  CHECK(t.err.find("profile of 4 iterations") != std::string::npos);
  for (const char* family : {"op family", "conv forward", "conv backward", "batch norm + ReLU forward", "SSIM",
                             "focal loss", "Adam", "data loading", "total"})
    CHECK_MESSAGE(t.err.find(family) != std::string::npos, family);
}

TEST_CASE("config.json: an integer beyond its field's range is refused, not truncated") {
  fs::path s = scratch_dir("config_range");
  fs::path m = run_copy("wide_width");
  std::string cfg = read_file(m / "config.json");
  const std::string from = "\"width\": 4,";
  REQUIRE(cfg.find(from) != std::string::npos);
  cfg.replace(cfg.find(from), from.size(), "\"width\": 4294967300,");  // 2^32 + 4
  std::ofstream(m / "config.json", std::ios::trunc) << cfg;
  check_error(run_program("sgsf_test", test_args_for(m, s / "out"), s), "sgsf_test",
              "'width' is out of range: 4294967300");
  ProgramResult r = run_program("sgsf_test", test_args_for(m, s / "out"), s);
  CHECK(r.err.find((m / "config.json").string()) != std::string::npos);
}

TEST_CASE("sgsf_train --resume: a garbled iteration in the checkpoint names the file and the key") {
  fs::path s = scratch_dir("garbled_iteration");
  const fs::path run = s / "run";
  ProgramResult t = run_program("sgsf_train", train_args(run, 4), s);
  REQUIRE(t.code() == 0);
  const std::string ck = sgsf::checkpoint_path(run.string());
  SafetensorsFile f = load_safetensors(ck);
  for (const char* bad : {"garbled", "12x", "-3", "99"}) {
    CAPTURE(bad);
    f.metadata["iteration"] = bad;
    save_safetensors(ck, f.tensors, f.metadata);
    check_error(run_program("sgsf_train", with(train_args(run, 4), {"--resume"}), s), "sgsf_train",
                "'" + ck + "': the metadata key 'iteration' holds '" + bad + "', not an iteration from 0 to 4");
  }
}

TEST_CASE("sgsf_test --score on a FIFO is refused at once instead of blocking") {
  fs::path s = scratch_dir("score_fifo");
  const fs::path fifo = s / "pipe.png";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  ProgramResult r = run_program("sgsf_test", with(test_args_for(trained_run(), s / "out"), {"--score", fifo.string()}),
                                s, 60);
  check_error(r, "sgsf_test", "--score: '" + fifo.string() + "' is neither an image file nor a folder");
}

TEST_CASE("a JPEG with an overflowing Huffman table and an oversized BMP are named from --data, --aux and --score") {
  fs::path s = scratch_dir("hostile_images");
  const fs::path evil = s / "evil.jpg", tall = s / "tall.bmp";
  write_text(evil, hostile_jpeg(17));
  write_text(tall, hostile_bmp(4, 4261892));
  // --score
  for (const fs::path& f : {evil, tall})
    check_error(run_program("sgsf_test", with(test_args_for(trained_run(), s / "out"), {"--score", f.string()}), s, 60),
                "sgsf_test", f.string());
  ProgramResult r = run_program("sgsf_test", with(test_args_for(trained_run(), s / "out"), {"--score", evil.string()}), s, 60);
  CHECK(r.err.find("Huffman table segment (DHT) at byte") != std::string::npos);
  // --aux
  fs::path aux = s / "aux";
  write_text(aux / "evil.jpg", hostile_jpeg(17));
  check_error(run_program("sgsf_train", with(train_args(s / "run_aux", 4), {"--aux", aux.string()}), s, 60),
              "sgsf_train", (aux / "evil.jpg").string());
  // --data: the files among the training images
  fs::path copy = s / "data";
  fs::copy(tiny_dataset_root(), copy, fs::copy_options::recursive);
  const fs::path good = copy / tiny_dataset_options().category / "train" / "good";
  auto args = train_args(s / "run_data", 4);
  args[1] = copy.string();
  write_text(good / "zz_evil.jpg", hostile_jpeg(17));
  check_error(run_program("sgsf_train", args, s, 60), "sgsf_train", (good / "zz_evil.jpg").string() + "' is a corrupt JPEG");
  fs::remove(good / "zz_evil.jpg");
  write_text(good / "zz_tall.bmp", hostile_bmp(4, 4261892));
  check_error(run_program("sgsf_train", args, s, 60), "sgsf_train", "zz_tall.bmp' is 4 x 4261892 = 17047568 pixels");
}

TEST_CASE("sgsf_test: when writes fail, it says which file and keeps the reports it wrote before") {
  fs::path s = scratch_dir("write_fails");
  const fs::path out = s / "out";
  ProgramResult ok = run_program("sgsf_test", test_args_for(trained_run(), out), s);
  REQUIRE(ok.code() == 0);
  const std::string report = read_file(out / "report.json"), scores = read_file(out / "scores.csv");
  REQUIRE(report.size() > 100);
  // Every file limited to 1 KiB: the curves and overlays do not fit.
  ProgramResult r = run_program_file_limit("sgsf_test", test_args_for(trained_run(), out), s, 1024);
  CAPTURE(r.describe());
  CHECK(r.exited());
  CHECK(r.code() == 1);
  CHECK(r.err.find("sgsf_test: error: ") != std::string::npos);
  CHECK(r.err.find("cannot write '" + out.string()) != std::string::npos);
  CHECK(r.err.find("File too large") != std::string::npos);
  CHECK(r.out.find("AUROC_det") == std::string::npos);  // no metrics table as if all went well
  CHECK(read_file(out / "report.json") == report);
  CHECK(read_file(out / "scores.csv") == scores);
  CHECK(leftover_tmp_files(out).empty());
  // --score likewise.
  ProgramResult sc = run_program_file_limit(
      "sgsf_test", with(test_args_for(trained_run(), s / "scored"), {"--score", (fs::path(tiny_dataset_root()) /
                                                                                  tiny_dataset_options().category /
                                                                                  "test" / "good").string()}),
      s, 1024);
  CAPTURE(sc.describe());
  CHECK(sc.code() == 1);
  CHECK(sc.err.find("cannot write '" + (s / "scored").string()) != std::string::npos);
  CHECK(leftover_tmp_files(s / "scored").empty());
}

TEST_CASE("sgsf_test on a full disk (a 32 KiB tmpfs; needs root) fails naming the file") {
  fs::path s = scratch_dir("full_disk");
  const fs::path mnt = s / "tiny";
  fs::create_directories(mnt);
  if (geteuid() != 0 || mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=32k") != 0) {
    MESSAGE("skipped: mounting a tmpfs needs root and mount permission (",
            geteuid() != 0 ? std::string("not root") : std::string(std::strerror(errno)),
            "); the file-size-limit test above covers failed writes");
    return;
  }
  struct Unmount {
    fs::path dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{mnt};
  ProgramResult r = run_program("sgsf_test", test_args_for(trained_run(), mnt / "out"), s);
  CAPTURE(r.describe());
  CHECK(r.exited());
  CHECK(r.code() == 1);
  CHECK(r.err.find("cannot write '" + (mnt / "out").string()) != std::string::npos);
  CHECK(r.err.find("No space left on device") != std::string::npos);
  CHECK(leftover_tmp_files(mnt).empty());
  // What was written is whole: every PNG there decodes.
  for (const auto& e : fs::recursive_directory_iterator(mnt / "out"))
    if (e.path().extension() == ".png") CHECK_NOTHROW(data::read_image(e.path().string()));
}
