// emu_runtime.cpp — the host side of the emulated CUDA device: device memory, copies, streams,
// events, errors and the device query (see README.md in this folder).
//
// Device memory is one large reserved address range, apart from everything the host allocates,
// kept PROT_NONE whenever no kernel, copy or library stand-in is running: host code that
// dereferences a device pointer faults at once, and a handler names the cause. Copies check their
// direction against where each pointer lives and stay inside one allocation. Work runs when it is
// issued, in one stream order, except asynchronous copies that a GPU may still be doing after the
// call returns (to or from page-locked memory, device to device, memset): those are deferred until
// the next operation or synchronisation, the latest moment CUDA allows, so a missing event wait
// reads or overwrites a staging buffer too early, as it would on a GPU.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "emu_internal.h"

namespace cuda_emu::detail {
namespace {

constexpr size_t kAlign = 256;  // cudaMalloc's alignment
// The device range is protected and opened in steps of 2 MiB, backed by huge pages where the system
// allows: switching access then changes one page-table entry per 2 MiB instead of 512.
constexpr size_t kHugePage = size_t(2) << 20;
size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

std::string hex(const void* p) {
  std::ostringstream s;
  s << p;
  return s.str();
}

// ---- device memory ----------------------------------------------------------------------------
struct Allocation {
  size_t bytes;    // as asked: copies and pointers are checked against this
  size_t rounded;  // as reserved
};

struct Arena {
  char* base = nullptr;
  size_t size = 0;
  size_t mapped = 0;                   // [base, base + mapped) has held allocations (2 MiB steps)
  std::map<size_t, size_t> free_list;  // offset -> length, coalesced
  std::map<size_t, Allocation> live;   // offset -> allocation
  size_t in_use = 0;
  int open_depth = 0;  // DeviceAccess nesting
};

// For the fault handler, which must not take locks.
char* g_base = nullptr;
size_t g_size = 0;
struct sigaction g_previous_segv;

void write_all(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t k = ::write(2, s, n);
    if (k <= 0) return;
    s += k, n -= (size_t)k;
  }
}

// A SIGSEGV. When host code touched the PROT_NONE device range, say so. Then hand the fault on: put
// back the handler that was there before (a test framework's, or the default) and return, so the
// faulting access runs again and meets it. A SIGSEGV sent by kill() or raise() (another handler
// passing it on) gets the default action: the process ends.
void on_segv(int sig, siginfo_t* info, void*) {
  uintptr_t a = (uintptr_t)info->si_addr, b = (uintptr_t)g_base;
  const bool fault = info->si_code > 0;  // raised by the hardware, not sent
  if (fault && g_base && a >= b && a < b + g_size) {
    char num[19] = "0x";
    for (int i = 0; i < 16; ++i) num[2 + i] = "0123456789abcdef"[(a >> (60 - 4 * i)) & 15];
    num[18] = 0;
    write_all("\ncuda-emu: host code read or wrote device memory at ");
    write_all(num);
    write_all(" (a device pointer dereferenced on the host: use cudaMemcpy, or a kernel)\n");
  }
  if (fault) {
    ::sigaction(SIGSEGV, &g_previous_segv, nullptr);
  } else {
    ::signal(SIGSEGV, SIG_DFL);
    ::raise(sig);  // delivered once this handler returns
  }
}

Arena make_arena() {
  Arena a;
  size_t mib = 8192;
  if (const char* e = std::getenv("SGSF_EMU_DEVICE_MEMORY_MB")) mib = std::strtoull(e, nullptr, 10);
  a.size = round_up(mib << 20, kHugePage);
  void* p = ::mmap(nullptr, a.size + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "cuda-emu: cannot reserve %zu MiB of address space for device memory\n", mib);
    std::abort();
  }
  a.base = reinterpret_cast<char*>(round_up(reinterpret_cast<uintptr_t>(p), kHugePage));
  ::madvise(a.base, a.size, MADV_HUGEPAGE);  // a hint: ignored where huge pages are off
  a.free_list[0] = a.size;
  g_base = a.base, g_size = a.size;
  cuda_emu::install_fault_handler();
  return a;
}

Arena& arena() {
  static Arena a = make_arena();
  return a;
}

void set_access(Arena& a, size_t from, size_t to, bool open) {
  if (to > from) ::mprotect(a.base + from, to - from, open ? PROT_READ | PROT_WRITE : PROT_NONE);
}

// The live allocation holding p (or one byte past its end), else nullptr.
const std::pair<const size_t, Allocation>* allocation_of(const void* p) {
  Arena& a = arena();
  const char* c = static_cast<const char*>(p);
  if (c < a.base || c >= a.base + a.size) return nullptr;
  size_t off = (size_t)(c - a.base);
  auto it = a.live.upper_bound(off);
  if (it == a.live.begin()) return nullptr;
  --it;
  return off <= it->first + it->second.bytes ? &*it : nullptr;
}

