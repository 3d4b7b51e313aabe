// bench_conv.cpp — conv2d forward and backward timings at SGSF-like U-Net shapes (3x3, stride 1,
// padding 1), on the CPU and, when a device exists, on the GPU.
//
//   bench_conv [--json] [--runs R] [--cpu-only | --gpu-only] [--case K]     (K: run only the K-th shape)
//
// Each measurement: the output is first spot-checked against a direct sum, then one warm-up and
// the median of R runs (steady clock on the CPU, CUDA events on the GPU). Rates are also shown
// as a fraction of the same device's square-matmul rate (Eigen on the CPU, cuBLAS on the GPU). FLOPs per forward pass = 2 N Cout Hout Wout Cin kh kw; the backward (input and
// weight gradients) does twice that.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"
#ifdef SGSF_WITH_CUDA
#include <cuda_runtime.h>
#endif

using namespace sg;

namespace {

struct ConvCase {
  int64_t N, Cin, Cout, H, W;
};

const ConvCase kCases[] = {
    {4, 64, 64, 64, 64},
    {4, 3, 32, 128, 128},
    {4, 32, 32, 128, 128},
    {4, 128, 128, 32, 32},
    {8, 16, 16, 256, 256},
    {16, 256, 256, 16, 16},
};

// Milliseconds of one call of `f` on `dev`.
double time_once(Device dev, const std::function<void()>& f) {
#ifdef SGSF_WITH_CUDA
  if (dev == Device::CUDA) {
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    cudaEventRecord(a, 0);
    f();
    cudaEventRecord(b, 0);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return ms;
  }
#endif
  auto t0 = std::chrono::steady_clock::now();
  f();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Result {
  std::string device;
  ConvCase c;
  double fwd_ms, bwd_ms, gflop_fwd;
  double fwd_min_ms, bwd_min_ms;  // the fastest run: a steadier figure on a busy machine
  double gemm_gflops;             // the device's plain GEMM rate, the yardstick for conv
};

// Spot-check 97 output elements of y = conv(x, w, b) (3x3, stride 1, pad 1) against a direct
// sum in double; throws when one is off, so that no wrong result is ever timed.
void validate(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), K = w.size(0);
  std::vector<float> xv = x.to_vector(), wv = w.to_vector(), bv = b.to_vector(), yv = y.to_vector();
  uint64_t state = 12345;
  for (int t = 0; t < 97; ++t) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    int64_t idx = (int64_t)((state >> 17) % (uint64_t)yv.size());
    int64_t ox = idx % W, oy = (idx / W) % H, k = (idx / (W * H)) % K, n = idx / (W * H * K);
    double acc = bv[(size_t)k];
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          int64_t iy = oy - 1 + i, ix = ox - 1 + j;
          if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
          acc += (double)xv[(size_t)(((n * C + c) * H + iy) * W + ix)] * wv[(size_t)(((k * C + c) * 3 + i) * 3 + j)];
        }
    SG_CHECK(std::fabs(acc - yv[(size_t)idx]) <= 1e-3 + 1e-3 * std::fabs(acc), "bench_conv: wrong output at ", idx,
             ": ", yv[(size_t)idx], " vs direct ", acc);
  }
}

// GFLOP/s of a square matmul (median of 3 after a warm-up) on `dev`.
double gemm_rate(Device dev) {
  const int64_t n = dev == Device::CUDA ? 4096 : 1024;
  Tensor a = Tensor::uniform({n, n}, -1.f, 1.f, 5, dev), b = Tensor::uniform({n, n}, -1.f, 1.f, 6, dev);
  std::vector<double> t;
  for (int r = 0; r <= 3; ++r) {
    double ms = time_once(dev, [&] { Tensor c = matmul(a, b); });
    if (r > 0) t.push_back(ms);
  }
  return 2.0 * n * n * n * 1e-9 / (median(t) * 1e-3);
}

