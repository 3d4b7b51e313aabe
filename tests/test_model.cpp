// test_model.cpp — the SGSF networks: output shapes, the parameter count sgsf/README.md gives for
// w = 128, guidance choices, anomaly maps and image scores.
#include "sgsf/config.h"
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
  for (const auto& [size, pool] : by_size) {
    CAPTURE(size);
    c.size = size;
    CHECK(sgsf::score_pool_size(c) == pool);  // the odd size nearest 21 * size / 256
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
