// test_checkpoint.cpp — safetensors: bit-exact round trip with metadata, the byte layout, rejection
// of damaged or hostile files (each error names the file), exact name/shape matching on load,
// atomic saves, and a model + optimiser resume through a file.
#include <sys/stat.h>
#include <unistd.h>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/checkpoint.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "tests/test_util.h"

using namespace sg;

// ---- heap accounting: every operator new of this test executable counts its bytes, so a test can
// measure the peak that one call adds (the checkpoint header test below).
namespace {
std::atomic<size_t> g_live{0}, g_peak{0};
void* counted_alloc(size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  const size_t now = g_live += malloc_usable_size(p);
  size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}
void counted_free(void* p) noexcept {
  if (!p) return;
  g_live -= malloc_usable_size(p);
  std::free(p);
}
}  // namespace
void* operator new(size_t n) { return counted_alloc(n); }
void* operator new[](size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, size_t) noexcept { counted_free(p); }
void operator delete[](void* p, size_t) noexcept { counted_free(p); }

namespace {

// A fresh directory under /tmp for this test binary run, removed when the binary exits.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sg_checkpoint_test_XXXXXX";
    char* d = mkdtemp(tmpl);
    if (d) path = d;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

std::string temp_dir() {
  static TempDir dir;
  REQUIRE(!dir.path.empty());
  return dir.path;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), (std::streamsize)bytes.size());
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int k = 0; k < 8; ++k) s[(size_t)k] = (char)(n >> (8 * k));
  return s;
}

// A hand-made file: header length (the real one unless overridden), header, data bytes.
std::string make_file(const std::string& header, const std::string& data, int64_t len = -1) {
  return le64(len < 0 ? header.size() : (uint64_t)len) + header + data;
}

std::string floats(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(v.begin()), v.size() * sizeof(float));
}

// Expect load_safetensors(file holding `bytes`) to throw an error mentioning the file and `what`.
void expect_rejected(const std::string& name, const std::string& bytes, const std::string& what) {
  std::string path = temp_dir() + "/" + name + ".safetensors";
  write_bytes(path, bytes);
  INFO("file ", name, ", expected error containing: ", what);
  try {
    load_safetensors(path);
    FAIL("no error for ", name);
  } catch (const sg::Error& e) {
    std::string msg = e.what();
    INFO("error: ", msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(what) != std::string::npos);
  }
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  return a.shape() == b.shape() && x.size() == y.size() &&
         (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("safetensors round trip is bit exact, metadata included") {
  std::vector<float> special = {0.f, -0.f, 1e-45f, -3.4e38f, 1.f / 3.f, INFINITY, -INFINITY, 2.5f};
  NamedTensors tensors = {
      {"enc1.conv.weight", Tensor::normal({4, 3, 3, 3}, 0.f, 0.02f, 1, Device::CPU)},
      {"scalar", Tensor::scalar(42.5f, Device::CPU)},
      {"special", Tensor::from_vector({2, 4}, special, Device::CPU)},
      {"empty", Tensor::zeros({0, 3}, Device::CPU)},
      {"name \"quoted\" \\ ünïcode", Tensor::uniform({5}, -1.f, 1.f, 2, Device::CPU)},
  };
  Metadata meta = {{"epoch", "12"}, {"note", "tab\there, newline\nthere, quote \" ✓"}, {"", "empty key"}};
  std::string path = temp_dir() + "/roundtrip.safetensors";
  save_safetensors(path, tensors, meta);
  SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata == meta);
  REQUIRE(f.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CHECK(f.tensors[i].first == tensors[i].first);
    CHECK(f.tensors[i].second.device() == Device::CPU);
    CHECK(bit_equal(f.tensors[i].second, tensors[i].second));
  }
  // Layout: 8-byte length, header padded so the data starts 8-byte aligned, data = 4 bytes/float.
  std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | (unsigned char)bytes[(size_t)k];
  CHECK((8 + n) % 8 == 0);
  CHECK(bytes.size() == 8 + n + 4 * (108 + 1 + 8 + 0 + 5));
  CHECK(bytes.substr(8, 2) == "{\"");
  CHECK(access((path + ".tmp").c_str(), F_OK) != 0);  // the temporary file is gone
}

TEST_CASE("a hand-written file in the reference layout loads") {
  std::string h = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"__metadata__\":{\"format\":\"pt\"}}   ";
  std::string path = temp_dir() + "/handmade.safetensors";
  write_bytes(path, make_file(h, floats({1.f, 2.f, 3.f})));
  SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata.at("format") == "pt");
  CHECK(find_tensor(f.tensors, "a").to_vector() == std::vector<float>{1.f, 2.f});
  CHECK(find_tensor(f.tensors, "b").to_vector() == std::vector<float>{3.f});
}

