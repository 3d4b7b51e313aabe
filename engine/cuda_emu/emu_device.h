// emu_device.h — the device side of the emulated CUDA runtime (included by cuda_runtime.h):
// the qualifiers, the built-in index variables, __syncthreads, atomics and the kernel launch.
//
// A kernel is an ordinary C++ function here. A launch (SG_LAUNCH in kernels/cuda_launch.h, which is
// `kernel<<<grid, block, shared, stream>>>` under nvcc) calls cuda_emu::launch(), which checks the
// configuration and the pointer arguments as strictly as a GPU, then runs every block
// (emu_scheduler.cpp): the blocks one after another in a shuffled order, the threads of a block as
// fibers that switch at __syncthreads in a shuffled order. Shared memory is one static object per
// __shared__ declaration, poisoned (0xFF bytes: NaN) at the start of every block; the scheduler
// finds them in the linker section sg_emu_shared and in the symbol table (emu_symbols.cpp).
#pragma once
#include <cmath>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers ------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
// Blocks run one at a time, so one static object per declaration is the block's shared memory.
// `used` keeps the compiler from treating it as private to the kernel's file: it must assume that
// other code (the other threads, at a barrier; the poisoning) writes it, and never fold its reads.
#define __shared__ static __attribute__((section("sg_emu_shared"), used))

namespace cuda_emu::detail {
// Set by the scheduler before a thread (fiber) runs. Plain globals: one kernel runs at a time.
inline uint3 thread_idx, block_idx;
inline dim3 block_dim, grid_dim;
// Parks the calling thread until every live thread of its block arrives (at the same barrier);
// returns how many of them passed a non-zero predicate.
int barrier(const char* file, int line, int predicate);
inline int sync_point(const char* file, int line, int predicate) {
  int count = barrier(file, line, predicate);
  __asm__ __volatile__("" ::: "memory");  // other threads wrote memory meanwhile: reload everything
  return count;
}
}  // namespace cuda_emu::detail

// ---- built-in variables, read-only as on the device ---------------------------------------------
inline const uint3& threadIdx = cuda_emu::detail::thread_idx;
inline const uint3& blockIdx = cuda_emu::detail::block_idx;
inline const dim3& blockDim = cuda_emu::detail::block_dim;
inline const dim3& gridDim = cuda_emu::detail::grid_dim;
inline constexpr int warpSize = 32;

// ---- barriers ----------------------------------------------------------------------------------
#define __syncthreads() ((void)::cuda_emu::detail::sync_point(__FILE__, __LINE__, 0))
#define __syncthreads_count(predicate) ::cuda_emu::detail::sync_point(__FILE__, __LINE__, (predicate) ? 1 : 0)

// ---- atomics: threads switch only at barriers, so a read-modify-write is never interleaved -----
template <typename T>
inline T atomicAdd(T* address, T value) {
  T old = *address;
  *address = old + value;
  return old;
}
template <typename T>
inline T atomicSub(T* address, T value) {
  T old = *address;
  *address = old - value;
  return old;
}
template <typename T>
inline T atomicMax(T* address, T value) {
  T old = *address;
  *address = old < value ? value : old;
  return old;
}
template <typename T>
inline T atomicMin(T* address, T value) {
  T old = *address;
  *address = value < old ? value : old;
  return old;
}
template <typename T>
inline T atomicExch(T* address, T value) {
  T old = *address;
  *address = value;
  return old;
}
template <typename T>
inline T atomicCAS(T* address, T compare, T value) {
  T old = *address;
  if (old == compare) *address = value;
  return old;
}
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
// Math: the kernels call the C functions (expf, logf, powf, sqrtf, tanhf, sinf, cosf, floorf, fmaxf, fminf),
// which <cmath> provides on the host with the same single-precision semantics.

// ---- the launch --------------------------------------------------------------------------------
namespace cuda_emu {

struct LaunchSite {
  const char* kernel;  // the kernel's name as written at the launch
  const char* file;
  int line;
};

namespace detail {
// Checks the configuration and the pointer arguments; on success runs every block of the grid, each
// thread calling body(ctx). A failure becomes this thread's last error (cudaGetLastError), as on a GPU.
void launch(const LaunchSite& site, const void* kernel, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            const void* const* pointer_args, const int* pointer_positions, int pointer_count, void (*body)(void*),
            void* ctx);
}  // namespace detail

// The object SG_LAUNCH(kernel, grid, block, shared, stream) evaluates to; calling it with the
// kernel's arguments launches. The arguments are copied once, like CUDA's parameter buffer.
template <typename... P>
class Launch {
 public:
  Launch(void (*kernel)(P...), LaunchSite site, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream)
      : kernel_(kernel), site_(site), grid_(grid), block_(block), shared_(shared_bytes), stream_(stream) {}

  template <typename... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    Frame frame{kernel_, std::tuple<P...>(std::forward<A>(args)...)};
    const void* pointers[sizeof...(P) + 1];
    int positions[sizeof...(P) + 1];
    int count = 0;
    collect_pointers(frame.params, pointers, positions, count, std::index_sequence_for<P...>{});
    detail::launch(site_, reinterpret_cast<const void*>(kernel_), grid_, block_, shared_, stream_, pointers, positions,
                   count, &Frame::run, &frame);
  }

 private:
  struct Frame {
    void (*kernel)(P...);
    std::tuple<P...> params;
    static void run(void* self) {
      Frame* f = static_cast<Frame*>(self);
      std::apply(f->kernel, f->params);  // each thread gets its own copy of the parameters
    }
  };
  // Every pointer-typed parameter is checked at launch: null, device memory or page-locked host memory.
  template <size_t... I>
  static void collect_pointers(const std::tuple<P...>& t, const void** out, int* pos, int& n,
                               std::index_sequence<I...>) {
    (void)t, (void)out, (void)pos, (void)n;
    ((std::is_pointer_v<P> ? (out[n] = pointer_value(std::get<I>(t)), pos[n] = (int)I, ++n) : 0), ...);
  }
  template <typename T>
  static const void* pointer_value(const T& v) {
    if constexpr (std::is_pointer_v<T>)
      return static_cast<const void*>(v);
    else
      return nullptr;
  }

  void (*kernel_)(P...);
  LaunchSite site_;
  dim3 grid_, block_;
  size_t shared_;
  cudaStream_t stream_;
};

template <typename... P>
Launch<P...> launch(void (*kernel)(P...), LaunchSite site, dim3 grid, dim3 block, size_t shared_bytes,
                    cudaStream_t stream) {
  return Launch<P...>(kernel, site, grid, block, shared_bytes, stream);
}

}  // namespace cuda_emu
