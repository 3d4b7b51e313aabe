// allocator.cpp — CPU allocation plus the CUDA caching allocator (see allocator.h).
#include "engine/allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>

#include "engine/common.h"
#ifdef SGSF_WITH_CUDA
#include "engine/cuda_check.h"
#endif

namespace sg {
namespace {

struct Counters {
  std::mutex mu;
  MemoryStats stats;
};

Counters& counters(Device d) {
  static Counters cpu, gpu;
  return d == Device::CUDA ? gpu : cpu;
}

void note_alloc(MemoryStats& s, size_t bytes) {
  s.bytes_in_use += bytes;
  if (s.bytes_in_use > s.peak_bytes_in_use) s.peak_bytes_in_use = s.bytes_in_use;
}

// A cached block of exactly `rounded` bytes, taken out of `free` and counted in use; null if none.
void* take_cached(std::multimap<size_t, void*>& free, size_t rounded, MemoryStats& s) {
  auto it = free.find(rounded);
  if (it == free.end()) return nullptr;
  void* p = it->second;
  free.erase(it);
  s.bytes_cached -= rounded;
  note_alloc(s, rounded);
  return p;
}

// CPU blocks of at least this size are cached: a training step allocates the same activation and
// gradient sizes every iteration, and handing a block straight back avoids the page faults of fresh
// memory from the system (measured: a 2 MiB ReLU gradient took 5x longer to write into fresh pages
// than into a reused block). Smaller blocks go back to malloc, which reuses them well by itself.
constexpr size_t kCpuCacheMin = size_t(1) << 16;

// Rounded size -> free CPU blocks of exactly that size. Created once and never destroyed, so a
// tensor freed during the program's exit (a static one) still finds it; `closed` is set when the
// program ends, and from then on blocks go straight back to the system.
struct CpuCache {
  std::multimap<size_t, void*> blocks;
  bool closed = false;
};
CpuCache& cpu_cache() {
  static CpuCache* c = new CpuCache;
  return *c;
}
std::multimap<size_t, void*>& free_cpu_blocks() { return cpu_cache().blocks; }

// At exit, the cached blocks go back to the system (so that a leak checker sees none).
struct CpuCacheCloser {
  ~CpuCacheCloser() {
    CpuCache& c = cpu_cache();
    for (auto& kv : c.blocks) std::free(kv.second);
    c.blocks.clear();
    c.closed = true;
  }
} g_cpu_cache_closer;

size_t round_cpu(size_t bytes) {
  const size_t align = bytes >= kCpuCacheMin ? 4096 : 64;
  return (bytes + align - 1) / align * align;
}

void release_cpu_cache_locked(MemoryStats& s) {
  for (auto& kv : free_cpu_blocks()) {
    std::free(kv.second);
    s.device_frees++;
  }
  free_cpu_blocks().clear();
  s.bytes_cached = 0;
}

#ifdef SGSF_WITH_CUDA
// Rounded size -> free blocks of exactly that size.
std::multimap<size_t, void*>& free_blocks() {
  static std::multimap<size_t, void*> m;
  return m;
}

size_t round_cuda(size_t bytes) {
  const size_t small = 512, large = size_t(2) << 20;
  if (bytes <= (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

// Every cached block goes back to the driver; a failed free (an earlier kernel's fault surfacing
// here) is reported once all were tried.
void release_cache_locked(MemoryStats& s) {
  cudaError_t first = cudaSuccess;
  for (auto& kv : free_blocks()) {
    const cudaError_t e = cudaFree(kv.second);
    if (e != cudaSuccess && first == cudaSuccess) first = e;
    s.device_frees++;
  }
  free_blocks().clear();
  s.bytes_cached = 0;
  SG_CUDA_CHECK(first);
}
#endif

}  // namespace

void* allocate(Device d, size_t bytes) {
  if (bytes == 0) bytes = 1;
  Counters& c = counters(d);
  std::lock_guard<std::mutex> lock(c.mu);
  if (d == Device::CPU) {
    const size_t rounded = round_cpu(bytes);
    if (rounded >= kCpuCacheMin)
      if (void* p = take_cached(free_cpu_blocks(), rounded, c.stats)) return p;
    void* p = std::aligned_alloc(64, rounded);
    if (!p && c.stats.bytes_cached > 0) {  // give the cache back and try once more
      release_cpu_cache_locked(c.stats);
      p = std::aligned_alloc(64, rounded);
    }
    SG_CHECK(p != nullptr, "allocate: out of host memory asking for ", bytes, " bytes");
    c.stats.device_allocs++;
    note_alloc(c.stats, rounded);
    return p;
  }
#ifdef SGSF_WITH_CUDA
  size_t rounded = round_cuda(bytes);
  if (void* p = take_cached(free_blocks(), rounded, c.stats)) return p;
  void* p = nullptr;
  if (const cudaError_t e = cudaMalloc(&p, rounded); e != cudaSuccess) {
    // Only "out of memory" is worth a retry with the cache emptied; anything else is an earlier
    // fault (a kernel's) surfacing here, reported as it is.
    SG_CUDA_CHECK(e == cudaErrorMemoryAllocation ? cudaSuccess : e);
    cudaGetLastError();
    release_cache_locked(c.stats);
    SG_CUDA_CHECK(cudaMalloc(&p, rounded));
  }
  c.stats.device_allocs++;
  note_alloc(c.stats, rounded);
  return p;
#else
  throw Error("allocate: this build has no CUDA backend");
#endif
}

void deallocate(Device d, void* p, size_t bytes) {
  if (!p) return;
  if (bytes == 0) bytes = 1;
  Counters& c = counters(d);
  std::lock_guard<std::mutex> lock(c.mu);
  if (d == Device::CPU) {
    const size_t rounded = round_cpu(bytes);
    c.stats.bytes_in_use -= rounded;
    // Cache it unless the cache would outgrow the most memory ever in use (a bound on what blocks
    // of sizes no longer asked for, after a change of batch or image size, can hold).
    if (rounded >= kCpuCacheMin && !cpu_cache().closed && c.stats.bytes_cached + rounded <= c.stats.peak_bytes_in_use) {
      c.stats.bytes_cached += rounded;
      free_cpu_blocks().emplace(rounded, p);
    } else {
      std::free(p);
      c.stats.device_frees++;
    }
    return;
  }
#ifdef SGSF_WITH_CUDA
  size_t rounded = round_cuda(bytes);
  c.stats.bytes_in_use -= rounded;
  c.stats.bytes_cached += rounded;
  free_blocks().emplace(rounded, p);
#endif
}

MemoryStats memory_stats(Device d) {
  Counters& c = counters(d);
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void reset_peak_memory(Device d) {
  Counters& c = counters(d);
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
}

void empty_cache(Device d) {
  if (d == Device::CPU) {
    Counters& c = counters(d);
    std::lock_guard<std::mutex> lock(c.mu);
    release_cpu_cache_locked(c.stats);
    return;
  }
#ifdef SGSF_WITH_CUDA
  Counters& c = counters(d);
  std::lock_guard<std::mutex> lock(c.mu);
  SG_CUDA_CHECK(cudaDeviceSynchronize());
  release_cache_locked(c.stats);
#else
  (void)d;
#endif
}

void* allocate_pinned(size_t bytes) {
#ifdef SGSF_WITH_CUDA
  if (cuda_available()) {
    void* p = nullptr;
    SG_CUDA_CHECK(cudaMallocHost(&p, bytes == 0 ? 1 : bytes));
    return p;
  }
#endif
  void* p = std::malloc(bytes == 0 ? 1 : bytes);
  SG_CHECK(p != nullptr, "allocate_pinned: out of host memory asking for ", bytes, " bytes");
  return p;
}

void free_pinned(void* p) {
  if (!p) return;
#ifdef SGSF_WITH_CUDA
  if (cuda_available()) {
    cudaFreeHost(p);
    return;
  }
#endif
  std::free(p);
}

}  // namespace sg
