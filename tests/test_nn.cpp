// test_nn.cpp — modules: registration and dotted names, parameter counts, train/eval recursion,
// seeded initialisation (statistics of sgsf/README.md, 'Initialisation'; reproducibility),
// zero_grad, in-place device moves.
#include <cmath>

#include "engine/nn.h"
#include "engine/optim.h"
#include "engine/precision.h"
#include "tests/test_util.h"

using namespace sg;

namespace {

// conv -> bn, as the SGSF blocks are built (forward needs the conv/bn ops; not called here).
struct ConvBn : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  ConvBn(Rng& rng, int cin, int cout) {
    conv = register_module("conv", std::make_shared<nn::Conv2d>(rng, cin, cout, 3, 1, 1));
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(rng, cout));
  }
};

struct TwoLevel : nn::Module {
  Tensor scale;
  std::shared_ptr<ConvBn> enc1, enc2;
  std::shared_ptr<nn::Conv2d> head;
  explicit TwoLevel(Rng& rng) {
    scale = register_parameter("scale", Tensor::ones({1}, Device::CPU));
    enc1 = register_module("enc1", std::make_shared<ConvBn>(rng, 3, 4));
    enc2 = register_module("enc2", std::make_shared<ConvBn>(rng, 4, 8));
    head = register_module("head", std::make_shared<nn::Conv2d>(rng, 8, 2, 1, 1, 0, false));
  }
};

std::vector<std::string> names_of(const NamedTensors& l) {
  std::vector<std::string> out;
  for (auto& kv : l) out.push_back(kv.first);
  return out;
}

struct Moments {
  double mean, std;
};
Moments moments(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  double s = 0, s2 = 0;
  for (float x : v) s += x;
  double m = s / (double)v.size();
  for (float x : v) s2 += (x - m) * (x - m);
  return {m, std::sqrt(s2 / (double)v.size())};
}

}  // namespace

TEST_CASE("modules register parameters, buffers and children under dotted names") {
  Rng rng(1);
  TwoLevel net(rng);
  std::vector<std::string> params = {"scale",         "enc1.conv.weight", "enc1.conv.bias",
                                     "enc1.bn.weight", "enc1.bn.bias",     "enc2.conv.weight",
                                     "enc2.conv.bias", "enc2.bn.weight",   "enc2.bn.bias",
                                     "head.weight"};
  CHECK(names_of(net.named_parameters()) == params);
  CHECK(names_of(net.named_buffers()) ==
        std::vector<std::string>{"enc1.bn.running_mean", "enc1.bn.running_var",
                                 "enc2.bn.running_mean", "enc2.bn.running_var"});
  std::vector<std::string> state = {"scale",
                                    "enc1.conv.weight", "enc1.conv.bias",
                                    "enc1.bn.weight", "enc1.bn.bias", "enc1.bn.running_mean", "enc1.bn.running_var",
                                    "enc2.conv.weight", "enc2.conv.bias",
                                    "enc2.bn.weight", "enc2.bn.bias", "enc2.bn.running_mean", "enc2.bn.running_var",
                                    "head.weight"};
  CHECK(names_of(net.state()) == state);
  // 1 + (4*3*9 + 4) + (4 + 4) + (8*4*9 + 8) + (8 + 8) + 2*8
  CHECK(net.num_parameters() == 1 + 112 + 8 + 296 + 16 + 16);
  CHECK(net.parameters().size() == params.size());
  for (auto& p : net.parameters()) CHECK(p.requires_grad());
  for (auto& kv : net.named_buffers()) CHECK_FALSE(kv.second.requires_grad());
  // The handles are the members: same TensorImpl.
  CHECK(find_tensor(net.state(), "enc2.conv.weight").impl() == net.enc2->conv->weight.impl());
  CHECK(net.enc1->conv->weight.shape() == Shape{4, 3, 3, 3});
  CHECK_FALSE(net.head->bias.defined());
  CHECK(net.head->weight.shape() == Shape{2, 8, 1, 1});
  CHECK(net.enc1->bn->running_var.to_vector() == std::vector<float>(4, 1.f));
  CHECK(net.enc1->bn->running_mean.to_vector() == std::vector<float>(4, 0.f));
}

