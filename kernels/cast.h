// cast.h — float32 <-> bfloat16, the conversions behind --precision bf16 (engine/precision.h).
//
// bfloat16 is the top half of a float32: the same sign and 8-bit exponent, 7 of the 23 mantissa
// bits. Widening is exact (append 16 zero bits). Narrowing rounds to the nearest bf16, ties to the
// even one, as bf16 hardware does (AVX512_BF16's vcvtneps2bf16, CUDA's __float2bfloat16_rn):
// add 0x7fff plus the lowest kept bit, then drop the low 16 bits. The carry can ripple into the
// exponent, which is what rounding up to the next binade (or to infinity past the largest finite
// bf16) means. NaN stays NaN (quiet), whatever its payload: truncating a NaN whose payload lies
// only in the low 16 bits would otherwise give infinity.
//
// On the GPU the casts feed cuDNN's bf16 convolutions (engine/cudnn_conv.cpp) and bring their
// outputs back to float32; on the CPU, oneDNN converts inside its reorders and these loops are
// the reference the CUDA twins are tested against (tests/test_cast.cpp).
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels/kernel_common.h"

namespace sg::kernels {

SG_HD uint32_t float_bits(float v) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(v);
#else
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
#endif
}

SG_HD float float_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float v;
  memcpy(&v, &u, sizeof v);
  return v;
#endif
}

SG_HD uint16_t bf16_from_float(float v) {
  uint32_t u = float_bits(v);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return (uint16_t)((u >> 16) | 0x0040u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

SG_HD float float_from_bf16(uint16_t h) { return float_from_bits((uint32_t)h << 16); }

// ---- CPU twins (cast_cpu.cpp) ----
void cast_to_bf16_cpu(const float* x, uint16_t* y, int64_t n);
void cast_from_bf16_cpu(const uint16_t* x, float* y, int64_t n);

// ---- CUDA launchers (cast.cu) ----
void cast_to_bf16_cuda(const float* x, uint16_t* y, int64_t n);
void cast_from_bf16_cuda(const uint16_t* x, float* y, int64_t n);

}  // namespace sg::kernels
