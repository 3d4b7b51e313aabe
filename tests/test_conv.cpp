// test_conv.cpp — conv2d: values against a naive direct convolution, im2col/col2im against their
// per-element definitions, finite-difference gradients, shape errors, and the CUDA path vs the CPU.
#include <cstring>
#include <thread>

#include "engine/dnnl_conv.h"
#include "engine/nn.h"
#include "engine/precision.h"
#include "kernels/im2col.h"
#include "tests/test_util.h"

using namespace sg;
using sg::test::gradcheck;

namespace {

// Direct 7-loop convolution (cross-correlation, zero padding) in double: the reference.
std::vector<float> naive_conv(const Tensor& x, const Tensor& w, const Tensor& b, int s, int p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t Ho = (H + 2 * p - kh) / s + 1, Wo = (W + 2 * p - kw) / s + 1;
  std::vector<float> xv = x.to_vector(), wv = w.to_vector(), bv = b.defined() ? b.to_vector() : std::vector<float>();
  std::vector<float> y((size_t)(N * K * Ho * Wo));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double acc = b.defined() ? bv[(size_t)k] : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t iy = oy * s - p + i, ix = ox * s - p + j;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += (double)xv[(size_t)(((n * C + c) * H + iy) * W + ix)] *
                       wv[(size_t)(((k * C + c) * kh + i) * kw + j)];
              }
          y[(size_t)(((n * K + k) * Ho + oy) * Wo + ox)] = (float)acc;
        }
  return y;
}

// Direct gradients of sum(y * gy) in double: gx (as x) and gw (as w).
void naive_conv_backward(const Tensor& x, const Tensor& w, const Tensor& gy, int s, int p, std::vector<float>& gx,
                         std::vector<float>& gw) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = w.size(0), kh = w.size(2), kw = w.size(3), Ho = gy.size(2), Wo = gy.size(3);
  std::vector<float> xv = x.to_vector(), wv = w.to_vector(), gv = gy.to_vector();
  std::vector<double> gxd(xv.size(), 0.0), gwd(wv.size(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t oy = 0; oy < Ho; ++oy)
        for (int64_t ox = 0; ox < Wo; ++ox) {
          double gval = gv[(size_t)(((n * K + k) * Ho + oy) * Wo + ox)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t iy = oy * s - p + i, ix = ox * s - p + j;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                size_t xi = (size_t)(((n * C + c) * H + iy) * W + ix), wi = (size_t)(((k * C + c) * kh + i) * kw + j);
                gxd[xi] += gval * wv[wi];
                gwd[wi] += gval * xv[xi];
              }
        }
  gx.assign(gxd.begin(), gxd.end());
  gw.assign(gwd.begin(), gwd.end());
}

struct Case {
  int64_t N, Cin, H, W, Cout, kh, kw;
  int stride, pad;
  bool bias;
};

const Case kCases[] = {
    {2, 3, 8, 8, 4, 3, 3, 1, 1, true},    // the U-Net case
    {3, 2, 7, 6, 5, 3, 2, 2, 1, true},    // non-square kernel, stride 2, odd sizes
    {1, 4, 9, 9, 3, 5, 5, 1, 2, false},   // batch 1 (Eigen-threaded path), 5x5
    {4, 5, 6, 5, 2, 1, 1, 1, 0, true},    // pointwise (no im2col)
    {2, 2, 5, 7, 3, 2, 3, 3, 0, false},   // stride 3, no padding, rows/cols dropped
    {5, 3, 4, 4, 2, 3, 3, 2, 2, true},    // padding larger than half the kernel
};

// The CPU convolutions this build has: the im2col reference, and oneDNN when it is in the build.
std::vector<CpuConv> cpu_convs() {
  std::vector<CpuConv> v{CpuConv::Im2col};
  if (onednn_available()) v.push_back(CpuConv::Onednn);
  return v;
}

// Selects a CPU convolution for a scope.
struct UseConv {
  CpuConv before = cpu_conv();
  explicit UseConv(CpuConv c) { set_cpu_conv(c); }
  ~UseConv() { set_cpu_conv(before); }
};

// Allows or forbids oneDNN's Winograd kernels for a scope.
struct UseWinograd {
  bool before = onednn_winograd();
  explicit UseWinograd(bool on) { set_onednn_winograd(on); }
  ~UseWinograd() { set_onednn_winograd(before); }
};

// conv2d (no bias, stride 1, padding 1) forward and backward from gy on copies of x and w.
struct ConvGrads {
  std::vector<float> y, gx, gw;
};
ConvGrads conv_grads(const Tensor& x, const Tensor& w, const Tensor& gy) {
  Tensor xr = x.detach(), wr = w.detach();
  xr.requires_grad_(true);
  wr.requires_grad_(true);
  Tensor y = conv2d(xr, wr, Tensor(), 1, 1);
  y.backward(gy);
  return {y.to_vector(), xr.grad().to_vector(), wr.grad().to_vector()};
}

std::string case_str(const Case& c) {
  return str("N", c.N, " Cin", c.Cin, " ", c.H, "x", c.W, " Cout", c.Cout, " k", c.kh, "x", c.kw, " s",
             c.stride, " p", c.pad, c.bias ? " bias" : " no-bias");
}

}  // namespace

