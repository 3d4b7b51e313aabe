// test_augment.cpp — properties of the ten auxiliary-image augmenters and of the random draw.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "data/augment.h"
#include "tests/test_util.h"

using namespace sg;
using namespace sg::data;

namespace {
// Random RGB image with values on the 8-bit grid (k/255), seeded.
Image random_image(uint64_t seed, int h = 17, int w = 23) {
  Rng rng(seed);
  Image img(3, h, w);
  for (float& v : img.pixels) v = rng.randint(0, 255) / 255.f;
  return img;
}
}  // namespace

TEST_CASE("identity settings leave the image unchanged") {
  Image img = random_image(1);
  const float g1[3] = {1.f, 1.f, 1.f};
  SG_CHECK_CLOSE(gamma_contrast(img, g1).pixels, img.pixels, 1e-6f, 0.f);
  SG_CHECK_CLOSE(brightness(img, 1.f, 0.f).pixels, img.pixels, 1e-6f, 0.f);
  SG_CHECK_CLOSE(sharpness(img, 1.f).pixels, img.pixels, 1e-6f, 0.f);
  SG_CHECK_CLOSE(hue_saturation(img, 0.f, 0.f).pixels, img.pixels, 1e-6f, 0.f);
  SG_CHECK_CLOSE(posterize(img, 8).pixels, img.pixels, 1e-6f, 0.f);
  SG_CHECK_CLOSE(invert(invert(img)).pixels, img.pixels, 1e-6f, 0.f);
  SG_CHECK_CLOSE(affine_rotate(img, 0.f).pixels, img.pixels, 1e-6f, 0.f);
  SG_CHECK_CLOSE(solarize(img, 1.01f).pixels, img.pixels, 1e-6f, 0.f);
  // A full hue turn (255 units) is the identity up to rounding of the HSV round trip.
  SG_CHECK_CLOSE(hue_saturation(img, 255.f, 0.f).pixels, img.pixels, 1e-4f, 0.f);
}

TEST_CASE("non-identity settings change the image the documented way") {
  Image img = random_image(2);
  const float g[3] = {2.f, 0.5f, 1.f};
  Image out = gamma_contrast(img, g);
  CHECK(out.at(0, 3, 4) == doctest::Approx(std::pow(img.at(0, 3, 4), 2.f)).epsilon(1e-5));
  CHECK(out.at(1, 3, 4) == doctest::Approx(std::sqrt(img.at(1, 3, 4))).epsilon(1e-5));
  // Brightness: pure add on a gray pixel moves every channel by `add`.
  Image gray(3, 2, 2, 0.5f);
  CHECK(brightness(gray, 1.f, 0.1f).at(2, 1, 1) == doctest::Approx(0.6f));
  CHECK(brightness(gray, 1.2f, 0.f).at(0, 0, 0) == doctest::Approx(0.6f));
  // Posterize to 1 bit: values < 128/255 -> 0, others -> 128/255.
  Image p = posterize(img, 1);
  for (size_t i = 0; i < img.pixels.size(); ++i)
    CHECK(p.pixels[i] == doctest::Approx(std::lround(img.pixels[i] * 255) >= 128 ? 128 / 255.f : 0.f));
  // Hue shift by a third of a turn maps pure red to pure green; saturation -255 gives gray.
  Image red(3, 1, 1);
  red.at(0, 0, 0) = 1.f;
  Image green = hue_saturation(red, 85.f, 0.f);
  CHECK(green.at(0, 0, 0) == doctest::Approx(0.f).epsilon(0.01));
  CHECK(green.at(1, 0, 0) == doctest::Approx(1.f).epsilon(0.01));
  Image desat = hue_saturation(red, 0.f, -255.f);
  CHECK(desat.at(1, 0, 0) == doctest::Approx(1.f));
  // Sharpness 0 is the smoothed image: the centre of a single bright pixel becomes 5/13.
  Image dot(3, 5, 5, 0.f);
  for (int c = 0; c < 3; ++c) dot.at(c, 2, 2) = 1.f;
  CHECK(sharpness(dot, 0.f).at(0, 2, 2) == doctest::Approx(5.f / 13.f));
  CHECK(sharpness(dot, 0.f).at(0, 1, 1) == doctest::Approx(1.f / 13.f));
}

