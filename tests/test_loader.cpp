// test_loader.cpp — the training batch stream (determinism across worker counts, seek, contrast
// sets, rotation consistency, errors) and the test-split loader (mask resizing and warnings).
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "data/builtin.h"
#include "data/loader.h"
#include "tests/data_test_util.h"
#include "tests/test_util.h"

using namespace sg;
using namespace sg::data;
namespace fs = std::filesystem;

namespace {

// A small built-in category (12 training images of 48x48), generated once per process.
const Dataset& small_dataset() {
  static Dataset ds = [] {
    const BuiltinOptions o = test::builtin_options(48, 12, 2, 1);
    fs::path root = test::scratch_dir("loader_builtin");
    return open_dataset(generate_builtin_dataset(root.string(), 5, o));
  }();
  return ds;
}

LoaderOptions small_options(int workers) {
  LoaderOptions o;
  o.size = 32;
  o.batch = 4;
  o.seed = 3;
  o.workers = workers;
  o.prefetch = 2;
  return o;
}

void check_same_batch(const TrainBatch& a, const TrainBatch& b) {
  CHECK(a.batch_index == b.batch_index);
  CHECK(a.indices == b.indices);
  CHECK(a.guidance_indices == b.guidance_indices);
  CHECK(a.image.to_vector() == b.image.to_vector());
  CHECK(a.saliency.to_vector() == b.saliency.to_vector());
  CHECK(a.aux.to_vector() == b.aux.to_vector());
  CHECK(a.guidance.to_vector() == b.guidance.to_vector());
}

std::vector<float> slice_of(const Tensor& t, int k) {
  std::vector<float> v = t.to_vector();
  size_t each = v.size() / (size_t)t.size(0);
  return std::vector<float>(v.begin() + (long)(each * k), v.begin() + (long)(each * (k + 1)));
}

// Capture what `f` writes to stderr.
template <typename F>
std::string capture_stderr(F f) {
  fs::path file = test::scratch_dir("stderr_capture") / "err.txt";
  fflush(stderr);
  int saved = dup(2), fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  try {
    f();
  } catch (...) {
    fflush(stderr);
    dup2(saved, 2);
    close(fd);
    close(saved);
    throw;
  }
  fflush(stderr);
  dup2(saved, 2);
  close(fd);
  close(saved);
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("loader: shapes, cached images and saliency, epochs are permutations") {
  AuxiliaryTextures aux = AuxiliaryTextures::procedural();
  TrainLoader loader(small_dataset().train, small_options(2), aux);
  REQUIRE(loader.num_images() == 12);
  CHECK(loader.batches_per_epoch() == 3);
  CHECK(loader.image(0).height == 32);
  CHECK(loader.saliency(0).channels == 1);
  CHECK(loader.saliency_fallbacks() >= 0);
  CHECK(loader.saliency_fallbacks() <= 12);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::multiset<int> seen;
    for (int b = 0; b < 3; ++b) {
      TrainBatch tb = loader.next();
      CHECK(tb.batch_index == epoch * 3 + b);
      CHECK(tb.image.shape() == Shape{4, 3, 32, 32});
      CHECK(tb.saliency.shape() == Shape{4, 1, 32, 32});
      CHECK(tb.aux.shape() == Shape{4, 3, 32, 32});
      CHECK(tb.guidance.shape() == Shape{4, 3, 32, 32});
      CHECK(tb.image.device() == Device::CPU);
      CHECK(tb.guidance_indices == tb.indices);  // no contrast sets: the image guides itself
      seen.insert(tb.indices.begin(), tb.indices.end());
    }
    CHECK(seen.size() == 12);
    CHECK(std::set<int>(seen.begin(), seen.end()).size() == 12);
  }
}

TEST_CASE("loader: identical batches for 0, 1 and 2 workers; seek is equivalent to reading on") {
  AuxiliaryTextures aux = AuxiliaryTextures::procedural();
  TrainLoader l0(small_dataset().train, small_options(0), aux);
  TrainLoader l1(small_dataset().train, small_options(1), aux);
  TrainLoader l2(small_dataset().train, small_options(2), aux);
  std::vector<TrainBatch> ref;
  for (int b = 0; b < 7; ++b) {  // 7 batches cross two epoch boundaries
    ref.push_back(l1.next());
    check_same_batch(ref.back(), l2.next());
    check_same_batch(ref.back(), l0.next());
  }
  TrainLoader seeker(small_dataset().train, small_options(2), aux);
  seeker.seek(5);
  check_same_batch(seeker.next(), ref[5]);
  check_same_batch(seeker.next(), ref[6]);
  seeker.seek(1);  // backwards, discarding what was prefetched
  check_same_batch(seeker.next(), ref[1]);
  // A different seed gives a different stream.
  LoaderOptions other = small_options(2);
  other.seed = 4;
  TrainLoader l3(small_dataset().train, other, aux);
  CHECK(l3.next().image.to_vector() != ref[0].image.to_vector());
}

TEST_CASE("loader: contrast sets are honoured, deterministically, from the next batch on") {
  AuxiliaryTextures aux = AuxiliaryTextures::procedural();
  LoaderOptions o = small_options(2);
  o.rotate_prob = 0.f;
  std::vector<std::vector<int>> sets(12);
  for (int i = 0; i < 12; ++i) sets[(size_t)i] = {(i + 1) % 12, (i + 5) % 12};
  TrainLoader a(small_dataset().train, o, aux);
  a.next();
  a.next();
  a.set_contrast_sets(sets);
  std::vector<TrainBatch> got;
  for (int b = 0; b < 6; ++b) got.push_back(a.next());
  CHECK(got[0].batch_index == 2);
  std::set<int> picked;
  for (const auto& tb : got)
    for (int k = 0; k < 4; ++k) {
      int i = tb.indices[(size_t)k], g = tb.guidance_indices[(size_t)k];
      CHECK((g == (i + 1) % 12 || g == (i + 5) % 12));
      picked.insert(g - i);
      CHECK(slice_of(tb.guidance, k) == a.image(g).pixels);  // not rotated: the stored image
      CHECK(slice_of(tb.image, k) == a.image(i).pixels);
      CHECK(slice_of(tb.saliency, k) == a.saliency(i).pixels);
    }
  CHECK(picked.size() >= 2);  // both members get drawn
  // Same batches from a loader that had the sets from the start and seeks to batch 2.
  TrainLoader b(small_dataset().train, o, aux);
  b.set_contrast_sets(sets);
  b.seek(2);
  for (int k = 0; k < 6; ++k) check_same_batch(b.next(), got[(size_t)k]);
  // Clearing the sets returns to self-guidance.
  b.set_contrast_sets({});
  TrainBatch c = b.next();
  CHECK(c.guidance_indices == c.indices);
  CHECK_THROWS_AS(b.set_contrast_sets({{1}}), sg::Error);
  std::vector<std::vector<int>> bad(12, std::vector<int>{12});
  CHECK_THROWS_WITH_AS(b.set_contrast_sets(bad), doctest::Contains("out of range"), sg::Error);
}

TEST_CASE("loader: image, saliency and guidance rotate together (guidance optionally not)") {
  AuxiliaryTextures aux = AuxiliaryTextures::procedural();
  std::vector<std::vector<int>> self(12);
  for (int i = 0; i < 12; ++i) self[(size_t)i] = {i};
  LoaderOptions o = small_options(1);
  o.rotate_prob = 1.f;
  TrainLoader a(small_dataset().train, o, aux);
  a.set_contrast_sets(self);
  TrainBatch tb = a.next();
  for (int k = 0; k < 4; ++k) {
    int i = tb.indices[(size_t)k];
    CHECK(slice_of(tb.guidance, k) == slice_of(tb.image, k));  // same image, same angle
    CHECK(slice_of(tb.image, k) != a.image(i).pixels);         // and it was rotated
    // The rotated saliency map is zero where the rotated image is the black fill.
    std::vector<float> img = slice_of(tb.image, k), sal = slice_of(tb.saliency, k);
    CHECK(img[0] + img[1024] + img[2048] == 0.f);  // corner (0, 0) falls outside for |angle| > ~1 deg
    CHECK(sal[0] == 0.f);
  }
  o.rotate_guidance = false;
  TrainLoader b(small_dataset().train, o, aux);
  b.set_contrast_sets(self);
  TrainBatch tc = b.next();
  for (int k = 0; k < 4; ++k) CHECK(slice_of(tc.guidance, k) == b.image(tc.indices[(size_t)k]).pixels);
  check_same_batch(tc, tc);
  CHECK(tc.image.to_vector() == tb.image.to_vector());  // the flag changes the guidance only
}

TEST_CASE("loader: unreadable training images and missing saliency maps are named") {
  AuxiliaryTextures aux = AuxiliaryTextures::procedural();
  fs::path dir = test::scratch_dir("loader_errors");
  std::vector<Sample> train = {{(dir / "ok.png").string(), "ok.png", "", 0, "good"},
                               {(dir / "bad.png").string(), "bad.png", "", 0, "good"}};
  test::write_random_png(dir / "ok.png", 16, 16, 1);
  test::write_text(dir / "bad.png", "not a png");
  CHECK_THROWS_WITH_AS(TrainLoader(train, small_options(2), aux), doctest::Contains("bad.png"), sg::Error);
  train.pop_back();
  LoaderOptions o = small_options(1);
  o.saliency = SaliencyMode::File;
  o.saliency_dir = (dir / "maps").string();
  CHECK_THROWS_WITH_AS(TrainLoader(train, o, aux), doctest::Contains("ok.png"), sg::Error);
  test::write_mask(dir / "maps/ok.png", 16, 16, 2, 2, 10);
  TrainLoader l(train, o, aux);
  CHECK(l.saliency(0).height == 32);
  CHECK(l.next().indices == std::vector<int>{0, 0, 0, 0});  // one image fills a batch of 4
}

TEST_CASE("test images: masks resized like images and thresholded; size mismatch warns once") {
  fs::path dir = test::scratch_dir("loader_test_images");
  test::write_random_png(dir / "a.png", 20, 20, 1);
  test::write_random_png(dir / "b.png", 20, 20, 2);
  test::write_random_png(dir / "c.png", 20, 20, 3);
  test::write_mask(dir / "a_mask.png", 20, 20, 0, 0, 10);  // top-left quarter
  test::write_mask(dir / "b_mask.png", 10, 10, 5, 5, 5);   // half size: bottom-right quarter
  test::write_mask(dir / "c_mask.png", 40, 40, 0, 0, 20);  // double size: top-left quarter
  std::vector<Sample> s = {{(dir / "a.png").string(), "a.png", (dir / "a_mask.png").string(), 1, "x"},
                           {(dir / "b.png").string(), "b.png", (dir / "b_mask.png").string(), 1, "x"},
                           {(dir / "c.png").string(), "c.png", (dir / "c_mask.png").string(), 1, "x"},
                           {(dir / "c.png").string(), "c.png", "", 0, "good"}};
  std::vector<TestImage> t;
  std::string err = capture_stderr([&] { t = load_test_images(s, 8, 2); });
  CHECK(err.find("warning") != std::string::npos);
  CHECK(err.find("further mismatches") != std::string::npos);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  REQUIRE(t.size() == 4);
  for (const auto& ti : t) {
    CHECK(ti.image.channels == 3);
    CHECK(ti.image.height == 8);
    CHECK(ti.mask.channels == 1);
    CHECK(ti.mask.width == 8);
    for (float v : ti.mask.pixels) CHECK((v == 0.f || v == 1.f));
  }
  CHECK(t[0].mask.at(0, 0, 0) == 1.f);
  CHECK(t[0].mask.at(0, 7, 7) == 0.f);
  CHECK(t[1].mask.at(0, 7, 7) == 1.f);
  CHECK(t[1].mask.at(0, 0, 0) == 0.f);
  CHECK(t[2].mask.at(0, 1, 1) == 1.f);
  CHECK(t[3].label == 0);
  for (float v : t[3].mask.pixels) CHECK(v == 0.f);
  int ones = 0;
  for (float v : t[0].mask.pixels) ones += v == 1.f;
  CHECK(ones == 16);  // exactly the quarter
  test::write_text(dir / "b.png", "corrupt");
  CHECK_THROWS_WITH_AS(load_test_images(s, 8, 2), doctest::Contains("b.png"), sg::Error);
}

TEST_CASE("stack_images makes an (N, C, H, W) tensor and checks shapes") {
  Image a(2, 3, 4, 0.25f), b(2, 3, 4, 0.5f), c(1, 3, 4);
  Tensor t = stack_images({&a, &b}, Device::CPU);
  CHECK(t.shape() == Shape{2, 2, 3, 4});
  std::vector<float> v = t.to_vector();
  CHECK(v[0] == 0.25f);
  CHECK(v[24] == 0.5f);
  CHECK_THROWS_WITH_AS(stack_images({&a, &c}, Device::CPU), doctest::Contains("stack_images"), sg::Error);
}

TEST_CASE("loader on CUDA (pinned staging) gives the CPU batches" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  AuxiliaryTextures aux = AuxiliaryTextures::procedural();
  LoaderOptions o = small_options(2);
  TrainLoader cpu(small_dataset().train, o, aux);
  o.device = Device::CUDA;
  TrainLoader gpu(small_dataset().train, o, aux);
  for (int b = 0; b < 8; ++b) {
    TrainBatch x = cpu.next(), y = gpu.next();
    CHECK(y.image.device() == Device::CUDA);
    check_same_batch(x, y);
  }
  gpu.seek(3);
  cpu.seek(3);
  check_same_batch(cpu.next(), gpu.next());
}

TEST_CASE("loader: an exception in a worker is rethrown from next(), every time it is asked") {
  AuxiliaryTextures empty;  // sampling from an empty set throws inside the batch builder
  for (int workers : {0, 1, 2}) {
    TrainLoader l(small_dataset().train, small_options(workers), empty);
    CHECK_THROWS_WITH_AS(l.next(), doctest::Contains("texture set is empty"), sg::Error);
    CHECK_THROWS_WITH_AS(l.next(), doctest::Contains("texture set is empty"), sg::Error);
  }  // and the destructor still shuts the workers down cleanly
}
