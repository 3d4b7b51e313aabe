// bench_train.cpp — one SGSF training step, timed: the autoencoder and the guided segmentation
// network forward, L2 + SSIM + focal loss, backward, Adam. The same work as the PyTorch step of
// bench/train_side_by_side.py, which runs this program beside PyTorch and prints the ratio.
//
//   bench_train [--width W] [--size S] [--batch N] [--steps K] [--warmup K] [--device cpu|cuda]
//               [--precision fp32|bf16|tf32|auto] [--profile | --ops] [--roofline] [--json]
//
// Inputs are fixed random tensors (image and guidance uniform in [0, 1], a mask with about 3 %
// of its pixels set), so the data loader is not timed: `sgsf_train --profile` times the whole loop.
// The loss is read back once per step, as a training loop that logs it would. Prints the median
// step time over K steps after the warm-up steps, images per second, and the peak resident memory
// of the process (on a GPU also the peak device memory in use); with --profile, a second pass of K steps records the time per op family (--ops:
// per op, with call counts). --roofline prints the distance to the limit: the step's convolution
// FLOPs (counted by conv2d itself, forward and backward), the GFLOP/s the step reaches in fp32 and,
// where the device has it, in bf16 (tf32 on a GPU), and the GFLOP/s one large convolution reaches
// in the same precision (N = 8, 256 -> 256 channels, 3 x 3, 32 x 32, forward and backward, direct
// algorithm): the practical peak of convolution arithmetic on this machine. The step counts every
// convolution at its direct FLOPs, so where Winograd layers run it can pass the peak.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "engine/allocator.h"
#include "engine/dnnl_conv.h"
#include "engine/optim.h"
#include "engine/precision.h"
#include "engine/profile.h"
#include "sgsf/model.h"
#include "sgsf/step_profile.h"
#include "sgsf/trainer.h"

using namespace sg;

namespace {

struct Options {
  int width = 8, size = 64, batch = 16, steps = 10, warmup = 3;
  std::string device = "cpu", precision = "fp32";
  bool profile = false, ops = false, json = false, roofline = false;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "bench_train: %s\nusage: bench_train [--width W] [--size S] [--batch N] [--steps K] "
               "[--warmup K] [--device cpu|cuda] [--precision fp32|bf16|tf32|auto] [--profile | --ops] [--roofline] "
               "[--deterministic] [--json]\n", msg);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](int lo, int hi) {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end || v < lo || v > hi) usage((a + " takes an integer from " + std::to_string(lo) + " to " + std::to_string(hi)).c_str());
      return (int)v;
    };
    if (a == "--width") o.width = value(1, 256);
    else if (a == "--size") o.size = value(8, 1024);
    else if (a == "--batch") o.batch = value(2, 256);
    else if (a == "--steps") o.steps = value(1, 100000);
    else if (a == "--warmup") o.warmup = value(0, 100000);
    else if (a == "--device") {
      if (i + 1 >= argc) usage("missing value after --device");
      o.device = argv[++i];
    } else if (a == "--precision") {
      if (i + 1 >= argc) usage("missing value after --precision");
      o.precision = argv[++i];
    } else if (a == "--profile") o.profile = true;
    else if (a == "--deterministic") sg::set_deterministic(true);
    else if (a == "--ops") o.profile = o.ops = true;
    else if (a == "--json") o.json = true;
    else if (a == "--roofline") o.roofline = true;
    else usage(("unknown option " + a).c_str());
  }
  if (o.size % 8) usage("--size must be divisible by 8");
  return o;
}

