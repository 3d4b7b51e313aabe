// model.h — the Self-supervised Guided Network of SGSF (sgsf/README.md, 'Networks').
//
//   guidance image C ──► ReconstructionAE ──► R (reconstruction of C, trained by L2 + SSIM)
//                              │ guidance features G1..G4 (decoder C_D, or encoder C_E)
//                              ▼
//   image I (forged or test) ──► SegmentationNet: A_E^i ⊕ G_i (guided concatenation) at four
//                                scales → processed skips F'_i → U-Net decoder → logits O (2 ch)
//
// Widths W = [w, 2w, 4w, 8w] at sizes s, s/2, s/4, s/8. Every layer is conv3x3 → BN → ReLU.
#pragma once
#include <array>
#include <memory>
#include <string>

#include "data/image.h"
#include "engine/nn.h"

namespace sg::sgsf {

enum class GuidanceSource { Decoder, Encoder };
GuidanceSource parse_guidance(const std::string& s);  // "decoder" | "encoder"
const char* guidance_name(GuidanceSource g);

// cbr(cin, cout) = 3x3 conv (pad 1, bias) → BatchNorm → ReLU.
class ConvBnRelu : public nn::Module {
 public:
  ConvBnRelu(Rng& rng, int cin, int cout);
  Tensor forward(const Tensor& x);
  // Frozen for inference (SGSFModel::freeze): in eval mode, where nn::FrozenConvBnRelu applies,
  // forward runs the folded, fused layer.
  void freeze(bool on);
  std::pair<const nn::Conv2d*, const nn::BatchNorm2d*> layer() const { return {conv_.get(), bn_.get()}; }

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
  std::shared_ptr<const nn::FrozenConvBnRelu> frozen_;
};

// block(cin, cout) = cbr(cin, cout) → cbr(cout, cout).
class Block : public nn::Module {
 public:
  Block(Rng& rng, int cin, int cout);
  Tensor forward(const Tensor& x);
  void freeze(bool on);  // both layers as one chain, the result between them kept in oneDNN's layout

 private:
  std::shared_ptr<ConvBnRelu> a_, b_;
  std::shared_ptr<const nn::FrozenConvBnRelu> frozen_;
};

// up(cin, cout) = bilinear ×2 (align_corners) → cbr(cin, cout).
class Up : public nn::Module {
 public:
  Up(Rng& rng, int cin, int cout);
  Tensor forward(const Tensor& x);
  void freeze(bool on) { cbr_->freeze(on); }

 private:
  std::shared_ptr<ConvBnRelu> cbr_;
};

// Self-supervised module: a plain encoder-decoder (no skips) reconstructing its input.
class ReconstructionAE : public nn::Module {
 public:
  ReconstructionAE(Rng& rng, int w);
  struct Output {
    std::array<Tensor, 4> encoder;  // C_E^1..4: (N, W_i, s/2^(i-1), ...)
    std::array<Tensor, 4> decoder;  // C_D^1..4 (C_D^4 = C_E^4)
    Tensor reconstruction;          // R: (N, 3, s, s)
  };
  Output forward(const Tensor& x);
  // Global average pool of the deepest encoder features E4: (N, 8w). For contrast sets.
  Tensor pooled_features(const Tensor& x);
  void freeze(bool on);

 private:
  std::array<std::shared_ptr<Block>, 4> enc_;
  std::array<std::shared_ptr<Up>, 3> up_;     // up_[i] produces scale i (0-based) from i + 1
  std::array<std::shared_ptr<Block>, 3> dec_;
  std::shared_ptr<nn::Conv2d> out_;
};

// Segmentation module with guidance fusion: encoder on I whose every scale is concatenated with
// the guidance features, processed skips, U-Net decoder, 2-channel logits.
class SegmentationNet : public nn::Module {
 public:
  SegmentationNet(Rng& rng, int w);
  Tensor forward(const Tensor& image, const std::array<Tensor, 4>& guidance);
  void freeze(bool on);

 private:
  std::array<std::shared_ptr<Block>, 4> enc_;
  std::array<std::shared_ptr<ConvBnRelu>, 3> skip_;
  std::array<std::shared_ptr<Up>, 3> up_;
  std::array<std::shared_ptr<Block>, 3> dec_;
  std::shared_ptr<nn::Conv2d> out_;
};

class SGSFModel : public nn::Module {
 public:
  SGSFModel(int width, GuidanceSource guidance, uint64_t seed);
  struct Output {
    Tensor reconstruction;  // R: (N, 3, s, s)
    Tensor logits;          // O: (N, 2, s, s)
  };
  // `image`: I (forged sample or test image); `guide`: C_i (contrast / most similar image).
  Output forward(const Tensor& image, const Tensor& guide);
  // What the segmentation module takes from the guide: the autoencoder's decoder or encoder
  // features of `guide` (GuidanceSource), so that forward(image, guide).logits equals
  // seg->forward(image, guidance_features(guide)). Lets scoring compute a guide's features once.
  std::array<Tensor, 4> guidance_features(const Tensor& guide);
  // Freeze the weights for inference (on) or let go of the frozen copy (off). While frozen, every
  // conv -> batch norm -> ReLU runs folded and fused (nn::FrozenConvBnRelu) when the model is in
  // eval mode and the input qualifies (CPU, fp32, no gradients, oneDNN): the same function, faster
  // and rounded differently. Training mode runs the layers as always. The frozen copy does not see
  // later changes to the weights: freeze(false) before changing them. For a run that is only scored
  // (sgsf_test, the Detector, a run's calibration after training).
  void freeze(bool on);
  bool frozen() const { return frozen_; }

  std::shared_ptr<ReconstructionAE> ae;
  std::shared_ptr<SegmentationNet> seg;
  int width;
  GuidanceSource guidance;

 private:
  bool frozen_ = false;
};

// Pooled deepest-encoder features of `images` for contrast sets and test-time guidance: computed in
// eval mode without gradients, in batches, rows L2-normalised. Returns (count, 8w) row-major and
// sets *dim = 8w. The model's train/eval mode is restored afterwards.
std::vector<float> contrast_features(SGSFModel& model, const std::vector<const data::Image*>& images, int batch,
                                     Device device, int* dim);

// Anomaly map = softmax(O)[:, 1:2]: (N, 1, s, s).
Tensor anomaly_map(const Tensor& logits);
// Image scores: max of the map after k×k mean pooling (stride 1, zero padding counted): (N).
std::vector<float> image_scores(const Tensor& map, int k = 21);

}  // namespace sg::sgsf
