// allocator.h — raw memory for tensor storage.
//
// CPU: 64-byte aligned blocks from the system allocator; blocks of 64 KiB and more are cached like
// the GPU's (exact rounded size, 4 KiB), so the same shapes step after step reuse warm pages. The
// CPU cache never holds more than the peak memory in use.
// CUDA: a caching allocator. Freed blocks go back to a per-size free list instead of cudaFree, and
// the next request of the same rounded size reuses them, so a training loop that allocates the same
// shapes every step calls cudaMalloc only during its first step and never calls cudaFree. Sizes
// round up to 512 bytes (small) or 2 MiB (large). When cudaMalloc fails, the cache is released
// and the request retried once before an error is thrown.
#pragma once
#include <cstddef>

#include "engine/device.h"

namespace sg {

struct MemoryStats {
  size_t bytes_in_use = 0;     // handed out to live tensors
  size_t peak_bytes_in_use = 0;
  size_t bytes_cached = 0;     // held in free lists, ready for reuse
  size_t device_allocs = 0;    // calls to cudaMalloc (or malloc on the CPU) so far
  size_t device_frees = 0;     // calls to cudaFree (or free)
};

void* allocate(Device d, size_t bytes);
void deallocate(Device d, void* p, size_t bytes);

MemoryStats memory_stats(Device d);
void reset_peak_memory(Device d);
// Return every cached block to the system (CPU) or the driver (CUDA).
void empty_cache(Device d);

// Page-locked host memory for asynchronous host->device copies (plain malloc without CUDA).
void* allocate_pinned(size_t bytes);
void free_pinned(void* p);

}  // namespace sg
