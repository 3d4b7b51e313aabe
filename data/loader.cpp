// loader.cpp — the training batch stream (deterministic, multi-threaded, prefetching) and the
// test-split loader. See loader.h for the stream's definition.
#include "data/loader.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "data/image_io.h"
#include "engine/allocator.h"
#include "engine/common.h"
#include "engine/rng.h"
#ifdef SGSF_WITH_CUDA
#include "engine/cuda_check.h"
#endif

namespace sg::data {

namespace {

// Run f(i) for i in [0, n) on `workers` threads (inline when workers <= 1). Every exception is
// caught; the one of the lowest index is rethrown, so errors do not depend on thread timing.
template <typename F>
void parallel_for(int n, int workers, F f) {
  std::vector<std::exception_ptr> errors((size_t)n);
  std::atomic<int> next{0};
  auto run = [&] {
    for (int i; (i = next++) < n;) {
      try {
        f(i);
      } catch (...) {
        errors[(size_t)i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min(workers, n); ++t) pool.emplace_back(run);
  run();
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Stream keys: the epoch permutation uses Rng(seed, epoch) and a sample Rng(seed, kSampleStream |
// position), so the two never share a stream.
constexpr uint64_t kSampleStream = 1ull << 63;

void copy_into(float* dst, const Image& img) { std::memcpy(dst, img.pixels.data(), img.pixels.size() * sizeof(float)); }

}  // namespace

struct TrainLoader::PermCache {
  int64_t epoch = -1;
  std::vector<int> perm;
};

struct TrainLoader::Staged {
  int64_t index = 0;
  Tensor image, saliency, aux, guidance;  // CPU: filled directly
  int slot = -1;                          // CUDA: pinned staging buffer
  float* ptr[4] = {nullptr, nullptr, nullptr, nullptr};
  std::vector<int> indices, guidance_indices;
  std::vector<float> angles;
};

TrainLoader::TrainLoader(std::vector<Sample> train, LoaderOptions opt, const AuxiliaryTextures& aux)
    : samples_(std::move(train)), opt_(std::move(opt)), aux_(aux) {
  SG_CHECK(!samples_.empty(), "TrainLoader: no training images");
  SG_CHECK(opt_.size >= 8, "TrainLoader: image size must be at least 8, got ", opt_.size);
  SG_CHECK(opt_.batch >= 1, "TrainLoader: batch must be at least 1, got ", opt_.batch);
  SG_CHECK(opt_.workers >= 0, "TrainLoader: workers must be >= 0, got ", opt_.workers);
  SG_CHECK(opt_.saliency != SaliencyMode::File || !opt_.saliency_dir.empty(),
           "TrainLoader: saliency mode 'file' needs a saliency folder");
  opt_.prefetch = std::max(1, opt_.prefetch);
  const int n = (int)samples_.size();
  images_.resize((size_t)n);
  saliencies_.resize((size_t)n);
  std::vector<char> fell_back((size_t)n, 0);
  // Decode, resize and compute saliency once per image, in parallel.
  parallel_for(n, std::max(1, opt_.workers), [&](int i) {
    const Sample& s = samples_[(size_t)i];
    images_[(size_t)i] = read_image_resized(s.path, 3, opt_.size, opt_.size);
    std::string map_file =
        opt_.saliency == SaliencyMode::File ? saliency_file_for(opt_.saliency_dir, s.relpath) : "";
    SaliencyResult r = compute_saliency(images_[(size_t)i], opt_.saliency, map_file);
    SG_CHECK(r.map.channels == 1 && r.map.height == opt_.size && r.map.width == opt_.size,
             "TrainLoader: saliency map of '", s.path, "' has the wrong shape");
    saliencies_[(size_t)i] = std::move(r.map);
    fell_back[(size_t)i] = r.fallback;
  });
  fallbacks_ = (int)std::count(fell_back.begin(), fell_back.end(), 1);
  sets_ = std::make_shared<const std::vector<std::vector<int>>>();
  sync_cache_ = std::make_unique<PermCache>();

  if (staging_pinned()) {
    const size_t floats = (size_t)opt_.batch * 10 * opt_.size * opt_.size;  // 3 + 1 + 3 + 3 planes
    slot_bytes_ = floats * sizeof(float);
#ifdef SGSF_WITH_CUDA
    // Non-blocking: the legacy default stream (the engine's) does not wait for it, nor it for that.
    cudaStream_t cs;
    SG_CUDA_CHECK(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
    copy_stream_ = (void*)cs;
#endif
    for (int i = 0; i < opt_.prefetch + std::max(1, opt_.workers); ++i) {
      pinned_.push_back((float*)allocate_pinned(slot_bytes_));
      device_slots_.push_back((float*)allocate(Device::CUDA, slot_bytes_));
      void* ev[2] = {nullptr, nullptr};
#ifdef SGSF_WITH_CUDA
      for (void*& e : ev) {
        cudaEvent_t c;
        SG_CUDA_CHECK(cudaEventCreateWithFlags(&c, cudaEventDisableTiming));
        e = (void*)c;
      }
#endif
      pinned_events_.push_back(ev[0]);
      consumed_events_.push_back(ev[1]);
      free_slots_.push_back(i);
    }
  }
  for (int t = 0; t < opt_.workers; ++t) threads_.emplace_back([this, t] { worker_loop(t); });
}

TrainLoader::~TrainLoader() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  cv_ready_.notify_all();
  for (auto& t : threads_) t.join();
  ready_.clear();
#ifdef SGSF_WITH_CUDA
  for (auto* events : {&pinned_events_, &consumed_events_})
    for (void* e : *events) {
      if (!e) continue;
      cudaEventSynchronize((cudaEvent_t)e);  // no copy may still use a buffer we free
      cudaEventDestroy((cudaEvent_t)e);
    }
  if (copy_stream_) cudaStreamDestroy((cudaStream_t)copy_stream_);
#endif
  for (float* p : pinned_) free_pinned(p);
  for (float* p : device_slots_) deallocate(Device::CUDA, p, slot_bytes_);
}

int64_t TrainLoader::batches_per_epoch() const {
  return std::max<int64_t>(1, (int64_t)images_.size() / opt_.batch);
}

void TrainLoader::set_contrast_sets(std::vector<std::vector<int>> sets) {
  const int n = num_images();
  SG_CHECK(sets.empty() || (int)sets.size() == n, "TrainLoader::set_contrast_sets: ", sets.size(),
           " sets for ", n, " training images");
  for (size_t i = 0; i < sets.size(); ++i)
    for (int j : sets[i])
      SG_CHECK(j >= 0 && j < n, "TrainLoader::set_contrast_sets: index ", j, " in the set of image ", i,
               " is out of range [0, ", n, ")");
  {
    std::lock_guard<std::mutex> lk(mu_);
    sets_ = std::make_shared<const std::vector<std::vector<int>>>(std::move(sets));
    ++generation_;
    for (auto& kv : ready_) release_locked(*kv.second);
    ready_.clear();
    errors_.clear();
    produce_next_ = consume_next_;
  }
  cv_work_.notify_all();
}

void TrainLoader::seek(int64_t batch_index) {
  SG_CHECK(batch_index >= 0, "TrainLoader::seek: negative batch index ", batch_index);
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++generation_;
    for (auto& kv : ready_) release_locked(*kv.second);
    ready_.clear();
    errors_.clear();
    consume_next_ = produce_next_ = batch_index;
  }
  cv_work_.notify_all();
}

void TrainLoader::release_locked(Staged& s) {
  if (s.slot >= 0) free_slots_.push_back(s.slot);
  s.slot = -1;
}

void TrainLoader::stage(Staged& s, int slot) {
  const int64_t N = opt_.batch, S = opt_.size;
  if (slot < 0) {
    s.image = Tensor::empty({N, 3, S, S}, Device::CPU);
    s.saliency = Tensor::empty({N, 1, S, S}, Device::CPU);
    s.aux = Tensor::empty({N, 3, S, S}, Device::CPU);
    s.guidance = Tensor::empty({N, 3, S, S}, Device::CPU);
    s.ptr[0] = s.image.data();
    s.ptr[1] = s.saliency.data();
    s.ptr[2] = s.aux.data();
    s.ptr[3] = s.guidance.data();
    return;
  }
  s.slot = slot;
#ifdef SGSF_WITH_CUDA
  // The buffer's previous batch may still be on its way to the device.
  SG_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)pinned_events_[(size_t)slot]));
#endif
  float* base = pinned_[(size_t)slot];
  s.ptr[0] = base;
  s.ptr[1] = base + N * 3 * S * S;
  s.ptr[2] = base + N * 4 * S * S;
  s.ptr[3] = base + N * 7 * S * S;
}

// Batch b: stream positions b*batch .. b*batch+batch-1. Writes into s.ptr (staged beforehand).
void TrainLoader::build(int64_t b, const std::vector<std::vector<int>>& sets, PermCache& cache,
                        Staged& s) const {
  const int n = num_images(), S = opt_.size;
  const size_t plane = (size_t)S * S;
  s.index = b;
  s.indices.assign((size_t)opt_.batch, 0);
  s.guidance_indices.assign((size_t)opt_.batch, 0);
  s.angles.assign((size_t)opt_.batch, 0.f);
  for (int k = 0; k < opt_.batch; ++k) {
    const int64_t pos = b * opt_.batch + k, epoch = pos / n;
    if (cache.epoch != epoch) {
      cache.perm.resize((size_t)n);
      std::iota(cache.perm.begin(), cache.perm.end(), 0);
      Rng perm_rng(opt_.seed, (uint64_t)epoch);
      perm_rng.shuffle(cache.perm);
      cache.epoch = epoch;
    }
    const int idx = cache.perm[(size_t)(pos % n)];
    Rng rng(opt_.seed, kSampleStream | (uint64_t)pos);
    const bool rotated = rng.bernoulli(opt_.rotate_prob);
    const float angle = rng.uniform(-90.f, 90.f);
    int g = idx;
    if (!sets.empty() && !sets[(size_t)idx].empty()) {
      const auto& set = sets[(size_t)idx];
      g = set[(size_t)rng.randint(0, (int)set.size() - 1)];
    }
    Image aux = aux_.sample(rng, S, S);
    SG_CHECK(aux.channels == 3 && aux.height == S && aux.width == S,
             "TrainLoader: auxiliary texture has the wrong shape");
    s.indices[(size_t)k] = idx;
    s.guidance_indices[(size_t)k] = g;
    s.angles[(size_t)k] = rotated ? angle : 0.f;
    const Image& img = images_[(size_t)idx];
    const Image& sal = saliencies_[(size_t)idx];
    const Image& gui = images_[(size_t)g];
    if (rotated) {
      copy_into(s.ptr[0] + (size_t)k * 3 * plane, rotate(img, angle));
      copy_into(s.ptr[1] + (size_t)k * plane, rotate(sal, angle));
      copy_into(s.ptr[3] + (size_t)k * 3 * plane, opt_.rotate_guidance ? rotate(gui, angle) : gui);
    } else {
      copy_into(s.ptr[0] + (size_t)k * 3 * plane, img);
      copy_into(s.ptr[1] + (size_t)k * plane, sal);
      copy_into(s.ptr[3] + (size_t)k * 3 * plane, gui);
    }
    copy_into(s.ptr[2] + (size_t)k * 3 * plane, aux);
  }
}

void TrainLoader::worker_loop(int id) {
  PermCache cache;
  for (;;) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_work_.wait(lk, [&] {
      return stop_ || (produce_next_ < consume_next_ + opt_.prefetch &&
                       (!staging_pinned() || !free_slots_.empty()));
    });
    if (stop_) return;
    const int64_t b = produce_next_++;
    const uint64_t gen = generation_;
    auto sets = sets_;
    int slot = -1;
    if (staging_pinned()) {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    lk.unlock();

    auto staged = std::make_unique<Staged>();
    std::exception_ptr err;
    try {
      stage(*staged, slot);
      build(b, *sets, cache, *staged);
    } catch (...) {
      err = std::current_exception();
    }
    staged->slot = slot;
    if (!err && slot >= 0) {
      try {
        upload(slot);  // on the copy stream, while the engine's stream runs earlier steps
      } catch (...) {
        err = std::current_exception();
      }
    }
    lk.lock();
    if (gen != generation_ || err) release_locked(*staged);
    if (gen == generation_) {
      if (err) errors_[b] = err;
      else ready_[b] = std::move(staged);
      cv_ready_.notify_all();
    } else {
      cv_work_.notify_all();  // the slot is free again
    }
  }
}

void TrainLoader::upload(int slot) {
#ifdef SGSF_WITH_CUDA
  cudaStream_t cs = (cudaStream_t)copy_stream_;
  // The device slot's previous batch must have been copied out on the engine's stream first.
  SG_CUDA_CHECK(cudaStreamWaitEvent(cs, (cudaEvent_t)consumed_events_[(size_t)slot], 0));
  SG_CUDA_CHECK(cudaMemcpyAsync(device_slots_[(size_t)slot], pinned_[(size_t)slot], slot_bytes_,
                                cudaMemcpyHostToDevice, cs));
  SG_CUDA_CHECK(cudaEventRecord((cudaEvent_t)pinned_events_[(size_t)slot], cs));
#else
  (void)slot;
#endif
}

TrainBatch TrainLoader::finish(Staged& s) {
  TrainBatch out;
  out.batch_index = s.index;
  out.indices = std::move(s.indices);
  out.guidance_indices = std::move(s.guidance_indices);
  out.angles = std::move(s.angles);
  if (s.slot < 0) {
    out.image = s.image;
    out.saliency = s.saliency;
    out.aux = s.aux;
    out.guidance = s.guidance;
    if (opt_.device != Device::CPU) {
      out.image = out.image.to(opt_.device);
      out.saliency = out.saliency.to(opt_.device);
      out.aux = out.aux.to(opt_.device);
      out.guidance = out.guidance.to(opt_.device);
    }
    return out;
  }
  // The slot was uploaded on the copy stream (upload()): the engine's stream waits for that upload,
  // then copies the device slot into the batch's tensors (device to device), and marks the slot
  // read, so the worker's next upload into it waits for that.
  const int64_t N = opt_.batch, S = opt_.size;
  Tensor* dst[4] = {&out.image, &out.saliency, &out.aux, &out.guidance};
  const int64_t ch[4] = {3, 1, 3, 3};
#ifdef SGSF_WITH_CUDA
  SG_CUDA_CHECK(cudaStreamWaitEvent(cuda::stream(), (cudaEvent_t)pinned_events_[(size_t)s.slot], 0));
#endif
  const float* src = device_slots_[(size_t)s.slot];
  for (int i = 0; i < 4; ++i) {
    *dst[i] = Tensor::empty({N, ch[i], S, S}, opt_.device);
    copy_floats(dst[i]->data(), opt_.device, src + (s.ptr[i] - pinned_[(size_t)s.slot]), opt_.device,
                dst[i]->numel());
  }
#ifdef SGSF_WITH_CUDA
  SG_CUDA_CHECK(cudaEventRecord((cudaEvent_t)consumed_events_[(size_t)s.slot], cuda::stream()));
#endif
  {
    std::lock_guard<std::mutex> lk(mu_);
    release_locked(s);
  }
  cv_work_.notify_all();
  return out;
}

TrainBatch TrainLoader::next() {
  if (threads_.empty()) {  // workers == 0: build here
    int64_t b;
    std::shared_ptr<const std::vector<std::vector<int>>> sets;
    int slot = -1;
    {
      std::lock_guard<std::mutex> lk(mu_);
      b = consume_next_++;
      sets = sets_;
      if (staging_pinned()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
      }
    }
    Staged s;
    try {
      stage(s, slot);
      build(b, *sets, *sync_cache_, s);
      if (slot >= 0) upload(slot);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      s.slot = slot;
      release_locked(s);
      --consume_next_;
      throw;
    }
    s.slot = slot;
    return finish(s);
  }
  std::unique_ptr<Staged> s;
  {
    std::unique_lock<std::mutex> lk(mu_);
    const int64_t b = consume_next_;
    cv_ready_.wait(lk, [&] { return ready_.count(b) || errors_.count(b); });
    auto e = errors_.find(b);
    if (e != errors_.end()) {
      std::exception_ptr err = e->second;
      // Start over at this batch if the caller tries again.
      ++generation_;
      for (auto& kv : ready_) release_locked(*kv.second);
      ready_.clear();
      errors_.clear();
      produce_next_ = consume_next_;
      lk.unlock();
      cv_work_.notify_all();
      std::rethrow_exception(err);
    }
    s = std::move(ready_[b]);
    ready_.erase(b);
    ++consume_next_;
  }
  cv_work_.notify_all();
  return finish(*s);
}

// ---- test split -----------------------------------------------------------------------------
std::vector<TestImage> load_test_images(const std::vector<Sample>& samples, int size, int workers) {
  SG_CHECK(size >= 1, "load_test_images: bad size ", size);
  std::vector<TestImage> out(samples.size());
  std::atomic<bool> warned{false};
  parallel_for((int)samples.size(), std::max(1, workers), [&](int i) {
    const Sample& s = samples[(size_t)i];
    TestImage& t = out[(size_t)i];
    int full_h = 0, full_w = 0;
    t.image = read_image_resized(s.path, 3, size, size, &full_h, &full_w);
    t.label = s.label;
    t.path = s.path;
    t.relpath = s.relpath;
    t.defect = s.defect;
    if (s.mask_path.empty()) {
      t.mask = Image(1, size, size, 0.f);
      return;
    }
    int mask_h = 0, mask_w = 0;
    t.mask = read_image_resized(s.mask_path, 1, size, size, &mask_h, &mask_w);
    if ((mask_h != full_h || mask_w != full_w) && !warned.exchange(true))
      std::fprintf(stderr, "warning: mask '%s' is %dx%d but its image is %dx%d; resizing it "
                   "(further mismatches are not reported)\n", s.mask_path.c_str(), mask_w, mask_h,
                   full_w, full_h);
    binarize(t.mask, 0.5f);
  });
  return out;
}

Tensor stack_images(const std::vector<const Image*>& images, Device device) {
  SG_CHECK(!images.empty(), "stack_images: no images");
  const Image& f = *images[0];
  const size_t each = f.pixels.size();
  std::vector<float> host(each * images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const Image& im = *images[i];
    SG_CHECK(im.channels == f.channels && im.height == f.height && im.width == f.width,
             "stack_images: image ", i, " is ", im.channels, "x", im.height, "x", im.width,
             " but image 0 is ", f.channels, "x", f.height, "x", f.width);
    std::memcpy(host.data() + i * each, im.pixels.data(), each * sizeof(float));
  }
  return Tensor::from_host({(int64_t)images.size(), f.channels, f.height, f.width}, host.data(), device);
}

}  // namespace sg::data
