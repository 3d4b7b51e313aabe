// guidance.cpp — the run folder's guidance bank (see guidance.h).
#include "sgsf/guidance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "data/image_io.h"
#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/common.h"
#include "sgsf/config.h"
#include "sgsf/contrast.h"
#include "sgsf/model.h"

namespace fs = std::filesystem;

namespace sg::sgsf {

namespace {
std::string image_file_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05d.png", i);
  return buf;
}
int64_t metadata_int(const Metadata& m, const std::string& key, const std::string& path) {
  int64_t v = 0;
  SG_CHECK(m.count(key) && parse_int64(m.at(key), &v), "guidance: '", path, "': metadata key '", key,
           "' is missing or not an integer");
  return v;
}
}  // namespace

int GuidanceBank::lookup(const float* query) const { return most_similar(features, count(), dim, query); }

std::string weights_fingerprint(const NamedTensors& state) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* p, size_t n) {
    const unsigned char* b = (const unsigned char*)p;
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  for (const auto& [name, t] : state) {
    mix(name.data(), name.size());
    for (int64_t d : t.shape()) mix(&d, sizeof d);
    std::vector<float> v = t.to_vector();
    mix(v.data(), v.size() * sizeof(float));
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

data::Image quantize_8bit(const data::Image& img) {
  data::Image q = img;
  for (float& v : q.pixels) v = (float)std::lround(std::min(1.f, std::max(0.f, v)) * 255.f) / 255.0f;
  return q;
}

GuidanceBank make_guidance_bank(SGSFModel& model, const std::vector<const data::Image*>& images,
                                const std::vector<std::string>& names, int batch, Device device) {
  SG_CHECK(!images.empty() && images.size() == names.size(), "guidance: need images and as many names");
  GuidanceBank bank;
  bank.names = names;
  for (const data::Image* im : images) bank.images.push_back(quantize_8bit(*im));
  std::vector<const data::Image*> ptrs;
  for (const auto& im : bank.images) ptrs.push_back(&im);
  bank.features = contrast_features(model, ptrs, batch, device, &bank.dim);
  return bank;
}

std::string guidance_features_path(const std::string& run) { return (fs::path(run) / "guidance.safetensors").string(); }
std::string guidance_dir(const std::string& run) { return (fs::path(run) / "guidance").string(); }
bool has_guidance(const std::string& run) { return fs::exists(guidance_features_path(run)); }

void write_guidance(const std::string& run, const GuidanceBank& bank, const std::string& fingerprint) {
  const fs::path dir = guidance_dir(run);
  fs::create_directories(dir);
  for (int i = 0; i < bank.count(); ++i) data::write_png((dir / image_file_name(i)).string(), bank.images[(size_t)i]);
  Metadata meta;
  meta["format"] = kGuidanceFormat;
  meta["count"] = std::to_string(bank.count());
  meta["size"] = std::to_string(bank.images[0].height);
  meta["dim"] = std::to_string(bank.dim);
  meta["weights_fingerprint"] = fingerprint;
  NamedTensors t = {{"features", Tensor::from_vector({bank.count(), bank.dim}, bank.features, Device::CPU)}};
  save_safetensors(guidance_features_path(run), t, meta);
  // Images of an earlier, larger bank that this one does not name.
  std::error_code ec;
  for (int i = bank.count(); fs::is_regular_file(dir / image_file_name(i), ec); ++i) fs::remove(dir / image_file_name(i), ec);
}

GuidanceBank read_guidance(const std::string& run, int size, int dim, const std::string& fingerprint) {
  const std::string path = guidance_features_path(run);
  SafetensorsFile f = load_safetensors(path);
  SG_CHECK(f.metadata.count("format") && f.metadata.at("format") == kGuidanceFormat, "guidance: '", path,
           "' is not a guidance file (format '", f.metadata.count("format") ? f.metadata.at("format") : "", "', expected '",
           kGuidanceFormat, "')");
  const int64_t count = metadata_int(f.metadata, "count", path);
  SG_CHECK(metadata_int(f.metadata, "size", path) == size, "guidance: '", path, "' holds images of size ",
           f.metadata.at("size"), " but the model's input size is ", size);
  SG_CHECK(metadata_int(f.metadata, "dim", path) == dim, "guidance: '", path, "' holds features of dimension ",
           f.metadata.at("dim"), " but the model's are ", dim);
  const std::string fp = f.metadata.count("weights_fingerprint") ? f.metadata.at("weights_fingerprint") : "";
  SG_CHECK(fp == fingerprint, "guidance: '", path, "' was computed with other model weights (fingerprint ", fp,
           ", the checkpoint's is ", fingerprint, "): train the run again, or delete it and the folder '",
           guidance_dir(run), "' to take the guidance from the training data");
  Tensor feats = find_tensor(f.tensors, "features");
  SG_CHECK(feats.defined() && feats.dim() == 2 && feats.size(0) == count && feats.size(1) == dim && count >= 1,
           "guidance: '", path, "' must hold a tensor 'features' of shape (", count, ", ", dim, ")");
  GuidanceBank bank;
  bank.dim = dim;
  bank.features = feats.to_vector();
  for (float v : bank.features) SG_CHECK(std::isfinite(v), "guidance: '", path, "' holds a feature that is not finite");
  const fs::path dir = guidance_dir(run);
  for (int64_t i = 0; i < count; ++i) {
    const std::string p = (dir / image_file_name((int)i)).string();
    data::Image im = data::read_image(p, 3);
    SG_CHECK(im.height == size && im.width == size, "guidance: '", p, "' is ", im.width, "x", im.height,
             " but the model's input size is ", size, "x", size);
    bank.images.push_back(std::move(im));
    bank.names.push_back("guidance/" + image_file_name((int)i));
  }
  return bank;
}

}  // namespace sg::sgsf
