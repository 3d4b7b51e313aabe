// guidance.h — what test-time guidance needs, stored in the run folder so that a run scores images
// without its training data (sgsf/README.md, 'Testing': the guidance image of a test image is the
// training image whose pooled deepest encoder features are most similar):
//
//   <run>/guidance/00000.png ...   the normal training images at model resolution, 8-bit RGB PNG
//   <run>/guidance.safetensors     tensor "features" (count, 8w): their L2-normalised pooled
//                                  features, computed from the 8-bit images as stored; metadata:
//                                  format "sgsf-guidance-1", count, size, dim and the fingerprint
//                                  of the checkpoint's model weights they were computed with.
//
// Reading checks every part against the others and against the checkpoint (a bank written for
// other weights is refused with a message naming the file).
#pragma once
#include <string>
#include <vector>

#include "data/image.h"
#include "engine/named_tensors.h"
#include "engine/tensor.h"

namespace sg::sgsf {

class SGSFModel;

constexpr const char* kGuidanceFormat = "sgsf-guidance-1";

// The images guidance is drawn from and their features (rows L2-normalised).
struct GuidanceBank {
  std::vector<data::Image> images;  // (3, size, size) each
  std::vector<std::string> names;   // what each image is called in reports
  std::vector<float> features;      // (count, dim) row-major
  int dim = 0;
  int count() const { return (int)images.size(); }
  // Index of the image most similar to `query` (dim floats, the pooled features of a test image).
  int lookup(const float* query) const;
};

// A fingerprint (64-bit FNV-1a, as 16 hex digits) of a model's weights: the names, shapes and
// float bits of every tensor, in order.
std::string weights_fingerprint(const NamedTensors& state);

// An image as it reads back after an 8-bit PNG round trip: round(clamp(v, 0, 1) * 255) / 255.
data::Image quantize_8bit(const data::Image& img);

// Build the bank from images at model resolution (quantised to 8 bits first) with `model` in eval
// mode; `names` label the images (their dataset paths).
GuidanceBank make_guidance_bank(SGSFModel& model, const std::vector<const data::Image*>& images,
                                const std::vector<std::string>& names, int batch, Device device);

// Write the bank into `run` (the PNGs, then guidance.safetensors, each atomically).
void write_guidance(const std::string& run, const GuidanceBank& bank, const std::string& fingerprint);

// Paths of the two parts.
std::string guidance_features_path(const std::string& run);
std::string guidance_dir(const std::string& run);
bool has_guidance(const std::string& run);

// Read and check the bank of `run`: format, count, size, dim, the fingerprint against `fingerprint`
// (of the checkpoint), and every image's size. Throws sg::Error naming the file at fault.
GuidanceBank read_guidance(const std::string& run, int size, int dim, const std::string& fingerprint);

}  // namespace sg::sgsf