TEST_CASE("conv2d matches a direct convolution") {
  for (CpuConv impl : cpu_convs()) {
  UseConv use(impl);
  uint64_t seed = 10;
  for (const Case& c : kCases) {
    INFO(cpu_conv_name(impl), ": ", case_str(c));
    Tensor x = Tensor::uniform({c.N, c.Cin, c.H, c.W}, -1.f, 1.f, seed++, Device::CPU);
    Tensor w = Tensor::uniform({c.Cout, c.Cin, c.kh, c.kw}, -1.f, 1.f, seed++, Device::CPU);
    Tensor b = c.bias ? Tensor::uniform({c.Cout}, -1.f, 1.f, seed++, Device::CPU) : Tensor();
    Tensor y = conv2d(x, w, b, c.stride, c.pad);
    int64_t Ho = (c.H + 2 * c.pad - c.kh) / c.stride + 1, Wo = (c.W + 2 * c.pad - c.kw) / c.stride + 1;
    CHECK(y.shape() == Shape{c.N, c.Cout, Ho, Wo});
    SG_CHECK_CLOSE(y.to_vector(), naive_conv(x, w, b, c.stride, c.pad), 1e-5f, 1e-5f);
  }
  }
}

TEST_CASE("conv2d hand-computed values") {
  // 1 channel 3x3 input 1..9, 2x2 kernel of ones, stride 1, no padding: sums of 2x2 windows.
  Tensor x = Tensor::from_vector({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, Device::CPU);
  Tensor w = Tensor::ones({1, 1, 2, 2}, Device::CPU);
  CHECK(conv2d(x, w, Tensor()).to_vector() == std::vector<float>{12, 16, 24, 28});
  // padding 1, stride 2, bias 0.5: windows at (-1,-1), (-1,1), (1,-1), (1,1).
  Tensor b = Tensor::full({1}, 0.5f, Device::CPU);
  CHECK(conv2d(x, w, b, 2, 1).to_vector() == std::vector<float>{1.5f, 5.5f, 11.5f, 28.5f});
}

TEST_CASE("im2col and col2im rows match their per-element definitions") {
  for (const Case& c : kCases) {
    INFO(case_str(c));
    kernels::ConvGeom g;
    g.C = c.Cin, g.H = c.H, g.W = c.W, g.kh = c.kh, g.kw = c.kw, g.stride = c.stride, g.pad = c.pad;
    g.Hout = (c.H + 2 * c.pad - c.kh) / c.stride + 1;
    g.Wout = (c.W + 2 * c.pad - c.kw) / c.stride + 1;
    std::vector<float> x = Tensor::uniform({c.Cin, c.H, c.W}, -1.f, 1.f, 3, Device::CPU).to_vector();
    std::vector<float> col((size_t)(g.rows() * g.cols()), 123.f), ref(col.size());
    kernels::im2col_cpu(g, x.data(), col.data());
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = kernels::im2col_element(g, x.data(), (int64_t)i);
    CHECK(col == ref);
    std::vector<float> cv = Tensor::uniform({g.rows(), g.cols()}, -1.f, 1.f, 4, Device::CPU).to_vector();
    std::vector<float> img(x.size(), 123.f), img_ref(x.size());
    kernels::col2im_cpu(g, cv.data(), img.data());
    for (size_t i = 0; i < img_ref.size(); ++i) img_ref[i] = kernels::col2im_element(g, cv.data(), (int64_t)i);
    SG_CHECK_CLOSE(img, img_ref, 1e-6f, 1e-6f);
  }
}

TEST_CASE("conv2d gradients (finite differences)") {
  uint64_t seed = 40;
  for (const Case& c : kCases) {
    INFO(case_str(c));
    Tensor x = Tensor::uniform({c.N, c.Cin, c.H, c.W}, -1.f, 1.f, seed++, Device::CPU);
    Tensor w = Tensor::uniform({c.Cout, c.Cin, c.kh, c.kw}, -1.f, 1.f, seed++, Device::CPU);
    int s = c.stride, p = c.pad;
    if (c.bias) {
      Tensor b = Tensor::uniform({c.Cout}, -1.f, 1.f, seed++, Device::CPU);
      gradcheck([s, p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], s, p); }, {x, w, b});
    } else {
      gradcheck([s, p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), s, p); }, {x, w});
    }
  }
}

TEST_CASE("conv2d on images spanning several column blocks, forward and backward") {
  // 64 input channels make each column block only a few output rows, so the blocked im2col,
  // the strided GEMM output and the accumulated col2im are all exercised.
  struct Big { int64_t N, H, W, kh, kw; int s, p; };
  for (CpuConv impl : cpu_convs())
  for (Big c : {Big{3, 20, 40, 3, 3, 1, 1}, Big{2, 41, 40, 5, 3, 2, 1}, Big{1, 23, 17, 3, 3, 1, 1}}) {
    UseConv use(impl);
    INFO(cpu_conv_name(impl), ": N", c.N, " ", c.H, "x", c.W, " k", c.kh, "x", c.kw, " s", c.s, " p", c.p);
    Tensor x = Tensor::uniform({c.N, 64, c.H, c.W}, -1.f, 1.f, 1, Device::CPU);
    Tensor w = Tensor::uniform({5, 64, c.kh, c.kw}, -0.2f, 0.2f, 2, Device::CPU);
    Tensor b = Tensor::uniform({5}, -1.f, 1.f, 3, Device::CPU);
    Tensor xr = x.detach(), wr = w.detach();
    xr.requires_grad_(true);
    wr.requires_grad_(true);
    Tensor y = conv2d(xr, wr, b, c.s, c.p);
    SG_CHECK_CLOSE(y.to_vector(), naive_conv(x, w, b, c.s, c.p), 1e-4f, 1e-4f);
    Tensor gy = Tensor::uniform(y.shape(), -1.f, 1.f, 4, Device::CPU);
    y.backward(gy);
    std::vector<float> gx, gw;
    naive_conv_backward(x, w, gy, c.s, c.p, gx, gw);
    SG_CHECK_CLOSE(xr.grad().to_vector(), gx, 1e-4f, 1e-4f);
    SG_CHECK_CLOSE(wr.grad().to_vector(), gw, 1e-3f, 1e-4f);
  }
}

