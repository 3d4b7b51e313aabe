// parity_dump.cpp — writes what tests/reference/parity_check.py compares with PyTorch.
//
// Two parts, both from the project's own code paths (the trainer's loss, the loader, SAM forging):
//
//  1. The training step on identical inputs. The initial weights (weights0.safetensors), one real
//     batch from the loader (inputs.safetensors: the training images A, the forged images I, the
//     masks M, the guidance images C), and what the engine computes for three iterations
//     (steps.safetensors): a warm-up iteration (the autoencoder alone, on A), then two joint
//     iterations (AE on C guiding the segmentation of I against M), with Adam at --lr. After each
//     iteration: the loss terms, every parameter's gradient, and every parameter and batch-norm
//     buffer after the update. Then the anomaly map in eval mode (running statistics), the contrast
//     features and contrast sets of the training images, and the learning rate of every iteration
//     of a few schedules.
//
//  2. The data side, as per-sample draws over --draws samples of the training stream (data.*): the
//     resized training images and their saliency maps, and per sample whether it was rotated and by
//     how much, which member of its contrast set guided it, whether it was forged, its blend factor,
//     its mask area, and the mean and standard deviation of its auxiliary image B.
//
// Usage: sgsf_parity_dump --data DIR|builtin [--aux DIR] --out DIR [--width 4] [--size 32] [--batch 4]
//                         [--seed 1] [--lr 1e-3] [--draws 800] [--saliency border]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "data/builtin.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/textures.h"
#include "engine/checkpoint.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "sgsf/contrast.h"
#include "sgsf/model.h"
#include "sgsf/sgsf_ops.h"
#include "sgsf/trainer.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> parse_args(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"width", "4"},  {"size", "32"},   {"batch", "4"},
                                          {"seed", "1"},   {"lr", "1e-3"},   {"draws", "800"},
                                          {"aux", ""},     {"saliency", "border"}};
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    SG_CHECK(k.rfind("--", 0) == 0 && i + 1 < argc, "parity_dump: expected --key value, got '", k, "'");
    a[k.substr(2)] = argv[++i];
  }
  SG_CHECK(a.count("data") && a.count("out"), "parity_dump: --data and --out are required");
  return a;
}

Tensor vec(const std::vector<float>& v) { return Tensor::from_vector({(int64_t)v.size()}, v, Device::CPU); }

// Every parameter's gradient and every state tensor (parameters and buffers), prefixed.
void record(NamedTensors& out, const std::string& prefix, sgsf::SGSFModel& model, const sgsf::StepLosses& L) {
  out.emplace_back(prefix + "loss.l2", vec({L.l2.item()}));
  out.emplace_back(prefix + "loss.ssim", vec({L.ssim.item()}));
  out.emplace_back(prefix + "loss.focal", vec({L.focal.defined() ? L.focal.item() : 0.f}));
  out.emplace_back(prefix + "loss.total", vec({L.loss.item()}));
  for (const auto& [name, p] : model.named_parameters())
    if (p.grad().defined()) out.emplace_back(prefix + "grad." + name, p.grad().clone());
  for (const auto& [name, t] : model.state()) out.emplace_back(prefix + "state." + name, t.clone());
}

}  // namespace

