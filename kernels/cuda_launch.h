// cuda_launch.h — how kernels are launched and checked: SG_LAUNCH, SG_KERNEL_CHECK, SG_CUDA_CHECK,
// SG_GRID_STRIDE, the one stream all work is queued on, and the launch shape of every 1-D kernel.
// Include only from CUDA-enabled code (.cu files, or .cpp files inside #ifdef SGSF_WITH_CUDA). A
// failing call throws sg::Error naming the expression and file:line.
//
// In the emulated build (-DSGSF_CUDA_EMULATION=ON, see engine/cuda_emu/README.md) <cuda_runtime.h>
// is the emulator's: it stands in for the CUDA toolkit, and the kernels compile unchanged against it.
// engine/cuda_check.h includes this header and adds the cuBLAS and cuDNN checks and handles.
#pragma once
#ifdef SGSF_WITH_CUDA
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "kernels/kernel_common.h"

// Every kernel launch: SG_LAUNCH(kernel, grid, block, shared_bytes, stream)(arguments...), which is
// kernel<<<grid, block, shared_bytes, stream>>>(arguments...) under nvcc. In the emulated build it
// checks the launch and runs the kernel on the CPU (engine/cuda_emu/emu_device.h).
// Every launch is counted (sg::cuda::launches()), so a test can bound the launches of a training step.
#ifdef SGSF_CUDA_EMULATION
#define SG_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  ::sg::cuda::count_launch(), ::cuda_emu::launch(kernel, ::cuda_emu::LaunchSite{#kernel, __FILE__, __LINE__}, grid, block, shared_bytes, stream)
#else
#define SG_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  ::sg::cuda::count_launch(), kernel<<<grid, block, shared_bytes, stream>>>
#endif

#define SG_CUDA_CHECK(expr)                                                                     \
  do {                                                                                          \
    cudaError_t sg_err_ = (expr);                                                               \
    if (sg_err_ != cudaSuccess)                                                                 \
      throw ::sg::Error(::sg::str("CUDA error '", cudaGetErrorString(sg_err_), "' in ", #expr, \
                                  " at ", __FILE__, ":", __LINE__));                            \
  } while (0)

// The loop of a one-thread-per-element kernel: thread i handles i, i + (all threads), ...
#define SG_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// The loops of a kernel launched on plane_grid(P, R, Cn): plane p, row r, column c (int32_t).
#define SG_PLANES(p, r, c, P, R, Cn)                                                      \
  for (int32_t p = (int32_t)blockIdx.z; p < (P); p += (int32_t)gridDim.z)                  \
    for (int32_t r = (int32_t)blockIdx.y; r < (R); r += (int32_t)gridDim.y)                \
      for (int32_t c = (int32_t)(blockIdx.x * blockDim.x + threadIdx.x); c < (Cn);          \
           c += (int32_t)(gridDim.x * blockDim.x))

// After every kernel launch: catches bad launch configurations immediately.
#define SG_KERNEL_CHECK() SG_CUDA_CHECK(cudaGetLastError())

namespace sg::cuda {
// Kernel launches since the program started (SG_LAUNCH counts each one; cuBLAS and cuDNN calls are
// not counted).
inline std::atomic<int64_t>& launch_counter() {
  static std::atomic<int64_t> n{0};
  return n;
}
inline void count_launch() { launch_counter().fetch_add(1, std::memory_order_relaxed); }
inline int64_t launches() { return launch_counter().load(); }

// The one stream all work is queued on: the legacy default stream, so kernels, library calls and
// copies are ordered without events, and the engine's caching allocator may reuse a freed block at
// once.
inline cudaStream_t stream() { return 0; }

// Blocks of `block` threads enough to cover n elements (no cap): for 2-D/3-D tilings and for
// kernels that handle exactly one element per thread.
inline unsigned grid_for(int64_t n, int block) { return (unsigned)((n + block - 1) / block); }

// The launch shape of every 1-D kernel: kBlock threads per block (a power of two, so the
// shared-memory tree reductions halve it evenly), and enough blocks to cover n elements, at least
// one and at most kMaxGrid (a grid-stride loop, SG_GRID_STRIDE, then visits the rest).
constexpr int kBlock = 256;
static_assert((kBlock & (kBlock - 1)) == 0, "kBlock must be a power of two");
constexpr int64_t kMaxGrid = 65535 * 8;
inline unsigned grid(int64_t n) {
  int64_t g = (n + kBlock - 1) / kBlock;
  return (unsigned)(g < kMaxGrid ? (g > 0 ? g : 1) : kMaxGrid);
}
// A grid shaped to a stack of planes (P planes of R rows of Cn columns): blockIdx.z walks the planes,
// blockIdx.y the rows, the x threads the columns, each grid-strided past the launch limits. A
// thread gets its coordinates as 32-bit integers with no division; SG_PLANES loops over them.
struct PlaneGrid {
  dim3 blocks;
  unsigned threads;
};
inline PlaneGrid plane_grid(int64_t P, int64_t R, int64_t Cn) {
  const int64_t t = Cn < kBlock ? (Cn + 31) / 32 * 32 : kBlock;
  auto cap = [](int64_t v, int64_t most) { return (unsigned)(v < 1 ? 1 : v < most ? v : most); };
  return PlaneGrid{dim3(cap((Cn + t - 1) / t, 4096), cap(R, 65535), cap(P, 65535)), (unsigned)(t > 0 ? t : 32)};
}
}  // namespace sg::cuda
#endif