// ---- page-locked host memory, streams, events, deferred work ------------------------------------
std::map<uintptr_t, size_t>& pinned() {
  static std::map<uintptr_t, size_t> m;
  return m;
}

std::vector<std::function<void()>>& deferred() {
  static std::vector<std::function<void()>> q;
  return q;
}

void run_deferred() {
  while (!deferred().empty()) {
    std::vector<std::function<void()>> q;
    q.swap(deferred());
    for (auto& op : q) op();
  }
}

// ---- errors -----------------------------------------------------------------------------------
thread_local cudaError_t t_last = cudaSuccess;
thread_local cudaError_t t_detail_code = cudaSuccess;
thread_local std::string t_detail;

const char* standard_text(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

}  // namespace

std::recursive_mutex& device_mutex() {
  static std::recursive_mutex m;
  return m;
}

DeviceAccess::DeviceAccess() : lock_(device_mutex()) {
  Arena& a = arena();
  if (a.open_depth++ == 0) {
    set_access(a, 0, a.mapped, true);
    cuda_emu::install_fault_handler();  // back in front if a test framework put its own there
  }
  run_deferred();
}

DeviceAccess::~DeviceAccess() {
  Arena& a = arena();
  if (--a.open_depth == 0) set_access(a, 0, a.mapped, false);
}

Where classify(const void* p) {
  if (!p) return Where::Null;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  Arena& a = arena();
  const char* c = static_cast<const char*>(p);
  if (c >= a.base && c < a.base + a.size) return allocation_of(p) ? Where::Device : Where::FreedDevice;
  auto it = pinned().upper_bound((uintptr_t)p);
  if (it != pinned().begin()) {
    --it;
    if ((uintptr_t)p <= it->first + it->second) return Where::Pinned;
  }
  return Where::Host;
}

const char* where_name(Where w) {
  switch (w) {
    case Where::Null: return "a null pointer";
    case Where::Device: return "device memory";
    case Where::FreedDevice: return "device memory that is not allocated (freed, or never handed out)";
    case Where::Pinned: return "page-locked host memory";
    case Where::Host: return "host memory";
  }
  return "?";
}

cudaError_t fail(cudaError_t code, const std::string& detail) {
  t_last = code;
  t_detail_code = code;
  t_detail = std::string(standard_text(code)) + " [cuda-emu: " + detail + "]";
  return code;
}

std::set<cudaStream_t>& streams() {
  static std::set<cudaStream_t> s;
  return s;
}
bool valid_stream(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  return s == nullptr || streams().count(s) != 0;
}

}  // namespace cuda_emu::detail

// ---- the API ------------------------------------------------------------------------------------
using namespace cuda_emu::detail;

struct CUstream_st {
  unsigned flags = 0;
};
struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
  std::chrono::steady_clock::time_point when;
};

