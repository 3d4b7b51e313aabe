// test_ops_registry.cpp — the op registry: one table with a line per public op of engine/ops.h and
// sgsf/sgsf_ops.h (more lines where an op has modes worth running separately), and the three checks
// generated from it:
//   1. a finite-difference gradient check on the CPU of every line that has a gradient;
//   2. (`gpu` suite) the CPU and the CUDA backend run every line from the same inputs: outputs
//      compared, and for lines with a gradient the input gradients of the same weighted sum;
//   3. the table against the headers: every op the headers declare has a line, or is listed in
//      kLeftOut with the reason, and every line names a declared op.
// A line gives the op's name, its inputs (shape and generator: special inputs where the op needs
// them, e.g. positive values for log, values away from the kink of relu, distinct values for max
// pooling, a 0/1 mask for the focal loss), a call, tolerances and, for an op without a gradient,
// the reason. Adding a line is all it takes to test an op on both checks (kernels/README.md).
#include <algorithm>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <regex>
#include <set>

#include "engine/precision.h"
#include "sgsf/sgsf_ops.h"
#include "tests/device_compare.h"

using namespace sg;

namespace {

using Outputs = std::vector<Tensor>;
// Gets the inputs on one device (and the device, for ops without tensor inputs); returns the op's
// result first (the output differentiated when the line has a gradient), then any side results
// compared on both devices (e.g. batch norm's running statistics).
using OpFn = std::function<Outputs(const std::vector<Tensor>& in, Device dev)>;
using Gen = std::function<Tensor(const Shape&, uint64_t seed)>;

// ---- input generators (CPU tensors) ------------------------------------------------------------
Gen uniform(float lo, float hi) {
  return [=](const Shape& s, uint64_t seed) { return Tensor::uniform(s, lo, hi, seed, Device::CPU); };
}
Gen normal(float stddev) {
  return [=](const Shape& s, uint64_t seed) { return Tensor::normal(s, 0.f, stddev, seed, Device::CPU); };
}
// |x| in [lo, hi] with a random sign: away from the kink at 0 (relu) by more than the FD step.
Gen away_from_zero(float lo, float hi) {
  return [=](const Shape& s, uint64_t seed) {
    std::vector<float> m = Tensor::uniform(s, lo, hi, seed, Device::CPU).to_vector();
    std::vector<float> u = Tensor::uniform(s, 0.f, 1.f, seed + 7777, Device::CPU).to_vector();
    for (size_t i = 0; i < m.size(); ++i) m[i] = u[i] < 0.5f ? -m[i] : m[i];
    return Tensor::from_vector(s, m, Device::CPU);
  };
}
// A shuffled ramp: all values distinct, neighbours `spacing` apart (no ties for max pooling and
// max_value; the FD step 1e-2 never reorders two values 3e-2 apart).
Gen distinct(float spacing) {
  return [=](const Shape& s, uint64_t seed) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    std::vector<float> v((size_t)n);
    std::vector<int64_t> perm((size_t)n);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937_64(seed));
    for (size_t i = 0; i < v.size(); ++i) v[i] = ((float)perm[i] - 0.5f * (float)n) * spacing;
    return Tensor::from_vector(s, v, Device::CPU);
  };
}
// 0/1 values, 1 with probability p.
Gen binary(float p) {
  return [=](const Shape& s, uint64_t seed) {
    std::vector<float> v = Tensor::uniform(s, 0.f, 1.f, seed, Device::CPU).to_vector();
    for (float& x : v) x = x < p ? 1.f : 0.f;
    return Tensor::from_vector(s, v, Device::CPU);
  };
}

struct Input {
  Shape shape;
  Gen gen;
  bool diff = true;  // the gradient with respect to this input is checked
};
Input in(Shape s, Gen g) { return {std::move(s), std::move(g), true}; }
Input fixed(Shape s, Gen g) { return {std::move(s), std::move(g), false}; }  // reaches the op, no gradient

