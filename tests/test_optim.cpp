// test_optim.cpp — Adam: the closed-form first step, a trajectory against an independent
// double-precision implementation, parameters without gradients, exact resume from the exposed
// state, the CUDA kernel against its CPU twin; MultiStepLR milestones.
#include <cmath>

#include "engine/checkpoint.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "tests/test_util.h"

using namespace sg;

namespace {

Tensor leaf(const Shape& s, uint64_t seed, Device d = Device::CPU) {
  Tensor t = Tensor::uniform(s, -1.f, 1.f, seed, d);
  t.requires_grad_(true);
  return t;
}

// Gradient of step `t` for parameter `k`: seeded, with a few tiny entries so eps matters.
Tensor grad_for(const Shape& s, int k, int t, Device d = Device::CPU) {
  std::vector<float> v = Tensor::uniform(s, -2.f, 2.f, 1000 + 37 * (uint64_t)k + (uint64_t)t, Device::CPU).to_vector();
  for (size_t i = 0; i < v.size(); i += 5) v[i] *= 1e-6f;
  return Tensor::from_vector(s, v, d);
}

// Textbook Adam (Kingma & Ba, Algorithm 1) in double precision.
struct AdamRef {
  double lr, b1, b2, eps;
  std::vector<double> p, m, v;
  int t = 0;
  void step(const std::vector<float>& g) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * (double)g[i] * g[i];
      double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

}  // namespace

TEST_CASE("Adam's first step moves every parameter by -lr * sign(g)") {
  Tensor p = leaf({4, 50}, 1);
  std::vector<float> p0 = p.to_vector();
  Tensor g = Tensor::uniform({4, 50}, -3.f, 3.f, 2, Device::CPU);
  p.set_grad(g);
  const float lr = 1e-3f;
  Adam opt({p}, lr);
  opt.step();
  CHECK(opt.step_count() == 1);
  // After bias correction m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps).
  std::vector<float> p1 = p.to_vector(), gv = g.to_vector(), expect(p0.size());
  for (size_t i = 0; i < p0.size(); ++i) expect[i] = p0[i] - lr * (gv[i] > 0 ? 1.f : -1.f);
  SG_CHECK_CLOSE(p1, expect, 2.5e-7f, 0.f);  // two float32 roundings of |p| <= 1
}

TEST_CASE("a parameter whose first gradient comes late gets a first step's bias correction") {
  // Warm-up trains one part of a model while another has no gradient; when the second part's
  // gradient finally arrives, its update must be -lr * sign(g) as on a first step.
  Tensor a = leaf({3, 7}, 3), b = leaf({3, 7}, 4);
  std::vector<float> b0 = b.to_vector();
  const float lr = 1e-3f;
  Adam opt({a, b}, lr);
  for (int i = 0; i < 20; ++i) {
    a.set_grad(Tensor::uniform({3, 7}, -1.f, 1.f, 10 + (uint64_t)i, Device::CPU));
    opt.step();
  }
  CHECK(b.to_vector() == b0);  // untouched while it had no gradient
  Tensor g = Tensor::uniform({3, 7}, -2.f, 2.f, 99, Device::CPU);
  b.set_grad(g);
  opt.step();
  std::vector<float> b1 = b.to_vector(), gv = g.to_vector(), expect(b0.size());
  for (size_t i = 0; i < b0.size(); ++i) expect[i] = b0[i] - lr * (gv[i] > 0 ? 1.f : -1.f);
  SG_CHECK_CLOSE(b1, expect, 2.5e-7f, 0.f);
  CHECK(opt.step_count() == 21);
}

TEST_CASE("Adam follows a double-precision reference over several steps, lr changes included") {
  const Shape s1 = {3, 7}, s2 = {5};
  Tensor a = leaf(s1, 3), b = leaf(s2, 4), frozen = leaf({2}, 5);
  std::vector<float> frozen0 = frozen.to_vector();
  Adam opt(NamedTensors{{"a", a}, {"b", b}, {"frozen", frozen}}, 2e-2f, 0.8f, 0.99f, 1e-6f);
  AdamRef ra{2e-2, 0.8, 0.99, 1e-6}, rb = ra;
  for (float x : a.to_vector()) ra.p.push_back(x);
  for (float x : b.to_vector()) rb.p.push_back(x);
  ra.m.assign(ra.p.size(), 0);
  ra.v = ra.m;
  rb.m.assign(rb.p.size(), 0);
  rb.v = rb.m;
  for (int t = 0; t < 12; ++t) {
    if (t == 6) {
      opt.set_lr(5e-3f);
      ra.lr = rb.lr = (double)5e-3f;
    }
    opt.zero_grad();
    a.set_grad(grad_for(s1, 0, t));
    b.set_grad(grad_for(s2, 1, t));
    ra.step(grad_for(s1, 0, t).to_vector());
    rb.step(grad_for(s2, 1, t).to_vector());
    opt.step();
  }
  CHECK(opt.step_count() == 12);
  std::vector<float> ea(ra.p.begin(), ra.p.end()), eb(rb.p.begin(), rb.p.end());
  SG_CHECK_CLOSE(a.to_vector(), ea, 2e-6f, 1e-5f);
  SG_CHECK_CLOSE(b.to_vector(), eb, 2e-6f, 1e-5f);
  // a parameter that never had a gradient is untouched, its moments still zero
  CHECK(frozen.to_vector() == frozen0);
  CHECK(find_tensor(opt.state(), "m.frozen").to_vector() == std::vector<float>(2, 0.f));
  std::vector<float> ma = find_tensor(opt.state(), "m.a").to_vector();
  std::vector<float> ma_ref(ra.m.begin(), ra.m.end());
  SG_CHECK_CLOSE(ma, ma_ref, 1e-6f, 1e-5f);
}

TEST_CASE("Adam state names, validation and zero_grad") {
  Tensor a = leaf({2}, 6), b = leaf({3}, 7);
  Adam opt({a, b}, 1e-3f);
  std::vector<std::string> names;
  for (auto& kv : opt.state()) names.push_back(kv.first);
  CHECK(names == std::vector<std::string>{"step", "m.0", "m.1", "v.0", "v.1"});
  a.set_grad(Tensor::ones({2}, Device::CPU));
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK_THROWS_AS(Adam({a, a}, 1e-3f), sg::Error);
  CHECK_THROWS_AS(Adam({a}, 1e-3f, 1.0f), sg::Error);
  CHECK_THROWS_AS(opt.set_lr(-1.f), sg::Error);
  a.set_grad(Tensor::ones({3}, Device::CPU));
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("gradient of '0' has shape (3)"), sg::Error);
}