namespace {
std::set<cudaEvent_t>& events() {
  static std::set<cudaEvent_t> s;
  return s;
}
bool valid_event(cudaEvent_t e) { return e && events().count(e) != 0; }

const char* kind_name(cudaMemcpyKind k) {
  switch (k) {
    case cudaMemcpyHostToHost: return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice: return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost: return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice: return "cudaMemcpyDeviceToDevice";
    case cudaMemcpyDefault: return "cudaMemcpyDefault";
  }
  return "an unknown cudaMemcpyKind";
}

// A device-side range must lie inside one live allocation.
cudaError_t check_device_range(const char* api, const char* role, const void* p, size_t n) {
  auto* alloc = allocation_of(p);
  if (!alloc)
    return fail(cudaErrorInvalidValue,
                std::string(api) + ": the " + role + " " + hex(p) + " is not in a live device allocation");
  size_t off = (size_t)(static_cast<const char*>(p) - arena().base) - alloc->first;
  if (off + n > alloc->second.bytes)
    return fail(cudaErrorInvalidValue, std::string(api) + ": " + std::to_string(n) + " bytes at the " + role + " " +
                                           hex(p) + " run past the end of its device allocation (" +
                                           std::to_string(alloc->second.bytes) + " bytes, this pointer at offset " +
                                           std::to_string(off) + ")");
  return cudaSuccess;
}

// Checks a copy against where its pointers live. `deferrable` tells whether a GPU could still be
// running it after an asynchronous call returns (no pageable host memory involved).
cudaError_t check_copy(const char* api, void* dst, const void* src, size_t n, cudaMemcpyKind kind, bool& deferrable) {
  Where d = classify(dst), s = classify(src);
  if (d == Where::Null || s == Where::Null) return fail(cudaErrorInvalidValue, std::string(api) + ": null pointer");
  bool d_dev = d == Where::Device || d == Where::FreedDevice, s_dev = s == Where::Device || s == Where::FreedDevice;
  bool want_d_dev, want_s_dev;
  switch (kind) {
    case cudaMemcpyHostToHost: want_d_dev = false, want_s_dev = false; break;
    case cudaMemcpyHostToDevice: want_d_dev = true, want_s_dev = false; break;
    case cudaMemcpyDeviceToHost: want_d_dev = false, want_s_dev = true; break;
    case cudaMemcpyDeviceToDevice: want_d_dev = true, want_s_dev = true; break;
    case cudaMemcpyDefault: want_d_dev = d_dev, want_s_dev = s_dev; break;
    default:
      return fail(cudaErrorInvalidMemcpyDirection,
                  std::string(api) + ": unknown cudaMemcpyKind " + std::to_string((int)kind));
  }
  if (want_d_dev != d_dev)
    return fail(cudaErrorInvalidMemcpyDirection,
                std::string(api) + "(" + kind_name(kind) + "): the destination " + hex(dst) + " is " + where_name(d));
  if (want_s_dev != s_dev)
    return fail(cudaErrorInvalidMemcpyDirection,
                std::string(api) + "(" + kind_name(kind) + "): the source " + hex(src) + " is " + where_name(s));
  if (d_dev) {
    cudaError_t e = check_device_range(api, "destination", dst, n);
    if (e != cudaSuccess) return e;
  }
  if (s_dev) {
    cudaError_t e = check_device_range(api, "source", src, n);
    if (e != cudaSuccess) return e;
  }
  deferrable = (d_dev || d == Where::Pinned) && (s_dev || s == Where::Pinned) && (d_dev || s_dev);
  return cudaSuccess;
}

cudaError_t copy(const char* api, void* dst, const void* src, size_t n, cudaMemcpyKind kind, bool async,
                 cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, std::string(api) + ": unknown stream");
  bool deferrable = false;
  cudaError_t e = check_copy(api, dst, src, n, kind, deferrable);
  if (e != cudaSuccess) return e;
  if (async && deferrable) {
    deferred().push_back([dst, src, n] { std::memcpy(dst, src, n); });
    return cudaSuccess;
  }
  DeviceAccess access;
  std::memcpy(dst, src, n);
  return cudaSuccess;
}

cudaError_t set(const char* api, void* p, int value, size_t n, bool async, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, std::string(api) + ": unknown stream");
  cudaError_t e = check_device_range(api, "destination", p, n);
  if (e != cudaSuccess) return e;
  if (async) {
    deferred().push_back([p, value, n] { std::memset(p, value, n); });
    return cudaSuccess;
  }
  DeviceAccess access;
  std::memset(p, value, n);
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice, "the emulator has one device, 0");
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice, "the emulator has one device, 0");
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "SGSF emulated CUDA device (kernels on the CPU, engine/cuda_emu)");
  p->totalGlobalMem = arena().size;
  p->sharedMemPerBlock = 48 << 10;  // sm_90 limits
  p->sharedMemPerBlockOptin = 227 << 10;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->major = 9, p->minor = 0;
  p->multiProcessorCount = 1;  // one block at a time
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  *total_bytes = arena().size;
  *free_bytes = arena().size - arena().in_use;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  DeviceAccess access;  // runs deferred work
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  cudaError_t e = t_last;
  t_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return t_last; }

