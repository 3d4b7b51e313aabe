// model.cpp — the SGSF networks, layer by layer as sgsf/README.md, 'Networks', writes them.
#include "sgsf/model.h"

#include "data/loader.h"
#include "sgsf/contrast.h"
#include "sgsf/sgsf_ops.h"

namespace sg::sgsf {

GuidanceSource parse_guidance(const std::string& s) {
  if (s == "decoder") return GuidanceSource::Decoder;
  if (s == "encoder") return GuidanceSource::Encoder;
  throw Error(str("--guidance: expected 'decoder' or 'encoder', got '", s, "'"));
}
const char* guidance_name(GuidanceSource g) { return g == GuidanceSource::Decoder ? "decoder" : "encoder"; }

ConvBnRelu::ConvBnRelu(Rng& rng, int cin, int cout) {
  conv_ = register_module("conv", std::make_shared<nn::Conv2d>(rng, cin, cout, 3, 1, 1, true));
  bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(rng, cout));
}
// The convolution's bias goes to the batch norm as its shift: the same function exactly, without a
// pass that adds it (and, in training, a gradient that is 0 anyway: the normalisation removes it).
Tensor ConvBnRelu::forward(const Tensor& x) {
  if (frozen_ && !is_training() && nn::FrozenConvBnRelu::applies(x)) return frozen_->forward(x);
  return bn_->forward(sg::conv2d(x, conv_->weight, Tensor(), conv_->stride, conv_->padding), /*relu=*/true,
                      conv_->bias);
}

Block::Block(Rng& rng, int cin, int cout) {
  a_ = register_module("cbr1", std::make_shared<ConvBnRelu>(rng, cin, cout));
  b_ = register_module("cbr2", std::make_shared<ConvBnRelu>(rng, cout, cout));
}
Tensor Block::forward(const Tensor& x) {
  if (frozen_ && !is_training() && nn::FrozenConvBnRelu::applies(x)) return frozen_->forward(x);
  return b_->forward(a_->forward(x));
}

void ConvBnRelu::freeze(bool on) { frozen_ = on ? nn::FrozenConvBnRelu::make({layer()}) : nullptr; }
void Block::freeze(bool on) {
  frozen_ = on ? nn::FrozenConvBnRelu::make({a_->layer(), b_->layer()}) : nullptr;
}

Up::Up(Rng& rng, int cin, int cout) {
  cbr_ = register_module("cbr", std::make_shared<ConvBnRelu>(rng, cin, cout));
}
Tensor Up::forward(const Tensor& x) { return cbr_->forward(upsample_bilinear2x(x)); }

// ---- self-supervised module ---------------------------------------------------------------
ReconstructionAE::ReconstructionAE(Rng& rng, int w) {
  const int W[4] = {w, 2 * w, 4 * w, 8 * w};
  for (int i = 0; i < 4; ++i)  // E1 = block(3, W1); Ei = block(W(i-1), Wi) on pool(E(i-1))
    enc_[(size_t)i] = register_module("enc" + std::to_string(i + 1),
                                      std::make_shared<Block>(rng, i == 0 ? 3 : W[i - 1], W[i]));
  for (int i = 2; i >= 0; --i) {  // C_D^i = block(Wi, Wi)(up(W(i+1), Wi)(C_D^(i+1)))
    up_[(size_t)i] = register_module("up" + std::to_string(i + 1), std::make_shared<Up>(rng, W[i + 1], W[i]));
    dec_[(size_t)i] = register_module("dec" + std::to_string(i + 1), std::make_shared<Block>(rng, W[i], W[i]));
  }
  out_ = register_module("out", std::make_shared<nn::Conv2d>(rng, W[0], 3, 3, 1, 1, true));
}

ReconstructionAE::Output ReconstructionAE::forward(const Tensor& x) {
  Output o;
  Tensor h = x;
  for (int i = 0; i < 4; ++i) {
    h = enc_[(size_t)i]->forward(i == 0 ? h : max_pool2d(h));
    o.encoder[(size_t)i] = h;
  }
  o.decoder[3] = o.encoder[3];
  for (int i = 2; i >= 0; --i)
    o.decoder[(size_t)i] = dec_[(size_t)i]->forward(up_[(size_t)i]->forward(o.decoder[(size_t)i + 1]));
  o.reconstruction = out_->forward(o.decoder[0]);
  return o;
}

void ReconstructionAE::freeze(bool on) {
  for (auto& b : enc_) b->freeze(on);
  for (auto& u : up_) u->freeze(on);
  for (auto& b : dec_) b->freeze(on);
}

Tensor ReconstructionAE::pooled_features(const Tensor& x) {
  Tensor h = x;
  for (int i = 0; i < 4; ++i) h = enc_[(size_t)i]->forward(i == 0 ? h : max_pool2d(h));
  // (N, C, h, w) -> (N, C): mean over the spatial positions.
  int64_t n = h.size(0), c = h.size(1);
  return mean(h.reshape({n, c, -1}), 2);
}

