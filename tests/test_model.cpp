// test_model.cpp — the SGSF networks: output shapes, the parameter count sgsf/README.md gives for
// w = 128, guidance choices, anomaly maps and image scores.
#include <set>

#include "data/image_io.h"
#include "engine/dnnl_conv.h"
#include "data/loader.h"
#include "sgsf/config.h"
#include "sgsf/evaluate.h"
#include "sgsf/guidance.h"
#include "sgsf/model.h"
#include "tests/test_util.h"

using namespace sg;
using namespace sg::sgsf;

TEST_CASE("with w = 128 the networks have the parameter counts of sgsf/README.md") {
  // sgsf/README.md, 'Networks': 82.5 M parameters in all, autoencoder 31.1 M, segmentation 51.3 M.
  SGSFModel m(128, GuidanceSource::Decoder, 1);
  CHECK(m.ae->num_parameters() / 1e6 == doctest::Approx(31.1).epsilon(0.002));
  CHECK(m.seg->num_parameters() / 1e6 == doctest::Approx(51.3).epsilon(0.002));
  CHECK(m.num_parameters() / 1e6 == doctest::Approx(82.5).epsilon(0.002));
}

TEST_CASE("forward shapes, both guidance sources, and maps in [0, 1]") {
  for (GuidanceSource g : {GuidanceSource::Decoder, GuidanceSource::Encoder}) {
    SGSFModel m(4, g, 3);
    Tensor img = Tensor::uniform({2, 3, 32, 32}, 0.f, 1.f, 4, Device::CPU);
    Tensor guide = Tensor::uniform({2, 3, 32, 32}, 0.f, 1.f, 5, Device::CPU);
    SGSFModel::Output o = m.forward(img, guide);
    CHECK(o.reconstruction.shape() == Shape{2, 3, 32, 32});
    CHECK(o.logits.shape() == Shape{2, 2, 32, 32});
    Tensor map = anomaly_map(o.logits);
    CHECK(map.shape() == Shape{2, 1, 32, 32});
    for (float v : map.to_vector()) {
      CHECK(v >= 0.f);
      CHECK(v <= 1.f);
    }
    CHECK(m.ae->pooled_features(img).shape() == Shape{2, 32});
  }
  SGSFModel m(4, GuidanceSource::Decoder, 3);
  Tensor bad = Tensor::zeros({1, 3, 30, 30}, Device::CPU);
  CHECK_THROWS_WITH_AS(m.forward(bad, bad), doctest::Contains("divisible by 8"), sg::Error);
  CHECK_THROWS_WITH_AS(m.forward(Tensor::zeros({1, 3, 32, 32}, Device::CPU), Tensor::zeros({1, 3, 16, 16}, Device::CPU)),
                       doctest::Contains("guidance image"), sg::Error);
  CHECK_THROWS_AS(parse_guidance("middle"), sg::Error);
}

TEST_CASE("the segmentation loss reaches the autoencoder through the guidance features") {
  SGSFModel m(4, GuidanceSource::Decoder, 7);
  Tensor img = Tensor::uniform({2, 3, 16, 16}, 0.f, 1.f, 8, Device::CPU);
  SGSFModel::Output o = m.forward(img, img);
  sum(o.logits).backward();  // no reconstruction loss at all
  int with_grad = 0, total = 0;
  for (const auto& kv : m.ae->named_parameters()) {
    ++total;
    with_grad += kv.second.grad().defined() ? 1 : 0;
  }
  CHECK(with_grad == total - 2);  // all but the output conv (weight, bias), which only R uses
}

TEST_CASE("image score = max of the 21x21 mean-pooled map (zero padding counted)") {
  std::vector<float> v(32 * 32, 0.f);
  v[10 * 32 + 10] = 1.f;  // one hot pixel: the best 21x21 window holds it alone
  Tensor map = Tensor::from_vector({1, 1, 32, 32}, v, Device::CPU);
  CHECK(image_scores(map, 21)[0] == doctest::Approx(1.0 / 441));
  Tensor ones = Tensor::ones({2, 1, 32, 32}, Device::CPU);
  std::vector<float> s = image_scores(ones, 21);
  CHECK(s[0] == doctest::Approx(1.0));  // an interior window is all ones
  CHECK(s[1] == doctest::Approx(1.0));
}

