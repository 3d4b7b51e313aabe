// traffic.cpp — the traffic ledger (see traffic.h).
#include "kernels/traffic.h"

#include <atomic>
#include <chrono>
#include <mutex>

#ifdef SGSF_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace sg::kernels::traffic {
namespace {
std::atomic<bool> g_on{false};
bool g_timed = false;
std::mutex g_mu;
std::vector<Entry> g_rows;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
void wait_device() {
#ifdef SGSF_WITH_CUDA
  cudaDeviceSynchronize();  // a fault is reported by the launch's own check right after
#endif
}
}  // namespace

void start(bool timed) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_rows.clear();
  g_timed = timed;
  g_on.store(true);
}

void stop() { g_on.store(false); }
bool recording() { return g_on.load(std::memory_order_relaxed); }

std::vector<Entry> entries() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_rows;
}

Scope::Scope(const char* kernel, double bytes, double flops, bool per_parameter)
    : kernel_(kernel), bytes_(bytes), flops_(flops), per_parameter_(per_parameter) {
  if (!recording()) return;
  active_ = true;
  if (g_timed) {
    wait_device();
    t0_ = now();
  }
}

Scope::~Scope() {
  if (!active_) return;
  double seconds = 0;
  if (g_timed) {
    wait_device();
    seconds = now() - t0_;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  for (Entry& e : g_rows)
    if (e.kernel == kernel_) {
      e.calls++;
      e.bytes += bytes_;
      e.flops += flops_;
      e.seconds += seconds;
      return;
    }
  g_rows.push_back(Entry{kernel_, 1, bytes_, flops_, seconds, per_parameter_});
}

}  // namespace sg::kernels::traffic