TEST_CASE("oneDNN's conv2d equals the im2col reference at the network's shapes, forward and backward") {
  if (!onednn_available()) {
    MESSAGE("this build has no oneDNN (libdnnl-dev): conv2d uses the im2col reference only");
    return;
  }
  // The layers of the tiny and small presets (3 input channels, 2 output channels, concatenated
  // widths), an odd size, stride 2 and a pointwise kernel.
  struct Shape6 { int64_t N, Cin, H, Cout, k; int s, p; };
  uint64_t seed = 100;
  for (Shape6 c : {Shape6{4, 3, 32, 8, 3, 1, 1}, Shape6{2, 16, 16, 8, 3, 1, 1}, Shape6{2, 128, 8, 64, 3, 1, 1},
                   Shape6{2, 64, 8, 256, 3, 1, 1}, Shape6{3, 8, 32, 2, 3, 1, 1}, Shape6{2, 24, 13, 40, 3, 2, 1},
                   Shape6{2, 32, 9, 16, 1, 1, 0}}) {
    INFO("N", c.N, " Cin", c.Cin, " ", c.H, "x", c.H, " Cout", c.Cout, " k", c.k, " s", c.s, " p", c.p);
    Tensor x = Tensor::uniform({c.N, c.Cin, c.H, c.H}, -1.f, 1.f, seed++, Device::CPU);
    Tensor w = Tensor::uniform({c.Cout, c.Cin, c.k, c.k}, -0.2f, 0.2f, seed++, Device::CPU);
    Tensor b = Tensor::uniform({c.Cout}, -1.f, 1.f, seed++, Device::CPU);
    std::vector<float> y[2], gx[2], gw[2], gb[2];
    int i = 0;
    for (CpuConv impl : {CpuConv::Im2col, CpuConv::Onednn}) {
      UseConv use(impl);
      Tensor xr = x.detach(), wr = w.detach(), br = b.detach();
      for (Tensor* t : {&xr, &wr, &br}) t->requires_grad_(true);
      Tensor out = conv2d(xr, wr, br, c.s, c.p);
      out.backward(Tensor::uniform(out.shape(), -1.f, 1.f, 7, Device::CPU));
      y[i] = out.to_vector(), gx[i] = xr.grad().to_vector(), gw[i] = wr.grad().to_vector(), gb[i] = br.grad().to_vector();
      ++i;
    }
    SG_CHECK_CLOSE(y[1], y[0], 1e-4f, 1e-5f);
    SG_CHECK_CLOSE(gx[1], gx[0], 1e-4f, 1e-5f);
    SG_CHECK_CLOSE(gw[1], gw[0], 1e-3f, 1e-5f);
    CHECK(gb[1] == gb[0]);  // the bias gradient is the engine's own channel sum on both
  }
}

TEST_CASE("oneDNN's Winograd layers against the im2col reference, and the switch that keeps them direct") {
  if (!onednn_available()) {
    MESSAGE("this build has no oneDNN (libdnnl-dev): conv2d uses the im2col reference only");
    return;
  }
  // A wide layer of the small preset (64 -> 64 channels at 32 x 32, batch 4): Winograd-eligible.
  cudnn_conv::ConvShape s;
  s.N = 4, s.Cin = 64, s.H = 32, s.W = 32, s.Cout = 64, s.kh = 3, s.kw = 3, s.stride = 1, s.pad = 1;
  CHECK(onednn_winograd_shape(s));
  cudnn_conv::ConvShape narrow = s;
  narrow.Cin = 16;  // below 32 channels: direct
  CHECK_FALSE(onednn_winograd_shape(narrow));
  cudnn_conv::ConvShape strided = s;
  strided.stride = 2;
  CHECK_FALSE(onednn_winograd_shape(strided));

  Tensor x = Tensor::uniform({s.N, s.Cin, s.H, s.W}, -1.f, 1.f, 61, Device::CPU);
  Tensor w = Tensor::uniform({s.Cout, s.Cin, 3, 3}, -0.05f, 0.05f, 62, Device::CPU);
  Tensor gy = Tensor::uniform({s.N, s.Cout, s.H, s.W}, -1.f, 1.f, 63, Device::CPU);
  auto run = [&](CpuConv impl, bool winograd) {
    UseConv use(impl);
    UseWinograd use_winograd(winograd);
    return conv_grads(x, w, gy);
  };
  // max |a - ref| / max |ref|: the error on the scale of the values.
  auto err = [](const std::vector<float>& a, const std::vector<float>& ref) {
    double e = 0, m = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      e = std::max(e, (double)std::fabs(a[i] - ref[i]));
      m = std::max(m, (double)std::fabs(ref[i]));
    }
    return e / m;
  };
  const ConvGrads ref = run(CpuConv::Im2col, false), direct = run(CpuConv::Onednn, false),
               wino = run(CpuConv::Onednn, true);
  {
    UseWinograd off(false);
    CHECK_FALSE(onednn_uses_winograd(s));  // the switch keeps the shape direct
  }
  {
    UseWinograd on(true);
    const bool used = onednn_uses_winograd(s);
    const std::string what = used ? "this CPU runs oneDNN's Winograd kernels" : "this CPU has no oneDNN Winograd kernels (AVX-512): direct";
    MESSAGE(what);
  }
  const double d[3] = {err(direct.y, ref.y), err(direct.gx, ref.gx), err(direct.gw, ref.gw)};
  const double v[3] = {err(wino.y, ref.y), err(wino.gx, ref.gx), err(wino.gw, ref.gw)};
  MESSAGE("error / max |value| against im2col (y, dx, dw): direct ", d[0], " ", d[1], " ", d[2], "; Winograd ",
          v[0], " ", v[1], " ", v[2]);
  for (int k = 0; k < 3; ++k) {
    CHECK(d[k] < 1e-5);
    CHECK(v[k] < 1e-5);
  }
  // Run to run, the same bits (training with a fixed seed is reproducible).
  const ConvGrads again = run(CpuConv::Onednn, true);
  CHECK(again.y == wino.y);
  CHECK(again.gx == wino.gx);
  CHECK(again.gw == wino.gw);
}