TEST_CASE("the score's pooling window follows the image size unless set; runs from before it keep 21") {
  sgsf::TrainConfig c;
  const std::vector<std::pair<int, int>> by_size = {{16, 1}, {32, 3}, {64, 5}, {128, 11}, {256, 21}, {512, 43}, {1024, 85}};
  for (const auto& size_pool : by_size) {  // (a structured binding cannot be captured by CAPTURE in clang 14)
    CAPTURE(size_pool.first);
    c.size = size_pool.first;
    CHECK(sgsf::score_pool_size(c) == size_pool.second);  // the odd size nearest 21 * size / 256
  }
  c.size = 64;
  c.score_pool = 21;
  CHECK(sgsf::score_pool_size(c) == 21);
  sgsf::validate(c);
  for (int bad : {-1, 4, 65}) {
    CAPTURE(bad);
    c.score_pool = bad;
    CHECK_THROWS_WITH_AS(sgsf::validate(c), doctest::Contains("score_pool must be 0 (by the size) or an odd number"),
                         Error);
  }
  // A config.json written before the key existed scored with 21 x 21 pooling: it still does.
  c.score_pool = 0;
  sgsf::KeyValues kv = sgsf::to_key_values(c);
  kv.erase("score_pool");
  std::string text = "{";
  for (const auto& [k, v] : kv) text += (text.size() > 1 ? ", \"" : "\"") + k + "\": \"" + v + "\"";
  text += "}";
  CHECK(sgsf::parse_config_json(text, "old.json").score_pool == 21);
  CHECK(sgsf::score_pool_size(sgsf::parse_config_json(text, "old.json")) == 21);
  kv["score_pool"] = "0";
  CHECK(sgsf::from_key_values(kv).score_pool == 0);
}

TEST_CASE("test-time flips: the map is the mean of the image's map and the mirror image's, mirrored back") {
  SGSFModel m(4, GuidanceSource::Decoder, 7);
  // Batch statistics (training mode) make an untrained network's map vary across the image; in eval
  // mode, with the initial running statistics, it is flat to 1e-5 and the check could not fail.
  m.train(true);
  auto random_image = [](uint64_t seed) {
    data::Image im(3, 32, 32);
    std::vector<float> v = Tensor::uniform({3, 32, 32}, 0.f, 1.f, seed, Device::CPU).to_vector();
    im.pixels = v;
    return im;
  };
  const data::Image x = random_image(11), g = quantize_8bit(random_image(12));
  CHECK(data::flip_horizontal(x).at(1, 5, 0) == x.at(1, 5, 31));
  CHECK(data::flip_horizontal(data::flip_horizontal(x)).pixels == x.pixels);
  // One guidance image, so the look-up cannot differ between the two ways of computing.
  GuidanceBank bank = make_guidance_bank(m, {&g}, {"g"}, 1, Device::CPU);
  Scoring how;
  how.pool = 5;
  how.flip = true;
  Inference inf = infer(m, {&x}, bank, how, 1, Device::CPU, false);
  REQUIRE(inf.maps.size() == 1);

  // The same by hand: two forward passes, the second on the mirrored pair, mirrored back, averaged.
  NoGradGuard ng;
  const data::Image gb = bank.images[0], xf = data::flip_horizontal(x), gf = data::flip_horizontal(gb);
  std::vector<float> a = anomaly_map(m.forward(data::stack_images({&x}, Device::CPU), data::stack_images({&gb}, Device::CPU)).logits).to_vector();
  std::vector<float> b = anomaly_map(m.forward(data::stack_images({&xf}, Device::CPU), data::stack_images({&gf}, Device::CPU)).logits).to_vector();
  std::vector<float> want(a.size());
  float moved = 0;  // how far the flip moves the map: the check below must be able to fail
  for (int y = 0; y < 32; ++y)
    for (int c = 0; c < 32; ++c) {
      want[(size_t)(y * 32 + c)] = 0.5f * (a[(size_t)(y * 32 + c)] + b[(size_t)(y * 32 + 31 - c)]);
      moved = std::max(moved, std::fabs(want[(size_t)(y * 32 + c)] - a[(size_t)(y * 32 + c)]));
    }
  CHECK(moved > 1e-5f);
  float diff = 0;
  for (size_t i = 0; i < want.size(); ++i) diff = std::max(diff, std::fabs(want[i] - inf.maps[0][i]));
  CHECK(diff <= 1e-6f);
  CHECK(inf.scores[0] == doctest::Approx(image_scores(Tensor::from_vector({1, 1, 32, 32}, want, Device::CPU), 5)[0]).epsilon(1e-6));
  // Without flips the map is the first pass alone.
  how.flip = false;
  Inference plain = infer(m, {&x}, bank, how, 1, Device::CPU, false);
  float d0 = 0;
  for (size_t i = 0; i < a.size(); ++i) d0 = std::max(d0, std::fabs(a[i] - plain.maps[0][i]));
  CHECK(d0 <= 1e-6f);
}

