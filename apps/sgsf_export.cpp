// sgsf_export — write a trained run as ONNX: by default one graph holding everything a deployment
// needs (image -> anomaly_map, score, normalized_score, decision; the guidance bank and threshold
// inside), or with --split the network (image, guidance -> anomaly_map, score) and the features
// graph for a guidance look-up done outside; --triton writes the one graph as a Triton Inference
// Server model repository. Optionally the engine's own results on some images, to check an ONNX
// runtime against.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "apps/cli.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "engine/checkpoint.h"
#include "engine/common.h"
#include "engine/file_io.h"
#include "sgsf/evaluate.h"
#include "sgsf/guidance.h"
#include "sgsf/onnx_export.h"

namespace fs = std::filesystem;
using namespace sg;

// Whether two output paths name one file: the same path once made absolute and normal, or one
// existing file reached two ways (a link, a bind mount).
static bool same_output(const std::string& a, const std::string& b) {
  std::error_code ec1, ec2;
  const fs::path pa = fs::weakly_canonical(fs::absolute(a), ec1), pb = fs::weakly_canonical(fs::absolute(b), ec2);
  return (!ec1 && !ec2 && pa == pb) || same_file(a, b);
}

// A Triton model name: letters, digits, '_', '-', '.', not starting with '.', at most 128 characters.
static bool valid_model_name(const std::string& n) {
  if (n.empty() || n.size() > 128 || n[0] == '.') return false;
  for (char c : n)
    if (!(std::isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

static std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
  return buf;
}

// One graph larger than this gets a note suggesting --split.
constexpr uint64_t kLargeOnnxBytes = 512ull << 20;

int main(int argc, char** argv) {
  return cli::run_main("sgsf_export", [&]() -> int {
    cli::Args args("sgsf_export",
                   "Export a trained SGSF run folder as ONNX (opset 17). By default --out gets one graph: input image,\n"
                   "float32 (N, 3, s, s) in [0, 1]; outputs anomaly_map (N, 1, s, s), score (N), normalized_score (N)\n"
                   "and decision (N, bool: true = defect, score above the threshold), with the run's guidance bank\n"
                   "and threshold inside (the file grows by 3 s^2 + 32w bytes per guidance image). --split writes\n"
                   "the two graphs of earlier versions instead: --out (image, guidance -> anomaly_map, score) and\n"
                   "--features-out (image -> features (N, 8w)) for a guidance look-up done by the caller.");
    args.option("run", "runs/sgsf", "run folder holding checkpoint.safetensors and config.json");
    args.option("out", "model.onnx", "the ONNX file (with --split: the network's)");
    args.option("threshold", "", "decision threshold, 0 to 1, put in the one graph (default: the run's calibrated "
                                 "one; needed for a run without calibration.json)");
    args.flag("split", "write the network and the features graph as two files, the guidance look-up outside");
    args.option("features-out", "", "with --split: the features graph's file (default: <out without .onnx>."
                                    "features.onnx)");
    args.option("triton", "", "write the one graph as a Triton Inference Server model repository into this folder: "
                              "<folder>/<name>/1/model.onnx and <folder>/<name>/config.pbtxt (instead of --out)");
    args.option("triton-name", "", "with --triton: the model's name (default: the run folder's name)");
    args.option("max-batch", "8", "with --triton: max_batch_size, 1 to 1024");
    args.option("reference", "", "an image file or folder: also write the engine's inputs and results for those "
                                 "images to <out without .onnx>.reference.safetensors");
    if (!args.parse(argc, argv)) return 0;
    const std::string run_dir = args.get("run"), ref = args.get("reference"), triton = args.get("triton");
    const bool split = args.get_flag("split"), to_triton = args.given("triton");
    // Options that only mean something together.
    SG_CHECK(!(split && to_triton), "--split and --triton exclude each other: a Triton model is the one graph");
    SG_CHECK(!(split && args.given("threshold")),
             "--threshold goes into the one graph's decision; the --split graphs have none (drop --split or --threshold)");
    SG_CHECK(split || !args.given("features-out"), "--features-out names the features graph of --split; give --split");
    SG_CHECK(to_triton || !args.given("triton-name"), "--triton-name names the model of --triton; give --triton DIR");
    SG_CHECK(to_triton || !args.given("max-batch"), "--max-batch is the max_batch_size of --triton; give --triton DIR");
    SG_CHECK(!(to_triton && args.given("out")),
             "--out and --triton exclude each other: --triton DIR writes the model to DIR/<name>/1/model.onnx");
    SG_CHECK(!(to_triton && !ref.empty()), "--reference writes beside --out: give it without --triton");
    SG_CHECK(!to_triton || !triton.empty(), "--triton needs a folder");
    double threshold_option = NAN;
    if (args.given("threshold")) {
      threshold_option = args.get_double("threshold");
      SG_CHECK(threshold_option >= 0 && threshold_option <= 1, "--threshold must be from 0 to 1, got ",
               args.get("threshold"));
    }
    const int max_batch = args.get_int("max-batch", 1, 1024);
    std::string model_name;
    if (to_triton) {
      model_name = args.given("triton-name") ? args.get("triton-name")
                                             : fs::path(run_dir).lexically_normal().filename().string();
      if (model_name.empty() && !args.given("triton-name"))  // "runs/bottle/" names "bottle"
        model_name = fs::path(run_dir).lexically_normal().parent_path().filename().string();
      SG_CHECK(valid_model_name(model_name), args.given("triton-name") ? "--triton-name '" : "the run folder's name '",
               model_name, "' is not a Triton model name (letters, digits, '_', '-', '.', not starting with '.'); ",
               "give one with --triton-name");
    }
    const fs::path model_dir = fs::path(triton) / model_name, version_dir = model_dir / "1";
    const std::string out = to_triton ? (version_dir / "model.onnx").string() : args.get("out");
    const std::string config_out = (model_dir / "config.pbtxt").string();
    const std::string stem = out.size() > 5 && out.substr(out.size() - 5) == ".onnx" ? out.substr(0, out.size() - 5) : out;
    const std::string features_out = args.get("features-out").empty() ? stem + ".features.onnx" : args.get("features-out");
    const std::string ref_out = stem + ".reference.safetensors";
    // Every output is checked before any is written: distinct, and each missing or a regular file;
    // the folders --triton writes into missing or folders.
    std::vector<std::pair<std::string, std::string>> outputs = {{to_triton ? "--triton's model" : "--out", out}};
    if (split) outputs.emplace_back("--features-out", features_out);
    if (to_triton) outputs.emplace_back("--triton's config.pbtxt", config_out);
    if (!ref.empty()) outputs.emplace_back("--reference's results", ref_out);
    std::vector<fs::path> triton_dirs;
    if (to_triton) {
      triton_dirs = {fs::path(triton), model_dir, version_dir};
      for (const fs::path& d : triton_dirs) {
        std::error_code ec;
        const fs::file_status st = fs::status(d, ec);
        SG_CHECK(!fs::exists(st) || fs::is_directory(st), "--triton: '", d.string(),
                 "' exists and is not a folder; choose another --triton folder or --triton-name");
      }
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      check_output_path(outputs[i].second);
      for (size_t j = 0; j < i; ++j)
        SG_CHECK(!same_output(outputs[i].second, outputs[j].second), outputs[j].first, " and ", outputs[i].first,
                 " name the same file '", outputs[i].second, "': give each its own path");
    }
    sgsf::LoadedRun run = sgsf::load_run(run_dir, Device::CPU);
    const int s = run.cfg.size, pool = sgsf::score_pool_size(run.cfg);
    // The graphs are used with the run's guidance bank: it must be there, whole, and computed with
    // these weights, as sgsf_test and the Detector require.
    SG_CHECK(sgsf::has_guidance(run_dir), "'", run_dir, "' holds no guidance bank (",
             sgsf::guidance_features_path(run_dir), "), which the exported graphs are used with; "
             "sgsf_train --resume --out ", run_dir, " (with the run's other options) writes it");
    const sgsf::GuidanceBank bank = sgsf::read_guidance(run_dir, s, 8 * run.cfg.width, run.fingerprint);
    // The one graph's threshold, and its size, before anything is read or written.
    float threshold = 0;
    std::string threshold_source;
    uint64_t weight_bytes = 0;
    for (const auto& [name, t] : run.model->state()) weight_bytes += (uint64_t)t.numel() * 4;
    const uint64_t bank_bytes = sgsf::onnx_bank_bytes(bank.count(), s, bank.dim);
    if (!split) {
      SG_CHECK(sgsf::run_threshold(run, run_dir, threshold_option, &threshold, &threshold_source), "'", run_dir,
               "' holds no calibrated threshold (", sgsf::calibration_path(run_dir), "), which the one graph's "
               "decision and normalized_score need: give --threshold T (0 to 1), or export --split (no decision)");
      SG_CHECK(bank_bytes + weight_bytes < sgsf::kOnnxMaxBytes, "the one graph would be about ",
               mib(bank_bytes + weight_bytes), " (", bank.count(), " guidance images x ",
               sgsf::onnx_bank_bytes(1, s, bank.dim), " bytes, and the weights), above the 2 GiB an ONNX file can "
               "hold: export --split (the guidance bank stays in the run folder), or train on fewer normal images");
    }
    // The reference images are read and scored before anything is written.
    std::vector<data::TestImage> imgs;
    std::vector<const data::Image*> ptrs, guides;
    sgsf::Inference inf;
    if (!ref.empty()) {
      std::vector<data::Sample> samples;
      if (fs::is_directory(ref)) {
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(ref))
          if (e.is_regular_file() && data::is_image_file(e.path().filename().string())) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& f : files) samples.push_back({f.string(), f.filename().string(), "", 0, "unknown"});
      } else {
        samples.push_back({ref, fs::path(ref).filename().string(), "", 0, "unknown"});
      }
      SG_CHECK(!samples.empty(), "--reference: no images (png, jpg, bmp) in '", ref, "'");
      imgs = data::load_test_images(samples, s, 2);
      for (const auto& t : imgs) ptrs.push_back(&t.image);
      inf = sgsf::infer(*run.model, ptrs, bank, sgsf::scoring_of(run.cfg), 8, Device::CPU, false);
      for (size_t i = 0; i < imgs.size(); ++i) guides.push_back(&bank.images[(size_t)inf.guide[i]]);
    }
    std::string one_graph;
    if (!split) {
      char t[32];
      std::snprintf(t, sizeof t, "%.9g", threshold);
      one_graph = sgsf::onnx_one_graph_bytes(
          *run.model, s, pool, run.cfg.test_flip, bank, threshold,
          {{"threshold", t},
           {"threshold_source", threshold_source},
           {"decision", "score > threshold (true = defect)"},
           {"normalized_score", "0.5 * s / t for s <= t, else 0.5 + 0.5 * (s - t) / (1 - t), clipped to [0, 1]"},
           {"size", std::to_string(s)},
           {"score_pool", std::to_string(pool)},
           {"test_flip", run.cfg.test_flip ? "1" : "0"},
           {"guidance_images", std::to_string(bank.count())},
           {"weights_fingerprint", run.fingerprint}});
      SG_CHECK(one_graph.size() <= sgsf::kOnnxMaxBytes, "the one graph is ", mib(one_graph.size()),
               ", above the 2 GiB an ONNX file can hold: export --split");
    }
    // The folders --triton writes into (removed again, if made here, when writing fails).
    std::vector<fs::path> made;
    try {
      for (const fs::path& d : triton_dirs) {
        std::error_code ec;
        if (fs::exists(d, ec)) continue;
        SG_CHECK(fs::create_directory(d, ec) && !ec, "--triton: cannot create the folder '", d.string(), "': ",
                 ec.message());
        made.push_back(d);
      }
      // One writer per output folder (engine/file_io.h); a Triton model's folder holds both files.
      std::vector<std::string> folders;
      if (to_triton) {
        folders.push_back(model_dir.string());
      } else {
        for (const auto& o : outputs) {
          std::string dir = fs::path(o.second).parent_path().string();
          if (dir.empty()) dir = ".";
          bool seen = false;
          for (const auto& f : folders) seen = seen || same_output(f, dir);
          if (!seen) folders.push_back(dir);
        }
      }
      std::vector<FolderLock> locks;
      for (const auto& f : folders) locks.emplace_back(f);
      if (split) {
        write_file_atomic(out, sgsf::onnx_model_bytes(*run.model, s, pool, run.cfg.test_flip));
        write_file_atomic(features_out, sgsf::onnx_features_bytes(*run.model, s));
        std::cerr << "wrote " << out << " (image, guidance -> anomaly_map, score) and " << features_out
                  << " (image -> features); input size " << s << "x" << s << "\n";
      } else {
        write_file_atomic(out, one_graph);
        if (to_triton) write_file_atomic(config_out, sgsf::triton_config(model_name, s, max_batch));
        std::cerr << "wrote " << out << " (image -> anomaly_map, score, normalized_score, decision at the "
                  << threshold_source << " threshold " << threshold << "; input size " << s << "x" << s << "): "
                  << mib(one_graph.size()) << ", of which the guidance bank " << mib(bank_bytes) << " ("
                  << bank.count() << " images x " << sgsf::onnx_bank_bytes(1, s, bank.dim) << " bytes)\n";
        if (to_triton)
          std::cerr << "wrote " << config_out << " (Triton model '" << model_name << "', max_batch_size " << max_batch
                    << ")\n";
        if (one_graph.size() > kLargeOnnxBytes)
          std::cerr << "note: a large file to deploy, mostly the guidance bank; --split keeps the bank out of it\n";
      }
    } catch (...) {
      for (auto it = made.rbegin(); it != made.rend(); ++it) {
        std::error_code ec;
        fs::remove(*it / ".sgsf.lock", ec);
        fs::remove(*it, ec);  // only when empty
      }
      throw;
    }

    if (!ref.empty()) {
      std::vector<float> maps, guide_idx;
      for (size_t i = 0; i < imgs.size(); ++i) {
        maps.insert(maps.end(), inf.maps[i].begin(), inf.maps[i].end());
        guide_idx.push_back((float)inf.guide[i]);
      }
      const int64_t n = (int64_t)imgs.size();
      NamedTensors t = {{"image", data::stack_images(ptrs, Device::CPU)},
                        {"guidance", data::stack_images(guides, Device::CPU)},
                        {"anomaly_map", Tensor::from_vector({n, 1, s, s}, maps, Device::CPU)},
                        {"score", Tensor::from_vector({n}, inf.scores, Device::CPU)},
                        {"guidance_index", Tensor::from_vector({n}, guide_idx, Device::CPU)}};
      save_safetensors(ref_out, t, {{"size", std::to_string(s)}});
      std::cerr << "wrote " << ref_out << " (" << n << " images)\n";
    }
    return 0;
  });
}
