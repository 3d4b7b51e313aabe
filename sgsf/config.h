// config.h — everything that defines a training run: the model, the data, SAM, the losses and the
// schedule. Presets give the defaults; every value can be overridden. A config (all but the run
// control stop_at_iteration) round-trips through a flat string map (stored in the checkpoint's
// metadata and in config.json), so a checkpoint carries what is needed to rebuild its model.
// The strict number parsing below is shared by the config reader and the programs' option parsers.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace sg::sgsf {

struct TrainConfig {
  // model
  std::string preset = "tiny";      // paper | small | tiny
  int width = 8;                    // w: channel widths [w, 2w, 4w, 8w]
  int size = 64;                    // input side s (images are resized to s x s)
  std::string guidance = "decoder"; // decoder (C_D) | encoder (C_E) features guide the segmentation
  // data
  std::string data;                 // dataset root (or category folder)
  std::string layout = "auto";      // auto | mvtec | dagm | ksdd2 | generic
  std::string category;             // MVTec category under `data`, if `data` is the dataset root
  std::string aux;                  // auxiliary texture folder (DTD-like); empty = procedural textures
  std::string saliency = "border";  // border | spectral | file | none
  std::string saliency_dir;         // for --saliency file
  // schedule
  int batch = 16;
  int epochs = 800;
  int64_t iterations = 0;           // if > 0, overrides epochs (total optimiser steps)
  float lr = 1e-4f;
  float warmup = 0.1f;              // fraction of iterations training the autoencoder alone
  int contrast_n = 4;
  int contrast_refresh = 0;         // rebuild contrast sets every N epochs after warm-up (0 = never)
  // SAM
  float a = 0.4f, b = 0.2f;         // adaptive threshold mu = a + b * mean(S)
  float alpha_lo = 0.1f, alpha_hi = 1.0f;
  float forge_prob = 0.75f;
  float rotate_prob = 0.3f;
  bool rotate_guidance = true;
  // losses
  float lambda = 1.0f;              // L = lambda * (L2 + SSIM) + focal
  float gamma = 2.0f;               // focal loss exponent
  // run
  uint64_t seed = 0;
  std::string device = "auto";
  // compute precision (engine/precision.h): fp32 | bf16 | tf32 | auto; a run records the mode it
  // resolved to
  std::string precision = "fp32";
  int workers = 2;
  std::string out = "runs/sgsf";
  int checkpoint_every = 0;         // epochs between checkpoints (0 = only at the end)
  int log_every = 10;               // iterations between JSON log lines
  int save_forged = 0;              // write this many forged samples as PNG after warm-up
  // calibration: the fraction of the training images held out (seeded) to set the decision
  // threshold, where the layout has no validation/good folder (0: none; sgsf_train's default is 0.1)
  float holdout = 0.f;
  // calibration: the threshold rule (sgsf/calibration.h: forged | spread | target-fpr) and the
  // target-fpr rule's false-positive rate
  std::string threshold_rule = "forged";
  float target_fpr = 0.05f;
  // testing: the image score's mean-pooling window (odd); 0 = chosen by the size, score_pool_size()
  int score_pool = 0;
  // testing: also score the mirror image (with the mirrored guidance) and average the two maps
  bool test_flip = false;
  // Run control, not part of the run's identity (so neither serialised nor compared on --resume):
  // before this iteration, save a checkpoint and return as if interrupted (-1: never).
  int64_t stop_at_iteration = -1;
};

// Limits, checked by validate() (and by the programs' option parsers, which say which option).
constexpr int kMaxSize = 1024;                   // input side s
constexpr int kMaxBatch = 256;                   // batch size
constexpr int64_t kMaxBatchPixels = 1ll << 24;   // batch x s x s: bounds the loader's buffers
constexpr int kMaxWorkers = 64;                  // loader threads
constexpr uint64_t kMaxConfigBytes = 1u << 20;   // config.json

// Fill the model/schedule fields of `c` from a preset name (throws on an unknown name).
void apply_preset(TrainConfig& c, const std::string& preset);

using KeyValues = std::map<std::string, std::string>;
KeyValues to_key_values(const TrainConfig& c);
// Every known key is read; unknown keys are an error (naming the key), missing keys keep defaults.
TrainConfig from_key_values(const KeyValues& kv);

// For keys that later versions added, the value a run written before them had (a checkpoint or
// config.json without the key means this value); null for every other key.
const char* added_key_legacy(const std::string& key);

// The image score's mean-pooling window: score_pool when set, else the odd size nearest
// 21 * size / 256 (the paper's 21 x 21 at 256 x 256; 11 at 128, 5 at 64), so that the window
// covers the same part of the image at every size.
int score_pool_size(const TrainConfig& c);

// Validate ranges (width, size divisible by 8, batch >= 1, probabilities in [0,1], ...).
void validate(const TrainConfig& c);

// config.json: a flat JSON object of strings (written atomically), and its reader.
void write_config_json(const std::string& path, const TrainConfig& c);
// Reads only a regular file of at most kMaxConfigBytes; every error names the file.
TrainConfig read_config_json(const std::string& path);
// The same from text already read (`path` names it in messages).
TrainConfig parse_config_json(const std::string& text, const std::string& path);

// Strict parsing of user input (config files, command lines, checkpoint metadata): true only when
// the whole string is one number (no trailing characters, no overflow); `out` is untouched otherwise.
bool parse_int64(const std::string& s, int64_t* out);
// Digits only (no sign, no spaces), within uint64.
bool parse_uint64(const std::string& s, uint64_t* out);
// A float or a double, parsed at that precision.
bool parse_number(const std::string& s, float* out);
bool parse_number(const std::string& s, double* out);

}  // namespace sg::sgsf