namespace {

data::Image random_image32(uint64_t seed) {
  data::Image im(3, 32, 32);
  im.pixels = Tensor::uniform({3, 32, 32}, 0.f, 1.f, seed, Device::CPU).to_vector();
  return im;
}

// An untrained model with running statistics from a few batches, so that its eval-mode map varies
// across images (with the initial statistics it is flat to 1e-5), in eval mode.
void give_running_statistics(SGSFModel& m) {
  NoGradGuard ng;
  m.train(true);
  for (uint64_t s = 0; s < 30; ++s) {
    const data::Image a = random_image32(100 + s), b = random_image32(200 + s);
    m.forward(data::stack_images({&a, &b}, Device::CPU), data::stack_images({&b, &a}, Device::CPU));
  }
  m.eval();
}

// Three guidance images (8-bit) in a bank made by `m`, and `count` test images.
struct Scene {
  std::vector<data::Image> guides, xs;
  std::vector<const data::Image*> xp;
  GuidanceBank bank;
  Scene(SGSFModel& m, int count, uint64_t seed) {
    for (uint64_t s = 0; s < 3; ++s) guides.push_back(quantize_8bit(random_image32(seed + s)));
    for (int s = 0; s < count; ++s) xs.push_back(random_image32(seed + 100 + (uint64_t)s));
    std::vector<const data::Image*> gp;
    for (const auto& g : guides) gp.push_back(&g);
    for (const auto& x : xs) xp.push_back(&x);
    bank = make_guidance_bank(m, gp, {"a", "b", "c"}, 2, Device::CPU);
  }
};

}  // namespace

TEST_CASE("a guidance cache gives the same maps and scores, bit for bit, as computing every guide") {
  SGSFModel m(4, GuidanceSource::Decoder, 3);
  give_running_statistics(m);
  const Scene scene(m, 7, 300);
  const GuidanceBank& bank = scene.bank;
  const std::vector<const data::Image*>& xp = scene.xp;
  for (bool flip : {false, true}) {
    CAPTURE(flip);
    Scoring how;
    how.pool = 5;
    how.flip = flip;
    const Inference plain = infer(m, xp, bank, how, 3, Device::CPU, false);
    GuidanceCache cache, none(0);
    for (int pass = 0; pass < 2; ++pass) {  // the first pass fills the cache, the second reads it
      CAPTURE(pass);
      for (GuidanceCache* c : {&cache, &none}) {
        const Inference got = infer(m, xp, bank, how, 3, Device::CPU, false, c);
        CHECK(got.guide == plain.guide);
        CHECK(got.scores == plain.scores);
        CHECK(got.maps == plain.maps);
      }
    }
    std::set<int> used(plain.guide.begin(), plain.guide.end());
    CHECK(cache.entries() == used.size() * (flip ? 2 : 1));
    CHECK(cache.bytes() == cache.entries() * 4 * (4 * 32 * 32 + 8 * 16 * 16 + 16 * 8 * 8 + 32 * 4 * 4));
    CHECK(none.entries() == 0);
    // The check can fail: the maps differ from image to image, and a wrong guide changes them.
    CHECK(plain.scores[0] != plain.scores[1]);
    NoGradGuard ng;
    const Tensor x0 = data::stack_images({xp[0]}, Device::CPU);
    const int other = (plain.guide[0] + 1) % bank.count();
    const std::vector<float> wrong =
        anomaly_map(m.seg->forward(x0, cache.batch(m, bank, {other}, false, Device::CPU))).to_vector();
    if (!flip) CHECK(wrong != plain.maps[0]);
  }
  m.train(true);
  GuidanceCache cache;
  CHECK_THROWS_WITH_AS(cache.batch(m, bank, {0}, false, Device::CPU), doctest::Contains("eval mode"), std::runtime_error);
}