int main(int argc, char** argv) try {
  auto a = parse_args(argc, argv);
  const int width = std::stoi(a["width"]), size = std::stoi(a["size"]), batch = std::stoi(a["batch"]);
  const int draws = std::stoi(a["draws"]);
  const uint64_t seed = std::stoull(a["seed"]);
  const float lr = std::stof(a["lr"]);
  fs::create_directories(a["out"]);
  auto path = [&](const char* f) { return (fs::path(a["out"]) / f).string(); };

  std::string root = a["data"];
  if (root == "builtin") {  // a small copy of the built-in dataset, generated into the output folder
    data::BuiltinOptions bo;
    bo.size = 64;
    bo.train = 12;
    bo.test_good = 1;
    bo.test_per_defect = 1;
    root = data::generate_builtin_dataset((fs::path(a["out"]) / "builtin-data").string(), 7, bo);
  }
  data::Dataset ds = data::open_dataset(root, data::Layout::Auto);
  data::AuxiliaryTextures aux =
      a["aux"].empty() ? data::AuxiliaryTextures::procedural() : data::AuxiliaryTextures::from_folder(a["aux"]);
  data::LoaderOptions lo;
  lo.size = size;
  lo.batch = batch;
  lo.seed = seed;
  lo.workers = 1;
  lo.saliency = data::parse_saliency_mode(a["saliency"]);
  data::TrainLoader loader(ds.train, lo, aux);
  const int n = loader.num_images();
  SG_CHECK(n >= 5, "parity_dump: need at least 5 training images, found ", n);
  // Contrast sets of 4, fixed and known to the checker: image i is guided by i+1 .. i+4.
  std::vector<std::vector<int>> sets((size_t)n);
  for (int i = 0; i < n; ++i)
    for (int j = 1; j <= 4; ++j) sets[(size_t)i].push_back((i + j) % n);
  loader.set_contrast_sets(sets);
  const sgsf::SamParams sam;

  // ---- part 1: three iterations on one batch ----------------------------------------------------
  data::TrainBatch b = loader.next();
  const uint64_t it_seed = seed * 1000003ull + 17;
  Tensor noise = sgsf::perlin_noise(batch, size, size, it_seed, Device::CPU);
  sgsf::Forged fg = sgsf::forge_anomalies(b.image, b.saliency, b.aux, noise, sam, it_seed);
  save_safetensors(path("inputs.safetensors"),
                   {{"A", b.image}, {"I", fg.image}, {"M", fg.mask}, {"C", b.guidance}});

  sgsf::SGSFModel model(width, sgsf::GuidanceSource::Decoder, seed);
  model.train();
  save_safetensors(path("weights0.safetensors"), model.state());
  Adam opt(model.named_parameters(), lr);
  NamedTensors steps;
  for (int k = 1; k <= 3; ++k) {
    const bool warm = k == 1;
    opt.zero_grad();
    sgsf::StepLosses L = sgsf::training_losses(model, warm ? b.image : fg.image, b.guidance, fg.mask, warm, 1.f, 2.f);
    L.loss.backward();
    opt.step();
    record(steps, "step" + std::to_string(k) + ".", model, L);
  }
  {
    NoGradGuard ng;
    model.eval();
    sgsf::SGSFModel::Output o = model.forward(fg.image, b.guidance);
    steps.emplace_back("eval.map", sgsf::anomaly_map(o.logits).clone());
    steps.emplace_back("eval.recon", o.reconstruction.clone());
  }
  {  // contrast sets from the trained weights: pooled E4 features in eval mode, top 4 by cosine
    std::vector<const data::Image*> imgs;
    for (int i = 0; i < n; ++i) imgs.push_back(&loader.image(i));
    int dim = 0;
    std::vector<float> feats = sgsf::contrast_features(model, imgs, batch, Device::CPU, &dim);
    std::vector<float> flat;
    steps.emplace_back("contrast.features", Tensor::from_vector({n, dim}, feats, Device::CPU));
    // A freshly initialised network pools nearly parallel E4 vectors (cosines within 1e-7 of 1),
    // too close to rank; the ranking itself is checked on spread-out features of the same shape.
    Rng rng(seed, 0xC0);
    const int m = 40;
    std::vector<float> spread((size_t)m * dim);
    for (float& v : spread) v = rng.normal();
    sgsf::normalize_rows(spread, m, dim);
    flat.clear();
    for (const auto& set : sgsf::build_contrast_sets(spread, m, dim, 4))
      for (int j : set) flat.push_back((float)j);
    steps.emplace_back("contrast.spread_features", Tensor::from_vector({m, dim}, spread, Device::CPU));
    steps.emplace_back("contrast.spread_sets", Tensor::from_vector({m, 4}, flat, Device::CPU));
  }
  for (int64_t total : {100, 1500, 3000}) {
    MultiStepLR sched = MultiStepLR::at_fractions(1e-4f, total, {0.5, 0.7, 0.9});
    std::vector<float> lrs;
    for (int64_t it = 0; it < total; ++it) lrs.push_back(sched.lr(it));
    steps.emplace_back("lr." + std::to_string(total), vec(lrs));
  }
  save_safetensors(path("steps.safetensors"), steps);

  // ---- part 2: the data side over many draws -----------------------------------------------------
  std::vector<float> rotated, angle, gpos, forged, alpha, area, aux_mean, aux_std;
  const float plane = (float)(size * size);
  for (int64_t drawn = 0; drawn < draws; drawn += batch) {
    data::TrainBatch d = loader.next();
    const uint64_t s = seed * 7919ull + (uint64_t)d.batch_index;
    Tensor nz = sgsf::perlin_noise(batch, size, size, s, Device::CPU);
    sgsf::Forged f = sgsf::forge_anomalies(d.image, d.saliency, d.aux, nz, sam, s);
    std::vector<float> bv = d.aux.to_vector(), fraction = f.mask_fraction();
    for (int k = 0; k < batch; ++k) {
      rotated.push_back(d.angles[(size_t)k] != 0.f ? 1.f : 0.f);
      angle.push_back(d.angles[(size_t)k]);
      const auto& set = sets[(size_t)d.indices[(size_t)k]];
      gpos.push_back((float)(std::find(set.begin(), set.end(), d.guidance_indices[(size_t)k]) - set.begin()));
      forged.push_back((float)f.forged[(size_t)k]);
      alpha.push_back(f.alpha[(size_t)k]);
      area.push_back(fraction[(size_t)k]);
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < 3 * (int64_t)plane; ++i) {
        double v = bv[(size_t)(k * 3 * (int64_t)plane + i)];
        sum += v;
        sq += v * v;
      }
      const double m = sum / (3 * plane);
      aux_mean.push_back((float)m);
      aux_std.push_back((float)std::sqrt(std::max(0.0, sq / (3 * plane) - m * m)));
    }
  }
  std::vector<const data::Image*> imgs, sals;
  for (int i = 0; i < n; ++i) {
    imgs.push_back(&loader.image(i));
    sals.push_back(&loader.saliency(i));
  }
  save_safetensors(path("data.safetensors"),
                   {{"images", data::stack_images(imgs, Device::CPU)},
                    {"saliency", data::stack_images(sals, Device::CPU)},
                    {"rotated", vec(rotated)},
                    {"angle", vec(angle)},
                    {"guidance_pos", vec(gpos)},
                    {"forged", vec(forged)},
                    {"alpha", vec(alpha)},
                    {"mask_area", vec(area)},
                    {"aux_mean", vec(aux_mean)},
                    {"aux_std", vec(aux_std)}});
  std::cout << "parity_dump: wrote " << a["out"] << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "parity_dump: error: " << e.what() << "\n";
  return 1;
}
