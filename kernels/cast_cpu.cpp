// cast_cpu.cpp — CPU reference loops of the bf16 casts (cast.h).
#include "kernels/cast.h"

namespace sg::kernels {

void cast_to_bf16_cpu(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_from_float(x[i]);
}

void cast_from_bf16_cpu(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = float_from_bf16(x[i]);
}

}  // namespace sg::kernels
