// bench_kernels.cpp — timings of the five SGSF kernel families (Perlin noise, SAM forging, SSIM,
// focal loss, guided concatenation) on the CPU and, when present, the GPU, each next to the
// unfused alternative built from the engine's generic ops (SSIM via five conv2d with a fixed
// 11x11 Gaussian, focal via softmax/slice/log/pow/mul, concat via the generic concat op (copies; its backward
// takes two slabs),
// the SAM blend via broadcasting elementwise ops). Median of many runs after warm-up (CPU: steady
// clock; GPU: CUDA events, L2 flushed before each run), bytes moved by the fused kernels, GB/s and
// the fraction of the measured copy bandwidth (memcpy on the CPU, cudaMemcpy D2D on the GPU).
// Outputs are validated (fused vs unfused) before timing.
//
//   bench_kernels [--device cpu|cuda|all] [--cpu-batch 4] [--cpu-size 128] [--gpu-batch 16]
//                 [--gpu-size 256] [--reps N] [--json]
//   bench_kernels --traffic [--width 128] [--size 256] [--batch 16]
//
// --traffic: the traffic model of one joint training step at the given scale (default the paper's):
// every hand-written kernel's calls, bytes moved and FLOPs per call and per step, as its launcher
// declares them (kernels/traffic.h). On a GPU the step runs at that scale and each launch is timed
// alone (a wait before and after), adding GB/s and the fraction of the copy bandwidth; on the
// emulated device the step runs at 32x32, batch 2, and every kernel but Adam is scaled by the
// pixel count (their traffic is proportional to it; Adam's to the parameters).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/optim.h"
#include "engine/ops.h"
#include "kernels/traffic.h"
#include "sgsf/model.h"
#include "sgsf/sgsf_ops.h"
#include "sgsf/trainer.h"
#ifdef SGSF_WITH_CUDA
#include "engine/cuda_check.h"
#endif

using namespace sg;

