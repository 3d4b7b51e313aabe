// test_model.cpp — the SGSF networks: output shapes, the parameter count sgsf/README.md gives for
// w = 128, guidance choices, anomaly maps and image scores.
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
