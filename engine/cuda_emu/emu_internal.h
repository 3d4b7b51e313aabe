// emu_internal.h — what emu_runtime.cpp shares with emu_scheduler.cpp: the device lock, access to
// device memory, pointer classification and error reporting. Not part of the emulated API.
#pragma once
#include <mutex>
#include <string>
#include <vector>

#include "cuda_runtime.h"

namespace cuda_emu::detail {

// One lock for the whole emulated device: every runtime call that touches device state holds it,
// and a kernel holds it while it runs (the engine's loader threads call the runtime too).
std::recursive_mutex& device_mutex();

// While one of these is alive, device memory is readable and writable from this process (it is
// PROT_NONE otherwise, so a host-side dereference of a device pointer faults with a clear message).
// Also takes the device lock and first runs any deferred asynchronous copies (stream order).
class DeviceAccess {
 public:
  DeviceAccess();
  ~DeviceAccess();
  DeviceAccess(const DeviceAccess&) = delete;
  DeviceAccess& operator=(const DeviceAccess&) = delete;

 private:
  std::unique_lock<std::recursive_mutex> lock_;
};

enum class Where { Null, Device, FreedDevice, Pinned, Host };
// Where p points, for kernel arguments and copies.
Where classify(const void* p);
const char* where_name(Where w);

// Records a failure as this thread's last error; cudaGetErrorString(code) then returns CUDA's text
// followed by the detail (which kernel, which argument, which limit), so SG_CUDA_CHECK shows it.
cudaError_t fail(cudaError_t code, const std::string& detail);

// The stream handle is 0 or one made by cudaStreamCreate and not destroyed.
bool valid_stream(cudaStream_t s);

// The static local objects of the function at `function` — for a kernel, its __shared__ arrays —
// found in the program's symbol table (emu_symbols.cpp). Looked up once per function.
struct StaticObject {
  char* address;
  size_t bytes;
};
const std::vector<StaticObject>& static_locals_of(const void* function);

}  // namespace cuda_emu::detail
