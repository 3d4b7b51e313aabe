// data_test_util.h — helpers for the data-pipeline tests: a scratch folder under the build folder
// (next to the test executable), and tiny image/mask writers.
#pragma once
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "data/builtin.h"
#include "data/image_io.h"
#include "tests/hostile_files.h"
#include "engine/rng.h"

namespace sg::test {

// <folder of the running test executable>/test_tmp/<pid>/<name>, emptied and recreated. The
// process id keeps concurrent test processes (ctest -j) apart; the folder is removed at exit.
inline std::filesystem::path scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  struct ProcessDir {
    fs::path path;
    ProcessDir() {
      std::error_code ec;
      fs::path exe = fs::read_symlink("/proc/self/exe", ec);
      fs::path base = ec ? fs::temp_directory_path() : exe.parent_path();
      path = base / "test_tmp" / std::to_string(getpid());
    }
    ~ProcessDir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static ProcessDir process;
  std::error_code ec;
  fs::path dir = process.path / name;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  return dir;
}

// A random RGB image (values on the 8-bit grid, so a PNG round trip is exact).
// Options of a small built-in dataset: images of size x size, that many training, good test and
// per-defect test images.
inline data::BuiltinOptions builtin_options(int size, int train, int test_good, int per_defect) {
  data::BuiltinOptions o;
  o.size = size;
  o.train = train;
  o.test_good = test_good;
  o.test_per_defect = per_defect;
  return o;
}

inline data::Image random_image(int c, int h, int w, uint64_t seed) {
  data::Image img(c, h, w);
  Rng rng(seed);
  for (float& v : img.pixels) v = (float)rng.randint(0, 255) / 255.f;
  return img;
}

inline void write_random_png(const std::filesystem::path& p, int h, int w, uint64_t seed) {
  std::filesystem::create_directories(p.parent_path());
  data::write_png(p.string(), random_image(3, h, w, seed));
}

// A 1-channel mask with a filled square [y0, y0+s) x [x0, x0+s) (or empty when s = 0).
inline void write_mask(const std::filesystem::path& p, int h, int w, int y0 = 0, int x0 = 0, int s = 0) {
  std::filesystem::create_directories(p.parent_path());
  data::Image m(1, h, w, 0.f);
  for (int y = y0; y < y0 + s && y < h; ++y)
    for (int x = x0; x < x0 + s && x < w; ++x) m.at(0, y, x) = 1.f;
  data::write_png(p.string(), m);
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// While alive, every file this process writes is limited to `bytes` (RLIMIT_FSIZE; SIGXFSZ is
// ignored, so a write past the limit fails with EFBIG, the way a write to a full disk fails).
struct FileSizeLimit {
  struct rlimit saved;
  void (*old_handler)(int);
  explicit FileSizeLimit(uint64_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved);
    struct rlimit lim = saved;
    lim.rlim_cur = (rlim_t)bytes;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
};

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace sg::test
