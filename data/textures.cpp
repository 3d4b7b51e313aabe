// textures.cpp — loading an auxiliary texture folder and drawing augmented texture samples.
#include "data/textures.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "data/augment.h"
#include "data/image_io.h"
#include "engine/common.h"

namespace sg::data {

namespace fs = std::filesystem;

const char* procedural_notice() { return "no auxiliary texture folder given: using procedural textures"; }

namespace {
bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tga" || ext == ".gif";
}
}  // namespace

AuxiliaryTextures AuxiliaryTextures::from_folder(const std::string& dir) {
  std::error_code ec;
  SG_CHECK(fs::is_directory(dir, ec), "auxiliary texture folder '", dir, "' does not exist or is not a folder");
  std::vector<fs::path> files;
  try {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file() && is_image_file(e.path())) {
        files.push_back(e.path());
      } else if (e.is_directory()) {
        for (const auto& f : fs::directory_iterator(e.path()))
          if (f.is_regular_file() && is_image_file(f.path())) files.push_back(f.path());
      }
    }
  } catch (const fs::filesystem_error& err) {
    throw sg::Error(sg::str("auxiliary texture folder '", dir, "' cannot be listed: ", err.what()));
  }
  SG_CHECK(!files.empty(), "auxiliary texture folder '", dir,
           "' holds no images (.png/.jpg/.jpeg/.bmp/.tga/.gif, directly or in one level of subfolders)");
  std::sort(files.begin(), files.end());
  AuxiliaryTextures t;
  t.textures_.resize(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    Image img = read_image(files[i].string(), 3);  // throws naming the file
    Stored& s = t.textures_[i];
    s.path = files[i].string();
    s.height = img.height, s.width = img.width;
    s.rgb.resize(img.pixels.size());
    for (size_t k = 0; k < img.pixels.size(); ++k)
      s.rgb[k] = (uint8_t)std::lround(std::clamp(img.pixels[k], 0.f, 1.f) * 255.f);
  }
  return t;
}

AuxiliaryTextures AuxiliaryTextures::procedural() {
  AuxiliaryTextures t;
  t.procedural_ = true;
  return t;
}

Image AuxiliaryTextures::sample(Rng& rng, int height, int width) const {
  SG_CHECK(height > 0 && width > 0, "AuxiliaryTextures::sample: bad size ", height, "x", width);
  Image b;
  if (procedural_) {
    b = procedural_texture(rng, height, width);
  } else {
    SG_CHECK(!textures_.empty(), "AuxiliaryTextures::sample: the texture set is empty");
    const Stored& s = textures_[(size_t)rng.randint(0, (int)textures_.size() - 1)];
    Image img(3, s.height, s.width);
    for (size_t k = 0; k < s.rgb.size(); ++k) img.pixels[k] = s.rgb[k] / 255.f;
    b = resize_bilinear(img, height, width);
  }
  return augment_auxiliary(b, rng);
}

}  // namespace sg::data
