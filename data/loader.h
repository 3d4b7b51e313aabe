// loader.h — turns a dataset's training images into batches for SGSF training, and loads the test
// split (images + masks) for evaluation.
//
// Training stream (sgsf/README.md, 'Data'): every training image is decoded, resized (antialiased)
// to size x size and given its saliency map once, at construction. Batches come from a continuous
// shuffled stream: epoch e is the permutation of the images drawn from Rng(seed, e), and batch b
// holds stream items b*batch .. b*batch+batch-1 (no partial batch). Each sample's randomness —
// rotation (probability rotate_prob, angle U(-90, 90), applied to the image, its saliency map and,
// when rotate_guidance, its guidance image), the guidance draw from the image's contrast set and
// the auxiliary texture B — comes from an Rng keyed by (seed, stream position). A batch is thus a
// pure function of (seed, batch index, contrast sets): identical for any number of workers. Worker
// threads build batches ahead into a bounded queue (prefetch batches); on CUDA the host side is
// staged in pinned memory and uploaded by the worker that built it, on a copy stream of the
// loader's own, into a device buffer of the same slot, so the upload overlaps the steps still
// running on the engine's stream; next() orders the engine's stream after that upload (an event)
// and copies the slot into the batch's tensors there (device to device).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/image.h"
#include "data/saliency.h"
#include "data/textures.h"
#include "engine/tensor.h"

namespace sg::data {

struct LoaderOptions {
  int size = 256;               // images are resized to size x size
  int batch = 16;
  uint64_t seed = 0;
  int workers = 2;              // 0: batches are built on the calling thread, in next()
  float rotate_prob = 0.3f;
  bool rotate_guidance = true;  // rotate the guidance image with its training image
  SaliencyMode saliency = SaliencyMode::Border;
  std::string saliency_dir;     // SaliencyMode::File: maps mirroring the dataset's relative paths
  Device device = Device::CPU;  // where the batch tensors are put
  int prefetch = 4;             // batches built ahead (at least 1)
};

struct TrainBatch {
  Tensor image;     // (N, 3, H, W)  the (possibly rotated) training images A
  Tensor saliency;  // (N, 1, H, W)  their saliency maps S, rotated alike
  Tensor aux;       // (N, 3, H, W)  auxiliary textures B
  Tensor guidance;  // (N, 3, H, W)  contrast images (the image itself without contrast sets)
  std::vector<int> indices;           // training-image index of each sample
  std::vector<int> guidance_indices;  // training-image index of each guidance image
  std::vector<float> angles;          // rotation of each sample in degrees (0 when not rotated)
  int64_t batch_index = 0;
};

class TrainLoader {
 public:
  // `aux` must outlive the loader. Throws sg::Error naming the file for an unreadable image or a
  // missing saliency map (SaliencyMode::File).
  TrainLoader(std::vector<Sample> train, LoaderOptions opt, const AuxiliaryTextures& aux);
  TrainLoader(std::vector<Sample>, LoaderOptions, AuxiliaryTextures&&) = delete;  // would dangle
  ~TrainLoader();
  TrainLoader(const TrainLoader&) = delete;
  TrainLoader& operator=(const TrainLoader&) = delete;

  int num_images() const { return (int)images_.size(); }
  const Image& image(int i) const { return images_.at((size_t)i); }        // (3, size, size)
  const Image& saliency(int i) const { return saliencies_.at((size_t)i); }  // (1, size, size)
  const Sample& sample(int i) const { return samples_.at((size_t)i); }
  int saliency_fallbacks() const { return fallbacks_; }  // images whose map fell back to S = 1
  const LoaderOptions& options() const { return opt_; }

  // One set of training-image indices per image (or none at all, to clear them): the guidance
  // image of image i is drawn uniformly from sets[i] (itself when sets[i] is empty). Throws on an
  // index out of range or a count that is not num_images(). Discards prefetched batches; production
  // restarts at the next batch index.
  void set_contrast_sets(std::vector<std::vector<int>> sets);
  // Position the stream so that the next batch is `batch_index` (for resuming).
  void seek(int64_t batch_index);
  // The next batch; rethrows an exception a worker met while building it.
  TrainBatch next();
  // floor(images / batch), at least 1.
  int64_t batches_per_epoch() const;

 private:
  struct Staged;  // one batch built on the host
  struct PermCache;
  void worker_loop(int id);
  void build(int64_t b, const std::vector<std::vector<int>>& sets, PermCache& cache, Staged& out) const;
  void stage(Staged& s, int slot);   // allocate the batch's host storage (tensors or a pinned slot)
  TrainBatch finish(Staged& s);      // host storage -> tensors on opt_.device
  void release_locked(Staged& s);    // give a discarded batch's pinned slot back
  void upload(int slot);             // CUDA: pinned slot -> device slot, on the copy stream
  bool staging_pinned() const { return opt_.device == Device::CUDA; }

  std::vector<Sample> samples_;
  LoaderOptions opt_;
  const AuxiliaryTextures& aux_;
  std::vector<Image> images_, saliencies_;
  int fallbacks_ = 0;

  // Production state, guarded by mu_.
  std::mutex mu_;
  std::condition_variable cv_work_, cv_ready_;
  std::shared_ptr<const std::vector<std::vector<int>>> sets_;
  int64_t consume_next_ = 0, produce_next_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::map<int64_t, std::unique_ptr<Staged>> ready_;
  std::map<int64_t, std::exception_ptr> errors_;
  // CUDA staging: pinned host buffers (one batch each) and a device buffer per slot; per slot an
  // event marking the end of its last upload (the pinned buffer may be refilled, the device one
  // read) and one marking the end of its last read on the engine's stream (the device buffer may be
  // overwritten); the copy stream; the slots not in use.
  std::vector<float*> pinned_, device_slots_;
  std::vector<void*> pinned_events_, consumed_events_;
  void* copy_stream_ = nullptr;
  size_t slot_bytes_ = 0;
  std::vector<int> free_slots_;
  std::vector<std::thread> threads_;
  std::unique_ptr<PermCache> sync_cache_;  // for workers == 0
};

// A test image with its ground truth, resized for evaluation.
struct TestImage {
  Image image;  // (3, size, size)
  Image mask;   // (1, size, size) in {0,1}; zeros for normal images without a mask
  int label = 0;
  std::string path, relpath, defect;
};

// Decode and resize the test images (and masks: resized the same way, then >= 0.5). A mask whose
// size differs from its image is resized too, with one warning on stderr. Throws naming the file
// for an unreadable image or mask.
std::vector<TestImage> load_test_images(const std::vector<Sample>& samples, int size, int workers = 2);

// Stack same-shaped images into one (N, C, H, W) tensor on `device`.
Tensor stack_images(const std::vector<const Image*>& images, Device device);

}  // namespace sg::data
