// emu_scheduler.cpp — how the emulated device runs a kernel launch.
//
// 1. The launch is checked as a GPU checks it (block and grid limits of sm_90, shared memory, the
//    stream) and every pointer argument must be null, device memory or page-locked host memory.
//    A failure is reported through cudaGetLastError, so SG_KERNEL_CHECK throws as on hardware.
// 2. The blocks run one after another in a shuffled order (a kernel may not depend on block order).
// 3. Before each block, the kernel's __shared__ arrays are filled with 0xFF bytes (NaN as float, -1
//    as int). They are found twice over: the linker section sg_emu_shared holds those of ordinary
//    functions, and the symbol table (emu_symbols.cpp) those of the kernel itself, template or not.
// 4. The threads of a block are fibers. A phase runs every live thread, one at a time and in a
//    freshly shuffled order, until it reaches the next barrier or returns; the barrier then opens
//    and the next phase starts. A thread that reads what another thread writes in the same phase
//    (a missing __syncthreads) therefore sees the poison or a stale value in some order, and the
//    result is wrong instead of lucky.
//
// Fibers: Boost.Context (boost::context::fiber), a maintained library packaged by Debian. A switch
// is a few register saves, without the system call that POSIX swapcontext() makes on every switch
// to save the signal mask; ucontext is also obsolescent in POSIX. Switches happen only at barriers:
// one fiber runs thread after thread until one of them waits at a barrier, so a kernel without
// barriers costs one switch per block. Fibers and their stacks (with a guard page) are reused.
//
// Seeds: SGSF_EMU_SEED (default fixed) seeds the shuffles; each launch draws a new permutation.
// SGSF_EMU_TRACE=1 prints every launch (kernel, grid, block, site) to stderr.
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "emu_internal.h"

// Provided by the linker for the section that holds every __shared__ object (see emu_device.h).
extern "C" char __start_sg_emu_shared[];
extern "C" char __stop_sg_emu_shared[];

namespace cuda_emu::detail {
namespace {

namespace ctx = boost::context;

// Makes sure the section exists in every program linked with the emulator.
__attribute__((section("sg_emu_shared"), used)) unsigned char g_section_anchor[16];

constexpr size_t kStackBytes = 64 << 10;

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return (uint64_t)(((unsigned __int128)next() * n) >> 64); }  // in [0, n)
};

