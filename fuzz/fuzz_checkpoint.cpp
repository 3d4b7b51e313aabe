// fuzz_checkpoint.cpp — libFuzzer target for the safetensors loader (engine/checkpoint.h). Each input
// is a whole file, handed to load_safetensors through an in-memory file (memfd): it is either loaded
// or refused with sg::Error. A file it loads is written back with save_safetensors and must load
// again with the same names, shapes, values and metadata.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/checkpoint.h"
#include "engine/common.h"

namespace {

int memory_file() {
  static const int fd = memfd_create("fuzz_checkpoint", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  return fd;
}

std::string scratch_path() {
  static const std::string p = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/fuzz_checkpoint_" + std::to_string(getpid()) + ".safetensors";
  }();
  return p;
}

bool same(const sg::SafetensorsFile& a, const sg::SafetensorsFile& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [na, ta] = a.tensors[i];
    const auto& [nb, tb] = b.tensors[i];
    if (na != nb || ta.shape() != tb.shape()) return false;
    const std::vector<float> x = ta.to_vector(), y = tb.to_vector();
    if (!x.empty() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memory_file();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) std::abort();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  sg::SafetensorsFile f;
  try {
    f = sg::load_safetensors(path);
  } catch (const sg::Error&) {
    return 0;
  }
  // Loaded: the writer must round-trip it (tensor order aside: the writer lays data out in order).
  const std::string out = scratch_path();
  try {
    sg::save_safetensors(out, f.tensors, f.metadata);
  } catch (const sg::Error&) {
    std::abort();  // the reader accepted what the writer refuses
  }
  const sg::SafetensorsFile g = sg::load_safetensors(out);
  unlink(out.c_str());
  if (!same(f, g)) std::abort();
  return 0;
}
