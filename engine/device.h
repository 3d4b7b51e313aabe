// device.h — where tensors live (CPU or a CUDA device) and which device is the default.
//
// The default is CUDA when the build has the CUDA backend and a device is present, else the CPU.
// It is always overridable: set_default_device(), or the SGSF_DEVICE environment variable
// (cpu|cuda|auto). Asking for CUDA where there is none throws a clear sg::Error.
#pragma once
#include <string>

namespace sg {

enum class Device { CPU, CUDA };

const char* device_name(Device d);

// True when this build has the CUDA backend and the driver reports at least one device.
bool cuda_available();
// A one-line description of the CUDA device in use (or why there is none).
std::string cuda_device_info();

Device default_device();
void set_default_device(Device d);  // throws when CUDA is asked for and unavailable

// Parse "cpu", "cuda" or "auto" (user input, e.g. --device); throws on anything else or when
// "cuda" is asked for on a machine without a device.
Device parse_device(const std::string& s);

// Wait for all queued GPU work (no-op on the CPU). Benchmarks and tests use it before reading time.
void synchronize(Device d);

}  // namespace sg
