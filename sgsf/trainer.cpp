// trainer.cpp — the SGSF training loop (see trainer.h).
//
// One iteration after warm-up:
//   batch  = loader.next()                      A (images), S (saliency), B (textures), C (guidance)
//   noise  = perlin_noise(N, s, s, seed_i)      one octave per sample
//   I, M   = forge_anomalies(A, S, B, noise)    SAM: G = noise * S, M = [G > a + b mean(S)]
//   R, O   = model(I, C)                        reconstruction of C, segmentation logits of I
//   L      = lambda (L2(R, C) + SSIM(R, C)) + focal(O, M)
// During warm-up the autoencoder alone reconstructs A. Everything random is keyed by (seed,
// iteration), and the loader is a pure function of (seed, batch index, contrast sets), so a run
// resumed from a checkpoint reproduces the uninterrupted one exactly.
#include "sgsf/trainer.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sgsf/progress.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "data/saliency.h"
#include "data/textures.h"
#include "engine/allocator.h"
#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include "engine/optim.h"
#include "engine/precision.h"
#include "engine/profile.h"
#include "engine/rng.h"
#include "sgsf/calibration.h"
#include "sgsf/contrast.h"
#include "sgsf/evaluate.h"
#include "sgsf/guidance.h"
#include "sgsf/model.h"
#include "sgsf/run_files.h"
#include "sgsf/sgsf_ops.h"

namespace fs = std::filesystem;

