// rng.h — a seeded host-side random generator built on the counter-based Philox of
// kernels/random.h. Same seed, same sequence, on every machine (no std:: distributions, whose
// output differs between standard libraries).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/random.h"

namespace sg {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  uint32_t next_u32() {
    if (lane_ == 4) {
      block_ = rnd::draw4(seed_, stream_, counter_++);
      lane_ = 0;
    }
    return block_.v[lane_++];
  }
  uint64_t next_u64() { return ((uint64_t)next_u32() << 32) | next_u32(); }
  // Uniform in [0, 1).
  float uniform() { return rnd::to_unit(next_u32()); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Integer in [lo, hi] inclusive.
  int randint(int lo, int hi) {
    uint32_t span = (uint32_t)(hi - lo + 1);
    return lo + (int)(next_u32() % span);
  }
  bool bernoulli(float p) { return uniform() < p; }
  // Standard normal (Box-Muller).
  float normal(float mean = 0.f, float std = 1.f) {
    float u1 = uniform(), u2 = uniform();
    if (u1 < 1e-12f) u1 = 1e-12f;
    return mean + std * std::sqrt(-2.f * std::log(u1)) * std::cos(6.28318530718f * u2);
  }
  // Fisher-Yates shuffle.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[(size_t)randint(0, (int)i - 1)]);
  }
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_, stream_, counter_ = 0;
  rnd::U32x4 block_{};
  int lane_ = 4;
};

}  // namespace sg