TEST_CASE("a oneDNN convolution first run on a thread that has ended runs again on another") {
  // Primitives are cached per shape for the whole process; their scratchpad must not belong to
  // the thread that built them (Winograd shapes need one; this crashed when it did).
  Tensor x = Tensor::uniform({8, 48, 32, 32}, -1.f, 1.f, 71, Device::CPU);
  Tensor w = Tensor::uniform({48, 48, 3, 3}, -0.1f, 0.1f, 72, Device::CPU);
  const Tensor gy = Tensor::ones({8, 48, 32, 32}, Device::CPU);
  ConvGrads first;
  std::thread t([&] { first = conv_grads(x, w, gy); });
  t.join();
  const ConvGrads again = conv_grads(x, w, gy);
  CHECK(again.y == first.y);
  CHECK(again.gw == first.gw);
}

TEST_CASE("a frozen conv -> batch norm -> ReLU chain: the layers in eval mode within rounding, against a float64 oracle") {
  if (!onednn_available()) {
    MESSAGE("this build has no oneDNN (libdnnl-dev): no frozen chains; the layers run as they are");
    CHECK(nn::FrozenConvBnRelu::make({}) == nullptr);
    return;
  }
  Rng rng(5, 0);
  struct Spec {
    int cin, cout, stride;
  };
  // The first layer from 3 channels, one with 8 (half a 16-channel block), a strided one, and a
  // 32 -> 32 pair that Winograd takes.
  const std::vector<Spec> specs{{3, 8, 1}, {8, 32, 2}, {32, 32, 1}, {32, 32, 1}, {32, 16, 1}};
  std::vector<std::shared_ptr<nn::Conv2d>> convs;
  std::vector<std::shared_ptr<nn::BatchNorm2d>> bns;
  uint64_t seed = 100;
  for (const Spec& sp : specs) {
    convs.push_back(std::make_shared<nn::Conv2d>(rng, sp.cin, sp.cout, 3, sp.stride, 1, true));
    convs.back()->weight = Tensor::uniform({sp.cout, sp.cin, 3, 3}, -0.3f, 0.3f, ++seed, Device::CPU);
    convs.back()->bias = Tensor::uniform({sp.cout}, -0.2f, 0.2f, ++seed, Device::CPU);
    auto bn = std::make_shared<nn::BatchNorm2d>(rng, sp.cout);
    bn->weight = Tensor::uniform({sp.cout}, 0.5f, 1.5f, ++seed, Device::CPU);
    bn->bias = Tensor::uniform({sp.cout}, -0.2f, 0.2f, ++seed, Device::CPU);
    bn->running_mean = Tensor::uniform({sp.cout}, -0.3f, 0.3f, ++seed, Device::CPU);
    bn->running_var = Tensor::uniform({sp.cout}, 0.5f, 2.f, ++seed, Device::CPU);
    bn->train(false);
    bns.push_back(bn);
  }
  std::vector<std::pair<const nn::Conv2d*, const nn::BatchNorm2d*>> layers;
  for (size_t i = 0; i < specs.size(); ++i) layers.push_back({convs[i].get(), bns[i].get()});
  const auto frozen = nn::FrozenConvBnRelu::make(layers);
  REQUIRE(frozen);

  struct Size {
    int64_t n, h, w;
  };
  for (const Size& size : {Size{1, 24, 24}, Size{3, 13, 11}}) {
    const int64_t n = size.n, h = size.h, w = size.w;
    CAPTURE(n);
    CAPTURE(h);
    const Tensor x = Tensor::uniform({n, 3, h, w}, -1.f, 1.f, (uint64_t)(200 + n), Device::CPU);
    NoGradGuard ng;
    REQUIRE(nn::FrozenConvBnRelu::applies(x));
    const std::vector<float> got = frozen->forward(x).to_vector();
    // The oracle: each layer in float64 (naive_conv's sums), batch norm and ReLU in float64,
    // rounded to float32 between layers as the unfused ops are.
    Tensor a = x, unfused = x;
    for (size_t i = 0; i < specs.size(); ++i) {
      const nn::BatchNorm2d& bn = *bns[i];
      const std::vector<float> c = naive_conv(a, convs[i]->weight, convs[i]->bias, specs[i].stride, 1);
      const std::vector<float> g = bn.weight.to_vector(), be = bn.bias.to_vector(), mu = bn.running_mean.to_vector(),
                               var = bn.running_var.to_vector();
      const int64_t C = specs[i].cout, plane = (int64_t)c.size() / (a.size(0) * C);
      std::vector<float> y(c.size());
      for (size_t k = 0; k < c.size(); ++k) {
        const size_t ch = (size_t)((int64_t)k / plane % C);
        const double v = (c[k] - (double)mu[ch]) / std::sqrt((double)var[ch] + bn.eps) * g[ch] + be[ch];
        y[k] = (float)std::max(0.0, v);
      }
      const int64_t ho = (a.size(2) + 2 - 3) / specs[i].stride + 1, wo = (a.size(3) + 2 - 3) / specs[i].stride + 1;
      a = Tensor::from_vector({a.size(0), C, ho, wo}, y, Device::CPU);
      unfused = bns[i]->forward(conv2d(unfused, convs[i]->weight, Tensor(), specs[i].stride, 1), true, convs[i]->bias);
    }
    const std::vector<float> want = a.to_vector(), layers_one_by_one = unfused.to_vector();
    REQUIRE(got.size() == want.size());
    double err = 0, err_unfused = 0, top = 0;
    size_t zeros = 0;
    for (size_t k = 0; k < want.size(); ++k) {
      err = std::max(err, (double)std::fabs(got[k] - want[k]));
      err_unfused = std::max(err_unfused, (double)std::fabs(layers_one_by_one[k] - want[k]));
      top = std::max(top, (double)std::fabs(want[k]));
      zeros += got[k] == 0.f;
    }
    MESSAGE("error / max |value| against float64: frozen chain ", err / top, ", layers one by one ", err_unfused / top);
    CHECK(top > 0.1);
    CHECK(err / top < 1e-5);
    CHECK(err_unfused / top < 1e-5);
    CHECK(zeros > want.size() / 20);     // the ReLU cut
    CHECK(zeros < want.size() * 19 / 20);
    // From several threads at once, the same bits.
    std::vector<std::vector<float>> par(3);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < par.size(); ++t)
      threads.emplace_back([&, t] {
        NoGradGuard inner;
        par[t] = frozen->forward(x).to_vector();
      });
    for (auto& t : threads) t.join();
    for (const auto& p : par) CHECK(p == got);
  }
  // Only without gradients, on the CPU, in fp32, with oneDNN.
  Tensor needs = Tensor::uniform({1, 3, 8, 8}, -1.f, 1.f, 300, Device::CPU);
  needs.requires_grad_(true);
  CHECK_FALSE(nn::FrozenConvBnRelu::applies(needs));
  {
    NoGradGuard ng;
    CHECK(nn::FrozenConvBnRelu::applies(needs));
    UseConv reference(CpuConv::Im2col);
    CHECK_FALSE(nn::FrozenConvBnRelu::applies(needs));
  }
  {
    NoGradGuard ng;
    const PrecisionGuard bf16(Precision::BF16);
    CHECK_FALSE(nn::FrozenConvBnRelu::applies(needs));
  }
  NoGradGuard ng;
  CHECK_THROWS_WITH_AS(frozen->forward(Tensor::zeros({1, 4, 8, 8}, Device::CPU)), doctest::Contains("(N, 3, H, W)"),
                       std::runtime_error);
}

