// detector.cpp — the public Detector API (see detector.h) on top of the test pipeline (evaluate.h).
#include "sgsf/detector.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "data/image_io.h"
#include "engine/common.h"
#include "engine/file_io.h"
#include "sgsf/evaluate.h"

namespace sg::sgsf {

// Loading a run, and scoring on the GPU, one at a time: every detector shares the device's one
// stream and its cuDNN and cuBLAS handles. On the CPU, detect() calls go to the CPU scorer below.
// Declared in sgsf/evaluate.h: the Python package holds it while it runs a
// program in-process.
std::mutex& engine_lock() {
  static std::mutex m;
  return m;
}

namespace {

// The CPU scorer: one thread that runs every CPU detect() of the process on all the cores, with
// the process's only OpenMP team (oneDNN's threads are that team too). Why not the calling threads:
// OpenMP keeps a team of worker threads per thread that opens a parallel region; with a team per
// caller the process holds more OpenMP threads than cores, and libgomp then sleeps on a futex
// between parallel regions instead of spinning. One image on two threads scored 3.6x slower than
// on one that way (51 against 185 images/s at the quick start's size, 2-core Xeon).
// How the team is used:
//  - one image from the only caller in flight: the whole team on it, each op split among the
//    threads (a camera alone gets every core);
//  - otherwise the team's threads take the images of every waiting call one by one, each thread
//    scoring its image alone (small ops are not split), and a caller goes on as soon as its own
//    images are done, while the others are still scored.
// A thread of the team waits a moment for a caller still on its way (resizing its image) before the
// team ends. Scoring is batch-invariant on the CPU, so who scores an image changes no bit
// (tests/test_run_api.cpp: results from many threads are those of one call after another). The
// callers decode and resize their images, and resize the maps back, on their own threads. The
// thread is never stopped (it waits, idle, when there is nothing to score); a process that forks
// starts a new one in the child.
class CpuScorer {
 public:
  struct Job {
    // Scoring: `score` runs `images` (at the model's size) through its Detector's model. Otherwise
    // `task` runs (loading a run).
    const std::vector<data::Image>* images = nullptr;
    std::function<Inference(const std::vector<const data::Image*>&)> score;
    Inference result;
    std::function<void()> task;
    std::exception_ptr error;
    size_t remaining = 0;  // images not yet scored
    bool done = false;
  };

  static CpuScorer& get() {
    static std::mutex m;
    static CpuScorer* scorer = nullptr;
    std::lock_guard<std::mutex> lock(m);
    if (!scorer || scorer->pid_ != getpid()) scorer = new CpuScorer();  // never deleted: it outlives every Detector
    return *scorer;
  }

  // A caller inside a CPU call: counted as on its way until it queues its job (a team at work waits
  // a moment for it) and as in flight until it returns (a lone caller's image gets the whole team).
  // Hand it to run().
  class Arrival {
   public:
    explicit Arrival(CpuScorer& s) : s_(s) {
      std::lock_guard<std::mutex> lock(s_.m_);
      ++s_.arriving_;
      ++s_.in_flight_;
    }
    ~Arrival() { s_.leave(this); }
    Arrival(const Arrival&) = delete;
    Arrival& operator=(const Arrival&) = delete;

   private:
    friend class CpuScorer;
    CpuScorer& s_;
    bool queued_ = false;
  };

  // Queue the job and wait until the scorer thread has run it; rethrows what it threw.
  void run(Job& job, Arrival* arrival = nullptr) {
    std::unique_lock<std::mutex> lock(m_);
    if (arrival) {
      arrival->queued_ = true;
      --arriving_;
    }
    queue_.push_back(&job);
    work_.notify_all();
    done_.wait(lock, [&] { return job.done; });
    if (job.error) std::rethrow_exception(job.error);
  }

  // How long a thread of the team waits for a caller on its way before it stops.
  static constexpr std::chrono::microseconds kWaitForArrivals{2000};

 private:
  CpuScorer() : pid_(getpid()) { std::thread([this] { loop(); }).detach(); }

  void leave(const Arrival* a) {  // the caller is done (its resize may have thrown before it queued)
    std::lock_guard<std::mutex> lock(m_);
    if (!a->queued_) --arriving_;
    --in_flight_;
    work_.notify_all();
  }

  // A job's images, one by one, for the threads of the team to take.
  struct Item {
    Job* job;
    size_t index;
  };

  // Move the queued scoring jobs, whatever their Detector, to the items, one item per image (each
  // is scored with its own job's function). Tasks stay queued, for after the team.
  void take_scoring() {
    for (auto it = queue_.begin(); it != queue_.end();) {
      Job* j = *it;
      if (j->task) {
        ++it;
        continue;
      }
      const size_t n = j->images->size();
      j->result.maps.resize(n);
      j->result.scores.resize(n);
      j->result.guide.resize(n);
      j->remaining = n;
      for (size_t k = 0; k < n; ++k) items_.push_back(Item{j, k});
      it = queue_.erase(it);
    }
  }