TEST_CASE("Adam resumes bit for bit from its exposed state") {
  const Shape s = {4, 6};
  Tensor pa = leaf(s, 8);
  Adam a({pa}, 1e-2f);
  for (int t = 0; t < 3; ++t) {
    pa.set_grad(grad_for(s, 0, t));
    a.step();
  }
  // A fresh optimiser over a copy of the parameter, restored from a's state.
  Tensor pb = Tensor::from_vector(s, pa.to_vector(), Device::CPU);
  pb.requires_grad_(true);
  Adam b({pb}, 1e-2f);
  load_into(b.state(), a.state(), "optimiser a");
  CHECK(b.step_count() == 3);
  // Control: the same copy with a fresh optimiser (bias correction restarts) must drift apart.
  Tensor pc = Tensor::from_vector(s, pa.to_vector(), Device::CPU);
  pc.requires_grad_(true);
  Adam c({pc}, 1e-2f);
  for (int t = 3; t < 6; ++t) {
    for (Tensor* p : {&pa, &pb, &pc}) p->set_grad(grad_for(s, 0, t));
    a.step();
    b.step();
    c.step();
  }
  CHECK(pa.to_vector() == pb.to_vector());
  CHECK(pa.to_vector() != pc.to_vector());
}

TEST_CASE("MultiStepLR multiplies by gamma at each milestone") {
  MultiStepLR sched(1.0f, {20, 10}, 0.5f);
  CHECK(sched.milestones() == std::vector<int64_t>{10, 20});
  CHECK(sched.lr(0) == 1.0f);
  CHECK(sched.lr(9) == 1.0f);
  CHECK(sched.lr(10) == 0.5f);
  CHECK(sched.lr(19) == 0.5f);
  CHECK(sched.lr(20) == 0.25f);
  CHECK(sched.lr(100000) == 0.25f);
  MultiStepLR sgsf = MultiStepLR::at_fractions(1e-4f, 1000, {0.5, 0.7, 0.9});
  CHECK(sgsf.milestones() == std::vector<int64_t>{500, 700, 900});
  CHECK(sgsf.lr(499) == 1e-4f);
  CHECK(sgsf.lr(500) == doctest::Approx(1e-5f).epsilon(1e-6));
  CHECK(sgsf.lr(700) == doctest::Approx(1e-6f).epsilon(1e-6));
  CHECK(sgsf.lr(999) == doctest::Approx(1e-7f).epsilon(1e-6));
  CHECK_THROWS_AS(MultiStepLR::at_fractions(1e-4f, 10, {1.5}), sg::Error);
}