const char* cudaGetErrorString(cudaError_t e) {
  if (e != cudaSuccess && e == t_detail_code && !t_detail.empty()) return t_detail.c_str();
  return standard_text(e);
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

// First fit over the free list; fresh memory is filled with 0xFF bytes (NaN as float), as a GPU's
// is garbage, so a kernel that reads what nobody wrote gives NaN instead of a lucky zero.
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return fail(cudaErrorInvalidValue, "cudaMalloc: null output pointer");
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  Arena& a = arena();
  size_t rounded = round_up(bytes, kAlign);
  for (auto it = a.free_list.begin(); it != a.free_list.end(); ++it) {
    if (it->second < rounded) continue;
    size_t off = it->first, len = it->second;
    a.free_list.erase(it);
    if (len > rounded) a.free_list[off + rounded] = len - rounded;
    a.live[off] = Allocation{bytes, rounded};
    a.in_use += rounded;
    size_t end = round_up(off + rounded, kHugePage);
    if (end > a.mapped) {
      if (a.open_depth > 0) set_access(a, a.mapped, end, true);
      a.mapped = end;
    }
    *ptr = a.base + off;
    DeviceAccess access;
    std::memset(*ptr, 0xFF, rounded);
    return cudaSuccess;
  }
  return fail(cudaErrorMemoryAllocation, "cudaMalloc: " + std::to_string(bytes) + " bytes do not fit in the " +
                                             std::to_string(a.size >> 20) +
                                             " MiB emulated device (SGSF_EMU_DEVICE_MEMORY_MB)");
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  DeviceAccess access;  // cudaFree waits for the device
  Arena& a = arena();
  const char* c = static_cast<const char*>(ptr);
  auto it = (c >= a.base && c < a.base + a.size) ? a.live.find((size_t)(c - a.base)) : a.live.end();
  if (it == a.live.end())
    return fail(cudaErrorInvalidValue, "cudaFree: " + hex(ptr) + " is not the start of a live device allocation (" +
                                           where_name(classify(ptr)) + ")");
  size_t off = it->first, len = it->second.rounded;
  a.live.erase(it);
  a.in_use -= len;
  auto next = a.free_list.lower_bound(off);
  if (next != a.free_list.end() && next->first == off + len) {  // merge with the following range
    len += next->second;
    next = a.free_list.erase(next);
  }
  if (next != a.free_list.begin()) {  // and with the preceding one
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      prev->second += len;
      return cudaSuccess;
    }
  }
  a.free_list[off] = len;
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) { return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault); }

cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned int) {
  if (!ptr) return fail(cudaErrorInvalidValue, "cudaHostAlloc: null output pointer");
  size_t page = (size_t)::sysconf(_SC_PAGESIZE);
  void* p = std::aligned_alloc(page, round_up(bytes == 0 ? 1 : bytes, page));
  if (!p) return fail(cudaErrorMemoryAllocation, "cudaHostAlloc: out of host memory");
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  pinned()[(uintptr_t)p] = bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  DeviceAccess access;  // waits for the device, as cudaFreeHost does
  auto it = pinned().find((uintptr_t)ptr);
  if (it == pinned().end())
    return fail(cudaErrorInvalidValue,
                "cudaFreeHost: " + hex(ptr) + " was not allocated by cudaMallocHost/cudaHostAlloc");
  pinned().erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  return copy("cudaMemcpy", dst, src, n, kind, false, nullptr);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream) {
  return copy("cudaMemcpyAsync", dst, src, n, kind, true, stream);
}
cudaError_t cudaMemset(void* p, int value, size_t n) { return set("cudaMemset", p, value, n, false, nullptr); }
cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t stream) {
  return set("cudaMemsetAsync", p, value, n, true, stream);
}

cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  *s = new CUstream_st{flags};
  streams().insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (!s || !streams().erase(s)) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: unknown stream");
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  DeviceAccess access;
  return valid_stream(s) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: unknown stream");
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (!valid_stream(s) || !valid_event(e))
    return fail(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent: unknown stream or event");
  return cudaSuccess;  // one stream order for everything: nothing to wait for
}

cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  *e = new CUevent_st{flags, false, {}};
  events().insert(*e);
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (!e || !events().erase(e))
    return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy: unknown or destroyed event");
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (!valid_event(e)) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: unknown or destroyed event");
  if (!valid_stream(s)) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: unknown stream");
  e->recorded = true;  // deferred copies stay deferred: only a wait on the event completes them
  e->when = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  DeviceAccess access;  // completes everything issued so far, which includes the event's work
  if (!valid_event(e)) return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: unknown or destroyed event");
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaEventSynchronize(e); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (!valid_event(a) || !valid_event(b) || !a->recorded || !b->recorded)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event is unknown or was never recorded");
  if ((a->flags | b->flags) & cudaEventDisableTiming)
    return fail(cudaErrorInvalidResourceHandle,
                "cudaEventElapsedTime: an event was created with cudaEventDisableTiming");
  *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  return cudaSuccess;
}

namespace cuda_emu {
void install_fault_handler() {
  struct sigaction sa, previous;
  ::sigaction(SIGSEGV, nullptr, &previous);
  if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction == on_segv) return;  // already in front
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGSEGV, &sa, &previous);
  g_previous_segv = previous;  // every fault is passed on to it
}

void run_on_device(cudaStream_t stream, void (*fn)(void*), void* ctx) {
  DeviceAccess access;
  if (!valid_stream(stream)) {
    fail(cudaErrorInvalidResourceHandle, "library call on an unknown stream");
    return;
  }
  fn(ctx);
}
bool is_device_address(const void* p) {
  Where w = classify(p);
  return w == Where::Device || w == Where::FreedDevice;
}
}  // namespace cuda_emu
