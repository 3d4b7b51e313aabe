// concat_cpu.cpp — CPU reference of the slab copy (see concat.h): contiguous runs of
// count * inner floats per outer index, so the inner loop is a plain memcpy-like copy.
#include <cstring>

#include "kernels/concat.h"

namespace sg::kernels {

void copy_slab_cpu(const SlabCopy& S, const float* src, float* dst) {
  int64_t run = S.count * S.inner;  // floats copied per outer index
  if (run == 0) return;
#pragma omp parallel for if (S.outer * run > 65536) schedule(static)
  for (int64_t o = 0; o < S.outer; ++o) {
    int64_t si, di = slab_copy_index(S, o * run, si);
    std::memcpy(dst + di, src + si, (size_t)run * sizeof(float));
  }
}

}  // namespace sg::kernels