TEST_CASE("registration rejects bad and duplicate names") {
  nn::Module m;
  m.register_parameter("w", Tensor::zeros({2}, Device::CPU));
  CHECK_THROWS_WITH_AS(m.register_buffer("w", Tensor::zeros({2}, Device::CPU)),
                       doctest::Contains("'w' is already registered"), sg::Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("a.b", Tensor::zeros({2}, Device::CPU)),
                       doctest::Contains("contains '.'"), sg::Error);
  CHECK_THROWS_AS(m.register_parameter("", Tensor::zeros({2}, Device::CPU)), sg::Error);
  CHECK_THROWS_AS(m.register_parameter("u", Tensor()), sg::Error);
  CHECK_THROWS_AS(m.register_module("c", std::shared_ptr<nn::Module>()), sg::Error);
  Rng rng(0);
  CHECK_THROWS_AS(nn::Conv2d(rng, 0, 4, 3), sg::Error);
  CHECK_THROWS_AS(nn::BatchNorm2d(rng, 4, 0.1f, 0.f), sg::Error);
}

TEST_CASE("train() and eval() reach every child") {
  Rng rng(2);
  TwoLevel net(rng);
  CHECK(net.is_training());
  CHECK(net.enc2->bn->is_training());
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.enc1->bn->is_training());
  CHECK_FALSE(net.enc2->conv->is_training());
  CHECK_FALSE(net.head->is_training());
  net.train();
  CHECK(net.enc2->bn->is_training());
}

TEST_CASE("initialisation follows sgsf/README.md, 'Initialisation'") {
  Rng rng(3);
  nn::Conv2d conv(rng, 64, 64, 3, 1, 1);  // 36864 weights
  Moments w = moments(conv.weight);
  // standard error of the mean 0.02/192 ~ 1e-4, of the std ~ 7e-5
  CHECK(std::fabs(w.mean) < 6e-4);
  CHECK(std::fabs(w.std - 0.02) < 5e-4);
  CHECK(conv.bias.to_vector() == std::vector<float>(64, 0.f));
  nn::BatchNorm2d bn(rng, 8192);
  Moments g = moments(bn.weight);
  CHECK(std::fabs(g.mean - 1.0) < 1.2e-3);  // se 2.2e-4
  CHECK(std::fabs(g.std - 0.02) < 1e-3);
  CHECK(bn.bias.to_vector() == std::vector<float>(8192, 0.f));
  CHECK(bn.momentum == 0.1f);
  CHECK(bn.eps == 1e-5f);
}

TEST_CASE("two models built from one seed are identical; another seed differs") {
  Rng r1(7), r2(7), r3(8);
  TwoLevel a(r1), b(r2), c(r3);
  auto sa = a.state(), sb = b.state(), sc = c.state();
  bool any_diff = false;
  for (size_t i = 0; i < sa.size(); ++i) {
    CHECK(sa[i].second.to_vector() == sb[i].second.to_vector());
    any_diff |= sa[i].second.to_vector() != sc[i].second.to_vector();
  }
  CHECK(any_diff);
}

