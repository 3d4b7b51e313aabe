// test_tensor.cpp — tensors, views, device selection, the allocators' counters and the autograd core.
#include "engine/allocator.h"
#include "tests/test_util.h"

using namespace sg;

TEST_CASE("creation, views and copies") {
  Tensor z = Tensor::zeros({2, 3}, Device::CPU);
  CHECK(z.numel() == 6);
  CHECK(z.to_vector() == std::vector<float>(6, 0.f));
  CHECK(Tensor::full({2}, 2.5f, Device::CPU).to_vector() == std::vector<float>{2.5f, 2.5f});
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}, Device::CPU);
  Tensor v = a.reshape({3, -1});
  CHECK(v.shape() == Shape{3, 2});
  CHECK(v.data() == a.data());  // a view shares the storage
  a.fill_(7.f);
  CHECK(v.to_vector() == std::vector<float>(6, 7.f));
  Tensor c = a.clone();
  CHECK(c.data() != a.data());
  CHECK_THROWS_WITH_AS(a.reshape({4, 2}), doctest::Contains("reshape: cannot view (2, 3)"), sg::Error);
  CHECK_THROWS_WITH_AS(a.item(), doctest::Contains("more than one element"), sg::Error);
  CHECK_THROWS_WITH_AS(Tensor::from_vector({2, 2}, {1, 2, 3}, Device::CPU), doctest::Contains("do not fill"), sg::Error);
  CHECK_THROWS_AS(Tensor().shape(), sg::Error);
}

TEST_CASE("seeded random tensors are reproducible and have the requested statistics") {
  Tensor u1 = Tensor::uniform({10000}, -1.f, 3.f, 5, Device::CPU), u2 = Tensor::uniform({10000}, -1.f, 3.f, 5, Device::CPU);
  CHECK(u1.to_vector() == u2.to_vector());
  CHECK(u1.to_vector() != Tensor::uniform({10000}, -1.f, 3.f, 6, Device::CPU).to_vector());
  std::vector<float> n = Tensor::normal({20000}, 1.f, 0.5f, 9, Device::CPU).to_vector();
  double m = 0, s = 0;
  for (float x : n) m += x;
  m /= (double)n.size();
  for (float x : n) s += (x - m) * (x - m);
  s = std::sqrt(s / (double)n.size());
  CHECK(m == doctest::Approx(1.0).epsilon(0.02));
  CHECK(s == doctest::Approx(0.5).epsilon(0.03));
  float lo = 1e9f, hi = -1e9f;
  for (float x : u1.to_vector()) lo = std::min(lo, x), hi = std::max(hi, x);
  CHECK(lo >= -1.f);
  CHECK(hi < 3.f);
}

TEST_CASE("device selection: cpu always, cuda only with a device, clear errors") {
  CHECK(parse_device("cpu") == Device::CPU);
  CHECK_THROWS_WITH_AS(parse_device("tpu"), doctest::Contains("unknown device 'tpu'"), sg::Error);
  if (!cuda_available()) {
    CHECK_THROWS_WITH_AS(parse_device("cuda"), doctest::Contains("CUDA was requested"), sg::Error);
    CHECK_THROWS_WITH_AS(set_default_device(Device::CUDA), doctest::Contains("CUDA was requested"), sg::Error);
    CHECK_THROWS_WITH_AS(Tensor::zeros({2}, Device::CUDA), doctest::Contains("CUDA tensor requested"), sg::Error);
    CHECK(parse_device("auto") == Device::CPU);
  }
}

TEST_CASE("the CPU allocator counts bytes in use and the peak") {
  MemoryStats before = memory_stats(Device::CPU);
  {
    Tensor t = Tensor::empty({1000, 1000}, Device::CPU);  // 4 MB
    MemoryStats during = memory_stats(Device::CPU);
    CHECK(during.bytes_in_use >= before.bytes_in_use + 4000000);
    CHECK(during.peak_bytes_in_use >= during.bytes_in_use);
  }
  CHECK(memory_stats(Device::CPU).bytes_in_use == before.bytes_in_use);
}