TEST_CASE("conv2d backward with only some inputs requiring gradients") {
  Tensor x = Tensor::uniform({2, 3, 5, 5}, -1.f, 1.f, 1, Device::CPU);
  Tensor w = Tensor::uniform({4, 3, 3, 3}, -1.f, 1.f, 2, Device::CPU);
  w.requires_grad_(true);
  sum(conv2d(x, w, Tensor(), 1, 1)).backward();
  CHECK(w.grad().defined());
  CHECK_FALSE(x.grad().defined());
  // The same weight gradient when x also requires one.
  Tensor x2 = x.detach(), w2 = w.detach();
  x2.requires_grad_(true);
  w2.requires_grad_(true);
  sum(conv2d(x2, w2, Tensor(), 1, 1)).backward();
  CHECK(w2.grad().to_vector() == w.grad().to_vector());
}

TEST_CASE("conv2d is deterministic") {
  // Large enough per image to take the multi-threaded path (per-thread weight-gradient partials).
  Tensor x = Tensor::uniform({5, 16, 16, 16}, -1.f, 1.f, 1, Device::CPU);
  Tensor w = Tensor::uniform({16, 16, 3, 3}, -1.f, 1.f, 2, Device::CPU);
  std::vector<float> first;
  for (int r = 0; r < 2; ++r) {
    Tensor wr = w.detach();
    wr.requires_grad_(true);
    sum(conv2d(x, wr, Tensor(), 1, 1)).backward();
    if (r == 0) first = wr.grad().to_vector();
    else CHECK(wr.grad().to_vector() == first);
  }
}

TEST_CASE("conv2d shape errors name the op and the shapes") {
  Tensor x = Tensor::zeros({1, 3, 8, 8}, Device::CPU);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({3, 8, 8}, Device::CPU), Tensor::zeros({4, 3, 3, 3}, Device::CPU), Tensor()),
                       doctest::Contains("conv2d: input must be 4-D (N, Cin, H, W), got (3, 8, 8)"), sg::Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3}, Device::CPU), Tensor()),
                       doctest::Contains("conv2d: weight must be 4-D"), sg::Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 2, 3, 3}, Device::CPU), Tensor()),
                       doctest::Contains("conv2d: input (1, 3, 8, 8) has 3 channels but weight (4, 2, 3, 3) expects 2"),
                       sg::Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3, 3}, Device::CPU), Tensor::zeros({3}, Device::CPU)),
                       doctest::Contains("conv2d: bias must have shape (4)"), sg::Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3, 3}, Device::CPU), Tensor(), 0, 1),
                       doctest::Contains("conv2d: stride must be >= 1"), sg::Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 11, 3}, Device::CPU), Tensor(), 1, 1),
                       doctest::Contains("conv2d: kernel (4, 3, 11, 3) larger than the padded input"), sg::Error);
}