struct OpLine {
  std::string op;       // the function's name as the header declares it
  std::string variant;  // what this line runs, when the op has several lines
  std::vector<Input> inputs;
  OpFn fn;
  const char* no_grad = nullptr;  // null: gradient checked; else why the op has none
  // Gradient check: central differences in float32 with step eps, |num - ana| <= atol + rtol |num|.
  // The defaults suit outputs of order 1: the objective (a weighted sum of a few hundred float32
  // outputs) carries rounding of ~1e-6, i.e. ~1e-4 after dividing by 2 eps, well under atol.
  float fd_eps = 1e-2f, fd_atol = 2e-3f, fd_rtol = 2e-2f;
  // CPU vs CUDA, outputs and gradients: |gpu - cpu| <= atol + rtol |cpu|.
  float dev_atol = 1e-6f, dev_rtol = 1e-5f;

  std::string title() const { return variant.empty() ? op : op + " (" + variant + ")"; }
  OpLine& fd(float eps, float atol, float rtol) {
    fd_eps = eps, fd_atol = atol, fd_rtol = rtol;
    return *this;
  }
  OpLine& dev(float atol, float rtol) {
    dev_atol = atol, dev_rtol = rtol;
    return *this;
  }
  // No gradient: every input becomes a fixed one, and the CUDA comparison is forward only.
  OpLine& forward_only(const char* reason) {
    no_grad = reason;
    for (Input& i : inputs) i.diff = false;
    return *this;
  }
};

OpLine line(std::string op, std::string variant, std::vector<Input> inputs, OpFn fn) {
  OpLine l;
  l.op = std::move(op);
  l.variant = std::move(variant);
  l.inputs = std::move(inputs);
  l.fn = std::move(fn);
  return l;
}

// A unary op with one input: the common line.
OpLine unary(std::string op, std::string variant, Shape s, Gen g, std::function<Tensor(const Tensor&)> f) {
  return line(std::move(op), std::move(variant), {in(std::move(s), std::move(g))},
              [f](const std::vector<Tensor>& x, Device) { return Outputs{f(x[0])}; });
}

Tensor vec(const std::vector<float>& v, Device dev) { return Tensor::from_vector({(int64_t)v.size()}, v, dev); }

// Ops of the headers with no line, and why. Each must still be declared (the header test checks).
// The operators of ops.h (+ - * / and unary -) are inline forwarders to add, sub, mul, div,
// add_scalar, mul_scalar, rsub_scalar and neg, which have lines; they are not functions with names.
const std::map<std::string, std::string> kLeftOut = {};