TEST_CASE("autograd: accumulation into leaves, zero_grad, no-grad guard") {
  Tensor x = Tensor::from_vector({3}, {1, 2, 3}, Device::CPU);
  x.requires_grad_(true);
  Tensor y = sum(mul(x, x));  // dy/dx = 2x
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<float>{2, 4, 6});
  sum(x * 3.f).backward();  // accumulates: 2x + 3
  CHECK(x.grad().to_vector() == std::vector<float>{5, 7, 9});
  x.zero_grad();
  CHECK(!x.grad().defined());
  {
    NoGradGuard ng;
    Tensor z = mul(x, x);
    CHECK(!z.requires_grad());
    CHECK(z.is_leaf());
  }
  // A value used twice gets the sum of both paths: d/dx (x*x + x) = 2x + 1.
  sum(add(mul(x, x), x)).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{3, 5, 7});
}

TEST_CASE("autograd: gradients are summed in place only where no other input shares them") {
  // add's backward hands one gradient tensor to both of its inputs. Below, the root's gradient
  // reaches y and z as one tensor; y = a + a then sums two contributions for a while z's is still
  // waiting, and must not change it: d/dx (2(2x) + 7x) = 11 (an in-place sum there gives 18).
  // Both orders of the root's inputs, since the sweep meets them in the order the graph was built.
  for (int order = 0; order < 2; ++order) {
    CAPTURE(order);
    Tensor x = Tensor::from_vector({2}, {1, 2}, Device::CPU);
    x.requires_grad_(true);
    Tensor a = x * 2.f;
    Tensor y = add(a, a), z = x * 7.f;
    sum(order == 0 ? add(y, z) : add(z, y)).backward();
    CHECK(x.grad().to_vector() == std::vector<float>{11, 11});
  }
  // A sum the sweep owns alone is added into: one tensor used three times.
  Tensor x = Tensor::from_vector({3}, {1, 2, 3}, Device::CPU);
  x.requires_grad_(true);
  Tensor h = x * 2.f;
  sum(add(add(h * 1.f, h * 2.f), h * 4.f)).backward();
  CHECK(x.grad().to_vector() == std::vector<float>{14, 14, 14});
}

TEST_CASE("autograd: the graph is freed after backward; misuse gives clear errors") {
  Tensor x = Tensor::from_vector({2}, {1, 2}, Device::CPU);
  x.requires_grad_(true);
  Tensor h = mul(x, x);
  Tensor y = sum(h);
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already freed"), sg::Error);
  CHECK_THROWS_WITH_AS(sum(Tensor::ones({2}, Device::CPU)).backward(), doctest::Contains("does not require a gradient"),
                       sg::Error);
  Tensor v = mul(x, x);
  CHECK_THROWS_WITH_AS(v.backward(), doctest::Contains("only for a scalar"), sg::Error);
  v.backward(Tensor::from_vector({2}, {1, 1}, Device::CPU));  // explicit seed for a non-scalar
  CHECK(x.grad().to_vector() == std::vector<float>{2 + 2, 4 + 4});
  CHECK_THROWS_WITH_AS(h.requires_grad_(true), doctest::Contains("only leaf tensors"), sg::Error);
}

TEST_CASE("a deep chain backpropagates without recursion") {
  Tensor x = Tensor::full({1}, 1.f, Device::CPU);
  x.requires_grad_(true);
  Tensor h = x;
  for (int i = 0; i < 20000; ++i) h = add_scalar(h, 0.f);
  sum(h).backward();
  CHECK(x.grad().item() == 1.f);
}

TEST_CASE("CUDA tensors: round trip, caching allocator reuses freed blocks" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  Tensor h = Tensor::uniform({3, 5}, 0.f, 1.f, 3, Device::CPU);
  Tensor d = h.to(Device::CUDA);
  CHECK(d.is_cuda());
  CHECK(d.to(Device::CPU).to_vector() == h.to_vector());
  { Tensor warm = Tensor::empty({1 << 20}, Device::CUDA); }
  MemoryStats s0 = memory_stats(Device::CUDA);
  for (int i = 0; i < 10; ++i) {
    Tensor t = Tensor::empty({1 << 20}, Device::CUDA);  // same size: served from the cache
    t.fill_(1.f);
  }
  MemoryStats s1 = memory_stats(Device::CUDA);
  CHECK(s1.device_allocs == s0.device_allocs);
  CHECK(s1.device_frees == s0.device_frees);
  CHECK(s1.bytes_in_use == s0.bytes_in_use);
  CHECK(s1.peak_bytes_in_use >= (size_t)4 << 20);
  empty_cache(Device::CUDA);
  CHECK(memory_stats(Device::CUDA).bytes_cached == 0);
}