namespace {

struct Row {
  std::string family, what, device;
  int64_t batch = 0, size = 0;
  double ms = 0, bytes = 0, unfused_ms = -1;
  std::string unfused, check;
};

struct Timer {
  Device dev;
  int reps;
  Tensor flush;  // GPU: a buffer larger than L2, overwritten before each run
  double median_ms(const std::function<void()>& f) {
    for (int i = 0; i < 3; ++i) f();  // warm-up (allocator caches, first-touch, JIT)
    synchronize(dev);
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
#ifdef SGSF_WITH_CUDA
      if (dev == Device::CUDA) {
        if (flush.defined()) SG_CUDA_CHECK(cudaMemsetAsync(flush.data(), r & 0xff, sizeof(float) * (size_t)flush.numel(), cuda::stream()));
        cudaEvent_t a, b;
        SG_CUDA_CHECK(cudaEventCreate(&a));
        SG_CUDA_CHECK(cudaEventCreate(&b));
        SG_CUDA_CHECK(cudaEventRecord(a, cuda::stream()));
        f();
        SG_CUDA_CHECK(cudaEventRecord(b, cuda::stream()));
        SG_CUDA_CHECK(cudaEventSynchronize(b));
        float ms = 0;
        SG_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
        cudaEventDestroy(a);
        cudaEventDestroy(b);
        t.push_back(ms);
        continue;
      }
#endif
      auto t0 = std::chrono::steady_clock::now();
      f();
      auto t1 = std::chrono::steady_clock::now();
      t.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  }
};

// Copy bandwidth of the device (bytes read + written per second).
double copy_bandwidth(Timer& T, int64_t nfloats) {
  Tensor a = Tensor::full({nfloats}, 1.f, T.dev), b = Tensor::empty({nfloats}, T.dev);
  double ms = T.median_ms([&] { copy_floats(b.data(), T.dev, a.data(), T.dev, nfloats); });
  return 2.0 * 4.0 * (double)nfloats / (ms * 1e-3);
}

// ---- unfused compositions from generic ops ------------------------------------------------------
Tensor ssim_mean_unfused(const Tensor& x, const Tensor& y, const Tensor& window) {
  const Shape s = x.shape();
  Tensor xr = x.reshape({s[0] * s[1], 1, s[2], s[3]}), yr = y.reshape({s[0] * s[1], 1, s[2], s[3]});
  Tensor mx = conv2d(xr, window, Tensor(), 1, 5), my = conv2d(yr, window, Tensor(), 1, 5);
  Tensor exx = conv2d(xr * xr, window, Tensor(), 1, 5), eyy = conv2d(yr * yr, window, Tensor(), 1, 5);
  Tensor exy = conv2d(xr * yr, window, Tensor(), 1, 5);
  const float c1 = 1e-4f, c2 = 9e-4f;
  Tensor mxy = mx * my, mxx = mx * mx, myy = my * my;
  Tensor num = (mxy * 2.f + c1) * ((exy - mxy) * 2.f + c2);
  Tensor den = (mxx + myy + c1) * ((exx - mxx) + (eyy - myy) + c2);
  return mean(num / den);
}

Tensor focal_unfused(const Tensor& logits, const Tensor& mask) {
  Tensor p = slice(softmax(logits, 1), 1, 1, 2);
  Tensor q = 1.f - p;
  Tensor pos = pow(q, 2.f) * log(p), neg = pow(p, 2.f) * log(q);
  return -mean(mask * pos + (1.f - mask) * neg);
}

// Concatenation by plain copies, one per (sample, input): validates the fused output.
Tensor concat_by_copies(const Tensor& a, const Tensor& b) {
  const int64_t n = a.size(0), c1 = a.size(1), c2 = b.size(1), hw = a.size(2) * a.size(3);
  Tensor out = Tensor::empty({n, c1 + c2, a.size(2), a.size(3)}, a.device());
  for (int64_t k = 0; k < n; ++k) {
    copy_floats(out.data() + k * (c1 + c2) * hw, out.device(), a.data() + k * c1 * hw, a.device(), c1 * hw);
    copy_floats(out.data() + (k * (c1 + c2) + c1) * hw, out.device(), b.data() + k * c2 * hw, b.device(), c2 * hw);
  }
  return out;
}

std::string agree(double a, double b, double tol) {
  return std::fabs(a - b) <= tol * (1 + std::fabs(b)) ? "ok" : sg::str("MISMATCH ", a, " vs ", b);
}

Tensor leaf(const Tensor& t) {
  Tensor l = t.detach();
  l.requires_grad_(true);
  return l;
}

void run_device(Device dev, int64_t n, int64_t size, int reps, std::vector<Row>& rows, double& copy_bw) {
  Timer T{dev, reps, Tensor()};
  if (dev == Device::CUDA) T.flush = Tensor::empty({64 << 20}, dev);  // 256 MiB, larger than L2
  copy_bw = copy_bandwidth(T, dev == Device::CUDA ? (int64_t)256 << 20 : (int64_t)32 << 20);
  const double px = (double)n * size * size * 4.0;  // bytes of one (N,1,H,W) tensor
  auto row = [&](const char* fam, const char* what, double ms, double bytes, const char* unf, double ums,
                 const std::string& chk) {
    rows.push_back(Row{fam, what, device_name(dev), n, size, ms, bytes, ums, unf, chk});
  };

  // Perlin noise: writes (N,1,H,W) (the 33x33 gradient table is negligible).
  {
    double ms = T.median_ms([&] { sgsf::perlin_noise(n, size, size, 7, dev); });
    row("perlin", "noise", ms, px, "", -1, "");
  }
  // SAM: reads S (sum pass), then A, B (3 ch each), S, noise; writes image (3 ch) + mask: 13 planes.
  {
    Tensor A = Tensor::uniform({n, 3, size, size}, 0.f, 1.f, 1, dev), B = Tensor::uniform({n, 3, size, size}, 0.f, 1.f, 2, dev);
    Tensor S = Tensor::uniform({n, 1, size, size}, 0.f, 1.f, 3, dev);
    Tensor noise = sgsf::perlin_noise(n, size, size, 4, dev) * 2.f;
    sgsf::SamParams p;
    p.forge_prob = 1.f;
    p.alpha_lo = p.alpha_hi = 0.5f;
    sgsf::Forged f = sgsf::forge_anomalies(A, S, B, noise, p, 5);
    // The blend alone from generic ops, given the mask and alpha: A(1-M) + aBM + (1-a)AM.
    Tensor alpha = Tensor::full({n, 1, 1, 1}, 0.5f, dev);
    auto blend = [&] { return A * (1.f - f.mask) + alpha * B * f.mask + (1.f - alpha) * A * f.mask; };
    std::vector<float> a = blend().to_vector(), b = f.image.to_vector();
    double err = 0;
    for (size_t i = 0; i < a.size(); ++i) err = std::max(err, (double)std::fabs(a[i] - b[i]));
    double ms = T.median_ms([&] { sgsf::forge_anomalies(A, S, B, noise, p, 5); });
    double ums = T.median_ms([&] { blend(); });
    row("sam", "forge: sum + fused pass", ms, px * 13, "blend alone, elementwise ops", ums,
        err < 1e-6 ? "ok" : sg::str("MISMATCH ", err));
  }
  // SSIM, the 11x11 Gaussian window as a conv2d weight for the unfused path.
  Tensor window;
  {
    std::vector<double> g(11);
    double s = 0;
    for (int i = 0; i < 11; ++i) s += g[(size_t)i] = std::exp(-(i - 5.0) * (i - 5.0) / 4.5);
    std::vector<float> w2(121);
    for (int i = 0; i < 11; ++i)
      for (int j = 0; j < 11; ++j) w2[(size_t)(i * 11 + j)] = (float)(g[(size_t)i] * g[(size_t)j] / (s * s));
    window = Tensor::from_vector({1, 1, 11, 11}, w2, dev);
  }
  Tensor x = Tensor::uniform({n, 3, size, size}, 0.f, 1.f, 6, dev), y = Tensor::uniform({n, 3, size, size}, 0.f, 1.f, 7, dev);
  y = (x * 0.7f + y * 0.3f).detach();  // correlated, as a reconstruction is
  {
    // forward: reads x, y; writes the map; the mean reads it back: 4 planes per channel.
    std::string chk = agree(sgsf::ssim_mean(x, y).item(), ssim_mean_unfused(x, y, window).item(), 1e-4);
    double ms = T.median_ms([&] { sgsf::ssim_mean(x, y); });
    double ums = T.median_ms([&] { ssim_mean_unfused(x, y, window); });
    row("ssim", "mean, forward", ms, px * 3 * 4, "5x conv2d + elementwise", ums, chk);
  }
  {
    // forward + backward: fwd reads 2, writes 4 (map + 3 coefficient maps), mean reads 1;
    // bwd reads 5 (3 maps, x, y), writes 1: 13 planes per channel.
    Tensor xl = leaf(x);
    Tensor gf, gu;
    auto fused = [&] { xl.zero_grad(); sgsf::ssim_loss(xl, y).backward(); };
    auto unfused = [&] { xl.zero_grad(); (1.f - ssim_mean_unfused(xl, y, window)).backward(); };
    fused();
    gf = xl.grad();
    unfused();
    gu = xl.grad();
    std::string chk = agree(max_value(gf).item(), max_value(gu).item(), 1e-3);
    double ms = T.median_ms(fused), ums = T.median_ms(unfused);
    row("ssim", "loss, forward + backward", ms, px * 3 * 13, "5x conv2d + elementwise (autograd)", ums, chk);
  }
  // Focal loss forward + backward: fwd reads logits (2) + mask, writes loss + dz, mean reads loss;
  // bwd reads dz, writes 2: 9 planes.
  {
    Tensor logits = leaf(Tensor::uniform({n, 2, size, size}, -3.f, 3.f, 8, dev));
    std::vector<float> m = Tensor::uniform({n, 1, size, size}, 0.f, 1.f, 9, Device::CPU).to_vector();
    for (float& v : m) v = v > 0.9f ? 1.f : 0.f;
    Tensor mask = Tensor::from_vector({n, 1, size, size}, m, dev);
    std::string chk = agree(sgsf::focal_loss(logits, mask).item(), focal_unfused(logits, mask).item(), 1e-4);
    auto fused = [&] { logits.zero_grad(); sgsf::focal_loss(logits, mask).backward(); };
    auto unfused = [&] { logits.zero_grad(); focal_unfused(logits, mask).backward(); };
    double ms = T.median_ms(fused), ums = T.median_ms(unfused);
    row("focal", "loss, forward + backward", ms, px * 9, "softmax/slice/pow/log/mul (autograd)", ums, chk);
  }
  // Guided concat of (N,32,H,W) and (N,32,H,W), forward + backward: fwd reads 64, writes 64 planes;
  // bwd reads 64, writes 64.
  {
    const int64_t c = 32;
    Tensor a = leaf(Tensor::uniform({n, c, size, size}, -1.f, 1.f, 10, dev));
    Tensor b = leaf(Tensor::uniform({n, c, size, size}, -1.f, 1.f, 11, dev));
    Tensor gout = Tensor::uniform({n, 2 * c, size, size}, -1.f, 1.f, 12, dev);
    std::string chk = sgsf::guided_concat(a, b).to_vector() == concat_by_copies(a, b).to_vector() ? "ok" : "MISMATCH";
    auto fused = [&] {
      a.zero_grad();
      b.zero_grad();
      sgsf::guided_concat(a, b).backward(gout);
    };
    auto unfused = [&] {  // the engine's generic concat; its backward takes two slabs
      a.zero_grad();
      b.zero_grad();
      concat({a, b}, 1).backward(gout);
    };
    // The composition of copies: each sample's slabs sliced out and joined, then the samples joined
    // (what the concatenation costs without a kernel that knows the layout).
    auto per_sample = [&] {
      a.zero_grad();
      b.zero_grad();
      std::vector<Tensor> parts;
      for (int64_t k = 0; k < n; ++k) parts.push_back(concat({slice(a, 0, k, k + 1), slice(b, 0, k, k + 1)}, 1));
      concat(parts, 0).backward(gout);
    };
    double ms = T.median_ms(fused), ums = T.median_ms(unfused), pms = T.median_ms(per_sample);
    row("concat", "guided, forward + backward", ms, px * 4 * 2 * c, "engine concat op + slab backward (autograd)", ums, chk);
    row("concat", "guided, forward + backward", ms, px * 4 * 2 * c, "per-sample slice + concat copies (autograd)", pms, chk);
  }
}

void print_table(const std::vector<Row>& rows, double bw_cpu, double bw_gpu) {
  std::printf("%-7s %-28s %-5s %5s %5s %10s %9s %8s %7s %12s %8s  %s\n", "family", "what", "dev", "batch", "size",
              "fused ms", "MB moved", "GB/s", "%copy", "unfused ms", "speedup", "check");
  for (const Row& r : rows) {
    double bw = r.device == std::string("cuda") ? bw_gpu : bw_cpu;
    double gbs = r.bytes / (r.ms * 1e-3) / 1e9;
    std::printf("%-7s %-28s %-5s %5lld %5lld %10.3f %9.1f %8.2f %6.1f%% ", r.family.c_str(), r.what.c_str(),
                r.device.c_str(), (long long)r.batch, (long long)r.size, r.ms, r.bytes / 1e6, gbs, 100 * gbs * 1e9 / bw);
    if (r.unfused_ms >= 0)
      std::printf("%12.3f %7.2fx  %s  [unfused: %s]\n", r.unfused_ms, r.unfused_ms / r.ms, r.check.c_str(), r.unfused.c_str());
    else
      std::printf("%12s %8s  %s\n", "-", "-", r.check.c_str());
  }
}

void print_json(const std::vector<Row>& rows, double bw_cpu, double bw_gpu, bool gpu_skipped) {
  std::printf("{\"copy_bandwidth_gbs\": {\"cpu\": %.3f, \"cuda\": %s}, \"gpu_skipped\": %s, \"rows\": [\n", bw_cpu / 1e9,
              bw_gpu > 0 ? sg::str(bw_gpu / 1e9).c_str() : "null", gpu_skipped ? "true" : "false");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    double gbs = r.bytes / (r.ms * 1e-3) / 1e9;
    std::printf(" {\"family\": \"%s\", \"what\": \"%s\", \"device\": \"%s\", \"batch\": %lld, \"size\": %lld, "
                "\"ms\": %.5f, \"bytes\": %.0f, \"gbs\": %.3f, \"unfused\": \"%s\", \"unfused_ms\": %s, \"check\": \"%s\"}%s\n",
                r.family.c_str(), r.what.c_str(), r.device.c_str(), (long long)r.batch, (long long)r.size, r.ms, r.bytes,
                gbs, r.unfused.c_str(), r.unfused_ms >= 0 ? sg::str(r.unfused_ms).c_str() : "null", r.check.c_str(),
                i + 1 < rows.size() ? "," : "");
  }
  std::printf("]}\n");
}

