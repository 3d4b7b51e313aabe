// test_shape_ops.cpp — concat and slice along every dimension: values against index arithmetic
// done here, round trips, finite-difference gradients, error messages, and the CPU copy against the
// per-element index map the CUDA kernel runs.
#include "kernels/concat.h"
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

namespace {
// Value of x at a 4-D coordinate.
float at4(const std::vector<float>& v, const Shape& s, int64_t a, int64_t b, int64_t c, int64_t d) {
  return v[(size_t)(((a * s[1] + b) * s[2] + c) * s[3] + d)];
}
}  // namespace

TEST_CASE("concat along channels: hand-computed") {
  Tensor a = Tensor::from_vector({2, 1, 1, 2}, {1, 2, 3, 4}, Device::CPU);
  Tensor b = Tensor::from_vector({2, 2, 1, 2}, {10, 11, 12, 13, 20, 21, 22, 23}, Device::CPU);
  Tensor y = concat({a, b}, 1);
  CHECK(y.shape() == Shape{2, 3, 1, 2});
  CHECK(y.to_vector() == std::vector<float>{1, 2, 10, 11, 12, 13, 3, 4, 20, 21, 22, 23});
}

TEST_CASE("concat matches index arithmetic along every dimension, negative dims included") {
  for (int64_t d = 0; d < 4; ++d) {
    Shape s0 = {2, 3, 4, 5}, s1 = s0, s2 = s0;
    s1[(size_t)d] = 1;
    s2[(size_t)d] = 3;
    Tensor x0 = Tensor::normal(s0, 0, 1, 1, Device::CPU), x1 = Tensor::normal(s1, 0, 1, 2, Device::CPU),
           x2 = Tensor::normal(s2, 0, 1, 3, Device::CPU);
    Tensor y = concat({x0, x1, x2}, d - 4);  // negative form of d
    Shape so = s0;
    so[(size_t)d] = s0[(size_t)d] + 1 + 3;
    REQUIRE(y.shape() == so);
    std::vector<float> yv = y.to_vector(), v0 = x0.to_vector(), v1 = x1.to_vector(), v2 = x2.to_vector();
    bool ok = true;
    for (int64_t a = 0; a < so[0]; ++a)
      for (int64_t b = 0; b < so[1]; ++b)
        for (int64_t c = 0; c < so[2]; ++c)
          for (int64_t e = 0; e < so[3]; ++e) {
            int64_t idx[4] = {a, b, c, e};
            int64_t k = idx[d];
            float want;
            if (k < s0[(size_t)d]) {
              want = at4(v0, s0, idx[0], idx[1], idx[2], idx[3]);
            } else if (k < s0[(size_t)d] + 1) {
              idx[d] = k - s0[(size_t)d];
              want = at4(v1, s1, idx[0], idx[1], idx[2], idx[3]);
            } else {
              idx[d] = k - s0[(size_t)d] - 1;
              want = at4(v2, s2, idx[0], idx[1], idx[2], idx[3]);
            }
            ok = ok && at4(yv, so, a, b, c, e) == want;
          }
    INFO("dim ", d);
    CHECK(ok);
  }
  // a single tensor, and 1-D tensors
  Tensor v = Tensor::from_vector({3}, {1, 2, 3}, Device::CPU);
  CHECK(concat({v}, 0).to_vector() == v.to_vector());
  CHECK(concat({v, v}, 0).to_vector() == std::vector<float>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("slice matches index arithmetic, and slices concatenate back to the input") {
  Tensor x = Tensor::normal({2, 5, 3, 4}, 0, 1, 4, Device::CPU);
  std::vector<float> xv = x.to_vector();
  Tensor y = slice(x, 1, 1, 4);
  CHECK(y.shape() == Shape{2, 3, 3, 4});
  std::vector<float> yv = y.to_vector();
  bool ok = true;
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t e = 0; e < 4; ++e) ok = ok && at4(yv, y.shape(), a, b, c, e) == at4(xv, x.shape(), a, b + 1, c, e);
  CHECK(ok);
  for (int64_t d = 0; d < 4; ++d) {
    int64_t n = x.size(d), m = n / 2;
    Tensor back = concat({slice(x, d, 0, m), slice(x, d, m, n)}, d);
    CHECK(back.to_vector() == xv);
  }
  CHECK(slice(x, -1, 2, 2).shape() == Shape{2, 5, 3, 0});  // empty slice is allowed
}

TEST_CASE("concat and slice gradients (finite differences)") {
  Tensor a = Tensor::normal({2, 2, 3, 2}, 0, 1, 5, Device::CPU);
  Tensor b = Tensor::normal({2, 1, 3, 2}, 0, 1, 6, Device::CPU);
  Tensor c = Tensor::normal({2, 3, 3, 2}, 0, 1, 7, Device::CPU);
  gradcheck([](const std::vector<Tensor>& in) { return concat({in[0], in[1], in[2]}, 1); }, {a, b, c});
  gradcheck([](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 2); },
            {a, Tensor::normal({2, 2, 1, 2}, 0, 1, 8, Device::CPU)});
  gradcheck([](const std::vector<Tensor>& in) { return slice(in[0], 1, 1, 3); }, {c});
  gradcheck([](const std::vector<Tensor>& in) { return slice(in[0], 3, 1, 2); }, {c});
  // the same tensor twice: both slabs' gradients add up
  gradcheck([](const std::vector<Tensor>& in) { return concat({in[0], in[0] * 2.f}, 0); }, {b});
}

