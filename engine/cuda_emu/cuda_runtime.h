// cuda_runtime.h — the emulated CUDA runtime: what `#include <cuda_runtime.h>` finds in a build
// configured with -DSGSF_CUDA_EMULATION=ON (this folder comes first on the include path).
//
// It declares the subset of the CUDA runtime API the engine calls (memory, copies, streams, events,
// errors, device query) with CUDA's names, types and error codes, and pulls in the device side
// (emu_device.h: threadIdx & co., __syncthreads, atomics, the launch). The implementation lives in
// emu_runtime.cpp (memory, copies, streams) and emu_scheduler.cpp (blocks and threads); the design
// is described in README.md beside this file. The kernel sources do not change: they are compiled
// by the host C++ compiler and run on the CPU, as strictly as a GPU would run them.
#pragma once
#ifndef SGSF_CUDA_EMULATION
#error "engine/cuda_emu is the emulated CUDA runtime; it is only used with -DSGSF_CUDA_EMULATION=ON"
#endif
#include <cstddef>
#include <cstdint>
#include <type_traits>

// ---- types, with CUDA's names and values ----------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
typedef cudaError_t cudaError;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};

typedef struct CUstream_st* cudaStream_t;  // 0 is the legacy default stream
typedef struct CUevent_st* cudaEvent_t;

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major, minor;
  int multiProcessorCount;
};

// ---- the runtime API (emu_runtime.cpp) ---------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaDeviceSynchronize();

cudaError_t cudaGetLastError();  // returns and clears this host thread's last error
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);

cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);  // page-locked host memory (registered)
cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned int flags);
cudaError_t cudaFreeHost(void* ptr);
template <typename T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
template <typename T>
cudaError_t cudaMallocHost(T** ptr, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), bytes);
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = 0);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);

cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// ---- what the emulator adds --------------------------------------------------------------------
namespace cuda_emu {

// Runs fn() in stream order with device memory open to the host: the emulated build's stand-in for
// the library calls that are not emulated (cuBLAS, cuDNN), which run the engine's CPU code on the
// device buffers instead.
void run_on_device(cudaStream_t stream, void (*fn)(void*), void* ctx);
template <typename F>
void on_device(cudaStream_t stream, F&& fn) {
  using Fn = std::remove_reference_t<F>;
  run_on_device(
      stream, [](void* f) { (*static_cast<Fn*>(f))(); }, const_cast<void*>(static_cast<const void*>(&fn)));
}

// True for an address inside the emulated device memory (live allocation or not).
bool is_device_address(const void* p);

// Puts the SIGSEGV handler that names a host-side access to device memory in front of the one
// installed now (to which it passes every fault on). Done by every device operation, so it stays
// in front of handlers installed since (test frameworks install theirs per test case).
void install_fault_handler();

}  // namespace cuda_emu

#include "emu_device.h"