template <typename T>
void shuffle(std::vector<T>& v, SplitMix64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

uint64_t base_seed() {
  static const uint64_t seed = [] {
    const char* e = std::getenv("SGSF_EMU_SEED");
    return e ? std::strtoull(e, nullptr, 10) : 0x5347534645ull;
  }();
  return seed;
}

struct Parked {
  ctx::fiber fiber;
  uint32_t tid;
  const char* file;
  int line;
  int predicate;
};

// The state of the launch and block being run, shared by the scheduler and the thread fibers.
struct Runner {
  // The launch.
  void (*body)(void*) = nullptr;  // one thread's work: the kernel with its arguments
  void* body_ctx = nullptr;
  const std::vector<StaticObject>* shared_arrays = nullptr;  // the kernel's own __shared__ arrays
  std::vector<uint3> coords;  // threadIdx of each linear thread id, for this launch's block shape
  SplitMix64 rng{0};
  uint64_t launches = 0;
  std::string error;  // the first barrier misuse of this launch

  // The block.
  std::vector<uint32_t> fresh;  // phase 0: threads not started yet, in their shuffled order
  size_t next_fresh = 0;
  std::vector<Parked> parked;    // threads waiting at the barrier that ends this phase
  std::vector<Parked> phase;     // the threads of the phase running now
  std::vector<ctx::fiber> idle;  // fibers whose thread returned, ready for other threads
  int barrier_result = 0;        // what __syncthreads_count returns after the barrier opens

  // The switch: `back` is the scheduler while a thread fiber runs. A fiber sets the rest before it
  // switches back: parked at a barrier (where, with which predicate), or out of work.
  ctx::fiber back;
  bool at_barrier = false;
  uint32_t tid = 0;
  const char* file = nullptr;
  int line = 0;
  int predicate = 0;

  void enter(uint32_t t) {
    tid = t;
    thread_idx = coords[t];
  }
};

Runner* g_running = nullptr;  // the runner of the kernel in progress (one at a time: device lock)

// A fiber that runs not-yet-started threads until none is left, then reports itself idle. A thread
// that waits at a barrier keeps the fiber (its stack holds the thread's state) until it returns.
ctx::fiber new_worker(Runner* r) {
  return ctx::fiber(std::allocator_arg, ctx::protected_fixedsize_stack(kStackBytes), [r](ctx::fiber&& back) {
    r->back = std::move(back);
    for (;;) {
      while (r->next_fresh < r->fresh.size()) {
        r->enter(r->fresh[r->next_fresh++]);
        r->body(r->body_ctx);
      }
      r->at_barrier = false;
      r->back = std::move(r->back).resume();
    }
    return std::move(r->back);
  });
}

// A fiber came back to the scheduler: file it as parked or idle.
void settle(Runner& r, ctx::fiber&& f) {
  if (r.at_barrier)
    r.parked.push_back(Parked{std::move(f), r.tid, r.file, r.line, r.predicate});
  else
    r.idle.push_back(std::move(f));
}

std::string thread_str(uint32_t tid) {
  const dim3& b = block_dim;
  return "(" + std::to_string(tid % b.x) + "," + std::to_string((tid / b.x) % b.y) + "," +
         std::to_string(tid / (b.x * b.y)) + ")";
}

void run_block(Runner& r, uint32_t nthreads) {
  std::memset(__start_sg_emu_shared, 0xFF, (size_t)(__stop_sg_emu_shared - __start_sg_emu_shared));
  for (const StaticObject& s : *r.shared_arrays) std::memset(s.address, 0xFF, s.bytes);
  // Phase 0: every thread from its start.
  r.fresh.resize(nthreads);
  std::iota(r.fresh.begin(), r.fresh.end(), 0u);
  shuffle(r.fresh, r.rng);
  r.next_fresh = 0;
  while (r.next_fresh < r.fresh.size()) {
    ctx::fiber w;
    if (!r.idle.empty()) {
      w = std::move(r.idle.back());
      r.idle.pop_back();
    } else {
      w = new_worker(&r);
    }
    settle(r, std::move(w).resume());
  }
  // Every later phase: the threads parked at a barrier go on, in a new order.
  std::vector<Parked>& phase = r.phase;
  while (!r.parked.empty()) {
    phase.swap(r.parked);
    int count = 0;
    for (const Parked& p : phase) {
      count += p.predicate;
      const Parked& q = phase.front();
      if (r.error.empty() && (p.line != q.line || (p.file != q.file && std::strcmp(p.file, q.file) != 0)))
        r.error = "threads of block (" + std::to_string(block_idx.x) + "," + std::to_string(block_idx.y) + "," +
                  std::to_string(block_idx.z) + ") wait at different barriers: thread " + thread_str(q.tid) + " at " +
                  q.file + ":" + std::to_string(q.line) + ", thread " + thread_str(p.tid) + " at " + p.file + ":" +
                  std::to_string(p.line);
    }
    r.barrier_result = count;
    shuffle(phase, r.rng);
    for (Parked& p : phase) {
      r.enter(p.tid);
      settle(r, std::move(p.fiber).resume());
    }
    phase.clear();
  }
}

std::string dims(dim3 d) {
  return "(" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + ")";
}

}  // namespace

int barrier(const char* file, int line, int predicate) {
  Runner* r = g_running;
  if (!r) {
    std::fprintf(stderr, "cuda-emu: __syncthreads called outside a kernel at %s:%d\n", file, line);
    std::abort();
  }
  r->at_barrier = true;
  r->file = file;
  r->line = line;
  r->predicate = predicate;
  r->back = std::move(r->back).resume();
  return r->barrier_result;
}

