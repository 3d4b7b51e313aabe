// test_contrast.cpp — contrast sets: never the image itself, most similar first, deterministic ties.
#include "sgsf/contrast.h"
#include "tests/test_util.h"

using namespace sg::sgsf;

TEST_CASE("contrast sets pick the nearest other images by cosine similarity") {
  // Five 2-d features at angles 0, 10, 20, 90, 180 degrees (cosine depends on angle only).
  const double deg[5] = {0, 10, 20, 90, 180};
  std::vector<float> f;
  for (double d : deg) {
    double r = d * 3.14159265358979 / 180;
    f.push_back((float)(2 * std::cos(r)));  // different lengths: cosine ignores them
    f.push_back((float)(2 * std::sin(r)));
  }
  auto sets = build_contrast_sets(f, 5, 2, 2);
  REQUIRE(sets.size() == 5);
  CHECK(sets[0] == std::vector<int>{1, 2});
  CHECK(sets[1] == std::vector<int>{0, 2});  // 10 deg to both; lower index first
  CHECK(sets[3] == std::vector<int>{2, 1});
  CHECK(sets[4] == std::vector<int>{3, 2});
  for (int i = 0; i < 5; ++i)
    for (int j : sets[(size_t)i]) CHECK(j != i);
  float q[2] = {0.1f, 1.0f};
  CHECK(most_similar(f, 5, 2, q) == 3);
}

TEST_CASE("contrast set size is clamped and bad input is rejected") {
  std::vector<float> f = {1, 0, 0, 1, 1, 1};
  auto sets = build_contrast_sets(f, 3, 2, 10);
  CHECK(sets[0].size() == 2);
  CHECK_THROWS_AS(build_contrast_sets({1, 0}, 1, 2, 4), sg::Error);
  CHECK_THROWS_AS(build_contrast_sets(f, 3, 3, 4), sg::Error);
}