// ---- the table ----------------------------------------------------------------------------------
std::vector<OpLine> registry() {
  using V = const std::vector<Tensor>&;
  const Shape s4 = {2, 3, 4, 5};
  std::vector<OpLine> r;

  // elementwise: binary ops with broadcasting (a per-channel (1,C,1,1) and a (N,1,H,W) operand)
  r.push_back(line("add", "broadcast (1,C,1,1)", {in(s4, normal(1.f)), in({1, 3, 1, 1}, normal(1.f))},
                   [](V x, Device) { return Outputs{add(x[0], x[1])}; }));
  r.push_back(line("sub", "broadcast (N,1,H,W)", {in(s4, normal(1.f)), in({2, 1, 4, 5}, normal(1.f))},
                   [](V x, Device) { return Outputs{sub(x[0], x[1])}; }));
  r.push_back(line("mul", "broadcast (1,C,1,1)", {in(s4, normal(1.f)), in({1, 3, 1, 1}, normal(1.f))},
                   [](V x, Device) { return Outputs{mul(x[0], x[1])}; }));
  r.push_back(line("mul", "same shapes", {in(s4, normal(1.f)), in(s4, normal(1.f))},
                   [](V x, Device) { return Outputs{mul(x[0], x[1])}; }));
  r.push_back(line("div", "broadcast (N,1,H,W), denominator in [0.5, 1.5]",
                   {in(s4, normal(1.f)), in({2, 1, 4, 5}, uniform(0.5f, 1.5f))},
                   [](V x, Device) { return Outputs{div(x[0], x[1])}; }));
  // elementwise: scalar and unary ops (each backward is unary_derivative)
  r.push_back(unary("add_scalar", "", s4, normal(1.f), [](const Tensor& x) { return add_scalar(x, 0.75f); }));
  r.push_back(unary("mul_scalar", "", s4, normal(1.f), [](const Tensor& x) { return mul_scalar(x, -1.5f); }));
  r.push_back(unary("rsub_scalar", "", s4, normal(1.f), [](const Tensor& x) { return rsub_scalar(2.f, x); }));
  r.push_back(unary("neg", "", s4, normal(1.f), [](const Tensor& x) { return neg(x); }));
  r.push_back(unary("relu", "|x| >= 0.05", s4, away_from_zero(0.05f, 1.f), [](const Tensor& x) { return relu(x); }));
  r.push_back(unary("sigmoid", "", s4, uniform(-4.f, 4.f), [](const Tensor& x) { return sigmoid(x); }));
  r.push_back(unary("exp", "", s4, uniform(-2.f, 2.f), [](const Tensor& x) { return exp(x); }));
  r.push_back(unary("log", "x in [0.3, 2]", s4, uniform(0.3f, 2.f), [](const Tensor& x) { return log(x); }));
  r.push_back(unary("pow", "p = 3", s4, uniform(-1.5f, 1.5f), [](const Tensor& x) { return pow(x, 3.f); }));
  r.push_back(unary("pow", "p = -0.5, x in [0.5, 2]", s4, uniform(0.5f, 2.f),
                    [](const Tensor& x) { return pow(x, -0.5f); }));
  r.push_back(unary("sqrt", "x in [0.3, 2]", s4, uniform(0.3f, 2.f), [](const Tensor& x) { return sqrt(x); }));
  r.push_back(unary("tanh", "", s4, uniform(-3.f, 3.f), [](const Tensor& x) { return tanh(x); }));
  r.push_back(unary("sum_to", "(2,3,4,5) -> (1,3,1,5)", s4, normal(1.f),
                    [](const Tensor& x) { return sum_to(x, {1, 3, 1, 5}); }));
  r.push_back(unary("sum_to", "(2,3,4,5) -> (4,1)", s4, normal(1.f),
                    [](const Tensor& x) { return sum_to(x, {4, 1}); }));

  // reductions
  r.push_back(unary("sum", "all elements", s4, normal(1.f), [](const Tensor& x) { return sum(x); }).dev(1e-5f, 1e-4f));
  r.push_back(unary("mean", "all elements", s4, normal(1.f), [](const Tensor& x) { return mean(x); }).dev(1e-6f, 1e-4f));
  r.push_back(unary("sum", "dim 1", s4, normal(1.f), [](const Tensor& x) { return sum(x, 1); }).dev(1e-5f, 1e-4f));
  r.push_back(unary("sum", "dim -1, keepdim", s4, normal(1.f), [](const Tensor& x) { return sum(x, -1, true); })
                  .dev(1e-5f, 1e-4f));
  r.push_back(unary("mean", "dim 0", s4, normal(1.f), [](const Tensor& x) { return mean(x, 0); }).dev(1e-6f, 1e-4f));
  r.push_back(unary("mean", "dim 2, keepdim", s4, normal(1.f), [](const Tensor& x) { return mean(x, 2, true); })
                  .dev(1e-6f, 1e-4f));
  r.push_back(unary("max_value", "distinct values", {3, 7, 5}, distinct(0.03f), [](const Tensor& x) { return max_value(x); })
                  .forward_only("declared without a gradient (a metric for evaluation and tests)")
                  .dev(0.f, 0.f));

  // linear algebra
  r.push_back(line("matmul", "(5,7) x (7,3)", {in({5, 7}, uniform(-1.f, 1.f)), in({7, 3}, uniform(-1.f, 1.f))},
                   [](V x, Device) { return Outputs{matmul(x[0], x[1])}; })
                  .dev(1e-5f, 1e-4f));
  r.push_back(line("matmul", "(1,40) x (40,1)", {in({1, 40}, uniform(-1.f, 1.f)), in({40, 1}, uniform(-1.f, 1.f))},
                   [](V x, Device) { return Outputs{matmul(x[0], x[1])}; })
                  .dev(1e-5f, 1e-4f));
  r.push_back(line("matmul", "(9,1) x (1,6): K = 1", {in({9, 1}, uniform(-1.f, 1.f)), in({1, 6}, uniform(-1.f, 1.f))},
                   [](V x, Device) { return Outputs{matmul(x[0], x[1])}; })
                  .dev(1e-5f, 1e-4f));

  // convolution, normalisation, pooling, resizing
  r.push_back(line("conv2d", "3x3, stride 1, padding 1, bias",
                   {in({2, 3, 6, 5}, uniform(-1.f, 1.f)), in({4, 3, 3, 3}, uniform(-1.f, 1.f)),
                    in({4}, uniform(-1.f, 1.f))},
                   [](V x, Device) { return Outputs{conv2d(x[0], x[1], x[2], 1, 1)}; })
                  .dev(1e-4f, 1e-4f));
  r.push_back(line("conv2d", "2x3 kernel, stride 2, no padding, no bias",
                   {in({2, 2, 7, 8}, uniform(-1.f, 1.f)), in({3, 2, 2, 3}, uniform(-1.f, 1.f))},
                   [](V x, Device) { return Outputs{conv2d(x[0], x[1], Tensor(), 2, 0)}; })
                  .dev(1e-4f, 1e-4f));
  // Batch norm: x, gamma, beta differentiated; running mean and variance are fixed inputs, cloned
  // per call (the op updates them in place) and returned so that both devices' updates are compared.
  auto bn = [](bool training) {
    return [training](V x, Device) {
      Tensor rm = x[3].clone(), rv = x[4].clone();
      Tensor y = batch_norm2d(x[0], x[1], x[2], rm, rv, training);
      return Outputs{y, rm, rv};
    };
  };
  const std::vector<Input> bn_in = {in({3, 3, 4, 3}, uniform(-1.f, 2.f)), in({3}, uniform(0.5f, 1.5f)),
                                    in({3}, uniform(-1.f, 1.f)), fixed({3}, uniform(-0.5f, 0.5f)),
                                    fixed({3}, uniform(0.5f, 2.f))};
  r.push_back(line("batch_norm2d", "training: batch statistics, running statistics updated", bn_in, bn(true))
                  .dev(2e-4f, 2e-4f));
  r.push_back(line("batch_norm2d", "eval: running statistics", bn_in, bn(false)).dev(2e-4f, 2e-4f));
  auto bn_relu = [](bool training) {
    return [training](V x, Device) {
      Tensor rm = x[3].clone(), rv = x[4].clone();
      return Outputs{batch_norm2d(x[0], x[1], x[2], rm, rv, training, 0.1f, 1e-5f, /*relu=*/true), rm, rv};
    };
  };
  r.push_back(line("batch_norm2d", "relu = true, training", bn_in, bn_relu(true)).dev(2e-4f, 2e-4f));
  r.push_back(line("batch_norm2d", "relu = true, eval", bn_in, bn_relu(false)).dev(2e-4f, 2e-4f));
  // A convolution's bias folded in as the shift (differentiated: 0 in training, gamma invstd sum(g)
  // in eval). Without the ReLU, whose kinks finite differences would straddle at these inputs; with
  // it, test_batchnorm.cpp compares the folded shift with the shift added by an ordinary op.
  auto bn_shift = [](bool training) {
    return [training](V x, Device) {
      Tensor rm = x[3].clone(), rv = x[4].clone();
      return Outputs{batch_norm2d(x[0], x[1], x[2], rm, rv, training, 0.1f, 1e-5f, /*relu=*/false, x[5]), rm, rv};
    };
  };
  std::vector<Input> bn_shift_in = bn_in;
  bn_shift_in.push_back(in({3}, uniform(-1.f, 1.f)));
  r.push_back(line("batch_norm2d", "shift folded, training", bn_shift_in, bn_shift(true)).dev(2e-4f, 2e-4f));
  r.push_back(line("batch_norm2d", "shift folded, eval", bn_shift_in, bn_shift(false)).dev(2e-4f, 2e-4f));
  r.push_back(unary("max_pool2d", "distinct values, H != W", {2, 3, 4, 6}, distinct(0.03f),
                    [](const Tensor& x) { return max_pool2d(x); })
                  .dev(0.f, 0.f));
  r.push_back(unary("avg_pool2d", "k = 3", {2, 2, 7, 9}, uniform(-1.f, 1.f),
                    [](const Tensor& x) { return avg_pool2d(x, 3); })
                  .dev(1e-6f, 1e-5f));
  r.push_back(unary("avg_pool2d", "k = 21, window wider than the image", {1, 2, 9, 12}, uniform(-1.f, 1.f),
                    [](const Tensor& x) { return avg_pool2d(x, 21); })
                  .dev(1e-6f, 1e-5f));
  r.push_back(unary("upsample_bilinear2x", "", {2, 3, 5, 7}, normal(1.f),
                    [](const Tensor& x) { return upsample_bilinear2x(x); })
                  .dev(1e-6f, 1e-5f));
  r.push_back(unary("upsample_bilinear2x", "one row", {1, 1, 1, 5}, normal(1.f),
                    [](const Tensor& x) { return upsample_bilinear2x(x); })
                  .dev(1e-6f, 1e-5f));

  // shape ops: exact copies on both devices
  r.push_back(line("concat", "dim 1, three inputs",
                   {in({2, 3, 4, 5}, normal(1.f)), in({2, 1, 4, 5}, normal(1.f)), in({2, 2, 4, 5}, normal(1.f))},
                   [](V x, Device) { return Outputs{concat({x[0], x[1], x[2]}, 1)}; })
                  .dev(0.f, 0.f));
  r.push_back(line("concat", "dim 3", {in({2, 3, 4, 5}, normal(1.f)), in({2, 3, 4, 2}, normal(1.f))},
                   [](V x, Device) { return Outputs{concat({x[0], x[1]}, 3)}; })
                  .dev(0.f, 0.f));
  r.push_back(line("concat", "dim 0", {in({1, 3, 4, 5}, normal(1.f)), in({2, 3, 4, 5}, normal(1.f))},
                   [](V x, Device) { return Outputs{concat({x[0], x[1]}, 0)}; })
                  .dev(0.f, 0.f));
  r.push_back(unary("slice", "dim 1, [1, 3)", {2, 4, 3, 5}, normal(1.f), [](const Tensor& x) { return slice(x, 1, 1, 3); })
                  .dev(0.f, 0.f));
  r.push_back(unary("slice", "dim 3, [2, 5)", {2, 4, 3, 5}, normal(1.f), [](const Tensor& x) { return slice(x, 3, 2, 5); })
                  .dev(0.f, 0.f));
  r.push_back(unary("slice", "dim 0, [1, 2)", {2, 4, 3, 5}, normal(1.f), [](const Tensor& x) { return slice(x, 0, 1, 2); })
                  .dev(0.f, 0.f));

  // activations and losses
  r.push_back(unary("softmax", "dim 1", s4, normal(2.f), [](const Tensor& x) { return softmax(x, 1); })
                  .fd(1e-2f, 1e-3f, 2e-2f));
  r.push_back(unary("softmax", "dim -1", s4, normal(2.f), [](const Tensor& x) { return softmax(x, -1); })
                  .fd(1e-2f, 1e-3f, 2e-2f));
  // A mean over 120 elements: gradients of ~1e-2, FD rounding ~1e-6.
  r.push_back(line("mse_loss", "prediction and target", {in(s4, normal(1.f)), in(s4, uniform(0.f, 1.f))},
                   [](V x, Device) { return Outputs{mse_loss(x[0], x[1])}; })
                  .fd(1e-2f, 2e-5f, 2e-2f)
                  .dev(1e-7f, 1e-5f));
  r.push_back(line("mse_loss", "target without gradient", {in(s4, normal(1.f)), fixed(s4, uniform(0.f, 1.f))},
                   [](V x, Device) { return Outputs{mse_loss(x[0], x[1])}; })
                  .fd(1e-2f, 2e-5f, 2e-2f)
                  .dev(1e-7f, 1e-5f));

  // ---- sgsf/sgsf_ops.h ----
  r.push_back(line("perlin_noise", "3 samples of 37x53", {},
                   [](V, Device dev) { return Outputs{sgsf::perlin_noise(3, 37, 53, 7, dev)}; })
                  .forward_only("a random generator: no tensor inputs")
                  .dev(2e-5f, 1e-4f));
  r.push_back(line("forge_anomalies", "A, S, B, noise",
                   {fixed({4, 3, 12, 16}, uniform(0.f, 1.f)), fixed({4, 1, 12, 16}, uniform(0.f, 1.f)),
                    fixed({4, 3, 12, 16}, uniform(0.f, 1.f)), fixed({4, 1, 12, 16}, uniform(-3.f, 3.f))},
                   [](V x, Device dev) {
                     sgsf::SamParams p;
                     sgsf::Forged f = sgsf::forge_anomalies(x[0], x[1], x[2], x[3], p, 11);
                     std::vector<float> forged(f.forged.begin(), f.forged.end());
                     return Outputs{f.image, f.mask, vec(f.mask_fraction(), dev), vec(forged, dev), vec(f.alpha, dev)};
                   })
                  .forward_only("declared without a gradient (it forges training inputs)")
                  .dev(1e-6f, 1e-6f));
  r.push_back(line("ssim_map", "two 32x16 tiles wide, odd sizes",
                   {fixed({2, 3, 19, 45}, uniform(0.f, 1.f)), fixed({2, 3, 19, 45}, uniform(0.f, 1.f))},
                   [](V x, Device) { return Outputs{sgsf::ssim_map(x[0], x[1])}; })
                  .forward_only("declared without a gradient (ssim_mean is its differentiable form)")
                  .dev(2e-5f, 1e-4f));
  // Means over 198 pixels: gradients of ~1e-3, FD rounding ~5e-6.
  r.push_back(line("ssim_mean", "gradient w.r.t. recon", {in({1, 2, 9, 11}, uniform(0.1f, 0.9f)),
                                                           fixed({1, 2, 9, 11}, uniform(0.1f, 0.9f))},
                   [](V x, Device) { return Outputs{sgsf::ssim_mean(x[0], x[1])}; })
                  .fd(1e-2f, 2e-5f, 2e-2f)
                  .dev(1e-6f, 1e-3f));
  r.push_back(line("ssim_loss", "gradient w.r.t. recon", {in({1, 2, 9, 11}, uniform(0.1f, 0.9f)),
                                                           fixed({1, 2, 9, 11}, uniform(0.1f, 0.9f))},
                   [](V x, Device) { return Outputs{sgsf::ssim_loss(x[0], x[1])}; })
                  .fd(1e-2f, 2e-5f, 2e-2f)
                  .dev(1e-6f, 1e-3f));
  // Means over 30 pixels: gradients of ~1e-2, FD rounding ~5e-6.
  r.push_back(line("focal_loss", "gamma 2, 0/1 mask", {in({2, 2, 3, 5}, uniform(-2.f, 2.f)), fixed({2, 1, 3, 5}, binary(0.4f))},
                   [](V x, Device) { return Outputs{sgsf::focal_loss(x[0], x[1], 2.f)}; })
                  .fd(1e-2f, 5e-5f, 2e-2f)
                  .dev(1e-7f, 1e-4f));
  r.push_back(line("focal_loss", "gamma 1.5, 0/1 mask", {in({2, 2, 3, 5}, uniform(-2.f, 2.f)), fixed({2, 1, 3, 5}, binary(0.4f))},
                   [](V x, Device) { return Outputs{sgsf::focal_loss(x[0], x[1], 1.5f)}; })
                  .fd(1e-2f, 5e-5f, 2e-2f)
                  .dev(1e-7f, 1e-4f));
  r.push_back(line("guided_concat", "", {in({2, 3, 4, 5}, normal(1.f)), in({2, 2, 4, 5}, normal(1.f))},
                   [](V x, Device) { return Outputs{sgsf::guided_concat(x[0], x[1])}; })
                  .dev(0.f, 0.f));
  // in-place accumulation (autograd's gradient sums): the sum lands in the first input's storage
  r.push_back(line("add_into", "same shapes", {in(s4, normal(1.f)), in(s4, normal(1.f))},
                   [](V x, Device) {
                     Tensor acc = x[0].clone();
                     add_into(acc, x[1]);
                     return Outputs{acc, add(x[0], x[1])};
                   })
                  .forward_only("in place, no graph: autograd's own summing step"));
  return r;
}