TEST_CASE("concat gives no gradient to inputs that do not need one") {
  Tensor a = Tensor::normal({1, 2, 2, 2}, 0, 1, 9, Device::CPU);
  Tensor b = Tensor::normal({1, 1, 2, 2}, 0, 1, 10, Device::CPU);
  a.requires_grad_(true);
  sum(concat({a, b}, 1)).backward();
  CHECK(a.grad().to_vector() == std::vector<float>(8, 1.f));
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("concat and slice errors name the op and the shapes") {
  Tensor a = Tensor::zeros({2, 3, 4, 4}, Device::CPU), b = Tensor::zeros({2, 3, 5, 4}, Device::CPU);
  CHECK_THROWS_WITH_AS(concat({a, b}, 1),
                       doctest::Contains("concat: along dimension 1 tensor 1 has shape (2, 3, 5, 4), "
                                         "incompatible with tensor 0 of shape (2, 3, 4, 4)"),
                       sg::Error);
  CHECK_THROWS_WITH_AS(concat({a, Tensor::zeros({2, 3, 4}, Device::CPU)}, 0), doctest::Contains("concat:"),
                       sg::Error);
  CHECK_THROWS_WITH_AS(concat({}, 0), doctest::Contains("concat: no tensors given"), sg::Error);
  CHECK_THROWS_WITH_AS(concat({a}, 4), doctest::Contains("concat: dimension 4 out of range for shape (2, 3, 4, 4)"),
                       sg::Error);
  CHECK_THROWS_WITH_AS(slice(a, 1, 2, 5),
                       doctest::Contains("slice: range [2, 5) is not within [0, 3] along dimension 1 of shape (2, 3, 4, 4)"),
                       sg::Error);
  CHECK_THROWS_WITH_AS(slice(a, 1, 2, 1), doctest::Contains("slice: range [2, 1)"), sg::Error);
  CHECK_THROWS_WITH_AS(slice(a, -5, 0, 1), doctest::Contains("slice: dimension -5 out of range"), sg::Error);
}

TEST_CASE("copy_slab_cpu agrees with slab_copy_index evaluated per element, as the GPU runs it") {
  // copy_slab_cpu evaluates slab_copy_index once per contiguous run and memcpys the run;
  // concat.cu evaluates it once per copied element. Evaluate it over every element here.
  struct Case {
    int64_t outer, inner, count, src_len, src_start, dst_len, dst_start;
  };
  const Case cases[] = {{3, 20, 2, 2, 0, 7, 4},    // concat: an input of 2 channels into 7, at 4
                        {3, 20, 3, 7, 1, 3, 0},    // slice: channels [1, 4) of 7
                        {6, 1, 4, 9, 5, 4, 0},     // the last dimension (inner = 1)
                        {1, 35, 2, 5, 3, 2, 0}};   // the first dimension (outer = 1)
  for (const Case& c : cases) {
    kernels::SlabCopy S;
    S.outer = c.outer, S.inner = c.inner, S.count = c.count;
    S.src_len = c.src_len, S.src_start = c.src_start, S.dst_len = c.dst_len, S.dst_start = c.dst_start;
    INFO("outer ", c.outer, " inner ", c.inner, " count ", c.count, " src ", c.src_len, "@", c.src_start, " dst ",
         c.dst_len, "@", c.dst_start);
    std::vector<float> src = Tensor::uniform({c.outer * c.src_len * c.inner}, -1.f, 1.f, 15, Device::CPU).to_vector();
    std::vector<float> dst((size_t)(c.outer * c.dst_len * c.inner), -7.f), ref = dst;
    kernels::copy_slab_cpu(S, src.data(), dst.data());
    for (int64_t e = 0; e < c.outer * c.count * c.inner; ++e) {
      int64_t si, di = kernels::slab_copy_index(S, e, si);
      ref[(size_t)di] = src[(size_t)si];
    }
    CHECK(dst == ref);
  }
}

// The CPU-vs-CUDA cases of concat and slice are lines of the op registry (test_ops_registry.cpp).
