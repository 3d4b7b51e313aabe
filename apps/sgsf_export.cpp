// sgsf_export — write a trained run's network as ONNX graphs: the network (image, guidance ->
// anomaly_map, score) and the features graph for the guidance look-up; optionally the engine's own
// results on some images, to check an ONNX runtime against.
#include <algorithm>
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

int main(int argc, char** argv) {
  return cli::run_main("sgsf_export", [&]() -> int {
    cli::Args args("sgsf_export",
                   "Export a trained SGSF run folder as ONNX (opset 17): --out gets the network (inputs image and\n"
                   "guidance, float32 (N, 3, s, s) in [0, 1]; outputs anomaly_map (N, 1, s, s) and score (N)),\n"
                   "--features-out the features graph for the guidance look-up (image -> features (N, 8w)).");
    args.option("run", "runs/sgsf", "run folder holding checkpoint.safetensors and config.json");
    args.option("out", "model.onnx", "the network's ONNX file");
    args.option("features-out", "", "the features graph's ONNX file (default: <out without .onnx>.features.onnx)");
    args.option("reference", "", "an image file or folder: also write the engine's inputs and results for those "
                                 "images to <out without .onnx>.reference.safetensors");
    if (!args.parse(argc, argv)) return 0;
    const std::string run_dir = args.get("run"), out = args.get("out");
    const std::string stem = out.size() > 5 && out.substr(out.size() - 5) == ".onnx" ? out.substr(0, out.size() - 5) : out;
    const std::string features_out = args.get("features-out").empty() ? stem + ".features.onnx" : args.get("features-out");
    const std::string ref = args.get("reference");
    const std::string ref_out = stem + ".reference.safetensors";
    // Every output is checked before any is written: distinct, and each missing or a regular file.
    std::vector<std::pair<std::string, std::string>> outputs = {{"--out", out}, {"--features-out", features_out}};
    if (!ref.empty()) outputs.emplace_back("--reference's results", ref_out);
    for (size_t i = 0; i < outputs.size(); ++i) {
      check_output_path(outputs[i].second);
      for (size_t j = 0; j < i; ++j)
        SG_CHECK(!same_output(outputs[i].second, outputs[j].second), outputs[j].first, " and ", outputs[i].first,
                 " name the same file '", outputs[i].second, "': give each its own path");
    }
    sgsf::LoadedRun run = sgsf::load_run(run_dir, Device::CPU);
    const int s = run.cfg.size;
    // The graphs are used with the run's guidance bank: it must be there, whole, and computed with
    // these weights, as sgsf_test and the Detector require.
    SG_CHECK(sgsf::has_guidance(run_dir), "'", run_dir, "' holds no guidance bank (",
             sgsf::guidance_features_path(run_dir), "), which the exported graphs are used with; "
             "sgsf_train --resume --out ", run_dir, " (with the run's other options) writes it");
    const sgsf::GuidanceBank bank = sgsf::read_guidance(run_dir, s, 8 * run.cfg.width, run.fingerprint);
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
    // One writer per output folder (engine/file_io.h).
    std::vector<std::string> folders;
    for (const auto& o : outputs) {
      std::string dir = fs::path(o.second).parent_path().string();
      if (dir.empty()) dir = ".";
      bool seen = false;
      for (const auto& f : folders) seen = seen || same_output(f, dir);
      if (!seen) folders.push_back(dir);
    }
    std::vector<FolderLock> locks;
    for (const auto& f : folders) locks.emplace_back(f);
    write_file_atomic(out, sgsf::onnx_model_bytes(*run.model, s, sgsf::score_pool_size(run.cfg), run.cfg.test_flip));
    write_file_atomic(features_out, sgsf::onnx_features_bytes(*run.model, s));
    std::cerr << "wrote " << out << " (image, guidance -> anomaly_map, score) and " << features_out
              << " (image -> features); input size " << s << "x" << s << "\n";

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
