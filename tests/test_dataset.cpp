// test_dataset.cpp — the folder layouts (MVTec AD, DAGM, KolektorSDD2, generic) on tiny trees built
// here, sorted listings, every error case, and the real MVTec 3D-AD tire category when present.
#include <cstdlib>

#include "data/dataset.h"
#include "tests/data_test_util.h"
#include "tests/test_util.h"

using namespace sg;
using namespace sg::data;
namespace fs = std::filesystem;
using test::write_mask;
using test::write_random_png;

namespace {

// cat/train/good/{a,b,c}, test/good/{x}, test/crack/{000,001} with masks.
fs::path make_mvtec(const std::string& name) {
  fs::path root = test::scratch_dir(name) / "cat";
  write_random_png(root / "train/good/b.png", 8, 8, 1);
  write_random_png(root / "train/good/a.png", 8, 8, 2);
  write_random_png(root / "train/good/c.png", 8, 8, 3);
  test::write_text(root / "train/good/notes.txt", "not an image");
  write_random_png(root / "test/good/x.png", 8, 8, 4);
  write_random_png(root / "test/crack/001.png", 8, 8, 5);
  write_random_png(root / "test/crack/000.png", 8, 8, 6);
  write_mask(root / "ground_truth/crack/000_mask.png", 8, 8, 1, 1, 3);
  write_mask(root / "ground_truth/crack/001_mask.png", 8, 8, 2, 2, 3);
  return root;
}

}  // namespace

TEST_CASE("MVTec layout: sorted listing, labels, masks, relative paths, auto detection") {
  fs::path root = make_mvtec("ds_mvtec");
  Dataset ds = open_dataset(root.string());
  CHECK(ds.layout == Layout::MVTec);
  CHECK(ds.category == "cat");
  REQUIRE(ds.train.size() == 3);
  CHECK(ds.train[0].relpath == "train/good/a.png");
  CHECK(ds.train[2].relpath == "train/good/c.png");
  CHECK(ds.train[1].path == (root / "train/good/b.png").string());
  REQUIRE(ds.test.size() == 3);
  CHECK(ds.test[0].relpath == "test/crack/000.png");  // "crack" sorts before "good"
  CHECK(ds.test[0].label == 1);
  CHECK(ds.test[0].defect == "crack");
  CHECK(ds.test[0].mask_path == (root / "ground_truth/crack/000_mask.png").string());
  CHECK(ds.test[1].relpath == "test/crack/001.png");
  CHECK(ds.test[2].defect == "good");
  CHECK(ds.test[2].label == 0);
  CHECK(ds.test[2].mask_path.empty());
  // Opening twice gives the same listing.
  Dataset again = open_dataset(root.string(), Layout::MVTec);
  for (size_t i = 0; i < ds.test.size(); ++i) CHECK(again.test[i].path == ds.test[i].path);
}

TEST_CASE("MVTec errors name the folder or file") {
  fs::path root = make_mvtec("ds_mvtec_err");
  CHECK_THROWS_WITH_AS(open_dataset((root / "nope").string()), doctest::Contains("nope"), sg::Error);
  fs::remove(root / "ground_truth/crack/001_mask.png");
  CHECK_THROWS_WITH_AS(open_dataset(root.string()), doctest::Contains("001_mask.png"), sg::Error);
  CHECK_THROWS_WITH_AS(open_dataset(root.string()), doctest::Contains("has no mask"), sg::Error);
  fs::remove_all(root / "test");
  CHECK_THROWS_WITH_AS(open_dataset(root.string(), Layout::MVTec), doctest::Contains("test"), sg::Error);
  for (const char* n : {"a.png", "b.png", "c.png"}) fs::remove(root / "train/good" / n);
  std::string want = (root / "train/good").string() + "' has no images";
  CHECK_THROWS_WITH_AS(open_dataset(root.string()), doctest::Contains(want.c_str()), sg::Error);
}

TEST_CASE("find_mvtec_categories lists folders with train/good, sorted") {
  fs::path base = test::scratch_dir("ds_categories");
  for (const char* c : {"zeta", "alpha", "mid"}) write_random_png(base / c / "train/good/0.png", 4, 4, 1);
  fs::create_directories(base / "other/train");
  auto cats = find_mvtec_categories(base.string());
  CHECK(cats == std::vector<std::string>{"alpha", "mid", "zeta"});
  CHECK_THROWS_WITH_AS(find_mvtec_categories((base / "other").string()), doctest::Contains("other"), sg::Error);
  CHECK_THROWS_AS(find_mvtec_categories((base / "missing").string()), sg::Error);
  // Opening the folder of categories itself says what it holds.
  CHECK_THROWS_WITH_AS(open_dataset(base.string()), doctest::Contains("alpha, mid, zeta"), sg::Error);
}