TEST_CASE("damaged and hostile files are rejected with the file named") {
  const std::string ok_entry = "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  const std::string two = floats({1.f, 2.f});
  // File-level damage.
  CHECK_THROWS_WITH_AS(load_safetensors(temp_dir() + "/does_not_exist.safetensors"),
                       doctest::Contains("does_not_exist.safetensors"), sg::Error);
  expect_rejected("short", "abc", "too short");
  std::string good = make_file("{" + ok_entry + "}", two);
  expect_rejected("truncated", good.substr(0, good.size() - 3), "outside the data buffer");
  expect_rejected("header_past_end", make_file("{" + ok_entry + "}", two, 5000), "past the end");
  expect_rejected("header_absurd", le64(~uint64_t(0)) + "{}", "absurd");
  expect_rejected("trailing", good + "junk", "trailing bytes");
  // Malformed JSON.
  expect_rejected("json_unclosed", make_file("{" + ok_entry, two), "malformed header");
  expect_rejected("json_trailing_comma", make_file("{" + ok_entry + ",}", two), "malformed header");
  expect_rejected("json_bad_escape", make_file("{\"\\q\":1}", ""), "bad escape");
  expect_rejected("json_float", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", two), "only integers");
  expect_rejected("json_duplicate", make_file("{" + ok_entry + "," + ok_entry + "}", two), "duplicate key");
  expect_rejected("json_literal", make_file("{\"x\":null}", ""), "unsupported value");
  expect_rejected("json_bad_utf8", make_file("{\"\xff\":1}", ""), "invalid UTF-8");
  expect_rejected("json_huge_int", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", two), "int64");
  expect_rejected("json_deep", make_file(std::string(100, '[') + std::string(100, ']'), ""), "does not start");
  expect_rejected("json_deep2", make_file("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}", ""), "deeper than 64");
  expect_rejected("not_object", make_file("{\"x\":[1,2]}", ""), "not an object");
  // Tensor descriptions.
  expect_rejected("dtype_f16", make_file("{\"x\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}", two), "unsupported dtype 'F16'");
  expect_rejected("missing_field", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", two), "needs");
  expect_rejected("negative_dim", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", two), "non-negative");
  expect_rejected("size_mismatch", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", two), "do not span 12 bytes");
  expect_rejected("offsets_reversed", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", two), "do not span");
  expect_rejected("offsets_out_of_range", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", two), "outside the data buffer");
  expect_rejected("offsets_overlap", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                               "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two), "overlaps");
  expect_rejected("offsets_gap", make_file("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", two), "gap");
  expect_rejected("metadata_not_string", make_file("{\"__metadata__\":{\"epoch\":3}}", ""), "not string");
}

TEST_CASE("header limits: size, dimensions, metadata entries") {
  // Just over the limit: refused from the length field, before anything is read.
  expect_rejected("header_over_limit", le64(kMaxSafetensorsHeaderBytes + 1) + "{}", "is absurd (the limit is 16777216");
  std::string dims = "{\"x\":{\"dtype\":\"F32\",\"shape\":[";
  for (int k = 0; k < 17; ++k) dims += k ? ",1" : "1";
  dims += "],\"data_offsets\":[0,4]}}";
  expect_rejected("dims17", make_file(dims, floats({1.f})), "more than 16 dimensions");
  std::string meta = "{\"__metadata__\":{";
  for (int k = 0; k < 1025; ++k) meta += (k ? ",\"" : "\"") + std::to_string(k) + "\":\"\"";
  expect_rejected("metadata1025", make_file(meta + "}}", ""), "more than 1024 entries");
  // Syntax errors anywhere come first, even after a bad entry.
  expect_rejected("bad_then_malformed", make_file("{\"x\":[1],\"y\":nul}", ""), "malformed header");
}

TEST_CASE("the memory a hostile header claims stays within a small multiple of its size") {
  // Floods of about 4 MB each: the smallest tensor descriptions that are valid (more than the
  // 65536 tensors allowed), integers in a shape, and metadata entries; and 60000 valid empty
  // tensors, which load. A tree of generic JSON nodes cost ~100 times such a header.
  const size_t target = 4u << 20;
  std::string many = "{";
  for (int k = 0; k < 60000; ++k)
    many += (k ? ",\"" : "\"") + std::to_string(k) + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
  many += "}";
  std::string entries = "{", shape = "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,0],\"shape\":[1",
              meta = "{\"__metadata__\":{\"k\":\"v\"";
  for (size_t k = 0; entries.size() < target; ++k)
    entries += (k ? ",\"" : "\"") + std::to_string(k) + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
  entries += "}";
  while (shape.size() < target) shape += ",1";
  shape += "]}}";
  for (size_t k = 0; meta.size() < target; ++k) meta += ",\"" + std::to_string(k) + "\":\"\"";
  meta += "}}";
  for (const auto& flood : {std::pair<std::string, std::string>{"entries", entries}, {"shape", shape},
                            {"metadata", meta}, {"many", many}}) {
    const std::string& name = flood.first;
    const std::string& header = flood.second;
    const std::string path = temp_dir() + "/flood_" + name + ".safetensors";
    write_bytes(path, make_file(header, ""));
    const size_t before = g_live.load();
    g_peak = before;
    std::string error;
    size_t loaded = 0;
    try {
      loaded = load_safetensors(path).tensors.size();
    } catch (const sg::Error& e) {
      error = e.what();
    }
    const double multiple = (double)(g_peak.load() - before) / (double)header.size();
    MESSAGE(name, ": header of ", header.size(), " bytes, peak ", g_peak.load() - before, " bytes (", multiple,
            "x); error: ", error);
    if (name == "many") {
      CHECK(multiple < 8.0);  // the tensors themselves (objects, shapes, storage) are most of it
      CHECK(loaded == 60000);
    } else {
      CHECK(multiple < 4.0);
      CHECK(error.find(path) != std::string::npos);  // refused: too many tensors, dimensions, entries
    }
  }
}

TEST_CASE("save refuses names the format cannot hold") {
  std::string path = temp_dir() + "/bad_names.safetensors";
  Tensor t = Tensor::zeros({1}, Device::CPU);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"a", t}, {"a", t}}), doctest::Contains("appears twice"), sg::Error);
  CHECK_THROWS_AS(save_safetensors(path, {{"__metadata__", t}}), sg::Error);
  CHECK_THROWS_AS(save_safetensors(path, {{"", t}}), sg::Error);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"\xff", t}}), doctest::Contains("valid header"), sg::Error);
  CHECK(access(path.c_str(), F_OK) != 0);
}