  // One thread's share of a team at work: take the next image, score it alone on this thread, put
  // the result in its job, finish the job when its last image is in; until there is no image left
  // and no caller on its way (waiting a moment for one that is). Several images keep every core busy
  // without splitting small ops, and a caller whose images are done goes on at once while the others
  // are still scored.
  void work_items() {
    for (;;) {
      Item item{};
      {
        std::unique_lock<std::mutex> lock(m_);
        const auto until = std::chrono::steady_clock::now() + kWaitForArrivals;
        for (;;) {
          if (team_done_) return;
          take_scoring();
          if (!items_.empty()) break;
          // Nothing to take. While a teammate is still at work, wait for an image to come (the
          // team ends only when all its threads stop together: a thread that left early could not
          // come back for the images that come later). Otherwise wait a moment for a caller on its
          // way, and end the team if none comes.
          auto more = [&] { return team_done_ || has_scoring() || (busy_ == 0 && arriving_ == 0); };
          if (busy_ > 0) {
            work_.wait(lock, [&] { return more() || busy_ == 0; });
          } else if (arriving_ == 0 || !work_.wait_until(lock, until, [&] { return more() || busy_ > 0; })) {
            if (!items_.empty() || has_scoring()) continue;
            team_done_ = true;
            work_.notify_all();
            return;
          }
        }
        item = items_.front();
        items_.pop_front();
        ++busy_;
      }
      Inference one;
      std::exception_ptr error;
      try {
        one = item.job->score({&(*item.job->images)[item.index]});  // its own job's: alive until done
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(m_);
      Job& j = *item.job;
      if (error) {
        j.error = error;
      } else {
        j.result.maps[item.index] = std::move(one.maps[0]);
        j.result.scores[item.index] = one.scores[0];
        j.result.guide[item.index] = one.guide[0];
      }
      if (--j.remaining == 0) {
        j.done = true;
        done_.notify_all();
      }
      --busy_;
      work_.notify_all();  // teammates waiting for the team to end
    }
  }

  bool has_scoring() const {
    for (const Job* j : queue_)
      if (!j->task) return true;
    return false;
  }

  void loop() {
    for (;;) {
      Job* first = nullptr;
      bool alone = false;
      {
        std::unique_lock<std::mutex> lock(m_);
        work_.wait(lock, [&] { return !queue_.empty(); });
        first = queue_.front();
        // One image from the only caller: that image gets the whole team, each op split among the
        // threads. Otherwise the team's threads take the images one by one (work_items).
        alone = first->task || (first->images->size() == 1 && queue_.size() == 1 && in_flight_ == 1);
        if (alone) queue_.pop_front();
      }
      if (!alone) {
        {
          std::lock_guard<std::mutex> lock(m_);
          team_done_ = false;
        }
#ifdef _OPENMP
#pragma omp parallel
        {
          omp_set_num_threads(1);  // this thread's ops run on it alone (oneDNN's too)
          work_items();
        }
#else
        work_items();
#endif
        continue;
      }
      std::exception_ptr error;
      try {
        if (first->task)
          first->task();
        else
          first->result = first->score({&(*first->images)[0]});
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(m_);
      first->error = error;
      first->done = true;
      done_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable work_, done_;
  std::deque<Job*> queue_;
  std::deque<Item> items_;  // the images of the jobs a team is at work on
  int busy_ = 0;            // threads of the team scoring an image
  bool team_done_ = false;  // the team's threads are to stop
  int arriving_ = 0;   // callers that have begun a CPU call and not yet queued it
  int in_flight_ = 0;  // callers inside a CPU call
  pid_t pid_;
};

}  // namespace

struct Detector::Impl {
  Device dev = Device::CPU;
  Precision precision = Precision::FP32;
  LoadedRun run;
  GuidanceBank bank;
  GuidanceCache guides;  // each bank image's guidance features, computed on its first use
  bool has_threshold = false;
  float threshold = 0;
  int batch = 8;

  // The network's part of scoring: maps and scores of images already at the model's size.
  Inference score(const std::vector<const data::Image*>& resized) {
    const PrecisionGuard in_precision(precision);
    return infer(*run.model, resized, bank, scoring_of(run.cfg), batch, dev, false, &guides);
  }

  std::vector<Detection> run_batch(const std::vector<data::Image>& full) {
    std::optional<CpuScorer::Arrival> arrival;
    if (dev == Device::CPU) arrival.emplace(CpuScorer::get());
    const int s = run.cfg.size;
    std::vector<data::Image> resized;
    resized.reserve(full.size());
    for (const auto& im : full) resized.push_back(data::resize_bilinear(im, s, s));
    Inference inf;
    if (dev == Device::CUDA) {  // one stream: the calls take turns
      std::lock_guard<std::mutex> gpu_lock(engine_lock());
      std::vector<const data::Image*> ptrs;
      for (const auto& im : resized) ptrs.push_back(&im);
      inf = score(ptrs);
    } else {
      CpuScorer::Job job;
      job.images = &resized;
      job.score = [this](const std::vector<const data::Image*>& images) { return score(images); };
      CpuScorer::get().run(job, &*arrival);
      inf = std::move(job.result);
    }
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
  auto load = [&] {
    Impl& d = *impl_;
    d.run = load_run(run_dir, d.dev);
    d.precision = run_precision(precision, d.run.cfg, d.dev, "Detector: precision");
    d.bank = run_guidance(d.run, run_dir, "", "", "", d.batch, 2, d.dev);
    std::string source;
    d.has_threshold = run_threshold(d.run, run_dir, NAN, &d.threshold, &source);
  };
  if (impl_->dev == Device::CUDA) {
    load();
  } else {  // on the CPU scorer's thread, so that the caller's thread starts no OpenMP team of its own
    CpuScorer::Job job;
    job.task = load;
    CpuScorer::get().run(job);
  }
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