void launch(const LaunchSite& site, const void* kernel, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            const void* const* pointer_args, const int* pointer_positions, int pointer_count, void (*body)(void*),
            void* ctx) {
  const std::string where = std::string(site.kernel) + " at " + site.file + ":" + std::to_string(site.line);
  auto reject = [&](cudaError_t code, const std::string& why) { fail(code, "launch of " + where + ": " + why); };
  // ---- the configuration, against sm_90's limits
  const uint64_t threads = (uint64_t)block.x * block.y * block.z;
  if (threads == 0) return reject(cudaErrorInvalidConfiguration, "empty block " + dims(block));
  if ((uint64_t)grid.x * grid.y * grid.z == 0) return reject(cudaErrorInvalidConfiguration, "empty grid " + dims(grid));
  if (threads > 1024)
    return reject(cudaErrorInvalidConfiguration,
                  std::to_string(threads) + " threads per block " + dims(block) + " (limit 1024)");
  if (block.x > 1024 || block.y > 1024 || block.z > 64)
    return reject(cudaErrorInvalidConfiguration,
                  "block " + dims(block) + " exceeds the per-dimension limits (1024, 1024, 64)");
  if (grid.x > 2147483647u || grid.y > 65535u || grid.z > 65535u)
    return reject(cudaErrorInvalidConfiguration, "grid " + dims(grid) + " exceeds the limits (2^31 - 1, 65535, 65535)");
  const std::vector<StaticObject>& shared_arrays = static_locals_of(kernel);
  size_t static_bytes = 0;
  for (const StaticObject& s : shared_arrays) static_bytes += s.bytes;
  if (static_bytes > (48u << 10))
    return reject(cudaErrorInvalidValue,
                  std::to_string(static_bytes) + " bytes of static shared memory (limit 48 KiB)");
  if (shared_bytes > (48u << 10) || static_bytes + shared_bytes > (227u << 10))
    return reject(cudaErrorInvalidValue, std::to_string(shared_bytes) + " bytes of dynamic shared memory (+ " +
                                             std::to_string(static_bytes) +
                                             " static; limits: 48 KiB dynamic without an opt-in, 227 KiB in all)");
  if (!valid_stream(stream)) return reject(cudaErrorInvalidResourceHandle, "unknown stream");
  // ---- pointer arguments: a kernel can only dereference device or page-locked host memory
  for (int k = 0; k < pointer_count; ++k) {
    Where w = classify(pointer_args[k]);
    if (w == Where::Host || w == Where::FreedDevice) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%p", pointer_args[k]);
      return reject(cudaErrorIllegalAddress, "argument " + std::to_string(pointer_positions[k]) + " (" + buf + ") is " +
                                                 where_name(w) + ", which a kernel cannot dereference");
    }
  }

  // ---- run: every block, in a shuffled order
  static const bool trace = std::getenv("SGSF_EMU_TRACE") != nullptr;
  if (trace)
    std::fprintf(stderr, "cuda-emu: launch %s grid %s block %s\n", where.c_str(), dims(grid).c_str(),
                 dims(block).c_str());
  DeviceAccess access;
  static thread_local Runner* runner = new Runner;  // kept for the thread's lifetime (its fibers are reused)
  Runner& r = *runner;
  r.body = body;
  r.body_ctx = ctx;
  r.error.clear();
  r.shared_arrays = &shared_arrays;
  r.coords.resize(threads);
  for (uint32_t t = 0; t < threads; ++t)
    r.coords[t] = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
  r.rng = SplitMix64{base_seed() ^ (++r.launches * 0xD1B54A32D192ED03ull)};
  block_dim = block;
  grid_dim = grid;
  g_running = &r;
  const uint64_t gx = grid.x, gy = grid.y, nblocks = gx * gy * grid.z;
  auto run = [&](uint64_t b) {
    block_idx = uint3{(unsigned)(b % gx), (unsigned)((b / gx) % gy), (unsigned)(b / (gx * gy))};
    run_block(r, (uint32_t)threads);
  };
  if (nblocks <= (1u << 24)) {
    static thread_local std::vector<uint32_t> order;
    order.resize(nblocks);
    std::iota(order.begin(), order.end(), 0u);
    shuffle(order, r.rng);
    for (uint32_t b : order) run(b);
  } else {  // a bijection i -> (a i + c) mod 2^k, skipping values past the grid
    uint64_t m = 1;
    while (m < nblocks) m <<= 1;
    const uint64_t a = r.rng.next() | 1, c = r.rng.next();
    for (uint64_t i = 0; i < m; ++i) {
      uint64_t b = (a * i + c) & (m - 1);
      if (b < nblocks) run(b);
    }
  }
  g_running = nullptr;
  if (!r.error.empty()) fail(cudaErrorLaunchFailure, "kernel " + where + ": " + r.error);
}

}  // namespace cuda_emu::detail