// The op registry (test_ops_registry.cpp) runs two conv2d lines on CUDA; this case sweeps every
// geometry of kCases (pointwise, strides, wide padding) and a U-Net-sized layer.
TEST_CASE("conv2d on CUDA matches the CPU, forward and backward" * doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  uint64_t seed = 70;
  for (const Case& c : kCases) {
    INFO(case_str(c));
    Tensor x = Tensor::uniform({c.N, c.Cin, c.H, c.W}, -1.f, 1.f, seed++, Device::CPU);
    Tensor w = Tensor::uniform({c.Cout, c.Cin, c.kh, c.kw}, -1.f, 1.f, seed++, Device::CPU);
    Tensor b = c.bias ? Tensor::uniform({c.Cout}, -1.f, 1.f, seed++, Device::CPU) : Tensor();
    std::vector<std::vector<float>> res[2];
    for (int d = 0; d < 2; ++d) {
      Device dev = d ? Device::CUDA : Device::CPU;
      // detach: to() on the same device returns the input's own handle, which must stay unmarked
      Tensor xd = x.to(dev).detach(), wd = w.to(dev).detach(), bd = c.bias ? b.to(dev).detach() : Tensor();
      xd.requires_grad_(true);
      wd.requires_grad_(true);
      if (c.bias) bd.requires_grad_(true);
      Tensor y = conv2d(xd, wd, bd, c.stride, c.pad);
      Tensor gy = Tensor::uniform(y.shape(), -1.f, 1.f, 99, dev);
      y.backward(gy);
      res[d] = {y.to_vector(), xd.grad().to_vector(), wd.grad().to_vector()};
      if (c.bias) res[d].push_back(bd.grad().to_vector());
    }
    for (size_t k = 0; k < res[0].size(); ++k) {
      INFO("output ", k, " (0: y, 1: gx, 2: gw, 3: gb)");
      SG_CHECK_CLOSE(res[1][k], res[0][k], 1e-4f, 1e-4f);
    }
  }
  // A U-Net sized layer: 3x3, pad 1, 32 -> 32 channels at 32x32, batch 4.
  Tensor x = Tensor::uniform({4, 32, 32, 32}, -1.f, 1.f, 5, Device::CPU);
  Tensor w = Tensor::uniform({32, 32, 3, 3}, -0.1f, 0.1f, 6, Device::CPU);
  Tensor b = Tensor::uniform({32}, -0.1f, 0.1f, 7, Device::CPU);
  SG_CHECK_CLOSE(conv2d(x.to(Device::CUDA), w.to(Device::CUDA), b.to(Device::CUDA), 1, 1).to_vector(),
                 conv2d(x, w, b, 1, 1).to_vector(), 1e-4f, 1e-4f);
}

TEST_CASE("a paper-scale convolution on CUDA (128 -> 128 channels, 3x3, 256x256) matches the CPU, forward and backward" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  // The paper's widest decoder layer at its full resolution (w = 128, 256x256); batch 2 keeps the CPU
  // side to a few seconds. Sums run over 1,152 products per output and 131,072 per weight gradient:
  // the tolerances follow from float32 accumulation over those lengths.
  const int64_t N = 2, C = 128, S = 256;
  Tensor x = Tensor::uniform({N, C, S, S}, -1.f, 1.f, 501, Device::CPU);
  Tensor w = Tensor::uniform({C, C, 3, 3}, -0.05f, 0.05f, 502, Device::CPU);
  Tensor b = Tensor::uniform({C}, -1.f, 1.f, 503, Device::CPU);
  std::vector<std::vector<float>> res[2];
  for (int d = 0; d < 2; ++d) {
    Device dev = d ? Device::CUDA : Device::CPU;
    Tensor xd = x.to(dev).detach(), wd = w.to(dev).detach(), bd = b.to(dev).detach();
    xd.requires_grad_(true);
    wd.requires_grad_(true);
    bd.requires_grad_(true);
    Tensor y = conv2d(xd, wd, bd, 1, 1);
    y.backward(Tensor::uniform(y.shape(), -1.f, 1.f, 504, dev));
    res[d] = {y.to_vector(), xd.grad().to_vector(), wd.grad().to_vector(), bd.grad().to_vector()};
  }
  const float rtol[4] = {1e-4f, 1e-4f, 2e-4f, 2e-4f}, atol[4] = {1e-4f, 1e-4f, 2e-2f, 2e-2f};
  for (size_t k = 0; k < 4; ++k) {
    INFO("output ", k, " (0: y, 1: gx, 2: gw, 3: gb)");
    SG_CHECK_CLOSE(res[1][k], res[0][k], atol[k], rtol[k]);
  }
}

// ---- bf16 (engine/precision.h) -------------------------------------------------------------
namespace {

// A tensor's values rounded to bf16 (the operands a bf16 convolution multiplies).
Tensor bf16_rounded(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  for (float& x : v) x = round_bf16(x);
  return Tensor::from_vector(t.shape(), v, Device::CPU);
}
Tensor absolute(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  for (float& x : v) x = std::fabs(x);
  return Tensor::from_vector(t.shape(), v, Device::CPU);
}

// |got - oracle| <= K 2^-24 S + 2^-40 per element, where the oracle is the float64 sum of the
// products of bf16-rounded operands and S the float64 sum of their magnitudes: each product of two
// bf16 numbers is exact in float32 (8 + 8 mantissa bits fit in 24), so a float32 accumulation of
// K of them in any order errs by at most (K - 1) u S with u = 2^-24 (recursive summation; the
// small term covers results flushed to zero). Returns the largest |got - oracle| / S seen.
double check_summation_bound(const std::vector<float>& got, const std::vector<float>& oracle,
                             const std::vector<float>& magnitude, int64_t K, const char* what) {
  REQUIRE(got.size() == oracle.size());
  REQUIRE(got.size() == magnitude.size());
  double worst = 0;
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs((double)got[i] - oracle[i]), bound = (double)K * std::ldexp(1.0, -24) * magnitude[i];
    if (err > bound + std::ldexp(1.0, -40)) ++bad;
    if (magnitude[i] > 0) worst = std::max(worst, err / magnitude[i]);
  }
  INFO(what, ": ", bad, " of ", got.size(), " elements beyond the bound; worst error / S ", worst);
  CHECK(bad == 0);
  return worst;
}

}  // namespace