TEST_CASE("DAGM layout: Labels.txt rows, defect-free training images, masks from Label/") {
  fs::path root = test::scratch_dir("ds_dagm") / "Class1";
  for (const char* split : {"Train", "Test"}) {
    for (const char* n : {"0003.PNG", "0001.PNG", "0002.PNG"}) write_random_png(root / split / n, 8, 8, 7);
    write_mask(root / split / "Label/0002_label.PNG", 8, 8, 2, 2, 4);
  }
  test::write_text(root / "Train/Labels.txt",
                   "1\n1\t0\t0001.PNG\t0\t0\n2\t1\t0002.PNG\t0\t0002_label.PNG\n"
                   "3  0  0003.PNG  0  0\ngarbage line\n");
  // Test/ has no Labels.txt: defects are inferred from Label/.
  Dataset ds = open_dataset(root.string());
  CHECK(ds.layout == Layout::DAGM);
  REQUIRE(ds.train.size() == 2);
  CHECK(ds.train[0].relpath == "Train/0001.PNG");
  CHECK(ds.train[1].relpath == "Train/0003.PNG");
  REQUIRE(ds.test.size() == 3);
  CHECK(ds.test[1].label == 1);
  CHECK(ds.test[1].defect == "defect");
  CHECK(ds.test[1].mask_path == (root / "Test/Label/0002_label.PNG").string());
  CHECK(ds.test[0].label == 0);
  CHECK(ds.test[0].mask_path.empty());
  // A Labels.txt naming a mask that does not exist and no fallback: an error naming the image.
  test::write_text(root / "Test/Labels.txt", "1\n1\t1\t0001.PNG\t0\t0001_label.PNG\n");
  CHECK_THROWS_WITH_AS(open_dataset(root.string(), Layout::DAGM), doctest::Contains("0001.PNG"), sg::Error);
}

TEST_CASE("KolektorSDD2 layout: training keeps images with empty masks") {
  fs::path root = test::scratch_dir("ds_ksdd2") / "ksdd2";
  for (const char* split : {"train", "test"}) {
    write_random_png(root / split / "10001.png", 8, 6, 1);
    write_mask(root / split / "10001_GT.png", 8, 6, 1, 1, 2);
    write_random_png(root / split / "10000.png", 8, 6, 2);
    write_mask(root / split / "10000_GT.png", 8, 6);
  }
  Dataset ds = open_dataset(root.string());
  CHECK(ds.layout == Layout::KSDD2);
  REQUIRE(ds.train.size() == 1);
  CHECK(ds.train[0].relpath == "train/10000.png");
  REQUIRE(ds.test.size() == 2);
  CHECK(ds.test[0].label == 0);
  CHECK(ds.test[1].label == 1);
  CHECK(ds.test[1].mask_path == (root / "test/10001_GT.png").string());
  // A corrupt mask is reported when read, naming the file.
  test::write_text(root / "test/10001_GT.png", "garbage");
  CHECK_THROWS_WITH_AS(open_dataset(root.string(), Layout::KSDD2), doctest::Contains("10001_GT.png"), sg::Error);
  fs::remove(root / "test/10001_GT.png");
  CHECK_THROWS_WITH_AS(open_dataset(root.string(), Layout::KSDD2), doctest::Contains("10001_GT.png"), sg::Error);
}

TEST_CASE("generic layout: normal folder, anomalous folder with masks of the same base name") {
  fs::path base = test::scratch_dir("ds_generic");
  for (const char* n : {"n2.jpg", "n1.png"}) write_random_png(base / "normal" / n, 8, 8, 3);
  write_random_png(base / "bad/q.png", 8, 8, 4);
  write_random_png(base / "bad/p.png", 8, 8, 5);
  write_mask(base / "masks/p.png", 8, 8, 0, 0, 2);
  write_mask(base / "masks/q.png", 8, 8, 0, 0, 2);
  Dataset ds = open_dataset((base / "normal").string(), Layout::Auto, (base / "bad").string(),
                            (base / "masks").string());
  CHECK(ds.layout == Layout::Generic);
  REQUIRE(ds.train.size() == 2);
  CHECK(ds.train[0].relpath == "n1.png");
  REQUIRE(ds.test.size() == 2);
  CHECK(ds.test[0].relpath == "bad/p.png");
  CHECK(ds.test[0].label == 1);
  CHECK(ds.test[1].mask_path == (base / "masks/q.png").string());
  Dataset only = open_dataset((base / "normal").string(), Layout::Generic);
  CHECK(only.test.empty());
  fs::remove(base / "masks/q.png");
  CHECK_THROWS_WITH_AS(open_dataset((base / "normal").string(), Layout::Generic, (base / "bad").string(),
                                    (base / "masks").string()),
                       doctest::Contains("q.png"), sg::Error);
  fs::create_directories(base / "empty");
  CHECK_THROWS_WITH_AS(open_dataset((base / "empty").string()), doctest::Contains("empty"), sg::Error);
}

TEST_CASE("parse_layout") {
  CHECK(parse_layout("MVTec") == Layout::MVTec);
  CHECK(parse_layout("auto") == Layout::Auto);
  CHECK(parse_layout("kolektor") == Layout::KSDD2);
  CHECK(parse_layout("dagm") == Layout::DAGM);
  CHECK(parse_layout("generic") == Layout::Generic);
  CHECK_THROWS_WITH_AS(parse_layout("voc"), doctest::Contains("voc"), sg::Error);
}

TEST_CASE("the MVTec 3D-AD tire category opens as MVTec (real data, when present)") {
  fs::path data = sg::test::shared_data_dir();
  fs::path tire = data / "mvtec3d_tire_rgb" / "tire";
  if (!fs::is_directory(tire)) {
    MESSAGE("skipped: no real data at " << tire.string());
    return;
  }
  Dataset ds = open_dataset(tire.string());
  CHECK(ds.layout == Layout::MVTec);
  CHECK(ds.category == "tire");
  CHECK(ds.train.size() == 210);
  CHECK(ds.test.size() == 112);
  int anomalous = 0;
  for (const auto& s : ds.test) {
    anomalous += s.label;
    CHECK(s.label == (s.mask_path.empty() ? 0 : 1));
  }
  CHECK(anomalous == 112 - 25);
}