TEST_CASE("zero_grad drops every gradient; to(CPU) is a no-op keeping handles") {
  Rng rng(4);
  TwoLevel net(rng);
  for (auto& p : net.parameters()) p.set_grad(Tensor::ones(p.shape(), Device::CPU));
  for (auto& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad();
  for (auto& p : net.parameters()) CHECK_FALSE(p.grad().defined());
  const float* before = net.enc1->conv->weight.data();
  net.to(Device::CPU);
  CHECK(net.enc1->conv->weight.data() == before);
  CHECK(net.device() == Device::CPU);
}

TEST_CASE("move_to_device_ refuses non-leaf tensors and CUDA without a device") {
  Tensor a = Tensor::ones({3}, Device::CPU);
  a.requires_grad_(true);
  Tensor b = a * 2.f;
  if (!cuda_available()) {
    CHECK_THROWS_AS(move_to_device_(a, Device::CUDA), sg::Error);
  } else {
    CHECK_THROWS_WITH_AS(move_to_device_(b, Device::CUDA), doctest::Contains("leaf"), sg::Error);
  }
}

TEST_CASE("Module::to(CUDA) moves every tensor in place, handles stay valid" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  Rng rng(5);
  TwoLevel net(rng);
  NamedTensors before = net.state();
  std::vector<std::vector<float>> values;
  for (auto& kv : before) values.push_back(kv.second.to_vector());
  Tensor handle = net.enc1->conv->weight;  // a copy of the handle, as an optimiser keeps
  handle.set_grad(Tensor::ones(handle.shape(), Device::CPU));
  net.to(Device::CUDA);
  CHECK(handle.device() == Device::CUDA);
  CHECK(handle.grad().device() == Device::CUDA);
  CHECK(net.device() == Device::CUDA);
  for (size_t i = 0; i < before.size(); ++i) {
    CHECK(before[i].second.device() == Device::CUDA);
    CHECK(before[i].second.to_vector() == values[i]);
  }
  net.to(Device::CPU);
  CHECK(handle.device() == Device::CPU);
  CHECK(net.enc1->conv->weight.to_vector() == values[1]);
}

// ---- layers running (conv2d and batch_norm2d ops) ----------------------------------------------

TEST_CASE("Conv2d forward is conv2d with the module's weight, bias, stride and padding") {
  Rng rng(20);
  nn::Conv2d conv(rng, 3, 5, 3, 2, 1);
  conv.bias.copy_(Tensor::uniform({5}, -1.f, 1.f, 21, Device::CPU));
  Tensor x = Tensor::uniform({2, 3, 9, 8}, -1.f, 1.f, 22, Device::CPU);
  Tensor y = conv.forward(x);
  CHECK(y.shape() == Shape{2, 5, 5, 4});
  CHECK(y.to_vector() == conv2d(x, conv.weight, conv.bias, 2, 1).to_vector());
  nn::Conv2d nobias(rng, 3, 2, 1, 1, 0, false);
  CHECK(nobias.forward(x).shape() == Shape{2, 2, 9, 8});
  // gradients reach the registered parameters
  sum(y).backward();
  CHECK(conv.weight.grad().defined());
  CHECK(conv.bias.grad().shape() == Shape{5});
}

TEST_CASE("BatchNorm2d normalises with batch statistics in training, running statistics in eval") {
  Rng rng(23);
  nn::BatchNorm2d bn(rng, 3, 0.25f);
  Tensor x = Tensor::uniform({4, 3, 5, 5}, 1.f, 3.f, 24, Device::CPU);
  Tensor y = bn.forward(x);
  std::vector<float> yv = y.to_vector(), g = bn.weight.to_vector(), xv = x.to_vector();
  for (int c = 0; c < 3; ++c) {
    double s = 0, s2 = 0, xs = 0;
    int n = 0;
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 25; ++k) {
        size_t idx = (size_t)((i * 3 + c) * 25 + k);
        s += yv[idx];
        s2 += (double)yv[idx] * yv[idx];
        xs += xv[idx];
        ++n;
      }
    CHECK(s / n == doctest::Approx(0.0).epsilon(1e-5));
    CHECK(std::sqrt(s2 / n) == doctest::Approx(g[(size_t)c]).epsilon(1e-3));
    // running_mean = 0.75 * 0 + 0.25 * batch mean
    CHECK(bn.running_mean.to_vector()[(size_t)c] == doctest::Approx(0.25 * xs / n).epsilon(1e-5));
  }
  // Eval: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta; no statistics update.
  bn.eval();
  std::vector<float> rm = bn.running_mean.to_vector(), rv = bn.running_var.to_vector();
  std::vector<float> ye = bn.forward(x).to_vector();
  CHECK(bn.running_mean.to_vector() == rm);
  for (size_t idx = 0; idx < ye.size(); idx += 7) {
    size_t c = (idx / 25) % 3;
    double expect = g[c] * (xv[idx] - rm[c]) / std::sqrt(rv[c] + 1e-5);
    CHECK(ye[idx] == doctest::Approx(expect).epsilon(1e-4));
  }
}

