// detector.cpp — the public Detector API (see detector.h) on top of the test pipeline (evaluate.h).
#include "sgsf/detector.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/image_io.h"
#include "engine/common.h"
#include "engine/file_io.h"
#include "sgsf/evaluate.h"

namespace sg::sgsf {

// Loading a run, and scoring on the GPU, one at a time: every detector shares the device's one
// stream and its cuDNN and cuBLAS handles. On the CPU, detect() calls run at once: the model and
// the guidance bank are only read, and every workspace below them is the calling thread's own
// (autograd and precision state, convolution buffers; engine/dnnl_conv.cpp). Declared in
// sgsf/evaluate.h: the Python package holds it while it runs a program in-process.
std::mutex& engine_lock() {
  static std::mutex m;
  return m;
}

namespace {

// The cores, shared among the CPU calls in flight: each call runs its OpenMP loops (and oneDNN's)
// on its thread's share, at least one, so that n threads scoring at once use the cores once, not
// n times over; and on at most one thread per image it scores. A single image's ops are too small
// to split well: on a 2-core Xeon one image per call scored 3.5 times faster on one thread than on
// two at the quick start's size (64², w = 8), and 1.1 times faster at 128², w = 16 (bench_detect).
// The calling thread's own setting comes back afterwards.
class CoreShare {
 public:
  explicit CoreShare(size_t images) {
    const int n = ++in_flight();
#ifdef _OPENMP
    before_ = omp_get_max_threads();
    omp_set_num_threads((int)std::clamp<size_t>(before_ / n, 1, std::max<size_t>(images, 1)));
#else
    (void)n, (void)images;
#endif
  }
  ~CoreShare() {
#ifdef _OPENMP
    omp_set_num_threads(before_);
#endif
    --in_flight();
  }
  CoreShare(const CoreShare&) = delete;
  CoreShare& operator=(const CoreShare&) = delete;

 private:
  static std::atomic<int>& in_flight() {
    static std::atomic<int> n{0};
    return n;
  }
  int before_ = 1;
};

}  // namespace

struct Detector::Impl {
  Device dev = Device::CPU;
  Precision precision = Precision::FP32;
  LoadedRun run;
  GuidanceBank bank;
  bool has_threshold = false;
  float threshold = 0;
  int batch = 8;

  std::vector<Detection> run_batch(const std::vector<data::Image>& full) {
    std::unique_lock<std::mutex> gpu_lock(engine_lock(), std::defer_lock);
    if (dev == Device::CUDA) gpu_lock.lock();
    const CoreShare cores(full.size());
    const int s = run.cfg.size;
    std::vector<data::Image> resized;
    resized.reserve(full.size());
    for (const auto& im : full) resized.push_back(data::resize_bilinear(im, s, s));
    std::vector<const data::Image*> ptrs;
    for (const auto& im : resized) ptrs.push_back(&im);
    const PrecisionGuard in_precision(precision);
    Inference inf = infer(*run.model, ptrs, bank, scoring_of(run.cfg), batch, dev, false);
    std::vector<Detection> out(full.size());
    for (size_t i = 0; i < full.size(); ++i) {
      Detection& d = out[i];
      d.width = full[i].width;
      d.height = full[i].height;
      d.map_size = s;
      d.model_map = std::move(inf.maps[i]);
      data::Image m(1, s, s);
      m.pixels = d.model_map;
      d.map = (d.width == s && d.height == s) ? d.model_map : data::resize_bilinear(m, d.height, d.width).pixels;
      d.score = inf.scores[i];
      d.normalized = has_threshold ? normalized_score(d.score, threshold) : NAN;
      d.defect = has_threshold && is_defect(d.score, threshold);
    }
    return out;
  }
};

Detector::Detector(const std::string& run_dir, const std::string& device, const std::string& precision)
    : impl_(std::make_unique<Impl>()) {
  std::lock_guard<std::mutex> lock(engine_lock());
  impl_->dev = parse_device(device);
  impl_->run = load_run(run_dir, impl_->dev);
  impl_->precision = run_precision(precision, impl_->run.cfg, impl_->dev, "Detector: precision");
  impl_->bank = run_guidance(impl_->run, run_dir, "", "", "", impl_->batch, 2, impl_->dev);
  std::string source;
  impl_->has_threshold = run_threshold(impl_->run, run_dir, NAN, &impl_->threshold, &source);
}

Detector::~Detector() = default;
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;

static data::Image from_rgb(const RgbImage& im) {
  SG_CHECK(im.pixels && im.width >= 1 && im.height >= 1, "Detector: an in-memory image needs pixels and a size, got ",
           im.width, "x", im.height);
  SG_CHECK((int64_t)im.width * im.height <= data::kMaxImagePixels, "Detector: an in-memory image of ", im.width, "x",
           im.height, " is larger than ", data::image_pixel_limit_text());
  const size_t stride = im.stride ? im.stride : (size_t)im.width * 3;
  SG_CHECK(stride >= (size_t)im.width * 3, "Detector: stride ", stride, " is less than 3 x width (", im.width, ")");
  data::Image out(3, im.height, im.width);
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x)
      for (int c = 0; c < 3; ++c) out.at(c, y, x) = im.pixels[(size_t)y * stride + (size_t)x * 3 + c] / 255.0f;
  return out;
}

Detection Detector::detect(const std::string& path) { return detect_files({path})[0]; }
Detection Detector::detect(const RgbImage& image) { return detect(std::vector<RgbImage>{image})[0]; }

std::vector<Detection> Detector::detect_files(const std::vector<std::string>& paths) {
  std::vector<data::Image> full;
  for (const auto& p : paths) full.push_back(data::read_image(p, 3));
  return impl_->run_batch(full);
}

std::vector<Detection> Detector::detect(const std::vector<RgbImage>& images) {
  std::vector<data::Image> full;
  for (const auto& im : images) full.push_back(from_rgb(im));
  return impl_->run_batch(full);
}

bool Detector::has_threshold() const { return impl_->has_threshold; }
float Detector::threshold() const { return impl_->has_threshold ? impl_->threshold : 0.f; }
void Detector::set_threshold(float t) {
  SG_CHECK(t >= 0 && t <= 1, "Detector: the threshold must be from 0 to 1, got ", t);
  impl_->threshold = t;
  impl_->has_threshold = true;
}
int Detector::input_size() const { return impl_->run.cfg.size; }
int Detector::batch_size() const { return impl_->batch; }
std::string Detector::precision() const { return precision_name(impl_->precision); }
void Detector::set_batch_size(int n) {
  SG_CHECK(n >= 1 && n <= kMaxBatch, "Detector: the batch size must be from 1 to ", kMaxBatch, ", got ", n);
  impl_->batch = n;
}

void write_map_pgm(const Detection& d, const std::string& path) {
  SG_CHECK(d.width > 0 && d.height > 0 && d.map.size() == (size_t)d.width * d.height, "write_map_pgm: '", path,
           "': the detection holds no map");
  std::string pgm = str("P5\n", d.width, " ", d.height, "\n255\n");
  for (float v : d.map) pgm.push_back((char)(unsigned char)std::lround(std::clamp(v, 0.f, 1.f) * 255.f));
  write_file_atomic(path, pgm);
}

float parse_threshold(const std::string& text, const std::string& what) {
  double t = 0;
  SG_CHECK(parse_number(text, &t) && std::isfinite(t) && t >= 0 && t <= 1, what,
           " expects a number from 0 to 1, got '", text, "'");
  return (float)t;
}

}  // namespace sg::sgsf
