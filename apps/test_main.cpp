// test_main.cpp — sgsf_test's body: test a trained SGSF run (anomaly maps, image scores and the
// paper's metrics), or score new, unlabelled images with --score. The program (apps/sgsf_test.cpp)
// and the Python package's sgsf.test both run it (apps/programs.h).
#include <filesystem>
#include <climits>
#include <cstdint>
#include <iostream>

#include "apps/cli.h"
#include "apps/programs.h"
#include "engine/common.h"
#include "data/dataset.h"
#include "engine/device.h"
#include "engine/file_io.h"
#include "sgsf/config.h"
#include "sgsf/evaluate.h"

namespace fs = std::filesystem;
using namespace sg;

int sg::cli::sgsf_test_main(int argc, char** argv) {
  return cli::run_main("sgsf_test", [&]() -> int {
    cli::Args args("sgsf_test",
                   "Test a trained SGSF run folder (from sgsf_train --out) on its dataset's test split:\n"
                   "prints image AUROC, pixel AUROC, pixel AP, AUPRO and F1-max (DAGM: the classification set),\n"
                   "and writes report.html (an inspection report that opens offline), report.json, scores.csv,\n"
                   "heat-map overlays and ROC/PR curves; --score writes report.html and scores.csv too.\n"
                   "Every output file is written whole or not at all; a failed write is an error (exit code 1).\n" +
                       cli::input_limits_text());
    args.option("run", "runs/sgsf", "run folder holding checkpoint.safetensors and config.json");
    args.option("data", "", "dataset root (default: the one the run was trained on)");
    args.option("layout", "", "dataset layout (default: the run's)");
    args.option("category", "", "category (default: the run's); 'all' tests <run>/<category> for every category of --data");
    args.option("out", "", "output folder (default: <run>/test, or <run>/scored with --score)");
    args.option("device", "auto", "cpu | cuda | auto");
    args.option("precision", "", "compute precision: fp32 | bf16 | tf32 | auto (default: the run's, fp32 where this "
                                 "device lacks it)");
    args.option("batch", "8", "test batch size, 1 to " + std::to_string(sgsf::kMaxBatch));
    args.option("workers", "2", "image decoding threads, 1 to " + std::to_string(sgsf::kMaxWorkers));
    args.option("overlays", "all", "heat-map overlays to write: all | none | N (the N most informative test images: "
                                   "wrong decisions first, then the highest scores)");
    args.option("score", "", "score unlabelled images instead: an image file or a folder of images");
    args.option("threshold", "", "decision threshold on the image score, 0 to 1 (default: the run's calibrated one)");
    args.flag("maps", "with --score: also write every anomaly map (model resolution) to <out>/maps.safetensors");
    args.option("score-pool", "run", "score with N x N mean pooling (odd, at most the run's size) instead of the "
                                     "run's window; the calibrated threshold then does not apply (decisions need "
                                     "--threshold)");
    args.option("test-flip", "run", "run | on | off: test-time flips as the run has them, or forced; like --score-pool, "
                                    "a change drops the calibrated threshold");
    args.flag("quiet", "no progress bar");
    args.flag("deterministic", "on a GPU, only convolution algorithms that give the same bits every run");
    if (!args.parse(argc, argv)) return 0;

    if (args.get_flag("deterministic")) set_deterministic(true);
    sgsf::EvalOptions o;
    o.run = args.get("run");
    o.data = args.get("data");
    o.layout = args.get("layout");
    o.category = args.get("category");
    o.out = args.get("out");
    o.device = args.get("device");
    o.precision = args.get("precision");
    o.batch = args.get_int("batch", 1, sgsf::kMaxBatch);
    o.workers = args.get_int("workers", 1, sgsf::kMaxWorkers);
    o.progress = !args.get_flag("quiet");
    o.save_maps = args.get_flag("maps");
    if (args.given("threshold")) {
      o.threshold = args.get_double("threshold");
      SG_CHECK(o.threshold >= 0 && o.threshold <= 1, "--threshold must be from 0 to 1, got ", args.get("threshold"));
    }
    if (args.get("score-pool") != "run") o.score_pool = args.get_int("score-pool", 1, sgsf::kMaxSize);
    const std::string flip = args.get("test-flip");
    SG_CHECK(flip == "run" || flip == "on" || flip == "off", "--test-flip must be run, on or off, got '", flip, "'");
    if (flip != "run") o.test_flip = flip == "on" ? 1 : 0;
    const std::string ov = args.get("overlays");
    if (ov == "all" || ov == "none") {
      o.overlays = ov == "all" ? -1 : 0;
    } else {
      int64_t n = 0;
      SG_CHECK(sgsf::parse_int64(ov, &n) && n >= 0 && n <= INT32_MAX, "--overlays: expected all, none or a count, got '", ov,
               "'");
      o.overlays = (int)n;
    }

    if (!args.get("score").empty()) {
      sgsf::score_images(o, args.get("score"));
      return 0;
    }
    std::vector<sgsf::CategoryMetrics> rows;
    if (o.category == "all") {
      SG_CHECK(!o.data.empty(), "--category all needs --data (the MVTec AD root)");
      std::vector<std::string> cats = data::find_mvtec_categories(o.data);
      SG_CHECK(!cats.empty(), "--category all: no categories (folders with train/good) in '", o.data, "'");
      for (const auto& cat : cats) {
        sgsf::EvalOptions c = o;
        c.category = cat;
        c.run = (fs::path(o.run) / cat).string();
        c.out = o.out.empty() ? "" : (fs::path(o.out) / cat).string();
        if (!fs::exists(fs::path(c.run) / "checkpoint.safetensors")) {
          std::cerr << "skipping " << cat << ": no checkpoint in " << c.run << "\n";
          continue;
        }
        rows.push_back(sgsf::evaluate(c));
      }
      SG_CHECK(!rows.empty(), "--category all: no category of '", o.data, "' has a trained run under '", o.run, "'");
      write_file_atomic((fs::path(o.out.empty() ? o.run : o.out) / "report_all.json").string(),
                        sgsf::metrics_json(rows) + "\n");
    } else {
      rows.push_back(sgsf::evaluate(o));
    }
    std::cout << sgsf::metrics_table(rows);
    std::cout << "report: " << (o.out.empty() ? (fs::path(o.run) / "test").string() : o.out) << "/report.json\n";
    return 0;
  });
}
