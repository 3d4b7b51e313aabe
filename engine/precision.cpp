// precision.cpp — the per-thread compute precision and the CPU's bf16 support (see precision.h).
#include "engine/precision.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "engine/common.h"

namespace sg {

namespace {
thread_local Precision t_precision = Precision::FP32;

struct Bf16Flags {
  bool avx512_bf16 = false, amx_bf16 = false;
};
Bf16Flags detect() {
  Bf16Flags f;
#if defined(__x86_64__) || defined(__i386__)
  // AVX-512 needs the OS to save its registers; __builtin_cpu_supports checks that for AVX512F.
  if (!__builtin_cpu_supports("avx512f")) return f;
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.amx_bf16 = (d >> 22) & 1u;  // CPUID.(7,0):EDX[22]
    const unsigned max_sub = a;
    if (max_sub >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = (a >> 5) & 1u;  // (7,1):EAX[5]
  }
#endif
  return f;
}
const Bf16Flags& flags() {
  static const Bf16Flags f = detect();
  return f;
}
}  // namespace

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::BF16: return "bf16";
    case Precision::TF32: return "tf32";
  }
  return "?";
}
Precision precision() { return t_precision; }
void set_precision(Precision p) { t_precision = p; }

bool cpu_has_native_bf16() { return flags().avx512_bf16 || flags().amx_bf16; }
bool cpu_has_amx_bf16() { return flags().amx_bf16; }
std::string cpu_bf16_flags() {
  std::string s;
  if (flags().amx_bf16) s += "AMX-BF16";
  if (flags().avx512_bf16) s += s.empty() ? "AVX512_BF16" : ", AVX512_BF16";
  return s.empty() ? "none" : s;
}

namespace {
// TF32 and bf16 tensor cores arrived with compute capability 8.0 (Ampere).
template <typename No>
bool gpu_has_tensor_cores(const No& no) {
  const int cc = cuda_compute_capability();
  if (cc >= 80) return true;
  return no(cc == 0 ? std::string("no CUDA device")
                    : str("this GPU (sm_", cc, ") has no TF32 or bf16 tensor cores; they need sm_80 (Ampere) or later"));
}
}  // namespace

bool precision_supported(Precision p, Device device, std::string* why) {
  auto no = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  switch (p) {
    case Precision::FP32: return true;
    case Precision::TF32:
      if (device != Device::CUDA) return no("tf32 is a GPU mode (TF32 tensor cores); on the CPU use bf16 or fp32");
      return gpu_has_tensor_cores(no);
    case Precision::BF16:
      if (device == Device::CUDA) return gpu_has_tensor_cores(no);
      if (!cpu_has_native_bf16())
        return no("this CPU has no bf16 instructions (AVX512_BF16 or AMX-BF16): bf16 would be slower than fp32");
      return true;
  }
  return no("unknown precision");
}

bool is_precision_name(const std::string& name) {
  return name == "fp32" || name == "bf16" || name == "tf32" || name == "auto";
}

Precision parse_precision(const std::string& name, Device device, const std::string& option) {
  SG_CHECK(is_precision_name(name), option, ": unknown precision '", name, "' (expected fp32, bf16, tf32 or auto)");
  if (name == "auto") return device == Device::CPU && cpu_has_amx_bf16() ? Precision::BF16 : Precision::FP32;
  const Precision p = name == "fp32" ? Precision::FP32 : name == "bf16" ? Precision::BF16 : Precision::TF32;
  std::string why;
  SG_CHECK(precision_supported(p, device, &why), option, " ", name, " on ", device_name(device), ": ", why);
  return p;
}

}  // namespace sg
