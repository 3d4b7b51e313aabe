// test_cast.cpp — the float32 <-> bf16 cast kernels (kernels/cast.h): the CPU twins against an
// oracle that finds the nearest bf16 in double precision, every one of the 65,536 bf16 bit patterns
// through both casts, and the CUDA launchers bit for bit against the CPU twins.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cast.h"
#include "tests/test_util.h"

#ifdef SGSF_WITH_CUDA
#include "engine/cuda_check.h"
#endif

using namespace sg;
using namespace sg::kernels;

namespace {

uint32_t bits_of(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}
float float_of(uint32_t u) {
  float v;
  std::memcpy(&v, &u, 4);
  return v;
}

// The nearest bf16 to a float (infinities are exact), found without the bit trick: the two bf16 numbers around v
// (v truncated to its top 16 bits, and the next one away from zero) compared in double; on a tie
// the one whose last kept bit is 0. Past the largest finite bf16, round-to-nearest gives infinity
// when v is at least halfway to 2^128 (the next power of two, where the exponent would overflow).
uint16_t oracle_bf16(float v) {
  const uint32_t u = bits_of(v);
  const uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
  if (std::isinf(v)) return lo;
  const double dv = v, dlo = float_from_bf16(lo);
  if ((hi & 0x7f80u) == 0x7f80u) {  // the next one up is infinity: compare with 2^128 instead
    const double big = std::copysign(std::ldexp(1.0, 128), dv);
    const double dl = std::fabs(dv - dlo), dh = std::fabs(big - dv);
    return dl < dh || (dl == dh && (lo & 1u) == 0) ? lo : hi;
  }
  const double dhi = float_from_bf16(hi);
  const double dl = std::fabs(dv - dlo), dh = std::fabs(dhi - dv);
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1u) == 0 ? lo : hi;
}

// Floats that test every path: zeros, subnormals, ties, values that carry into the exponent, the
// largest finite values, infinities, NaNs with payloads high and low, and random bit patterns.
std::vector<float> edge_and_random_floats(int64_t n_random, uint64_t seed) {
  std::vector<float> v = {0.f, -0.f, 1.f, -1.f, 1.f + std::ldexp(1.f, -8), 1.f + 3 * std::ldexp(1.f, -8),
                          std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::min(), std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(), float_of(0x7f7f7fffu), float_of(0x7f7f8000u),
                          float_of(0x3f7fffffu), float_of(0x007fffffu), INFINITY, -INFINITY,
                          float_of(0x7fc00000u), float_of(0xff800001u), float_of(0x7f800001u), float_of(0x7fbf0000u)};
  uint64_t s = seed;
  for (int64_t i = 0; i < n_random; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;  // a 64-bit LCG; the high bits are a float
    v.push_back(float_of((uint32_t)(s >> 32)));
  }
  return v;
}

bool is_nan_bits(uint16_t h) { return (h & 0x7f80u) == 0x7f80u && (h & 0x007fu); }

}  // namespace

TEST_CASE("bf16 casts: nearest bf16 with ties to even, against a float64 oracle, over edge cases and 200,000 random bit patterns") {
  const std::vector<float> v = edge_and_random_floats(200000, 7);
  std::vector<uint16_t> h(v.size());
  cast_to_bf16_cpu(v.data(), h.data(), (int64_t)v.size());
  int64_t bad = 0, nans = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) {
      ++nans;
      if (!is_nan_bits(h[i]) || (h[i] >> 15) != (bits_of(v[i]) >> 31)) ++bad;  // NaN, sign kept
      continue;
    }
    if (h[i] != oracle_bf16(v[i])) {
      if (bad < 5) MESSAGE("float bits ", std::hex, bits_of(v[i]), ": cast ", h[i], ", oracle ", oracle_bf16(v[i]));
      ++bad;
    }
  }
  CHECK(bad == 0);
  CHECK(nans >= 4);
  // The closed-form cases, spelled out.
  CHECK(bf16_from_float(1.f) == 0x3f80);
  CHECK(bf16_from_float(1.f + std::ldexp(1.f, -8)) == 0x3f80);      // a tie: down to even
  CHECK(bf16_from_float(1.f + 3 * std::ldexp(1.f, -8)) == 0x3f82);  // a tie: up to even
  CHECK(bf16_from_float(-0.f) == 0x8000);
  CHECK(bf16_from_float(std::numeric_limits<float>::max()) == 0x7f80);  // rounds to infinity
  CHECK(bf16_from_float(float_of(0x7f7f7fffu)) == 0x7f7f);              // just below the tie: largest finite
  CHECK(bf16_from_float(float_of(0x3f7fffffu)) == 0x3f80);              // carries into the exponent: 1.0
  CHECK(is_nan_bits(bf16_from_float(float_of(0x7f800001u))));           // payload only in the low bits: still NaN
}

TEST_CASE("bf16 casts: widening is exact and every bf16 bit pattern survives the round trip") {
  std::vector<uint16_t> all(65536), back(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = (uint16_t)i;
  std::vector<float> wide(65536);
  cast_from_bf16_cpu(all.data(), wide.data(), 65536);
  cast_to_bf16_cpu(wide.data(), back.data(), 65536);
  int64_t bad = 0;
  for (uint32_t i = 0; i < 65536; ++i) {
    if (bits_of(wide[i]) != i << 16) ++bad;  // the bf16 bits, then 16 zeros
    if (is_nan_bits(all[i]) ? !is_nan_bits(back[i]) : back[i] != all[i]) ++bad;
  }
  CHECK(bad == 0);
}

#ifdef SGSF_WITH_CUDA
TEST_CASE("bf16 casts on CUDA equal their CPU twins bit for bit" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  for (int64_t n_random : {int64_t(0), int64_t(1), int64_t(1000003)}) {
    INFO("values: ", n_random, " random and the edge cases");
    const std::vector<float> v = edge_and_random_floats(n_random, 11);
    const int64_t n = (int64_t)v.size();
    std::vector<uint16_t> h_cpu(v.size()), h_gpu(v.size());
    std::vector<float> w_cpu(v.size()), w_gpu(v.size());
    cast_to_bf16_cpu(v.data(), h_cpu.data(), n);
    cast_from_bf16_cpu(h_cpu.data(), w_cpu.data(), n);
    float *dv = nullptr, *dw = nullptr;
    uint16_t* dh = nullptr;
    SG_CUDA_CHECK(cudaMalloc(&dv, n * sizeof(float)));
    SG_CUDA_CHECK(cudaMalloc(&dw, n * sizeof(float)));
    SG_CUDA_CHECK(cudaMalloc(&dh, n * sizeof(uint16_t)));
    SG_CUDA_CHECK(cudaMemcpy(dv, v.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    cast_to_bf16_cuda(dv, dh, n);
    cast_from_bf16_cuda(dh, dw, n);
    SG_CUDA_CHECK(cudaMemcpy(h_gpu.data(), dh, n * sizeof(uint16_t), cudaMemcpyDeviceToHost));
    SG_CUDA_CHECK(cudaMemcpy(w_gpu.data(), dw, n * sizeof(float), cudaMemcpyDeviceToHost));
    SG_CUDA_CHECK(cudaFree(dv));
    SG_CUDA_CHECK(cudaFree(dw));
    SG_CUDA_CHECK(cudaFree(dh));
    CHECK(h_gpu == h_cpu);
    CHECK(std::memcmp(w_gpu.data(), w_cpu.data(), v.size() * sizeof(float)) == 0);
  }
}
#endif
