// test_guided_concat.cpp — guided concatenation: values, gradient split to both inputs (finite
// differences), one input without gradient, shape errors, and the CPU copies against the per-element
// index map the CUDA kernels run (the CPU-vs-CUDA case is in test_ops_registry.cpp).
#include <algorithm>
#include <cmath>

#include "kernels/guided_concat.h"
#include "sgsf/sgsf_ops.h"
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

TEST_CASE("guided_concat stacks seg then guide channels per sample") {
  Tensor a = Tensor::from_vector({2, 1, 1, 2}, {1, 2, 3, 4}, Device::CPU);
  Tensor b = Tensor::from_vector({2, 2, 1, 2}, {10, 11, 12, 13, 14, 15, 16, 17}, Device::CPU);
  Tensor c = sgsf::guided_concat(a, b);
  CHECK(c.shape() == Shape{2, 3, 1, 2});
  CHECK(c.to_vector() == std::vector<float>{1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17});
}

TEST_CASE("gradient of guided_concat reaches both inputs (finite differences)") {
  Tensor a = Tensor::uniform({2, 3, 4, 5}, -1.f, 1.f, 51, Device::CPU);
  Tensor b = Tensor::uniform({2, 2, 4, 5}, -1.f, 1.f, 52, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return sgsf::guided_concat(in[0], in[1]); }, {a, b});
  // only the guide needs a gradient
  Tensor bg = b.detach();
  bg.requires_grad_(true);
  Tensor w = Tensor::uniform({2, 5, 4, 5}, 0.5f, 1.5f, 53, Device::CPU);
  sum(mul(sgsf::guided_concat(a, bg), w)).backward();
  std::vector<float> g = bg.grad().to_vector(), wv = w.to_vector();
  for (int k = 0; k < 2; ++k)
    for (int i = 0; i < 2 * 20; ++i) CHECK(g[(size_t)(k * 40 + i)] == wv[(size_t)(k * 100 + 60 + i)]);
}

TEST_CASE("guided_concat checks shapes") {
  Tensor a = Tensor::zeros({2, 3, 4, 5}, Device::CPU), b = Tensor::zeros({2, 3, 4, 6}, Device::CPU);
  CHECK_THROWS_WITH_AS(sgsf::guided_concat(a, b), doctest::Contains("guided_concat: seg (2, 3, 4, 5) and guide (2, 3, 4, 6)"),
                       sg::Error);
}

TEST_CASE("the CPU block copies agree with concat_source, the index map the GPU runs") {
  // guided_concat_cpu and its backward copy whole planes (memcpy) and never call concat_source;
  // guided_concat.cu evaluates it once per output element. Evaluate it over every element here.
  const int64_t n = 3, c1 = 5, c2 = 2, hw = 7 * 9, total = n * (c1 + c2) * hw;
  std::vector<float> seg = Tensor::uniform({n, c1, 7, 9}, -1.f, 1.f, 57, Device::CPU).to_vector();
  std::vector<float> guide = Tensor::uniform({n, c2, 7, 9}, -1.f, 1.f, 58, Device::CPU).to_vector();
  std::vector<float> gout = Tensor::uniform({n, c1 + c2, 7, 9}, -1.f, 1.f, 59, Device::CPU).to_vector();
  std::vector<float> out((size_t)total), out_ref((size_t)total);
  kernels::guided_concat_cpu(seg.data(), guide.data(), n, c1, c2, hw, out.data());
  std::vector<float> gseg(seg.size(), NAN), gguide(guide.size(), NAN);
  kernels::guided_concat_backward_cpu(gout.data(), n, c1, c2, hw, gseg.data(), gguide.data());
  std::vector<float> gseg_ref(seg.size(), NAN), gguide_ref(guide.size(), NAN);
  std::vector<int> hits_seg(seg.size(), 0), hits_guide(guide.size(), 0);
  for (int64_t t = 0; t < total; ++t) {
    int which;
    int64_t idx;
    kernels::concat_source(t, c1, c2, hw, which, idx);
    out_ref[(size_t)t] = which == 0 ? seg[(size_t)idx] : guide[(size_t)idx];  // concat_kernel
    (which == 0 ? gseg_ref : gguide_ref)[(size_t)idx] = gout[(size_t)t];       // split_kernel
    (which == 0 ? hits_seg : hits_guide)[(size_t)idx]++;
  }
  CHECK(out == out_ref);
  CHECK(gseg == gseg_ref);
  CHECK(gguide == gguide_ref);
  // every input element is read exactly once: the index map is a bijection
  CHECK(std::all_of(hits_seg.begin(), hits_seg.end(), [](int h) { return h == 1; }));
  CHECK(std::all_of(hits_guide.begin(), hits_guide.end(), [](int h) { return h == 1; }));
}