// The line's inputs on the CPU; seeds differ per line and input. They follow the line's position,
// so a new line goes last: the lines before it keep their inputs (some, such as batch norm with
// ReLU, pass the finite-difference check only away from the kink).
std::vector<Tensor> make_inputs(const OpLine& l, size_t index) {
  std::vector<Tensor> v;
  for (size_t k = 0; k < l.inputs.size(); ++k) v.push_back(l.inputs[k].gen(l.inputs[k].shape, 1000 + 17 * index + k));
  return v;
}

bool has_grad(const OpLine& l) { return l.no_grad == nullptr; }

// Function names declared at namespace scope in a header: lines that start with a return type of
// Tensor, Forged or void followed by a name and "(" (operators have no name and are not matched).
std::set<std::string> declared_ops(const std::string& path) {
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "cannot read ", path);
  static const std::regex decl(R"(^\s*(?:inline\s+)?(?:Tensor|Forged|void)\s+([A-Za-z_]\w*)\s*\()");
  std::set<std::string> names;
  for (std::string s; std::getline(f, s);) {
    std::smatch m;
    if (std::regex_search(s, m, decl)) names.insert(m[1].str());
  }
  return names;
}

}  // namespace

TEST_CASE("registry: every public op of ops.h and sgsf_ops.h has a line, or a reason to have none") {
  std::set<std::string> declared = declared_ops(std::string(SGSF_SOURCE_DIR) + "/engine/ops.h");
  std::set<std::string> sgsf_declared = declared_ops(std::string(SGSF_SOURCE_DIR) + "/sgsf/sgsf_ops.h");
  declared.insert(sgsf_declared.begin(), sgsf_declared.end());
  CHECK(declared.size() >= 30);  // the parser still finds the declarations
  CHECK(declared.count("batch_norm2d") == 1);  // one spread over several lines
  CHECK(declared.count("forge_anomalies") == 1);

  std::vector<OpLine> reg = registry();
  std::set<std::string> covered;
  int grad_lines = 0, forward_lines = 0;
  for (const OpLine& l : reg) {
    covered.insert(l.op);
    (has_grad(l) ? grad_lines : forward_lines)++;
    INFO("line: ", l.title());
    CHECK_MESSAGE(declared.count(l.op) == 1, "the registry names an op the headers do not declare");
  }
  for (const std::string& op : declared) {
    INFO("op: ", op);
    bool left_out = kLeftOut.count(op) == 1;
    CHECK_MESSAGE((covered.count(op) == 1) != left_out,
                  "each declared op needs a line in registry() or an entry in kLeftOut (not both)");
  }
  for (const auto& entry : kLeftOut) {  // not a structured binding: INFO captures it in a lambda
    INFO("left out: ", entry.first);
    CHECK(declared.count(entry.first) == 1);
    CHECK(!entry.second.empty());
  }
  MESSAGE("op registry: ", reg.size(), " lines over ", covered.size(), " of ", declared.size(), " declared ops (",
          kLeftOut.size(), " left out); ", grad_lines, " lines with a gradient check, ", forward_lines,
          " forward only");
  CHECK(covered.size() + kLeftOut.size() == declared.size());
}