// ---- segmentation module with guidance fusion ------------------------------------------------
SegmentationNet::SegmentationNet(Rng& rng, int w) {
  const int W[4] = {w, 2 * w, 4 * w, 8 * w};
  // A_E^1 = block(3, W1)(I); A_E^i = block(2W(i-1), Wi)(pool(F(i-1))) where F = A_E ⊕ guidance.
  for (int i = 0; i < 4; ++i)
    enc_[(size_t)i] = register_module("enc" + std::to_string(i + 1),
                                      std::make_shared<Block>(rng, i == 0 ? 3 : 2 * W[i - 1], W[i]));
  for (int i = 0; i < 3; ++i)  // F'_i = cbr(2Wi, Wi)(F_i)
    skip_[(size_t)i] = register_module("skip" + std::to_string(i + 1), std::make_shared<ConvBnRelu>(rng, 2 * W[i], W[i]));
  for (int i = 2; i >= 0; --i) {  // x = block(2Wi, Wi)(concat(up(., Wi)(x), F'_i)); first up takes 2W4
    up_[(size_t)i] = register_module("up" + std::to_string(i + 1),
                                     std::make_shared<Up>(rng, i == 2 ? 2 * W[3] : W[i + 1], W[i]));
    dec_[(size_t)i] = register_module("dec" + std::to_string(i + 1), std::make_shared<Block>(rng, 2 * W[i], W[i]));
  }
  out_ = register_module("out", std::make_shared<nn::Conv2d>(rng, W[0], 2, 3, 1, 1, true));
}

void SegmentationNet::freeze(bool on) {
  for (auto& b : enc_) b->freeze(on);
  for (auto& c : skip_) c->freeze(on);
  for (auto& u : up_) u->freeze(on);
  for (auto& b : dec_) b->freeze(on);
}

Tensor SegmentationNet::forward(const Tensor& image, const std::array<Tensor, 4>& guidance) {
  std::array<Tensor, 4> fused;
  Tensor h = image;
  for (int i = 0; i < 4; ++i) {
    Tensor a = enc_[(size_t)i]->forward(i == 0 ? h : max_pool2d(h));
    fused[(size_t)i] = guided_concat(a, guidance[(size_t)i]);
    h = fused[(size_t)i];
  }
  Tensor x = fused[3];
  for (int i = 2; i >= 0; --i) {
    Tensor skip = skip_[(size_t)i]->forward(fused[(size_t)i]);
    x = dec_[(size_t)i]->forward(concat({up_[(size_t)i]->forward(x), skip}, 1));
  }
  return out_->forward(x);
}

// ---- the whole network ---------------------------------------------------------------------
SGSFModel::SGSFModel(int w, GuidanceSource g, uint64_t seed) : width(w), guidance(g) {
  SG_CHECK(w >= 1, "model: width must be at least 1, got ", w);
  Rng rng(seed, /*stream=*/0x5351);
  ae = register_module("ae", std::make_shared<ReconstructionAE>(rng, w));
  seg = register_module("seg", std::make_shared<SegmentationNet>(rng, w));
}

SGSFModel::Output SGSFModel::forward(const Tensor& image, const Tensor& guide) {
  SG_CHECK(image.dim() == 4 && image.size(1) == 3, "model: image must be (N, 3, H, W), got ", shape_str(image.shape()));
  SG_CHECK(guide.shape() == image.shape(), "model: guidance image ", shape_str(guide.shape()),
           " must match the image ", shape_str(image.shape()));
  SG_CHECK(image.size(2) % 8 == 0 && image.size(3) % 8 == 0, "model: image size ", image.size(2), "x",
           image.size(3), " must be divisible by 8 (three 2x2 poolings)");
  ReconstructionAE::Output r = ae->forward(guide);
  const auto& g = guidance == GuidanceSource::Decoder ? r.decoder : r.encoder;
  return Output{r.reconstruction, seg->forward(image, g)};
}

void SGSFModel::freeze(bool on) {
  ae->freeze(on);
  seg->freeze(on);
  frozen_ = on;
}

std::array<Tensor, 4> SGSFModel::guidance_features(const Tensor& guide) {
  ReconstructionAE::Output r = ae->forward(guide);
  return guidance == GuidanceSource::Decoder ? r.decoder : r.encoder;
}

std::vector<float> contrast_features(SGSFModel& model, const std::vector<const data::Image*>& images, int batch,
                                     Device device, int* dim) {
  NoGradGuard ng;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<float> out;
  for (size_t s = 0; s < images.size(); s += (size_t)batch) {
    std::vector<const data::Image*> part(images.begin() + (long)s,
                                         images.begin() + (long)std::min(images.size(), s + (size_t)batch));
    Tensor f = model.ae->pooled_features(data::stack_images(part, device));
    *dim = (int)f.size(1);
    std::vector<float> v = f.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  model.train(was_training);
  normalize_rows(out, (int)images.size(), *dim);
  return out;
}

Tensor anomaly_map(const Tensor& logits) { return slice(softmax(logits, 1), 1, 1, 2); }

std::vector<float> image_scores(const Tensor& map, int k) {
  NoGradGuard ng;
  Tensor pooled = avg_pool2d(map, k);
  int64_t n = pooled.size(0);
  std::vector<float> v = pooled.to_vector(), scores((size_t)n);
  int64_t per = pooled.numel() / n;
  for (int64_t i = 0; i < n; ++i) {
    float m = v[(size_t)(i * per)];
    for (int64_t j = 1; j < per; ++j) m = std::max(m, v[(size_t)(i * per + j)]);
    scores[(size_t)i] = m;
  }
  return scores;
}

}  // namespace sg::sgsf
