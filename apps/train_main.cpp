// train_main.cpp — sgsf_train's body: train SGSF on normal images (an MVTec AD-style category, DAGM,
// KolektorSDD2, a plain folder, or the built-in synthetic dataset when --data is not given). The
// program (apps/sgsf_train.cpp) and the Python package's sgsf.train both run it (apps/programs.h).
#include <atomic>
#include <climits>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <iostream>

#include "apps/cli.h"
#include "apps/programs.h"
#include "engine/common.h"
#include "data/builtin.h"
#include "data/dataset.h"
#include "engine/device.h"
#include "engine/precision.h"
#include "sgsf/calibration.h"
#include "sgsf/step_profile.h"
#include "sgsf/trainer.h"

namespace fs = std::filesystem;
using namespace sg;

// SIGINT (Ctrl-C) and SIGTERM (what job schedulers and container runtimes send) ask training to
// save a checkpoint and stop; a second signal quits at once, removing the temporary file of any
// output being written (the checkpoint, say), so no partial file is left.
static std::atomic<int> g_stop{0};
static void on_signal(int sig) {
  if (g_stop.load() != 0) cli::quit_on_signal(sig);
  g_stop.store(sig);
}

int sg::cli::sgsf_train_main(int argc, char** argv) {
  g_stop.store(0);  // a second run in the same process (the Python package) starts afresh
  return cli::run_main("sgsf_train", [&]() -> int {
    cli::Args args("sgsf_train",
                   "Train SGSF (self-supervised guided segmentation) on normal images only.\n"
                   "Without --data it generates and uses the built-in synthetic dataset.\n"
                   "Ctrl-C (SIGINT) saves a checkpoint and exits with 130, SIGTERM likewise with 143;\n"
                   "--resume continues from it. A diverged loss exits with 3, an error with 1.\n" +
                       cli::input_limits_text());
    args.option("config", "", "a run's config.json: train again with its settings (every other option given "
                              "overrides the file's value)");
    args.option("data", "", "dataset root: an MVTec AD category folder (or the MVTec root with --category), DAGM class, KolektorSDD2 or image folder");
    args.option("layout", "auto", "dataset layout: auto | mvtec | dagm | ksdd2 | generic");
    args.option("category", "", "category under --data (MVTec root); 'all' trains every category into <out>/<category>");
    args.option("preset", "tiny", "model/schedule preset: paper (w=128, 256px, batch 16, 800 epochs) | small (w=32, 128px) | tiny (w=8, 64px)");
    args.option("width", "", "base channel width w (overrides the preset)");
    args.option("size", "", "input size s, multiple of 8 from 16 to " + std::to_string(sgsf::kMaxSize) + " (overrides the preset)");
    args.option("batch", "", "batch size from 1 to " + std::to_string(sgsf::kMaxBatch) + ", and batch x size x size at most " +
                                 std::to_string(sgsf::kMaxBatchPixels) + " (overrides the preset)");
    args.option("epochs", "", "epochs (overrides the preset)");
    args.option("iterations", "0", "total iterations; > 0 overrides --epochs");
    args.option("lr", "1e-4", "Adam learning rate (x0.1 at 50/70/90 % of the iterations)");
    args.option("warmup", "0.1", "fraction of iterations that train the autoencoder alone before contrast sets exist");
    args.option("contrast-n", "4", "contrast-set size n (never the image itself)");
    args.option("contrast-refresh", "0", "rebuild contrast sets every N epochs after warm-up (0: once)");
    args.option("guidance", "decoder", "guidance features: decoder (C_D) | encoder (C_E)");
    args.option("saliency", "border", "saliency source: border | spectral | file | none");
    args.option("saliency-dir", "", "folder of 8-bit PNG maps mirroring the dataset paths (--saliency file)");
    args.option("aux", "", "auxiliary texture folder (e.g. DTD images); default: procedural textures");
    args.option("a", "0.4", "adaptive threshold mu = a + b * mean(S)");
    args.option("b", "0.2", "adaptive threshold slope (0: fixed threshold)");
    args.option("alpha-lo", "0.1", "lowest blend factor of the auxiliary texture");
    args.option("alpha-hi", "1.0", "highest blend factor");
    args.option("forge-prob", "0.75", "probability that a training sample is forged (3:1)");
    args.option("rotate-prob", "0.3", "probability of the training rotation U(-90, 90) degrees");
    args.flag("no-rotate-guidance", "do not rotate the guidance image with its training image");
    args.option("lambda", "1.0", "weight of the self-supervised loss (L2 + SSIM)");
    args.option("gamma", "2.0", "focal loss exponent");
    args.option("seed", "0", "random seed, 0 to 2^64-1 (same seed, same device: same result; on a GPU with "
                             "--deterministic)");
    args.option("device", "auto", "cpu | cuda | auto");
    args.option("precision", "fp32", "compute precision of the convolutions: fp32 | bf16 (a CPU with AVX512_BF16 or "
                                     "AMX) | tf32 (a GPU) | auto (bf16 on a CPU with AMX, where it is faster; else fp32)");
    args.option("workers", "2", "data loader threads, 1 to " + std::to_string(sgsf::kMaxWorkers));
    args.option("out", "runs/sgsf", "run folder (checkpoint, config.json, train_log.jsonl)");
    args.option("checkpoint-every", "0", "also save a checkpoint every N epochs (0: only at the end)");
    args.option("log-every", "10", "iterations between lines of train_log.jsonl (at least 1)");
    args.option("save-forged", "0", "write this many forged samples (<out>/forged) and saliency maps (<out>/saliency) as PNG");
    args.option("threshold-rule", "forged", "how the held-out normal images set the decision threshold: forged "
                                            "(catches 90 % of anomalies forged on them) | spread (above their "
                                            "scores' tail) | target-fpr (see --target-fpr)");
    args.option("target-fpr", "0.05", "the false-positive rate the target-fpr rule aims at, between 0 and 1 (giving "
                                      "it picks that rule)");
    args.option("holdout", "0.1", "fraction of the training images held out (seeded) to calibrate the decision threshold, "
                                  "0 to 0.5; 0: none (a layout with validation/good uses that folder instead)");
    args.option("score-pool", "auto", "image score = maximum of the anomaly map after N x N mean pooling, N odd; "
                                      "auto: the odd size nearest 21 * size / 256 (21 at 256, 11 at 128, 5 at 64)");
    args.flag("test-flip", "testing also scores the mirror image (with its mirrored guidance) and averages the "
                           "two anomaly maps (twice the test time)");
    args.flag("resume", "continue from <out>/checkpoint.safetensors");
    args.flag("overwrite", "train anew into an --out that already holds a run (without it, such an --out is refused "
                           "and the run kept)");
    args.flag("quiet", "no progress bar");
    args.flag("deterministic", "on a GPU, only convolution algorithms that give the same bits every run (slower "
                               "on some shapes; the CPU always is)");
    args.flag("profile", "time every op and print where the training time went, by op family (slows a GPU run: "
                         "each op waits for the device)");
    if (!args.parse(argc, argv)) return 0;

    // The settings: a run's config.json when --config names one, else the preset; then every option
    // given on the command line (and, without --config, every option's default) on top.
    sgsf::TrainConfig cfg;
    const bool from_config = args.given("config");
    if (from_config) cfg = sgsf::read_config_json(args.get("config"));
    if (!from_config || args.given("preset")) sgsf::apply_preset(cfg, args.get("preset"));
    auto want = [&](const char* name) { return !from_config || args.given(name); };
    if (args.given("width")) cfg.width = args.get_int("width", 1, 1024);
    if (args.given("size")) cfg.size = args.get_int("size", 16, sgsf::kMaxSize);
    SG_CHECK(cfg.size % 8 == 0, "--size must be a multiple of 8, got ", cfg.size);
    if (args.given("batch")) cfg.batch = args.get_int("batch", 1, sgsf::kMaxBatch);
    SG_CHECK((int64_t)cfg.batch * cfg.size * cfg.size <= sgsf::kMaxBatchPixels, "--batch ", cfg.batch, " with --size ",
             cfg.size, " makes ", (int64_t)cfg.batch * cfg.size * cfg.size, " pixels per batch; the limit is ",
             sgsf::kMaxBatchPixels, " (batch x size x size): lower --batch or --size");
    if (args.given("epochs")) cfg.epochs = args.get_int("epochs", 0, INT32_MAX);
    if (want("iterations")) cfg.iterations = args.get_int64("iterations", 0, INT64_MAX);
    if (want("lr")) cfg.lr = (float)args.get_double("lr");
    if (want("warmup")) cfg.warmup = (float)args.get_double("warmup");
    if (want("contrast-n")) cfg.contrast_n = args.get_int("contrast-n", 1, INT32_MAX);
    if (want("contrast-refresh")) cfg.contrast_refresh = args.get_int("contrast-refresh", 0, INT32_MAX);
    if (want("guidance")) cfg.guidance = args.get("guidance");
    if (want("saliency")) cfg.saliency = args.get("saliency");
    if (want("saliency-dir")) cfg.saliency_dir = args.get("saliency-dir");
    if (want("aux")) cfg.aux = args.get("aux");
    if (want("a")) cfg.a = (float)args.get_double("a");
    if (want("b")) cfg.b = (float)args.get_double("b");
    if (want("alpha-lo")) cfg.alpha_lo = (float)args.get_double("alpha-lo");
    if (want("alpha-hi")) cfg.alpha_hi = (float)args.get_double("alpha-hi");
    if (want("forge-prob")) cfg.forge_prob = (float)args.get_double("forge-prob");
    if (want("rotate-prob")) cfg.rotate_prob = (float)args.get_double("rotate-prob");
    if (want("no-rotate-guidance")) cfg.rotate_guidance = !args.get_flag("no-rotate-guidance");
    if (want("lambda")) cfg.lambda = (float)args.get_double("lambda");
    if (want("gamma")) cfg.gamma = (float)args.get_double("gamma");
    if (want("seed")) cfg.seed = args.get_uint64("seed");
    if (want("device")) cfg.device = args.get("device");
    if (want("precision")) {
      cfg.precision = args.get("precision");
      SG_CHECK(is_precision_name(cfg.precision), "--precision: unknown precision '", cfg.precision,
               "' (expected fp32, bf16, tf32 or auto)");
    }
    if (want("workers")) cfg.workers = args.get_int("workers", 1, sgsf::kMaxWorkers);
    if (want("out")) cfg.out = args.get("out");
    if (want("checkpoint-every")) cfg.checkpoint_every = args.get_int("checkpoint-every", 0, INT32_MAX);
    if (want("log-every")) cfg.log_every = args.get_int("log-every", 1, INT32_MAX);
    if (want("save-forged")) cfg.save_forged = args.get_int("save-forged", 0, INT32_MAX);
    if (want("holdout")) cfg.holdout = (float)args.get_double("holdout");
    if (want("threshold-rule")) {
      cfg.threshold_rule = args.get("threshold-rule");
      sgsf::parse_threshold_rule(cfg.threshold_rule);
    }
    if (want("target-fpr")) {
      cfg.target_fpr = (float)args.get_double("target-fpr");
      SG_CHECK(cfg.target_fpr > 0 && cfg.target_fpr < 1, "--target-fpr must be between 0 and 1, got ",
               args.get("target-fpr"));
    }
    if (args.given("target-fpr")) {
      SG_CHECK(!args.given("threshold-rule") || cfg.threshold_rule == "target-fpr", "--target-fpr is the target-fpr "
               "rule's; it cannot go with --threshold-rule ", cfg.threshold_rule);
      cfg.threshold_rule = "target-fpr";
    }
    SG_CHECK(cfg.holdout >= 0 && cfg.holdout <= 0.5f, "--holdout must be from 0 to 0.5, got ", cfg.holdout);
    if (want("score-pool")) {
      if (args.get("score-pool") == "auto") {
        cfg.score_pool = 0;
      } else {
        cfg.score_pool = args.get_int("score-pool", 1, cfg.size);
        SG_CHECK(cfg.score_pool % 2 == 1, "--score-pool must be odd (the window is centred on each pixel), got ",
                 cfg.score_pool);
      }
    }
    if (want("test-flip")) cfg.test_flip = args.get_flag("test-flip");
    if (want("layout")) cfg.layout = args.get("layout");
    if (want("data")) cfg.data = args.get("data");
    if (want("category")) cfg.category = args.get("category");
    sgsf::validate(cfg);  // before generating the built-in dataset, which takes a while
    if (args.get_flag("deterministic")) set_deterministic(true);
    const bool resume = args.get_flag("resume");
    SG_CHECK(!(resume && args.get_flag("overwrite")), "--resume and --overwrite exclude each other");
    // A run already in --out is never trained over by accident.
    auto refuse_existing = [&](const std::string& out) {
      SG_CHECK(resume || args.get_flag("overwrite") || !fs::exists(sgsf::checkpoint_path(out)), "'", out,
               "' already holds a training run (checkpoint.safetensors): --resume continues it, --overwrite trains "
               "a new one over it, or choose another --out");
    };
    if (cfg.category != "all") refuse_existing(cfg.out);
    if (cfg.data.empty()) {
      const std::string builtin = (fs::path(cfg.out).parent_path() / "builtin-data").string();
      if (!data::builtin_dataset_present(builtin)) {
        std::cerr << "no --data given: generating the built-in dataset into " << builtin << "\n";
        data::generate_builtin_dataset(builtin);
      }
      cfg.data = builtin;
      cfg.layout = "mvtec";
      cfg.category = data::BuiltinOptions().category;
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    std::vector<std::string> categories = {cfg.category};
    if (cfg.category == "all") {
      categories = data::find_mvtec_categories(cfg.data);
      SG_CHECK(!categories.empty(), "--category all: no MVTec categories (folders with train/good) in '", cfg.data, "'");
    }
    if (cfg.category == "all")
      for (const std::string& cat : categories) refuse_existing((fs::path(cfg.out) / cat).string());
    int status = 0;
    for (const std::string& cat : categories) {
      sgsf::TrainConfig c = cfg;
      c.category = cat;
      if (categories.size() > 1 || cfg.category == "all") c.out = (fs::path(cfg.out) / cat).string();
      if (categories.size() > 1) std::cerr << "=== category " << cat << " ===\n";
      if (args.get_flag("profile")) profile::start(parse_device(c.device));
      sgsf::TrainResult r = sgsf::train(c, resume, &g_stop, !args.get_flag("quiet"));
      if (args.get_flag("profile")) {
        profile::stop();
        std::cerr << "\nprofile of " << r.iterations_done << " iterations (" << c.out << "):\n"
                  << sgsf::profile_table(profile::entries(), std::max<int64_t>(1, r.iterations_done), false);
      }
      status = r.status;
      if (status != sgsf::kTrainOk) break;
    }
    return status;
  });
}
