// test_textures.cpp — auxiliary texture sets: folder loading (flat and with class subfolders),
// errors naming the folder or file, procedural textures, and the DTD subset when present.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "data/image_io.h"
#include "data/textures.h"
#include "tests/test_util.h"

using namespace sg;
using namespace sg::data;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("sgsf_test_textures_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_solid(const fs::path& p, int h, int w, float r, float g, float b) {
  Image img(3, h, w);
  for (size_t i = 0; i < img.plane(); ++i) img.channel(0)[i] = r, img.channel(1)[i] = g, img.channel(2)[i] = b;
  write_png(p.string(), img);
}

std::string data_dir() { return sg::test::shared_data_dir(); }
}  // namespace

TEST_CASE("a flat folder of images loads sorted and samples at the requested size") {
  fs::path dir = temp_dir("flat");
  write_solid(dir / "b.png", 20, 30, 0.f, 1.f, 0.f);
  write_solid(dir / "a.png", 10, 10, 1.f, 0.f, 0.f);
  std::ofstream(dir / "notes.txt") << "not an image";
  AuxiliaryTextures t = AuxiliaryTextures::from_folder(dir.string());
  CHECK_FALSE(t.is_procedural());
  REQUIRE(t.size() == 2);
  CHECK(fs::path(t.path(0)).filename() == "a.png");
  CHECK(fs::path(t.path(1)).filename() == "b.png");
  Rng rng(1);
  for (int i = 0; i < 5; ++i) {
    Image s = t.sample(rng, 24, 40);
    CHECK(s.channels == 3);
    CHECK(s.height == 24);
    CHECK(s.width == 40);
  }
  Rng r1(9), r2(9);
  CHECK(t.sample(r1, 16, 16).pixels == t.sample(r2, 16, 16).pixels);
  fs::remove_all(dir);
}

TEST_CASE("a folder of class subfolders (DTD layout) loads every image one level down") {
  fs::path dir = temp_dir("classes");
  fs::create_directories(dir / "banded");
  fs::create_directories(dir / "dotted" / "deeper");
  write_solid(dir / "banded" / "x.png", 8, 8, 0.2f, 0.2f, 0.2f);
  write_solid(dir / "banded" / "y.PNG", 8, 8, 0.3f, 0.2f, 0.2f);
  write_solid(dir / "dotted" / "z.png", 8, 8, 0.4f, 0.2f, 0.2f);
  write_solid(dir / "dotted" / "deeper" / "ignored.png", 8, 8, 0.4f, 0.2f, 0.2f);
  write_solid(dir / "top.png", 8, 8, 0.5f, 0.2f, 0.2f);
  AuxiliaryTextures t = AuxiliaryTextures::from_folder(dir.string());
  CHECK(t.size() == 4);
  fs::remove_all(dir);
}

TEST_CASE("missing, empty and corrupt texture folders give errors naming the culprit") {
  fs::path dir = temp_dir("errors");
  const std::string missing = (dir / "nowhere").string();
  CHECK_THROWS_WITH_AS(AuxiliaryTextures::from_folder(missing), doctest::Contains(missing.c_str()), sg::Error);
  fs::create_directories(dir / "empty" / "sub");
  std::ofstream(dir / "empty" / "readme.md") << "# nothing";
  const std::string empty = (dir / "empty").string();
  CHECK_THROWS_WITH_AS(AuxiliaryTextures::from_folder(empty), doctest::Contains("no images"), sg::Error);
  CHECK_THROWS_WITH_AS(AuxiliaryTextures::from_folder(empty), doctest::Contains(empty.c_str()), sg::Error);
  fs::create_directories(dir / "bad");
  write_solid(dir / "bad" / "good.png", 8, 8, 0.5f, 0.5f, 0.5f);
  std::ofstream(dir / "bad" / "broken.jpg") << "definitely not a jpeg";
  const std::string broken = (dir / "bad" / "broken.jpg").string();
  CHECK_THROWS_WITH_AS(AuxiliaryTextures::from_folder((dir / "bad").string()), doctest::Contains(broken.c_str()),
                       sg::Error);
  fs::remove_all(dir);
}

TEST_CASE("procedural textures vary across draws and are deterministic per seed") {
  AuxiliaryTextures t = AuxiliaryTextures::procedural();
  CHECK(t.is_procedural());
  CHECK(t.size() == 0);
  CHECK(std::string(procedural_notice()) == "no auxiliary texture folder given: using procedural textures");
  Rng a(42), b(42);
  std::vector<Image> draws;
  for (int i = 0; i < 8; ++i) {
    Image x = t.sample(a, 48, 64), y = t.sample(b, 48, 64);
    CHECK(x.pixels == y.pixels);
    CHECK(x.height == 48);
    CHECK(x.width == 64);
    auto [lo, hi] = std::minmax_element(x.pixels.begin(), x.pixels.end());
    CHECK(*lo >= 0.f);
    CHECK(*hi <= 1.f);
    draws.push_back(x);
  }
  for (size_t i = 0; i < draws.size(); ++i)
    for (size_t j = i + 1; j < draws.size(); ++j) CHECK(draws[i].pixels != draws[j].pixels);
  // Textures are not flat: the raw generator shows spatial variation in most draws.
  Rng c(3);
  int varied = 0;
  for (int i = 0; i < 20; ++i) {
    Image x = procedural_texture(c, 32, 32);
    auto [lo, hi] = std::minmax_element(x.pixels.begin(), x.pixels.end());
    varied += (*hi - *lo) > 0.1f;
  }
  CHECK(varied >= 18);
}

TEST_CASE("sample is safe to call from several threads") {
  AuxiliaryTextures t = AuxiliaryTextures::procedural();
  std::vector<Image> out(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      Rng r(100 + (uint64_t)i);
      out[(size_t)i] = t.sample(r, 32, 32);
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < 4; ++i) {
    Rng r(100 + (uint64_t)i);
    CHECK(t.sample(r, 32, 32).pixels == out[(size_t)i].pixels);
  }
}

TEST_CASE("the DTD subset loads 160 textures") {
  const std::string dir = data_dir() + "/dtd_subset/images";
  if (!fs::is_directory(dir)) {
    MESSAGE("skipped: ", dir, " not present");
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  AuxiliaryTextures t = AuxiliaryTextures::from_folder(dir);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(t.size() == 160);
  Rng rng(0);
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    Image s = t.sample(rng, 256, 256);
    CHECK(s.width == 256);
  }
  const double sample_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 20;
  MESSAGE("DTD subset: ", t.size(), " textures loaded in ", load_s, " s; ", sample_ms, " ms per 256x256 sample");
}