namespace {

// conv - bn - relu - conv: a one-channel image in, a one-channel map out.
struct TinyCnn : nn::Module {
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  explicit TinyCnn(Rng& rng) {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(rng, 1, 8, 3, 1, 1));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(rng, 8));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(rng, 8, 1, 3, 1, 1));
  }
  Tensor forward(const Tensor& x) { return conv2->forward(relu(bn1->forward(conv1->forward(x)))); }
};

// Toy segmentation: faint noise with one bright 4x4 square per image; the target is its mask.
void toy_batch(Tensor& x, Tensor& mask, Device d) {
  const int N = 4, H = 12, W = 12;
  Rng rng(99);
  std::vector<float> xv((size_t)N * H * W), mv(xv.size(), 0.f);
  for (float& v : xv) v = rng.uniform(0.f, 0.3f);
  for (int n = 0; n < N; ++n) {
    int r0 = rng.randint(0, H - 4), c0 = rng.randint(0, W - 4);
    for (int r = r0; r < r0 + 4; ++r)
      for (int c = c0; c < c0 + 4; ++c) {
        xv[(size_t)(n * H + r) * W + c] = 1.f;
        mv[(size_t)(n * H + r) * W + c] = 1.f;
      }
  }
  x = Tensor::from_vector({N, 1, H, W}, xv, d);
  mask = Tensor::from_vector({N, 1, H, W}, mv, d);
}

// Losses of `steps` Adam steps (lr 1e-2) from seed `seed` on device `d`.
std::vector<float> train_tiny(uint64_t seed, int steps, Device d) {
  Rng rng(seed);
  TinyCnn net(rng);
  net.to(d);
  Adam opt(net.named_parameters(), 1e-2f);
  Tensor x, mask;
  toy_batch(x, mask, d);
  std::vector<float> losses;
  for (int t = 0; t < steps; ++t) {
    opt.zero_grad();
    Tensor diff = net.forward(x) - mask;
    Tensor loss = mean(diff * diff);
    loss.backward();
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

}  // namespace

TEST_CASE("a tiny CNN trained with Adam lowers its loss, and two runs agree exactly") {
  std::vector<float> a = train_tiny(5, 30, Device::CPU), b = train_tiny(5, 30, Device::CPU);
  MESSAGE("tiny CNN loss: step 1 ", a.front(), ", step 30 ", a.back());
  CHECK(a.back() < 0.25f * a.front());
  CHECK(a == b);
  CHECK(train_tiny(6, 3, Device::CPU) != std::vector<float>(a.begin(), a.begin() + 3));
}

TEST_CASE("the tiny CNN trains on CUDA like on the CPU" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  std::vector<float> c = train_tiny(5, 10, Device::CPU), g = train_tiny(5, 10, Device::CUDA);
  MESSAGE("tiny CNN loss after 10 steps: CPU ", c.back(), ", CUDA ", g.back());
  SG_CHECK_CLOSE(g, c, 2e-4f, 5e-3f);  // cuDNN vs Eigen GEMM rounding, amplified a little by Adam
  CHECK(train_tiny(5, 10, Device::CUDA) == g);  // deterministic on the device too
}

// --precision bf16 on the GPU (engine/ops_conv.cpp, "bf16 on the GPU"): the cast kernels feed
// bf16 convolutions, parameters and Adam stay float32. The loss falls as in fp32, and each step's
// loss stays within 20 % of fp32's (bf16 operands perturb each step by about 2^-8, and 30 steps of
// Adam carry the differences along; measured on the emulated device: at most 11 %, at step 17).
TEST_CASE("the tiny CNN trains on CUDA in bf16 near its fp32 loss curve" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  std::vector<float> f = train_tiny(5, 30, Device::CUDA), b;
  {
    PrecisionGuard bf16(Precision::BF16);
    b = train_tiny(5, 30, Device::CUDA);
  }
  MESSAGE("tiny CNN loss on CUDA after 30 steps: fp32 ", f.back(), ", bf16 ", b.back());
  CHECK(b.back() < 0.25f * b.front());
  CHECK(b != f);  // the mode is in force
  SG_CHECK_CLOSE(b, f, 1e-5f, 0.2f);
}