TEST_CASE("round_bf16: nearest bf16, ties to even, NaN and overflow kept") {
  CHECK(round_bf16(1.f) == 1.f);
  CHECK(round_bf16(1.f + std::ldexp(1.f, -8)) == 1.f);                            // a tie: to even (1)
  CHECK(round_bf16(1.f + 3 * std::ldexp(1.f, -8)) == 1.f + std::ldexp(1.f, -6));  // a tie: to even (up)
  CHECK(round_bf16(1.f + std::ldexp(1.f, -8) + std::ldexp(1.f, -20)) == 1.f + std::ldexp(1.f, -7));
  CHECK(std::isnan(round_bf16(NAN)));
  CHECK(std::isinf(round_bf16(3.4e38f)));
  // Against the two bf16 neighbours computed in double, for many values.
  Tensor t = Tensor::uniform({4096}, -1e3f, 1e3f, 5, Device::CPU);
  for (float v : t.to_vector()) {
    const float r = round_bf16(v);
    uint32_t u;
    std::memcpy(&u, &r, 4);
    REQUIRE((u & 0xffffu) == 0u);  // a bf16 value
    int e;
    std::frexp((double)v, &e);
    const double ulp = std::ldexp(1.0, e - 8);  // bf16 keeps 8 significant bits
    CHECK(std::fabs((double)r - v) <= 0.5 * ulp);
  }
}

TEST_CASE("bf16 conv2d: each pass within float32 summation error of a float64 oracle fed the bf16-rounded operands") {
  std::vector<CpuConv> impls{CpuConv::Im2col};
  if (onednn_available() && cpu_has_native_bf16()) impls.push_back(CpuConv::Onednn);
  else MESSAGE("oneDNN's bf16 kernels not checked: ", onednn_available() ? "this CPU has no bf16 instructions"
                                                                         : "this build has no oneDNN");
  struct Shape6 { int64_t N, Cin, H, Cout, k; int s, p; };
  for (CpuConv impl : impls) {
    UseConv use(impl);
    uint64_t seed = 300;
    for (Shape6 c : {Shape6{2, 3, 16, 8, 3, 1, 1}, Shape6{2, 32, 8, 32, 3, 1, 1}, Shape6{2, 24, 9, 16, 3, 2, 1},
                     Shape6{2, 16, 8, 2, 1, 1, 0}}) {
      INFO(cpu_conv_name(impl), ": N", c.N, " Cin", c.Cin, " ", c.H, "x", c.H, " Cout", c.Cout, " k", c.k, " s", c.s);
      Tensor x = Tensor::uniform({c.N, c.Cin, c.H, c.H}, -1.f, 1.f, seed++, Device::CPU);
      Tensor w = Tensor::uniform({c.Cout, c.Cin, c.k, c.k}, -0.5f, 0.5f, seed++, Device::CPU);
      const int64_t Ho = (c.H + 2 * c.p - c.k) / c.s + 1;
      Tensor gy = Tensor::uniform({c.N, c.Cout, Ho, Ho}, -1.f, 1.f, seed++, Device::CPU);
      std::vector<float> y, gx, gw;
      {
        PrecisionGuard bf16(Precision::BF16);
        Tensor xr = x.detach(), wr = w.detach();
        xr.requires_grad_(true);
        wr.requires_grad_(true);
        Tensor out = conv2d(xr, wr, Tensor(), c.s, c.p);
        out.backward(gy);
        y = out.to_vector(), gx = xr.grad().to_vector(), gw = wr.grad().to_vector();
      }
      const Tensor xb = bf16_rounded(x), wb = bf16_rounded(w), gb = bf16_rounded(gy);
      std::vector<float> ox, ow, mx, mw;
      naive_conv_backward(xb, wb, gb, c.s, c.p, ox, ow);
      naive_conv_backward(absolute(xb), absolute(wb), absolute(gb), c.s, c.p, mx, mw);
      const std::vector<float> oy = naive_conv(xb, wb, Tensor(), c.s, c.p),
                               my = naive_conv(absolute(xb), absolute(wb), Tensor(), c.s, c.p);
      check_summation_bound(y, oy, my, c.Cin * c.k * c.k, "output");
      check_summation_bound(gx, ox, mx, c.Cout * c.k * c.k, "input gradient");
      check_summation_bound(gw, ow, mw, c.N * Ho * Ho, "weight gradient");
      // The mode is in force: against the float32 operands the output is off by bf16's rounding,
      // far beyond float32's.
      const std::vector<float> exact = naive_conv(x, w, Tensor(), c.s, c.p);
      double far = 0;
      for (size_t i = 0; i < y.size(); ++i) far = std::max(far, std::fabs((double)y[i] - exact[i]) / (my[i] + 1e-30));
      CHECK(far > 1e-4);
    }
  }
}

TEST_CASE("bf16 conv2d: the backward runs in the forward's precision; fp32 is unchanged by the mode's existence") {
  Tensor x = Tensor::uniform({2, 8, 8, 8}, -1.f, 1.f, 41, Device::CPU);
  Tensor w = Tensor::uniform({8, 8, 3, 3}, -0.5f, 0.5f, 42, Device::CPU);
  Tensor gy = Tensor::uniform({2, 8, 8, 8}, -1.f, 1.f, 43, Device::CPU);
  ConvGrads both;
  {
    PrecisionGuard bf16(Precision::BF16);
    both = conv_grads(x, w, gy);
  }
  // Forward in bf16, backward called in fp32: the gradients are the bf16 ones.
  Tensor xr = x.detach(), wr = w.detach();
  xr.requires_grad_(true);
  wr.requires_grad_(true);
  Tensor y;
  {
    PrecisionGuard bf16(Precision::BF16);
    y = conv2d(xr, wr, Tensor(), 1, 1);
  }
  CHECK(precision() == Precision::FP32);
  y.backward(gy);
  CHECK(xr.grad().to_vector() == both.gx);
  CHECK(wr.grad().to_vector() == both.gw);
  // fp32 gives other (float32) results than bf16.
  ConvGrads f = conv_grads(x, w, gy);
  CHECK(f.y != both.y);
  CHECK(f.gx != both.gx);
}