Result bench(Device dev, const ConvCase& c, int runs, double gemm_gflops) {
  Tensor x = Tensor::uniform({c.N, c.Cin, c.H, c.W}, -1.f, 1.f, 1, dev);
  Tensor w = Tensor::uniform({c.Cout, c.Cin, 3, 3}, -0.1f, 0.1f, 2, dev);
  Tensor b = Tensor::uniform({c.Cout}, -0.1f, 0.1f, 3, dev);
  Tensor gy = Tensor::uniform({c.N, c.Cout, c.H, c.W}, -1.f, 1.f, 4, dev);
  x.requires_grad_(true);
  w.requires_grad_(true);
  b.requires_grad_(true);
  {
    NoGradGuard ng;
    validate(x, w, b, conv2d(x, w, b, 1, 1));
  }
  std::vector<double> fwd, bwd;
  for (int r = 0; r <= runs; ++r) {  // run 0 is the warm-up
    double f = time_once(dev, [&] {
      NoGradGuard ng;
      Tensor y = conv2d(x, w, b, 1, 1);
    });
    Tensor y = conv2d(x, w, b, 1, 1);
    synchronize(dev);
    double bk = time_once(dev, [&] { y.backward(gy); });
    x.zero_grad();
    w.zero_grad();
    b.zero_grad();
    if (r > 0) {
      fwd.push_back(f);
      bwd.push_back(bk);
    }
  }
  double flop = 2.0 * c.N * c.Cout * c.H * c.W * c.Cin * 9;
  return {device_name(dev), c, median(fwd), median(bwd), flop * 1e-9,
          *std::min_element(fwd.begin(), fwd.end()), *std::min_element(bwd.begin(), bwd.end()), gemm_gflops};
}

void print(const Result& r, bool json, bool last) {
  double gf = r.gflop_fwd / (r.fwd_ms * 1e-3), gb = 2 * r.gflop_fwd / (r.bwd_ms * 1e-3);
  if (json) {
    std::printf("  {\"device\": \"%s\", \"N\": %lld, \"Cin\": %lld, \"Cout\": %lld, \"H\": %lld, \"W\": %lld, "
                "\"kernel\": 3, \"fwd_ms\": %.3f, \"bwd_ms\": %.3f, \"fwd_min_ms\": %.3f, \"bwd_min_ms\": %.3f, "
                "\"fwd_gflops\": %.2f, \"bwd_gflops\": %.2f, \"gemm_gflops\": %.2f}%s\n",
                r.device.c_str(), (long long)r.c.N, (long long)r.c.Cin, (long long)r.c.Cout, (long long)r.c.H,
                (long long)r.c.W, r.fwd_ms, r.bwd_ms, r.fwd_min_ms, r.bwd_min_ms, gf, gb, r.gemm_gflops, last ? "" : ",");
  } else {
    std::printf("%-4s N=%-2lld %3lld->%-3lld %3lldx%-3lld  fwd %9.2f ms %7.1f GFLOP/s %3.0f%% (min %8.2f)   "
                "bwd %9.2f ms %7.1f GFLOP/s %3.0f%% (min %8.2f)\n",
                r.device.c_str(), (long long)r.c.N, (long long)r.c.Cin, (long long)r.c.Cout, (long long)r.c.H,
                (long long)r.c.W, r.fwd_ms, gf, 100 * gf / r.gemm_gflops, r.fwd_min_ms, r.bwd_ms, gb,
                100 * gb / r.gemm_gflops, r.bwd_min_ms);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, cpu_only = false, gpu_only = false;
  int runs = 5, only = -1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json")) json = true;
    else if (!std::strcmp(argv[i], "--cpu-only")) cpu_only = true;
    else if (!std::strcmp(argv[i], "--gpu-only")) gpu_only = true;
    else if (!std::strcmp(argv[i], "--case") && i + 1 < argc) only = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--json] [--runs R] [--cpu-only | --gpu-only] [--case K]\n", argv[0]);
      return 2;
    }
  }
  try {
    SG_CHECK(!gpu_only || cuda_available(), "--gpu-only but ", cuda_device_info());
    std::vector<Device> devices;
    if (!gpu_only) devices.push_back(Device::CPU);
    if (!cpu_only && cuda_available()) devices.push_back(Device::CUDA);
    if (!json) {
      std::printf("conv2d 3x3 stride 1 pad 1 with bias; median of %d runs after a warm-up\n", runs);
      if (cpu_only) std::printf("GPU skipped (--cpu-only)\n");
      else if (!cuda_available()) std::printf("GPU skipped: %s\n", cuda_device_info().c_str());
    }
    std::vector<Result> results;
    for (Device d : devices) {
      double gemm = gemm_rate(d);
      if (!json)
        std::printf("%s: square matmul (Eigen / cuBLAS) %.1f GFLOP/s; %% columns are conv rates relative to it\n",
                    device_name(d), gemm);
      for (int k = 0; k < (int)(sizeof(kCases) / sizeof(kCases[0])); ++k) {
        if (only >= 0 && k != only) continue;
        const ConvCase& c = kCases[k];
        results.push_back(bench(d, c, runs, gemm));
        if (!json) print(results.back(), false, false);
      }
    }
    if (json) {
      std::printf("[\n");
      for (size_t i = 0; i < results.size(); ++i) print(results[i], true, i + 1 == results.size());
      std::printf("]\n");
    }
  } catch (const sg::Error& e) {
    std::fprintf(stderr, "bench_conv: %s\n", e.what());
    return 1;
  }
  return 0;
}