TEST_CASE("registry: lines are well formed") {
  std::set<std::string> titles;
  for (const OpLine& l : registry()) {
    INFO("line: ", l.title());
    CHECK(titles.insert(l.title()).second);  // titles name the subcases: unique
    CHECK(l.fn);
    bool any_diff = std::any_of(l.inputs.begin(), l.inputs.end(), [](const Input& i) { return i.diff; });
    // A line either checks a gradient (and then differentiates some input) or says why it has none.
    if (has_grad(l)) CHECK(any_diff);
    else CHECK(std::string(l.no_grad).size() > 10);
  }
}

TEST_CASE("registry: finite-difference gradient of every op (CPU)") {
  std::vector<OpLine> reg = registry();
  for (size_t index = 0; index < reg.size(); ++index) {
    const OpLine& l = reg[index];
    if (!has_grad(l)) continue;
    SUBCASE(l.title().c_str()) {
      std::vector<Tensor> all = make_inputs(l, index), diff;
      std::vector<size_t> where;
      for (size_t k = 0; k < all.size(); ++k)
        if (l.inputs[k].diff) {
          where.push_back(k);
          diff.push_back(all[k]);
        }
      auto f = [&](const std::vector<Tensor>& d) {
        std::vector<Tensor> full = all;
        for (size_t j = 0; j < d.size(); ++j) full[where[j]] = d[j];
        Outputs o = l.fn(full, Device::CPU);
        REQUIRE(!o.empty());
        return o[0];
      };
      sg::test::gradcheck(f, diff, l.fd_eps, l.fd_atol, l.fd_rtol, 1234 + index);
    }
  }
}

