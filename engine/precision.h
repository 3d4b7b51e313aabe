// precision.h — the arithmetic precision of the engine's compute-bound ops (convolution), and the
// bf16 rounding they use.
//
//   fp32  every op in float32 (the default; bit for bit the engine without this header).
//   bf16  convolutions take bfloat16 operands (inputs, weights, output gradients: 8-bit mantissas)
//         and accumulate in float32; their outputs and gradients are float32. The CPU runs oneDNN's
//         bf16 kernels (AVX512_BF16 or AMX-BF16 instructions); the im2col reference rounds the
//         same operands to bf16 and multiplies in float32, which is exact for a product of two bf16
//         numbers, so the two differ only in summation order. The GPU (compute capability 8.0 or
//         later) runs cuDNN's bf16 convolutions on tensor cores, fed by the cast kernels
//         (kernels/cast.h); cuDNN writes bf16, so there outputs and gradients are rounded to bf16
//         before they are widened to float32 (engine/ops_conv.cpp, "bf16 on the GPU").
//   tf32  GPU only (8.0 or later): cuDNN and cuBLAS may use TF32 tensor cores (10-bit mantissas)
//         for float32 data.
//
// Everything else stays float32 in every mode: parameters and Adam's state, batch normalisation
// and its statistics, activations between ops, the losses (L2, SSIM, focal), reductions, the
// guidance look-up and the metrics. Precision lives inside the compute ops, as autocast does, not
// in the tensors (engine/README.md, 'Precision', says why).
//
// The setting is per thread (a PrecisionGuard sets it for a scope), so that two detectors in one
// process may run in different precisions.
#pragma once
#include <cstdint>
#include <string>

#include "engine/device.h"
#include "kernels/cast.h"

namespace sg {

enum class Precision { FP32, BF16, TF32 };

const char* precision_name(Precision p);  // "fp32", "bf16", "tf32"
Precision precision();                    // this thread's
void set_precision(Precision p);          // this thread's

// Sets this thread's precision for a scope, then restores the previous one.
class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision p) : prev_(precision()) { set_precision(p); }
  ~PrecisionGuard() { set_precision(prev_); }
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  Precision prev_;
};

// This CPU has native bf16 arithmetic: AVX512_BF16 (dot products of bf16 pairs) or AMX-BF16.
bool cpu_has_native_bf16();
// ... and AMX-BF16 (tile matrix multiplication): the one where bf16 is faster than fp32. With only
// AVX512_BF16, a bf16 dot-product instruction does the work of the two float32 FMAs it replaces but
// issues on one port instead of two, so bf16 convolution peaks no higher than fp32's (measured:
// bench/README.md, 'Mixed precision (CPU)').
bool cpu_has_amx_bf16();
// A one-line description of this CPU's bf16 support ("AVX512_BF16", "AMX-BF16, AVX512_BF16", "none").
std::string cpu_bf16_flags();

// Whether `device` can compute in `p`: fp32 everywhere; bf16 on a CPU with native bf16 or a GPU
// with compute capability 8.0 or later; tf32 only on such a GPU. Otherwise the reason, for a
// message. (Tests set bf16 with set_precision on any CPU: the im2col reference computes it anywhere.)
bool precision_supported(Precision p, Device device, std::string* why = nullptr);

// "fp32", "bf16", "tf32" or "auto": the names a user may give (whatever the device).
bool is_precision_name(const std::string& name);

// User input ("fp32", "bf16", "tf32" or "auto"; e.g. --precision) for `device`; throws sg::Error
// naming `option` for an unknown name or a mode the device lacks. "auto" is bf16 on a CPU with
// AMX-BF16 (where it is faster; its quality over seeds: RESULTS.md, 'Mixed precision') and fp32
// elsewhere, GPUs included until tf32 has been measured on one.
Precision parse_precision(const std::string& name, Device device, const std::string& option = "--precision");

// Round a float to the nearest bfloat16 (ties to even), returned as a float: the value a bf16
// operand carries. NaN stays NaN; values beyond bf16's range round to infinity, as the hardware does.
// The conversion itself is the cast kernels' (kernels/cast.h), so CPU and GPU round alike.
inline float round_bf16(float v) { return kernels::float_from_bf16(kernels::bf16_from_float(v)); }

}  // namespace sg