TEST_CASE("solarize inverts values at or above the threshold only") {
  Image img = random_image(3);
  const float t = 100.f / 255.f;
  Image out = solarize(img, t);
  for (size_t i = 0; i < img.pixels.size(); ++i)
    CHECK(out.pixels[i] == doctest::Approx(img.pixels[i] >= t ? 1.f - img.pixels[i] : img.pixels[i]));
}

TEST_CASE("autocontrast stretches [0.2, 0.6] to [0, 1]") {
  Image img(3, 1, 101);
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x <= 100; ++x) img.at(c, 0, x) = (51 + x * 102 / 100) / 255.f;  // 0.2 .. 0.6
  Image out = autocontrast(img, 0.f);
  CHECK(out.at(0, 0, 0) == doctest::Approx(0.f).epsilon(1e-5));
  CHECK(out.at(1, 0, 100) == doctest::Approx(1.f));
  CHECK(out.at(2, 0, 50) == doctest::Approx(0.5f).epsilon(0.02));
  // With a cutoff, the extremes saturate.
  Image cut = autocontrast(img, 10.f);
  CHECK(cut.at(0, 0, 5) == 0.f);
  CHECK(cut.at(0, 0, 95) == 1.f);
  // A constant channel is left alone.
  Image flat(3, 4, 4, 0.3f);
  SG_CHECK_CLOSE(autocontrast(flat, 5.f).pixels, flat.pixels, 1e-6f, 0.f);
}

TEST_CASE("equalize flattens the histogram of a skewed gradient") {
  // Values v = (x/W)^3: most pixels are dark. After equalisation the values should be ~uniform.
  const int H = 64, W = 256;
  Image img(3, H, W);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) img.at(c, y, x) = std::pow((x + 0.5f) / W, 3.f);
  Image out = equalize(img);
  int quarter[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < out.plane(); ++i) ++quarter[std::min(3, (int)(out.channel(1)[i] * 4))];
  for (int q = 0; q < 4; ++q) CHECK(std::abs(quarter[q] / (double)out.plane() - 0.25) < 0.06);
  // The input, by contrast, has most of its mass in the first quarter.
  int dark = 0;
  for (size_t i = 0; i < img.plane(); ++i) dark += img.channel(1)[i] < 0.25f;
  CHECK(dark > (int)img.plane() / 2);
}

TEST_CASE("affine rotation by 90 degrees moves the corners") {
  Image img(3, 9, 9, 0.f);
  img.at(0, 0, 0) = 1.f;  // top-left
  Image r = affine_rotate(img, 90.f);
  float total = 0;
  for (float v : r.pixels) total += v;
  CHECK(total == doctest::Approx(1.f).epsilon(1e-4));
  CHECK(r.at(0, 0, 0) < 1e-4f);
}

TEST_CASE("augment_auxiliary draws 3 distinct augmenters, deterministically per seed") {
  Image img = random_image(4, 32, 32);
  std::set<int> seen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Rng a(seed), b(seed);
    std::vector<int> ia, ib;
    Image oa = augment_auxiliary(img, a, &ia), ob = augment_auxiliary(img, b, &ib);
    REQUIRE(ia.size() == 3);
    CHECK(std::set<int>(ia.begin(), ia.end()).size() == 3);
    CHECK(ia == ib);
    CHECK(oa.pixels == ob.pixels);
    for (int i : ia) {
      CHECK(i >= 0);
      CHECK(i < kNumAugmenters);
      seen.insert(i);
    }
    auto [lo, hi] = std::minmax_element(oa.pixels.begin(), oa.pixels.end());
    CHECK(*lo >= 0.f);
    CHECK(*hi <= 1.f);
  }
  CHECK(seen.size() == (size_t)kNumAugmenters);  // every augmenter gets drawn
  Rng a(1), b(2);
  CHECK(augment_auxiliary(img, a).pixels != augment_auxiliary(img, b).pixels);
  CHECK(std::string(augmenter_name(9)) == "affine_rotate");
}

TEST_CASE("augmenters reject non-RGB input") {
  Image gray(1, 4, 4);
  CHECK_THROWS_AS(invert(gray), sg::Error);
  CHECK_THROWS_AS(posterize(random_image(5), 0), sg::Error);
}
