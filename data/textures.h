// textures.h — the auxiliary texture set that supplies image B of a forged anomaly (sgsf/README.md,
// 'Texture augmentation'): a folder of photos (e.g. DTD) or, when none is given, procedurally
// generated textures.
#pragma once
#include <cstddef>  // image.h uses size_t
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"
#include "engine/rng.h"

namespace sg::data {

// The one line the program prints when no texture folder was given.
const char* procedural_notice();  // "no auxiliary texture folder given: using procedural textures"

// One procedural texture (3, height, width) in [0,1], entirely determined by the draws from rng:
// fractal value noise, stripes (random angle and period), blobs, a rotated checkerboard or
// Voronoi cells, in random colours, with a little grain.
Image procedural_texture(Rng& rng, int height, int width);

class AuxiliaryTextures {
 public:
  // Every image (.png .jpg .jpeg .bmp .tga .gif, any case) directly in `dir` and in its immediate
  // subfolders (one level, DTD's class folders), sorted by path; all decoded now and kept as
  // 8-bit RGB. Throws sg::Error naming the folder when it is missing or holds no image, and naming
  // the file when one cannot be decoded.
  static AuxiliaryTextures from_folder(const std::string& dir);
  // Textures generated on demand by procedural_texture().
  static AuxiliaryTextures procedural();

  bool is_procedural() const { return procedural_; }
  // Number of stored textures (0 for the procedural set).
  size_t size() const { return textures_.size(); }
  const std::string& path(size_t i) const { return textures_.at(i).path; }

  // B for one forged sample: a texture drawn uniformly (or generated), resized to height x width
  // (antialiased bilinear), then augment_auxiliary. Reads only shared state: safe to call from
  // several threads at once, each with its own Rng.
  Image sample(Rng& rng, int height, int width) const;

 private:
  struct Stored {
    std::string path;
    int height = 0, width = 0;
    std::vector<uint8_t> rgb;  // 3 x height x width, planar
  };
  std::vector<Stored> textures_;
  bool procedural_ = false;
};

}  // namespace sg::data