// Median seconds of `k` calls of `f`, after `warm` calls.
template <typename F>
double median_seconds(F&& f, int k, int warm, Device dev) {
  for (int i = 0; i < warm; ++i) f();
  synchronize(dev);
  std::vector<double> t;
  for (int i = 0; i < k; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    synchronize(dev);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// GFLOP/s of one large convolution, forward and backward, in this thread's precision, by the direct
// algorithm (oneDNN's Winograd does fewer multiplications than the FLOPs counted, so it would not be
// a peak of the arithmetic).
double conv_peak_gflops(Device dev, int steps) {
  const bool winograd = onednn_winograd();
  set_onednn_winograd(false);
  struct Restore {
    bool on;
    ~Restore() { set_onednn_winograd(on); }
  } restore{winograd};
  Tensor x = Tensor::uniform({8, 256, 32, 32}, -1.f, 1.f, 11, dev);
  Tensor w = Tensor::uniform({256, 256, 3, 3}, -0.05f, 0.05f, 12, dev);
  Tensor gy = Tensor::uniform({8, 256, 32, 32}, -1.f, 1.f, 13, dev);
  x.requires_grad_(true);
  w.requires_grad_(true);
  auto pass = [&]() {
    x.zero_grad();
    w.zero_grad();
    conv2d(x, w, Tensor(), 1, 1).backward(gy);
  };
  pass();
  const int64_t f0 = conv2d_flops();
  pass();
  const double flops = (double)(conv2d_flops() - f0);
  return flops / median_seconds(pass, steps, 0, dev) / 1e9;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_maxrss / 1024.0;  // Linux: kilobytes
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  try {
    const Device dev = parse_device(o.device);
    const Precision prec = parse_precision(o.precision, dev);
    set_precision(prec);
    sgsf::SGSFModel model(o.width, sgsf::GuidanceSource::Decoder, /*seed=*/0);
    model.to(dev);
    model.train();
    Adam opt(model.named_parameters(), 1e-4f);
    const Shape img{o.batch, 3, o.size, o.size}, px{o.batch, 1, o.size, o.size};
    Tensor image = Tensor::uniform(img, 0.f, 1.f, 1, dev);
    Tensor guide = Tensor::uniform(img, 0.f, 1.f, 2, dev);
    std::vector<float> m = Tensor::uniform(px, 0.f, 1.f, 3, Device::CPU).to_vector();
    for (float& v : m) v = v > 0.97f ? 1.f : 0.f;
    Tensor mask = Tensor::from_vector(px, m, dev);

    float last_loss = 0;
    auto step = [&]() {
      sgsf::StepLosses L = sgsf::training_losses(model, image, guide, mask, false, 1.f, 2.f);
      opt.zero_grad();
      L.loss.backward();
      opt.step();
      last_loss = L.loss.item();
    };
    if (o.roofline) {
      // The step's FLOPs, then per precision the step's and the large convolution's GFLOP/s.
      const int64_t f0 = conv2d_flops();
      step();
      const double step_flops = (double)(conv2d_flops() - f0);
      std::vector<Precision> modes{Precision::FP32};
      const Precision fast = dev == Device::CUDA ? Precision::TF32 : Precision::BF16;
      if (precision_supported(fast, dev)) modes.push_back(fast);
      std::printf("roofline: w=%d %dx%d batch %d on %s; convolution FLOPs of one training step %.2f GFLOP (%.2f "
                  "per image)%s\n", o.width, o.size, o.size, o.batch, device_name(dev), step_flops / 1e9,
                  step_flops / 1e9 / o.batch, dev == Device::CPU ? str("; CPU bf16: ", cpu_bf16_flags()).c_str() : "");
      std::printf("%-9s %10s %12s %14s %14s %9s\n", "precision", "step ms", "images/s", "step GFLOP/s",
                  "conv GFLOP/s", "of peak");
      for (Precision p : modes) {
        const PrecisionGuard in(p);
        const double sec = median_seconds(step, o.steps, std::max(1, o.warmup), dev);
        const double peak = conv_peak_gflops(dev, 3);
        std::printf("%-9s %10.1f %12.2f %14.1f %14.1f %8.0f%%\n", precision_name(p), sec * 1e3, o.batch / sec,
                    step_flops / sec / 1e9, peak, 100.0 * step_flops / sec / 1e9 / peak);
      }
      std::printf("(conv GFLOP/s: one 256 -> 256 channel 3 x 3 convolution at 32 x 32, batch 8, forward and backward, "
                  "direct algorithm, in the same precision: the practical peak; FLOPs are direct-algorithm FLOPs)\n");
      return 0;
    }
    const double med = median_seconds(step, o.steps, o.warmup, dev);
    const double rss = peak_rss_mib();
    std::map<std::string, double> fam;
    std::vector<profile::Entry> raw;
    if (o.profile) {
      profile::start(dev);
      for (int i = 0; i < o.steps; ++i) {
        profile::Region r("other (outside ops)");
        step();
      }
      profile::stop();
      raw = profile::entries();
      fam = sgsf::profile_by_family(raw, o.steps);
    }
    const double ips = o.batch / med;
    const double device_mib = dev == Device::CUDA ? (double)memory_stats(dev).peak_bytes_in_use / (1 << 20) : 0.0;
    const MemoryStats cpu_mem = memory_stats(Device::CPU);
    if (o.json) {
      std::printf("{\"width\": %d, \"size\": %d, \"batch\": %d, \"device\": \"%s\", \"precision\": \"%s\", \"step_ms\": %.3f, "
                  "\"images_per_s\": %.3f, \"peak_rss_mib\": %.1f, \"peak_device_mib\": %.1f, \"loss\": %.6f",
                  o.width, o.size, o.batch, o.device.c_str(), precision_name(prec), med * 1e3, ips, rss, device_mib, last_loss);
      if (o.profile) {
        std::printf(", \"profile_ms\": {");
        bool first = true;
        for (const auto& [k, v] : fam) {
          std::printf("%s\"%s\": %.3f", first ? "" : ", ", k.c_str(), v);
          first = false;
        }
        std::printf("}");
      }
      std::printf("}\n");
    } else {
      std::printf("w=%d %dx%d batch %d on %s (%s): %.1f ms a step (median of %d), %.1f images/s, peak RSS %.0f MiB "
                  "(tensors: peak %.0f MiB in use, %.0f MiB cached now)\n",
                  o.width, o.size, o.size, o.batch, o.device.c_str(), precision_name(prec), med * 1e3, o.steps, ips, rss,
                  cpu_mem.peak_bytes_in_use / 1048576.0, cpu_mem.bytes_cached / 1048576.0);
      if (o.profile) std::printf("\nprofiled pass, %d steps:\n%s", o.steps, sgsf::profile_table(raw, o.steps, o.ops).c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