TEST_CASE("a frozen model scores as the unfrozen one within rounding; training and unfreezing run the layers as before") {
  SGSFModel m(4, GuidanceSource::Decoder, 9);
  give_running_statistics(m);
  const Scene scene(m, 5, 500);
  const GuidanceBank& bank = scene.bank;
  const std::vector<const data::Image*>& xp = scene.xp;
  Scoring how;
  how.pool = 5;
  how.flip = true;
  const Inference plain = infer(m, xp, bank, how, 2, Device::CPU, false);
  m.freeze(true);
  CHECK(m.frozen());
  GuidanceCache cache;
  const Inference frozen = infer(m, xp, bank, how, 2, Device::CPU, false, &cache);
  CHECK(frozen.guide == plain.guide);
  float worst = 0, spread = 0;
  for (size_t i = 0; i < xp.size(); ++i) {
    for (size_t k = 0; k < plain.maps[i].size(); ++k)
      worst = std::max(worst, std::fabs(frozen.maps[i][k] - plain.maps[i][k]));
    CHECK(frozen.scores[i] == doctest::Approx(plain.scores[i]).epsilon(1e-5));
    const auto [lo, hi] = std::minmax_element(plain.maps[i].begin(), plain.maps[i].end());
    spread = std::max(spread, *hi - *lo);
  }
  MESSAGE("frozen against unfrozen: largest map difference ", worst, " (the maps span ", spread, ")");
  CHECK(worst < 1e-5f);
  CHECK(spread > 1e-3f);  // the maps vary across each image: the comparison can fail
  if (onednn_available()) CHECK(frozen.maps != plain.maps);  // the fused layers ran (they round differently)

  // Training mode runs the layers (batch statistics), frozen or not: the same bits.
  const data::Image a = random_image32(700), b = random_image32(701);
  auto train_forward = [&] {
    m.train(true);
    NoGradGuard ng;
    const SGSFModel::Output o =
        m.forward(data::stack_images({&a, &b}, Device::CPU), data::stack_images({&b, &a}, Device::CPU));
    m.eval();
    return o.logits.to_vector();
  };
  // The running statistics move with each training-mode forward: compare from the same state.
  std::vector<Tensor> before;
  for (const auto& [name, t] : m.state()) before.push_back(Tensor::from_vector(t.shape(), t.to_vector(), Device::CPU));
  const std::vector<float> frozen_train = train_forward();
  size_t i = 0;
  for (const auto& [name, t] : m.state()) const_cast<Tensor&>(t).copy_(before[i++]);
  m.freeze(false);
  CHECK_FALSE(m.frozen());
  CHECK(train_forward() == frozen_train);
  i = 0;
  for (const auto& [name, t] : m.state()) const_cast<Tensor&>(t).copy_(before[i++]);
  // Unfrozen, eval mode scores as before freezing, bit for bit.
  const Inference again = infer(m, xp, bank, how, 2, Device::CPU, false);
  CHECK(again.maps == plain.maps);
  CHECK(again.scores == plain.scores);
}