TEST_CASE("a failed save leaves the previous checkpoint intact") {
  std::string path = temp_dir() + "/atomic.safetensors";
  Tensor v1 = Tensor::uniform({16}, -1.f, 1.f, 3, Device::CPU);
  save_safetensors(path, {{"w", v1}}, {{"version", "1"}});
  std::string before = read_bytes(path);
  // Fails while writing the data (after the temporary file was created): an undefined tensor last.
  Tensor v2 = Tensor::uniform({16}, -1.f, 1.f, 4, Device::CPU);
  CHECK_THROWS_AS(save_safetensors(path, {{"w", v2}, {"broken", Tensor()}}, {{"version", "2"}}), sg::Error);
  // A directory that does not exist.
  CHECK_THROWS_WITH_AS(save_safetensors(temp_dir() + "/no/such/dir/x.safetensors", {{"w", v2}}),
                       doctest::Contains("cannot create"), sg::Error);
  CHECK(read_bytes(path) == before);
  CHECK(access((path + ".tmp").c_str(), F_OK) != 0);
  SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata.at("version") == "1");
  CHECK(bit_equal(find_tensor(f.tensors, "w"), v1));
  // A stale temporary file from an interrupted save does not matter.
  write_bytes(path + ".tmp", "garbage");
  save_safetensors(path, {{"w", v2}}, {{"version", "3"}});
  CHECK(load_safetensors(path).metadata.at("version") == "3");
}