// ---- --traffic -----------------------------------------------------------------------------------
int run_traffic(int width, int64_t size, int64_t batch) {
  SG_CHECK(cuda_available(), "bench_kernels --traffic: needs a CUDA device (a GPU, or the emulated build): ",
           cuda_device_info());
#ifdef SGSF_CUDA_EMULATION
  const bool timed = false;
  const int64_t rec_size = std::min<int64_t>(size, 32), rec_batch = std::min<int64_t>(batch, 2);
#else
  const bool timed = true;
  const int64_t rec_size = size, rec_batch = batch;
#endif
  const double scale = (double)(size * size * batch) / (double)(rec_size * rec_size * rec_batch);
  sgsf::TrainConfig cfg;
  sgsf::apply_preset(cfg, "paper");
  sgsf::SGSFModel model(width, sgsf::GuidanceSource::Decoder, 0);
  model.to(Device::CUDA);
  model.train();
  Adam opt(model.named_parameters(), cfg.lr);
  const Shape img{rec_batch, 3, rec_size, rec_size};
  const Tensor image = Tensor::uniform(img, 0.f, 1.f, 1, Device::CUDA), aux = Tensor::uniform(img, 0.f, 1.f, 2, Device::CUDA);
  const Tensor guidance = Tensor::uniform(img, 0.f, 1.f, 3, Device::CUDA);
  const Tensor saliency = Tensor::ones({rec_batch, 1, rec_size, rec_size}, Device::CUDA);
  sgsf::joint_step(model, opt, image, saliency, aux, guidance, cfg, 1);  // state, algorithms, caches
  synchronize(Device::CUDA);
  kernels::traffic::start(timed);
  sgsf::joint_step(model, opt, image, saliency, aux, guidance, cfg, 2);
  synchronize(Device::CUDA);
  kernels::traffic::stop();
  double bw = 0;
  if (timed) {
    Timer T{Device::CUDA, 20, Tensor()};
    bw = copy_bandwidth(T, (int64_t)256 << 20);
  }
  std::printf("traffic of one joint training step, w = %d, %lldx%lld, batch %lld (%s)\n", width, (long long)size,
              (long long)size, (long long)batch,
              timed ? sg::str("measured on ", cuda_device_info(), "; copy bandwidth ", bw / 1e9, " GB/s").c_str()
                    : sg::str("recorded at ", rec_size, "x", rec_size, ", batch ", rec_batch,
                              " on the emulated device and scaled by the pixel count; Adam as recorded").c_str());
  std::printf("%-36s %6s %11s %13s %9s %9s %8s", "kernel", "calls", "MB per call", "MFLOP per call", "GB/step",
              "FLOP/B", "share");
  if (timed) std::printf(" %9s %8s %7s", "ms/step", "GB/s", "%copy");
  std::printf("\n");
  std::vector<kernels::traffic::Entry> rows = kernels::traffic::entries();
  double total_bytes = 0, total_flops = 0, total_s = 0;
  for (auto& r : rows) {
    const double f = r.per_parameter ? 1.0 : scale;
    r.bytes *= f;
    r.flops *= f;
    total_bytes += r.bytes;
    total_flops += r.flops;
    total_s += r.seconds;
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
  for (const auto& r : rows) {
    std::printf("%-36s %6lld %11.2f %13.2f %9.2f %9.2f %7.1f%%", r.kernel.c_str(), (long long)r.calls,
                r.bytes / r.calls / 1e6, r.flops / r.calls / 1e6, r.bytes / 1e9, r.bytes > 0 ? r.flops / r.bytes : 0.0,
                100 * r.bytes / std::max(total_bytes, 1.0));
    if (timed) {
      const double gbs = r.seconds > 0 ? r.bytes / r.seconds / 1e9 : 0;
      std::printf(" %9.3f %8.1f %6.1f%%", r.seconds * 1e3, gbs, bw > 0 ? 100 * gbs * 1e9 / bw : 0.0);
    }
    std::printf("\n");
  }
  std::printf("%-36s %6s %11s %13s %9.2f %9.2f %8s", "all hand-written kernels", "", "", "", total_bytes / 1e9,
              total_bytes > 0 ? total_flops / total_bytes : 0.0, "");
  if (timed) std::printf(" %9.3f %8.1f %6.1f%%", total_s * 1e3, total_s > 0 ? total_bytes / total_s / 1e9 : 0.0,
                         total_s > 0 && bw > 0 ? 100 * total_bytes / total_s / bw : 0.0);
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string device = "all";
    int64_t cpu_batch = 4, cpu_size = 128, gpu_batch = 16, gpu_size = 256;
    int reps = 0;
    bool json = false, traffic = false;
    int traffic_width = 128;
    int64_t traffic_size = 256, traffic_batch = 16;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        SG_CHECK(i + 1 < argc, "bench_kernels: ", a, " needs a value");
        return argv[++i];
      };
      if (a == "--help" || a == "-h") {
        std::printf("bench_kernels: time the SGSF kernel families against unfused generic-op compositions.\n"
                    "  --device cpu|cuda|all  (default all: the CPU, and the GPU when present)\n"
                    "  --cpu-batch N (4)  --cpu-size S (128)  --gpu-batch N (16)  --gpu-size S (256)\n"
                    "  --reps N  timed runs per row, median reported (default 15 CPU, 50 GPU)\n"
                    "  --json    machine-readable output instead of the table\n"
                    "  --traffic [--width 128] [--size 256] [--batch 16]: bytes and FLOPs of every hand-written\n"
                    "            kernel in one joint training step at that scale (see the file's header)\n");
        return 0;
      } else if (a == "--device") device = next();
      else if (a == "--cpu-batch") cpu_batch = std::stoll(next());
      else if (a == "--cpu-size") cpu_size = std::stoll(next());
      else if (a == "--gpu-batch") gpu_batch = std::stoll(next());
      else if (a == "--gpu-size") gpu_size = std::stoll(next());
      else if (a == "--reps") reps = std::stoi(next());
      else if (a == "--json") json = true;
      else if (a == "--traffic") traffic = true;
      else if (a == "--width") traffic_width = std::stoi(next());
      else if (a == "--size") traffic_size = std::stoll(next());
      else if (a == "--batch") traffic_batch = std::stoll(next());
      else throw sg::Error("bench_kernels: unknown option " + a + " (see --help)");
    }
    SG_CHECK(device == "cpu" || device == "cuda" || device == "all", "bench_kernels: --device must be cpu, cuda or all");
    if (traffic) {
      SG_CHECK(traffic_width >= 1 && traffic_size >= 16 && traffic_size % 8 == 0 && traffic_batch >= 2,
               "bench_kernels --traffic: --width >= 1, --size a multiple of 8 from 16, --batch >= 2");
      return run_traffic(traffic_width, traffic_size, traffic_batch);
    }
    std::vector<Row> rows;
    double bw_cpu = 0, bw_gpu = 0;
    bool gpu_skipped = false;
    if (device != "cuda") run_device(Device::CPU, cpu_batch, cpu_size, reps ? reps : 15, rows, bw_cpu);
    if (device != "cpu") {
      if (cuda_available()) {
        run_device(Device::CUDA, gpu_batch, gpu_size, reps ? reps : 50, rows, bw_gpu);
      } else {
        gpu_skipped = true;
        SG_CHECK(device != "cuda", "bench_kernels: --device cuda but ", cuda_device_info());
      }
    }
    if (json) {
      print_json(rows, bw_cpu, bw_gpu, gpu_skipped);
    } else {
      if (bw_cpu > 0) std::printf("CPU copy bandwidth (memcpy, read+write): %.2f GB/s\n", bw_cpu / 1e9);
      if (bw_gpu > 0) std::printf("GPU copy bandwidth (cudaMemcpy D2D, read+write): %.2f GB/s  [%s]\n", bw_gpu / 1e9,
                                  cuda_device_info().c_str());
      print_table(rows, bw_cpu, bw_gpu);
      if (gpu_skipped) std::printf("GPU part skipped: %s\n", cuda_device_info().c_str());
    }
    // A kernel that disagrees with its unfused composition fails the run (exit 3), whatever it timed.
    int mismatches = 0;
    for (const Row& r : rows)
      if (r.check.rfind("MISMATCH", 0) == 0) {
        std::fprintf(stderr, "bench_kernels: %s %s on %s: %s\n", r.family.c_str(), r.what.c_str(), r.device.c_str(),
                     r.check.c_str());
        ++mismatches;
      }
    if (mismatches) {
      std::fprintf(stderr, "bench_kernels: %d result(s) disagree with their reference\n", mismatches);
      return 3;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels: %s\n", e.what());
    return 1;
  }
}