// On the GPU a bf16 pass writes bf16 (cuDNN's bf16 convolutions; ops_conv.cpp, "bf16 on the GPU"):
// each result is the float32 sum of exact bf16 products, within K 2^-24 S of the float64 oracle,
// then rounded to bf16, which moves it by at most 2^-8 of its magnitude. The weights are narrowed
// once, in the forward, and the backward uses that copy. CPU and GPU then agree within those bounds.
TEST_CASE("bf16 conv2d on CUDA: every pass within bf16 output rounding of the float64 oracle fed bf16 operands" *
          doctest::test_suite("gpu")) {
  SG_REQUIRE_GPU();
  REQUIRE(precision_supported(Precision::BF16, Device::CUDA));
  struct Shape6 { int64_t N, Cin, H, Cout, k; int s, p; bool bias; };
  uint64_t seed = 900;
  for (Shape6 c : {Shape6{2, 3, 16, 8, 3, 1, 1, true}, Shape6{2, 32, 8, 32, 3, 1, 1, false},
                   Shape6{2, 24, 9, 16, 3, 2, 1, true}, Shape6{2, 16, 8, 2, 1, 1, 0, false}}) {
    INFO("N", c.N, " Cin", c.Cin, " ", c.H, "x", c.H, " Cout", c.Cout, " k", c.k, " s", c.s, c.bias ? " bias" : "");
    Tensor x = Tensor::uniform({c.N, c.Cin, c.H, c.H}, -1.f, 1.f, seed++, Device::CPU);
    Tensor w = Tensor::uniform({c.Cout, c.Cin, c.k, c.k}, -0.5f, 0.5f, seed++, Device::CPU);
    Tensor b = c.bias ? Tensor::uniform({c.Cout}, -1.f, 1.f, seed++, Device::CPU) : Tensor();
    const int64_t Ho = (c.H + 2 * c.p - c.k) / c.s + 1;
    Tensor gy = Tensor::uniform({c.N, c.Cout, Ho, Ho}, -1.f, 1.f, seed++, Device::CPU);
    std::vector<float> got[3];
    {
      PrecisionGuard bf16(Precision::BF16);
      Tensor xd = x.to(Device::CUDA).detach(), wd = w.to(Device::CUDA).detach();
      xd.requires_grad_(true);
      wd.requires_grad_(true);
      Tensor out = conv2d(xd, wd, c.bias ? b.to(Device::CUDA) : Tensor(), c.s, c.p);
      // The weights change after the forward: the input gradient still comes from the forward's
      // bf16 copy (narrowed once; the fp32 path would read the zeros).
      wd.fill_(0.f);
      out.backward(gy.to(Device::CUDA));
      got[0] = out.to_vector(), got[1] = xd.grad().to_vector(), got[2] = wd.grad().to_vector();
    }
    const Tensor xb = bf16_rounded(x), wb = bf16_rounded(w), gb = bf16_rounded(gy);
    std::vector<float> oracle[3], mag[3];
    naive_conv_backward(xb, wb, gb, c.s, c.p, oracle[1], oracle[2]);
    naive_conv_backward(absolute(xb), absolute(wb), absolute(gb), c.s, c.p, mag[1], mag[2]);
    oracle[0] = naive_conv(xb, wb, Tensor(), c.s, c.p);
    mag[0] = naive_conv(absolute(xb), absolute(wb), Tensor(), c.s, c.p);
    const int64_t K[3] = {c.Cin * c.k * c.k, c.Cout * c.k * c.k, c.N * Ho * Ho};
    const int64_t hw = Ho * Ho;
    const std::vector<float> bias = c.bias ? b.to_vector() : std::vector<float>();
    for (int k = 0; k < 3; ++k) {
      INFO("0: y, 1: gx, 2: gw -> ", k);
      int64_t bad = 0, not_bf16 = 0;
      for (size_t i = 0; i < got[k].size(); ++i) {
        double v = got[k][i];
        if (k == 0 && c.bias) v -= bias[(i / hw) % c.Cout];  // the bias is added in float32 after widening
        else if (kernels::float_bits(got[k][i]) & 0xffffu) ++not_bf16;
        const double bound = K[k] * std::ldexp(1.0, -24) * mag[k][i] + std::ldexp(1.0, -8) * std::fabs(v) +
                             (k == 0 && c.bias ? std::ldexp(1.0, -24) * std::fabs(got[k][i]) : 0.0) + std::ldexp(1.0, -40);
        if (std::fabs(v - oracle[k][i]) > bound) ++bad;
      }
      CHECK(bad == 0);
      CHECK(not_bf16 == 0);  // what cuDNN wrote was bf16
    }
  }
}

TEST_CASE("precision modes: names, auto, and a clear error for a mode the device lacks") {
  CHECK(parse_precision("fp32", Device::CPU) == Precision::FP32);
  CHECK(parse_precision("auto", Device::CPU) == (cpu_has_amx_bf16() ? Precision::BF16 : Precision::FP32));
  CHECK_THROWS_WITH_AS(parse_precision("tf32", Device::CPU, "--precision"),
                       doctest::Contains("--precision tf32 on cpu: tf32 is a GPU mode"), Error);
  CHECK_THROWS_WITH_AS(parse_precision("fp16", Device::CPU, "--precision"),
                       doctest::Contains("--precision: unknown precision 'fp16' (expected fp32, bf16, tf32 or auto)"),
                       Error);
  if (cpu_has_native_bf16())
    CHECK(parse_precision("bf16", Device::CPU) == Precision::BF16);
  else
    CHECK_THROWS_WITH_AS(parse_precision("bf16", Device::CPU), doctest::Contains("no bf16 instructions"), Error);
  MESSAGE("this CPU's bf16 instructions: ", cpu_bf16_flags());
}