TEST_CASE("load_into demands exactly the model's names and shapes") {
  Tensor a = Tensor::zeros({2, 3}, Device::CPU), b = Tensor::zeros({4}, Device::CPU);
  NamedTensors model = {{"a", a}, {"b", b}};
  Tensor a_src = Tensor::uniform({2, 3}, 0.f, 1.f, 5, Device::CPU);
  Tensor b_src = Tensor::uniform({4}, 0.f, 1.f, 6, Device::CPU);
  std::string path = temp_dir() + "/model.safetensors";

  save_safetensors(path, {{"a", a_src}, {"b", Tensor::zeros({5}, Device::CPU)}});
  CHECK_THROWS_WITH_AS(load_into(model, path), doctest::Contains("tensor 'b' has shape (5) in the checkpoint but (4) in the model"), sg::Error);
  CHECK(a.to_vector() == std::vector<float>(6, 0.f));  // nothing copied on failure

  save_safetensors(path, {{"a", a_src}});
  CHECK_THROWS_WITH_AS(load_into(model, path), doctest::Contains("missing tensor 'b' (expected shape (4))"), sg::Error);
  save_safetensors(path, {{"a", a_src}, {"b", b_src}, {"c", b_src}});
  CHECK_THROWS_WITH_AS(load_into(model, path), doctest::Contains("unexpected tensor 'c' (shape (4))"), sg::Error);
  CHECK_THROWS_WITH_AS(load_into(model, path), doctest::Contains(path.c_str()), sg::Error);

  save_safetensors(path, {{"b", b_src}, {"a", a_src}}, {{"k", "v"}});  // order does not matter
  Metadata meta = load_into(model, path);
  CHECK(meta.at("k") == "v");
  CHECK(bit_equal(a, a_src));
  CHECK(bit_equal(b, b_src));
}

namespace {
// A model the elementwise ops can run: y = x * w + b per channel. x: (N, C, H, W).
struct Affine : nn::Module {
  Tensor w, b;
  Affine(Rng& rng, int c) {
    std::vector<float> v;
    for (int i = 0; i < c; ++i) v.push_back(rng.normal(1.f, 0.5f));
    w = register_parameter("w", Tensor::from_vector({1, c, 1, 1}, v, Device::CPU));
    b = register_parameter("b", Tensor::zeros({1, c, 1, 1}, Device::CPU));
    register_buffer("calls", Tensor::zeros({1}, Device::CPU));
  }
  Tensor forward(const Tensor& x) { return x * w + b; }
};

float train_steps(Affine& m, Adam& opt, int from, int to) {
  float loss_value = 0;
  for (int t = from; t < to; ++t) {
    Tensor x = Tensor::uniform({2, 3, 4, 4}, -1.f, 1.f, 100 + (uint64_t)t, Device::CPU);
    Tensor y = x * 2.f + 0.5f;
    opt.zero_grad();
    Tensor d = m.forward(x) - y;
    Tensor loss = mean(d * d);
    loss.backward();
    opt.step();
    loss_value = loss.item();
  }
  return loss_value;
}
}  // namespace

TEST_CASE("model and optimiser resume bit for bit through one checkpoint file") {
  Rng r1(11), r2(11);
  Affine m1(r1, 3), m2(r2, 3);
  Adam o1(m1.named_parameters(), 5e-2f), o2(m2.named_parameters(), 5e-2f);
  train_steps(m1, o1, 0, 4);
  std::string path = temp_dir() + "/resume.safetensors";
  save_safetensors(path, concat_named(with_prefix("model.", m1.state()), with_prefix("optim.", o1.state())),
                   {{"iteration", "4"}});
  SafetensorsFile f = load_safetensors(path);
  load_into(m2.state(), strip_prefix("model.", f.tensors), path);
  load_into(o2.state(), strip_prefix("optim.", f.tensors), path);
  CHECK(std::stoi(f.metadata.at("iteration")) == 4);
  float l1 = train_steps(m1, o1, 4, 8), l2 = train_steps(m2, o2, 4, 8);
  CHECK(l1 == l2);
  for (size_t i = 0; i < m1.state().size(); ++i) CHECK(bit_equal(m1.state()[i].second, m2.state()[i].second));
}
