// random.h — counter-based random numbers (Philox4x32-10) usable on the CPU and inside kernels.
//
// A draw is a pure function of (seed, counter): no state to carry between threads, so a CUDA kernel
// and its CPU twin produce the same numbers for the same seed and element index. Keys follow the
// usual convention (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::rnd {

struct U32x4 {
  uint32_t v[4];
};

SG_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  hi = (uint32_t)(p >> 32);
  lo = (uint32_t)p;
}

// Ten rounds of Philox4x32 on counter (c0..c3) with key (k0, k1).
SG_HD U32x4 philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                       uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return U32x4{{c0, c1, c2, c3}};
}

// Four 32-bit words for (seed, stream, index): `stream` separates independent uses of one seed
// (e.g. the sample in a batch), `index` the element.
SG_HD U32x4 draw4(uint64_t seed, uint64_t stream, uint64_t index) {
  return philox4x32((uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream,
                    (uint32_t)(stream >> 32), (uint32_t)seed, (uint32_t)(seed >> 32));
}

// Uniform in [0, 1) from the top 24 bits (exactly representable in float).
SG_HD float to_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

SG_HD float uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return to_unit(draw4(seed, stream, index).v[0]);
}

}  // namespace sg::rnd