namespace sg::sgsf {

std::string checkpoint_path(const std::string& out_dir) { return (fs::path(out_dir) / "checkpoint.safetensors").string(); }
std::string config_path(const std::string& out_dir) { return (fs::path(out_dir) / "config.json").string(); }

namespace {

constexpr const char* kFormat = "sgsf-checkpoint-1";

// The command-line option of a config key: score_pool -> score-pool.
std::string flag_name(std::string key) {
  for (char& ch : key)
    if (ch == '_') ch = '-';
  return key;
}

Tensor contrast_tensor(const std::vector<std::vector<int>>& sets) {
  int64_t m = (int64_t)sets.size(), n = sets.empty() ? 0 : (int64_t)sets[0].size();
  std::vector<float> v;
  for (const auto& s : sets)
    for (int j : s) v.push_back((float)j);
  return Tensor::from_vector({m, n}, v, Device::CPU);
}

std::vector<std::vector<int>> contrast_from_tensor(const Tensor& t) {
  std::vector<std::vector<int>> sets;
  if (!t.defined() || t.numel() == 0) return sets;
  std::vector<float> v = t.to_vector();
  int64_t m = t.size(0), n = t.size(1);
  for (int64_t i = 0; i < m; ++i) {
    std::vector<int> s;
    for (int64_t j = 0; j < n; ++j) s.push_back((int)v[(size_t)(i * n + j)]);
    sets.push_back(s);
  }
  return sets;
}

bool finite(float v) { return std::isfinite(v); }

// --resume: the checkpoint must be an SGSF training checkpoint trained with this run's settings.
void check_resume_metadata(const SafetensorsFile& f, const TrainConfig& cfg, const std::string& ckpt) {
  SG_CHECK(f.metadata.count("format") && f.metadata.at("format") == kFormat, "--resume: '", ckpt,
           "' is not an SGSF training checkpoint");
  KeyValues saved = f.metadata;
  for (const char* k : {"format", "iteration", "total_iterations"}) saved.erase(k);
  KeyValues now = to_key_values(cfg);
  for (const auto& [k, v] : now)
    if (const char* legacy = added_key_legacy(k);
        k != "out" && k != "workers" && k != "device" && k != "checkpoint_every" && k != "log_every" &&
        k != "threshold_rule" && k != "target_fpr" &&  // set after training: a resumed run may change them
        !(!saved.count(k) && legacy && v == legacy)) {
      SG_CHECK(saved.count(k) || !legacy, "--resume: the checkpoint comes from an older version, trained without ",
               k, "; resume it ", std::string(legacy) == "false" ? str("without --", flag_name(k))
                                                                 : str("with --", flag_name(k), " ", legacy));
      SG_CHECK(saved.count(k) && saved.at(k) == v, "--resume: the checkpoint was trained with ", k, " = '",
               saved.count(k) ? saved.at(k) : std::string("?"), "' but this run has '", v, "'");
    }
}


// The forging parameters of a run's settings.
SamParams sam_params(const TrainConfig& cfg) {
  SamParams sam;
  sam.a = cfg.a;
  sam.b = cfg.b;
  sam.alpha_lo = cfg.alpha_lo;
  sam.alpha_hi = cfg.alpha_hi;
  sam.forge_prob = cfg.forge_prob;
  return sam;
}

// Forged anomalies on the held-out normal images, scored as test images are: kForgedPerImage
// draws per image of the training's own forging (SAM with the run's a, b and alphas, the run's
// auxiliary textures and saliency mode; every draw forged). Draw k of image i is keyed by (seed, i,
// k) alone. A draw whose mask came out empty is not an anomaly and is left out. Returns, per kept
// draw, the held-out image it came from, its score and the fraction of its pixels forged.
struct ForgedScores {
  std::vector<std::string> images;
  std::vector<float> scores, fraction;
};
ForgedScores score_forged(SGSFModel& model, const std::vector<data::TestImage>& held, const GuidanceBank& bank,
                          const TrainConfig& cfg, const data::AuxiliaryTextures& aux, Device dev) {
  constexpr uint64_t kForgedStream = 0xF0F6EDull << 32;
  const data::SaliencyMode mode = data::parse_saliency_mode(cfg.saliency);
  SamParams sam = sam_params(cfg);
  sam.forge_prob = 1.f;
  const int S = cfg.size;
  std::vector<data::Image> saliency;
  for (const auto& t : held) {
    // A held-out image from validation/good may have no map in --saliency-dir: S = 1 then, as for an
    // image without saliency.
    std::string map_file = mode == data::SaliencyMode::File ? data::saliency_file_for(cfg.saliency_dir, t.relpath) : "";
    if (mode == data::SaliencyMode::File && !fs::exists(map_file))
      saliency.emplace_back(1, S, S, 1.f);
    else
      saliency.push_back(data::compute_saliency(t.image, mode, map_file).map);
  }
  ForgedScores out;
  const int n = (int)held.size();
  const int64_t plane = (int64_t)S * S;
  for (int k = 0; k < kForgedPerImage; ++k) {
    std::vector<const data::Image*> a, s;
    std::vector<data::Image> b((size_t)n);
    for (int i = 0; i < n; ++i) {
      Rng rng(cfg.seed, kForgedStream | (uint64_t)i << 8 | (uint64_t)k);
      b[(size_t)i] = aux.sample(rng, S, S);
      a.push_back(&held[(size_t)i].image);
      s.push_back(&saliency[(size_t)i]);
    }
    std::vector<const data::Image*> bp;
    for (const auto& im : b) bp.push_back(&im);
    const uint64_t seed = cfg.seed ^ (kForgedStream | (uint64_t)k);
    Forged fg;
    {
      NoGradGuard ng;
      fg = forge_anomalies(data::stack_images(a, dev), data::stack_images(s, dev), data::stack_images(bp, dev),
                           perlin_noise(n, S, S, seed, dev), sam, seed);
    }
    const std::vector<float> pixels = fg.image.to_vector();
    const std::vector<float> fraction = fg.mask_fraction();
    std::vector<data::Image> forged;
    std::vector<int> which;
    for (int i = 0; i < n; ++i) {
      if (fraction[(size_t)i] <= 0.f) continue;
      data::Image im(3, S, S);
      std::copy(pixels.begin() + (long)(i * 3 * plane), pixels.begin() + (long)((i + 1) * 3 * plane), im.pixels.begin());
      forged.push_back(std::move(im));
      which.push_back(i);
    }
    std::vector<const data::Image*> ptrs;
    for (const auto& im : forged) ptrs.push_back(&im);
    const Inference inf = infer(model, ptrs, bank, scoring_of(cfg), cfg.batch, dev, false);
    for (size_t j = 0; j < which.size(); ++j) {
      out.images.push_back(held[(size_t)which[j]].relpath);
      out.scores.push_back(inf.scores[j]);
      out.fraction.push_back(fraction[(size_t)which[j]]);
    }
  }
  return out;
}

// After the last iteration: the guidance bank (the training images at model resolution, 8-bit, and
// their features) and, when there are calibration images, the calibrated threshold. Each replaces
// the previous run's file only once it is complete; nothing is deleted ahead of its new version.
// A signal (`stop`) between the steps ends here; the checkpoint is already saved, and --resume
// finishes what is missing. Returns the signal that stopped it, or 0.
int finish_run(const TrainConfig& cfg, SGSFModel& model, const data::TrainLoader& loader,
               const std::vector<data::TestImage>& held, const std::string& source,
               const data::AuxiliaryTextures& aux, Device dev, const std::atomic<int>* stop) {
  auto stopped = [&]() { return stop ? stop->load() : 0; };
  if (int sig = stopped()) return sig;
  const std::string fingerprint = weights_fingerprint(model.state());
  std::vector<const data::Image*> images;
  std::vector<std::string> names;
  for (int i = 0; i < loader.num_images(); ++i) {
    images.push_back(&loader.image(i));
    names.push_back(loader.sample(i).relpath);
  }
  const bool was_training = model.is_training();
  model.eval();
  model.freeze(true);  // the bank and the calibration scored as sgsf_test and the Detector score
  struct Restore {
    SGSFModel& m;
    bool training;
    ~Restore() {
      m.freeze(false);
      m.train(training);
    }
  } restore{model, was_training};
  GuidanceBank bank = make_guidance_bank(model, images, names, cfg.batch, dev);
  if (int sig = stopped()) return sig;
  write_guidance(cfg.out, bank, fingerprint);
  if (int sig = stopped()) return sig;
  if (held.empty()) {
    // A calibration of the previous weights would be wrong for these: removed now that the new
    // run is complete.
    std::error_code ec;
    fs::remove(calibration_path(cfg.out), ec);
    fs::remove(fs::path(cfg.out) / "calibration.csv", ec);
    std::cerr << "no calibration images (--holdout 0 and no validation/good): the run has no calibrated "
                 "threshold; decisions need --threshold\n";
  } else {
    std::vector<const data::Image*> ptrs;
    for (const auto& t : held) ptrs.push_back(&t.image);
    Inference inf = infer(model, ptrs, bank, scoring_of(cfg), cfg.batch, dev, false);
    if (int sig = stopped()) return sig;
    ForgedScores forged = score_forged(model, held, bank, cfg, aux, dev);
    if (int sig = stopped()) return sig;
    Calibration c = calibrate(inf.scores, forged.scores, parse_threshold_rule(cfg.threshold_rule), cfg.target_fpr);
    c.source = source;
    c.weights_fingerprint = fingerprint;
    for (const auto& t : held) c.images.push_back(t.relpath);
    c.forged_images = std::move(forged.images);
    c.forged_fraction = std::move(forged.fraction);
    write_calibration(cfg.out, c);
    std::cerr << "calibrated threshold " << c.threshold << " (rule " << threshold_rule_name(c.rule) << ") from "
              << c.count << " normal images (median " << c.median << ", 99th percentile " << c.q99 << ") and "
              << c.forged_scores.size() << " anomalies forged on them (median " << c.forged_median << ")\n";
    if (c.rule == ThresholdRule::Forged) {
      const size_t above = (size_t)std::count_if(c.scores.begin(), c.scores.end(), [&](float v) { return v > c.threshold; });
      if (above * 10 > c.scores.size())
        std::cerr << "warning: the threshold lies below " << above << " of the " << c.scores.size()
                  << " held-out normal images: the model scores forged anomalies little above normal images, so "
                     "expect false alarms (train longer, or choose --threshold-rule spread or --target-fpr)\n";
    }
    if (cfg.threshold_rule == "forged" && c.rule != ThresholdRule::Forged)
      std::cerr << "warning: no forged anomaly had a non-empty mask: the threshold falls back to the spread rule\n";
    if (c.rule == ThresholdRule::TargetFpr && cfg.target_fpr * c.count < 1)
      std::cerr << "warning: with " << c.count << " held-out normal images a false-positive rate of " << cfg.target_fpr
                << " cannot be aimed at more finely than 1/" << c.count << ": the threshold is close to their "
                   "highest score\n";
    // A threshold above the held-out normal images is the point; one above the anomalies forged on
    // them too flags nothing the model was trained to find (a rule from the normal images alone can
    // extrapolate that far with few of them), and one below them all flags everything. Said now, not
    // found out on the line.
    std::vector<float> all = c.scores;
    all.insert(all.end(), c.forged_scores.begin(), c.forged_scores.end());
    const std::string what = c.forged_scores.empty() ? std::string("held-out normal images")
                                                     : "held-out normal images and anomalies forged on them";
    for (const std::string& w : decision_warnings(all, c.threshold, what, c.count))
      std::cerr << "warning: " << w << "\n";
  }
  return stopped();
}

}  // namespace

StepLosses training_losses(SGSFModel& model, const Tensor& image, const Tensor& guidance, const Tensor& mask,
                           bool warm, float lambda, float gamma) {
  StepLosses L;
  if (warm) {
    ReconstructionAE::Output r = model.ae->forward(image);
    L.l2 = mse_loss(r.reconstruction, image);
    L.ssim = ssim_loss(r.reconstruction, image);
    L.loss = (L.l2 + L.ssim) * lambda;
  } else {
    SGSFModel::Output o = model.forward(image, guidance);
    L.l2 = mse_loss(o.reconstruction, guidance);
    L.ssim = ssim_loss(o.reconstruction, guidance);
    L.focal = focal_loss(o.logits, mask, gamma);
    L.loss = (L.l2 + L.ssim) * lambda + L.focal;
  }
  return L;
}


StepLosses joint_step(SGSFModel& model, Adam& opt, const Tensor& image, const Tensor& saliency, const Tensor& aux,
                      const Tensor& guidance, const TrainConfig& cfg, uint64_t seed) {
  const SamParams sam = sam_params(cfg);
  Forged fg;
  {
    NoGradGuard ng;
    fg = forge_anomalies(image, saliency, aux, perlin_noise(image.size(0), image.size(2), image.size(3), seed,
                                                            image.device()),
                         sam, seed);
  }
  StepLosses L = training_losses(model, fg.image, guidance, fg.mask, false, cfg.lambda, cfg.gamma);
  opt.zero_grad();
  L.loss.backward();
  opt.step();
  return L;
}

TrainResult train(const TrainConfig& cfg_in, bool resume, const std::atomic<int>* stop, bool progress) {
  TrainConfig cfg = cfg_in;
  validate(cfg);
  SG_CHECK(!cfg.data.empty(), "train: no dataset given (--data)");
  const Device dev = parse_device(cfg.device);
  // The mode asked for, resolved for this device ("auto" -> bf16 or fp32), is what the run records.
  const Precision prec = parse_precision(cfg.precision, dev);
  cfg.precision = precision_name(prec);
  const PrecisionGuard in_precision(prec);
  const std::string ckpt = checkpoint_path(cfg.out);

  // ---- nothing in the run folder changes before every check passed (see below)
  SafetensorsFile resumed;
  if (resume) {
    SG_CHECK(fs::exists(ckpt), "--resume: no checkpoint at '", ckpt, "'");
    resumed = load_safetensors(ckpt);
    check_resume_metadata(resumed, cfg, ckpt);
  }

  // ---- data ------------------------------------------------------------------------------
  const std::string root = data::category_folder(cfg.data, cfg.category);
  data::Dataset ds = data::open_dataset(root, data::parse_layout(cfg.layout));
  SG_CHECK(ds.train.size() >= 2, "train: need at least 2 normal training images in '", root, "', found ",
           ds.train.size());
  // ---- calibration images: validation/good where the layout has it, else a seeded fraction of the
  // training images, drawn from a stream of their own (the training stream is untouched; with no
  // hold-out, training is exactly as without calibration).
  std::vector<data::Sample> calibration;
  std::string calibration_source;
  if (!ds.validation.empty()) {
    calibration = ds.validation;
    calibration_source = "validation/good";
  } else if (cfg.holdout > 0) {
    const int n = (int)ds.train.size();
    const int k = std::max(1, (int)std::lround(cfg.holdout * n));
    SG_CHECK(n - k >= 2, "train: holding out ", k, " of ", n, " training images for calibration (--holdout ",
             cfg.holdout, ") leaves fewer than 2 to train on; lower --holdout or pass 0");
    std::vector<int> order((size_t)n);
    for (int i = 0; i < n; ++i) order[(size_t)i] = i;
    Rng pick(cfg.seed, /*stream=*/0xCA11B);
    pick.shuffle(order);
    std::vector<bool> held((size_t)n, false);
    for (int i = 0; i < k; ++i) held[(size_t)order[(size_t)i]] = true;
    std::vector<data::Sample> kept;
    for (int i = 0; i < n; ++i) (held[(size_t)i] ? calibration : kept).push_back(ds.train[(size_t)i]);
    ds.train = std::move(kept);
    calibration_source = str("held out: ", k, " of the ", n, " training images (holdout ", cfg.holdout, ", seed ",
                             cfg.seed, ")");
  }
  // Read now, so that an unreadable calibration image stops the run before training, naming it.
  std::vector<data::TestImage> calibration_images;
  if (!calibration.empty()) {
    std::cerr << "calibration: " << calibration.size() << " normal images (" << calibration_source
              << ") set the decision threshold after training\n";
    calibration_images = data::load_test_images(calibration, cfg.size, cfg.workers);
  }
  data::AuxiliaryTextures aux = cfg.aux.empty() ? data::AuxiliaryTextures::procedural()
                                                : data::AuxiliaryTextures::from_folder(cfg.aux);
  if (aux.is_procedural()) std::cerr << data::procedural_notice() << "\n";
  data::LoaderOptions lo;
  lo.size = cfg.size;
  lo.batch = cfg.batch;
  lo.seed = cfg.seed;
  lo.workers = cfg.workers;
  lo.rotate_prob = cfg.rotate_prob;
  lo.rotate_guidance = cfg.rotate_guidance;
  lo.saliency = data::parse_saliency_mode(cfg.saliency);
  lo.saliency_dir = cfg.saliency_dir;
  lo.device = dev;
  std::cerr << "loading " << ds.train.size() << " training images from " << root << " (" << cfg.size << "x"
            << cfg.size << ", saliency " << cfg.saliency << ")\n";
  data::TrainLoader loader(ds.train, lo, aux);
  std::cerr << "saliency: " << loader.saliency_fallbacks() << " of " << loader.num_images()
            << " images fell back to S = 1 (no object found)\n";

  // ---- model and optimiser -----------------------------------------------------------------
  SGSFModel model(cfg.width, parse_guidance(cfg.guidance), cfg.seed);
  model.to(dev);
  model.train();
  std::cerr << "model: w=" << cfg.width << ", " << model.num_parameters() << " parameters (autoencoder "
            << model.ae->num_parameters() << ", segmentation " << model.seg->num_parameters() << ") on "
            << device_name(dev) << "\n";
  Adam opt(model.named_parameters(), cfg.lr);
  const int64_t per_epoch = loader.batches_per_epoch();
  const int64_t total = cfg.iterations > 0 ? cfg.iterations : (int64_t)cfg.epochs * per_epoch;
  const int64_t warmup_end = (int64_t)std::llround(cfg.warmup * (double)total);
  MultiStepLR sched = MultiStepLR::at_fractions(cfg.lr, total, {0.5, 0.7, 0.9});
  const SamParams sam = sam_params(cfg);

  // ---- resume --------------------------------------------------------------------------------
  int64_t start = 0;
  std::vector<std::vector<int>> contrast;
  if (resume) {
    const SafetensorsFile& f = resumed;
    load_into(model.state(), strip_prefix("model.", f.tensors), ckpt);
    load_into(opt.state(), strip_prefix("optim.", f.tensors), ckpt);
    contrast = contrast_from_tensor(find_tensor(f.tensors, "contrast_sets"));
    const std::string at = f.metadata.count("iteration") ? f.metadata.at("iteration") : std::string("(missing)");
    SG_CHECK(parse_int64(at, &start) && start >= 0 && start <= total, "--resume: '", ckpt,
             "': the metadata key 'iteration' holds '", at, "', not an iteration from 0 to ", total);
    if (!contrast.empty()) loader.set_contrast_sets(contrast);
    loader.seek(start);
    std::cerr << "resumed from " << ckpt << " at iteration " << start << " of " << total << "\n";
  }

  // ---- only now that every check passed does anything in the run folder change: bad data, settings
  // or a bad checkpoint leave no empty folder behind and no file of a finished run touched. The
  // guidance bank and calibration of earlier weights stay until training replaces them at its end
  // (their weights fingerprint keeps them from being used with other weights meanwhile).
  // One writer at a time: a second program training into this folder stops here, having changed
  // nothing.
  fs::create_directories(cfg.out);
  FolderLock lock(cfg.out);
  if (cfg.save_forged > 0) {  // saliency maps of the first training images, for a person to look at
    fs::path dir = fs::path(cfg.out) / "saliency";
    fs::create_directories(dir);
    for (int i = 0; i < std::min(cfg.save_forged, loader.num_images()); ++i)
      data::save_saliency_preview((dir / ("saliency_" + std::to_string(i) + ".png")).string(), loader.image(i),
                                  data::SaliencyResult{loader.saliency(i), false});
  }

  auto save = [&](int64_t iteration) {
    Metadata meta = to_key_values(cfg);
    meta["format"] = kFormat;
    meta["iteration"] = std::to_string(iteration);
    meta["total_iterations"] = std::to_string(total);
    NamedTensors all = with_prefix("model.", model.state());
    for (auto& kv : with_prefix("optim.", opt.state())) all.push_back(kv);
    if (!contrast.empty()) all.emplace_back("contrast_sets", contrast_tensor(contrast));
    save_safetensors(ckpt, all, meta);
    write_config_json(config_path(cfg.out), cfg);
  };
  auto rebuild_contrast = [&]() {
    int dim = 0;
    std::vector<const data::Image*> images;
    for (int i = 0; i < loader.num_images(); ++i) images.push_back(&loader.image(i));
    std::vector<float> feats = contrast_features(model, images, cfg.batch, dev, &dim);
    contrast = build_contrast_sets(feats, loader.num_images(), dim, cfg.contrast_n);
    loader.set_contrast_sets(contrast);
  };

  // ---- the loop ----------------------------------------------------------------------------
  RunLog log((fs::path(cfg.out) / "train_log.jsonl").string(), resume, start);
  TrainResult result;
  Progress bar(total - start, progress);
  WindowStats window;
  int forged_saved = 0;
  const int64_t refresh_every = (int64_t)cfg.contrast_refresh * per_epoch;
  // The loss terms and mask statistics of each iteration stay on the device until they are read
  // back, all at once, when a log line is due or before a checkpoint is written: on a GPU an
  // iteration never waits for the host. A non-finite loss is found there, at most --log-every
  // iterations late, and always before a checkpoint could store the diverged weights.
  struct Pending {
    int64_t iteration;
    bool warm;
    Tensor values;  // (4 + batch): loss, L2, SSIM, focal, then the mask pixels of each sample
  };
  std::vector<Pending> pending;
  WindowStats shown;  // what the progress line shows: the last window read back
  int64_t diverged_at = -1;
  float diverged_loss = 0;
  const float plane = (float)cfg.size * (float)cfg.size;
  auto flush = [&]() {  // read back what is pending into the window; false when the loss diverged
    if (pending.empty()) return true;
    std::vector<float> v;
    {
      NoGradGuard ng;
      std::vector<Tensor> parts;
      for (const Pending& p : pending) parts.push_back(p.values);
      v = concat(parts, 0).to_vector();
    }
    size_t at = 0;
    for (const Pending& p : pending) {
      const size_t len = (size_t)p.values.numel();
      const float* x = v.data() + at;
      at += len;
      if (!finite(x[0])) {
        diverged_at = p.iteration;
        diverged_loss = x[0];
        break;
      }
      float area = 0, nonempty = 0;
      const size_t n = len - 4;
      for (size_t k = 0; k < n; ++k) {
        area += x[4 + k] / plane;
        nonempty += x[4 + k] > 0 ? 1.f : 0.f;
      }
      if (n) area /= (float)n, nonempty /= (float)n;
      window.add(x[0], x[1], x[2], x[3], area, nonempty, p.warm ? 0 : 1);
      if (p.iteration == start) result.first_loss = x[0];
    }
    pending.clear();
    return diverged_at < 0;
  };
  auto diverged = [&]() {
    bar.finish();
    std::cerr << "error: the loss became " << diverged_loss << " at iteration " << diverged_at << " (epoch "
              << diverged_at / per_epoch + 1 << "); training stopped. "
              << (fs::exists(ckpt) ? "The last good checkpoint is kept at " + ckpt : std::string("No checkpoint was written."))
              << "\n";
    result.status = kTrainDiverged;
    result.iterations_done = diverged_at;
    return result;
  };
  // A log line or preview image that cannot be written (a full disk, say) ends training with an
  // error, but first the checkpoint of the iterations done is saved, if the disk allows.
  auto output_failed = [&](const Error& e, int64_t done) -> Error {
    bar.finish();
    std::string saved;
    try {
      if (!flush()) {
        saved = str("no checkpoint written: the loss had diverged at iteration ", diverged_at, "; ",
                    fs::exists(ckpt) ? "the previous one is kept" : "none was written");
      } else {
        save(done);
        saved = str("checkpoint saved at iteration ", done, " to ", ckpt, " (continue with --resume)");
      }
    } catch (const Error& e2) {
      saved = str("the checkpoint could not be saved either (", e2.what(), "); ",
                  fs::exists(ckpt) ? "the previous one is kept" : "none was written");
    }
    return Error(str(e.what(), "; training stopped, ", saved));
  };
  for (int64_t it = start; it < total; ++it) {
    const bool asked = it == cfg.stop_at_iteration;
    const int signal = stop ? stop->load() : 0;
    if (asked || signal != 0) {
      if (!flush()) return diverged();
      bar.finish();
      save(it);
      std::cerr << (asked ? "stopped" : signal == SIGTERM ? "terminated (SIGTERM)" : "interrupted")
                << ": checkpoint saved at iteration " << it << " to " << ckpt << " (continue with --resume)\n";
      result.status = !asked && signal == SIGTERM ? kTrainTerminated : kTrainInterrupted;
      result.iterations_done = it;
      result.checkpoint = ckpt;
      return result;
    }
    const bool warm = it < warmup_end;
    if (it == warmup_end || (refresh_every > 0 && it > warmup_end && (it - warmup_end) % refresh_every == 0))
      rebuild_contrast();

    data::TrainBatch b;
    {
      profile::Region region("data loading");
      b = loader.next();
    }
    const uint64_t it_seed = cfg.seed * 0x9E3779B97F4A7C15ull + (uint64_t)it;
    StepLosses L;
    Tensor mask_pixels;
    if (warm) {
      L = training_losses(model, b.image, Tensor(), Tensor(), true, cfg.lambda, cfg.gamma);
    } else {
      Forged fg;
      {
        NoGradGuard ng;
        Tensor noise = perlin_noise(b.image.size(0), cfg.size, cfg.size, it_seed, dev);
        fg = forge_anomalies(b.image, b.saliency, b.aux, noise, sam, it_seed);
      }
      mask_pixels = fg.mask_pixels;
      if (forged_saved < cfg.save_forged) {
        try {
          forged_saved += save_forged_samples(cfg.out, b, fg, cfg.save_forged - forged_saved);
        } catch (const Error& e) {
          throw output_failed(e, it);
        }
      }
      L = training_losses(model, fg.image, b.guidance, fg.mask, false, cfg.lambda, cfg.gamma);
    }
    opt.set_lr(sched.lr(it));
    opt.zero_grad();
    L.loss.backward();
    opt.step();
    {
      NoGradGuard ng;
      std::vector<Tensor> parts{L.loss.detach().reshape({1}), L.l2.detach().reshape({1}), L.ssim.detach().reshape({1}),
                                L.focal.defined() ? L.focal.detach().reshape({1}) : Tensor::zeros({1}, dev)};
      if (mask_pixels.defined()) parts.push_back(mask_pixels);
      pending.push_back({it, warm, concat(parts, 0)});
    }

    const int64_t epoch = it / per_epoch + 1, total_epochs = (total + per_epoch - 1) / per_epoch;
    const bool log_now = (it + 1) % cfg.log_every == 0 || it + 1 == total;
    const bool save_now = cfg.checkpoint_every > 0 && (it + 1) % per_epoch == 0 && (epoch % cfg.checkpoint_every) == 0;
    if ((log_now || save_now) && !flush()) return diverged();
    bar.update(it - start + 1, str("epoch ", epoch, "/", total_epochs, warm ? " warm-up" : ""),
               shown.progress_text(bar.elapsed_seconds(), it - start + 1, cfg.batch));
    if (log_now) {
      try {
        log.write(window.json_line(it + 1, epoch, sched.lr(it), bar.elapsed_seconds(), it - start + 1, cfg.batch,
                                   loader.saliency_fallbacks()));
      } catch (const Error& e) {
        throw output_failed(e, it + 1);
      }
      result.last_loss = window.mean_loss();
      shown = window;
      window.reset();
    }
    if (save_now) save(it + 1);
  }
  bar.finish();
  save(total);
  if (const int sig = finish_run(cfg, model, loader, calibration_images, calibration_source, aux, dev, stop)) {
    std::cerr << (sig == SIGTERM ? "terminated (SIGTERM)" : "interrupted")
              << " while writing the guidance bank or calibration: the checkpoint of all " << total
              << " iterations is saved to " << ckpt << "; --resume writes the rest\n";
    result.status = sig == SIGTERM ? kTrainTerminated : kTrainInterrupted;
    result.iterations_done = total;
    result.checkpoint = ckpt;
    return result;
  }
  result.iterations_done = total;
  result.seconds = bar.elapsed_seconds();
  result.images_per_second = result.seconds > 0 ? (double)(total - start) * cfg.batch / result.seconds : 0;
  result.checkpoint = ckpt;
  std::cerr << "trained " << total - start << " iterations in " << format_duration(result.seconds) << " ("
            << (int)std::lround(result.images_per_second * 10) / 10.0 << " images/s); checkpoint: " << ckpt << "\n";
  return result;
}

}  // namespace sg::sgsf