TEST_CASE("Adam's CUDA kernel matches the CPU twin" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  const Shape s = {3, 1000};  // several blocks
  Tensor pc = leaf(s, 9);
  Tensor pg = Tensor::from_vector(s, pc.to_vector(), Device::CUDA);
  pg.requires_grad_(true);
  Adam oc({pc}, 1e-2f), og({pg}, 1e-2f);
  for (int t = 0; t < 5; ++t) {
    pc.set_grad(grad_for(s, 0, t));
    pg.set_grad(grad_for(s, 0, t, Device::CUDA));
    oc.step();
    og.step();
  }
  CHECK(pg.device() == Device::CUDA);
  SG_CHECK_CLOSE(pg.to_vector(), pc.to_vector(), 1e-6f, 1e-5f);
  SG_CHECK_CLOSE(find_tensor(og.state(), "v.0").to_vector(),
                 find_tensor(oc.state(), "v.0").to_vector(), 1e-9f, 1e-5f);
  // A parameter moved to the GPU after the optimiser was built: moments follow it.
  Tensor q = leaf({7}, 10);
  Adam oq({q}, 1e-2f);
  move_to_device_(q, Device::CUDA);
  q.set_grad(Tensor::ones({7}, Device::CUDA));
  oq.step();
  CHECK(find_tensor(oq.state(), "m.0").device() == Device::CUDA);
}

TEST_CASE("the multi-tensor Adam kernel matches the CPU twin over many tensors, late starters included" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  // More tensors than one launch takes (kAdamTensorsPerLaunch), sizes from 1 element to several
  // blocks of the largest, and two tensors whose first gradient comes late.
  std::vector<Tensor> pc, pg;
  for (int k = 0; k < 70; ++k) {
    const Shape s = {1 + (k * 37) % 900};
    pc.push_back(leaf(s, 100 + k));
    Tensor g = Tensor::from_vector(s, pc.back().to_vector(), Device::CUDA);
    g.requires_grad_(true);
    pg.push_back(g);
  }
  Adam oc(pc, 1e-2f), og(pg, 1e-2f);
  for (int t = 0; t < 4; ++t) {
    for (size_t k = 0; k < pc.size(); ++k) {
      if (t < 2 && (k == 5 || k == 66)) continue;
      pc[k].set_grad(grad_for(pc[k].shape(), (int)k, t));
      pg[k].set_grad(grad_for(pg[k].shape(), (int)k, t, Device::CUDA));
    }
    oc.step();
    og.step();
    oc.zero_grad();
    og.zero_grad();
  }
  for (size_t k = 0; k < pc.size(); ++k) {
    CAPTURE(k);
    SG_CHECK_CLOSE(pg[k].to_vector(), pc[k].to_vector(), 1e-6f, 1e-5f);
  }
  SG_CHECK_CLOSE(find_tensor(og.state(), "step").to_vector(), find_tensor(oc.state(), "step").to_vector(), 0.f, 0.f);
  CHECK(find_tensor(oc.state(), "step").to_vector()[5] == 2.f);
}