TEST_CASE("registry: every op on CUDA matches its CPU twin, forward and backward" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  std::vector<OpLine> reg = registry();
  for (size_t index = 0; index < reg.size(); ++index) {
    const OpLine& l = reg[index];
    SUBCASE(l.title().c_str()) {
      std::vector<bool> diff;
      for (const Input& i : l.inputs) diff.push_back(i.diff);
      sg::test::compare_cpu_gpu_outputs(l.fn, make_inputs(l, index), diff, l.dev_atol, l.dev_rtol, 99 + index);
    }
  }
}

TEST_CASE("registry: under bf16, ops without a convolution are bit for bit fp32's; convolutions differ by bf16's rounding") {
  // bf16 (engine/precision.h) changes the convolutions' operands and nothing else. For conv2d, each
  // product of operands rounded to 8 significant bits errs by at most 2 * 2^-9 relative, so the
  // result by at most 2^-8 of the sum of the products' magnitudes; with these lines' inputs (uniform,
  // a few dozen terms) that sum stays within 8 times the largest output, hence 2^-5 of it. The exact
  // per-pass bound is checked against a float64 oracle in test_conv.cpp.
  std::vector<OpLine> reg = registry();
  for (size_t index = 0; index < reg.size(); ++index) {
    const OpLine& l = reg[index];
    SUBCASE(l.title().c_str()) {
      const bool convolves = l.op.find("conv") != std::string::npos;
      std::vector<std::vector<float>> values[2];
      for (int m = 0; m < 2; ++m) {
        const PrecisionGuard mode(m == 0 ? Precision::FP32 : Precision::BF16);
        std::vector<Tensor> in = make_inputs(l, index);
        bool any_grad = false;
        for (size_t k = 0; k < in.size(); ++k) {
          in[k] = in[k].detach().clone().detach();
          if (l.inputs[k].diff) in[k].requires_grad_(true), any_grad = true;
        }
        Outputs o = l.fn(in, Device::CPU);
        REQUIRE(!o.empty());
        for (const Tensor& t : o) values[m].push_back(t.to_vector());
        if (!any_grad) continue;
        sum(mul(o[0], Tensor::uniform(o[0].shape(), 0.5f, 1.5f, 7 + index, Device::CPU))).backward();
        for (size_t k = 0; k < in.size(); ++k)
          if (l.inputs[k].diff) values[m].push_back(in[k].grad().to_vector());
      }
      REQUIRE(values[0].size() == values[1].size());
      bool differs = false;
      for (size_t k = 0; k < values[0].size(); ++k) {
        INFO("output or gradient ", k);
        if (!convolves) {
          CHECK(values[1][k] == values[0][k]);
          continue;
        }
        float largest = 0;
        for (float v : values[0][k]) largest = std::max(largest, std::fabs(v));
        SG_CHECK_CLOSE(values[1][k], values[0][k], std::ldexp(largest, -5), 0.f);
        differs = differs || values[1][k] != values[0][k];
      }
      if (convolves) CHECK(differs);
    }
  }
}
