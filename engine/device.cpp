// device.cpp — device discovery and the process-wide default device.
#include "engine/device.h"

#include <atomic>
#include <cstdlib>

#include "engine/common.h"
#ifdef SGSF_WITH_CUDA
#include "kernels/cuda_launch.h"
#endif

namespace sg {

const char* device_name(Device d) { return d == Device::CUDA ? "cuda" : "cpu"; }

bool cuda_available() {
#ifdef SGSF_WITH_CUDA
  static const bool available = [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no device / no driver" error
      return false;
    }
    return n > 0;
  }();
  return available;
#else
  return false;
#endif
}

std::string cuda_device_info() {
#ifdef SGSF_WITH_CUDA
  if (!cuda_available()) return "no CUDA device found (driver reports none)";
  cudaDeviceProp p{};
  int dev = 0;
  cudaGetDevice(&dev);
  cudaGetDeviceProperties(&p, dev);
  return str(p.name, " (sm_", p.major, p.minor, ", ", p.multiProcessorCount, " SMs, ",
             p.totalGlobalMem / (1024 * 1024), " MiB)");
#else
  return "this build has no CUDA backend (configured with SGSF_WITH_CUDA=OFF or without nvcc)";
#endif
}

int cuda_compute_capability() {
#ifdef SGSF_WITH_CUDA
  if (!cuda_available()) return 0;
  cudaDeviceProp p{};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) return 0;
  return p.major * 10 + p.minor;
#else
  return 0;
#endif
}

static Device initial_default() {
  if (const char* env = std::getenv("SGSF_DEVICE")) {
    std::string s = env;
    if (!s.empty() && s != "auto") return parse_device(s);
  }
  return cuda_available() ? Device::CUDA : Device::CPU;
}

static Device& default_slot() {
  static Device d = initial_default();
  return d;
}

Device default_device() { return default_slot(); }

void set_default_device(Device d) {
  SG_CHECK(d == Device::CPU || cuda_available(), "device: CUDA was requested but ",
           cuda_device_info());
  default_slot() = d;
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::CPU;
  if (s == "auto") return cuda_available() ? Device::CUDA : Device::CPU;
  if (s == "cuda" || s == "gpu") {
    SG_CHECK(cuda_available(), "device: CUDA was requested (--device ", s, ") but ",
             cuda_device_info(), "; use --device cpu");
    return Device::CUDA;
  }
  throw Error(str("device: unknown device '", s, "' (expected cpu, cuda or auto)"));
}

namespace {
std::atomic<int64_t> g_host_waits{0};
std::atomic<int> g_deterministic{-1};  // -1: not set yet (read SGSF_DETERMINISTIC)
}

void set_deterministic(bool on) { g_deterministic.store(on ? 1 : 0); }
bool deterministic() {
  int v = g_deterministic.load();
  if (v < 0) {
    const char* e = std::getenv("SGSF_DETERMINISTIC");
    v = e && e[0] == '1' ? 1 : 0;
    g_deterministic.store(v);
  }
  return v == 1;
}
int64_t cuda_host_waits() { return g_host_waits.load(); }
void note_cuda_host_wait() { g_host_waits.fetch_add(1); }

void synchronize(Device d) {
#ifdef SGSF_WITH_CUDA
  if (d == Device::CUDA) {
    note_cuda_host_wait();
    // A kernel's fault surfaces here, at the first wait after it: reported, not dropped.
    SG_CUDA_CHECK(cudaDeviceSynchronize());
  }
#else
  (void)d;
#endif
}

}  // namespace sg
