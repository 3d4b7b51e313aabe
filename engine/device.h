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
// The current GPU's compute capability as major * 10 + minor (90 for sm_90); 0 without one.
int cuda_compute_capability();

Device default_device();
void set_default_device(Device d);  // throws when CUDA is asked for and unavailable

// Parse "cpu", "cuda" or "auto" (user input, e.g. --device); throws on anything else or when
// "cuda" is asked for on a machine without a device.
Device parse_device(const std::string& s);

// Wait for all queued GPU work (no-op on the CPU). Benchmarks and tests use it before reading time.
void synchronize(Device d);

// How many times the host has waited for the GPU's queued work: synchronize(CUDA) and every copy
// from the device to the host (item(), to_vector(), ...). A training iteration should add none;
// a test counts them. (The loader's waits on the events of its pinned staging ring are not
// counted: each waits for a copy issued several batches earlier.)
// Deterministic GPU algorithms (off by default): cuDNN convolutions then pick only algorithms that
// give the same bits on every run (the engine's own kernels always do). `--deterministic` in the
// programs and every test turn it on; SGSF_DETERMINISTIC=1 in the environment too.
void set_deterministic(bool on);
bool deterministic();

int64_t cuda_host_waits();
void note_cuda_host_wait();  // for the engine's own wait points

}  // namespace sg
