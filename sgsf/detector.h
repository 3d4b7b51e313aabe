// detector.h — the public C++ API: load a trained SGSF run folder once, then score images from
// files or from memory. Only the standard library is needed to include this header; link the CMake
// target sgsf::sgsf.
//
//   sg::sgsf::Detector det("runs/bottle");             // or Detector(run, "cuda")
//   sg::sgsf::Detection d = det.detect("part.png");    // or det.detect({rgb, width, height})
//   if (d.defect) ...                                   // d.score, d.normalized, d.map
//
// What a result holds: the anomaly map at the input image's resolution (and at the model's), the
// image score (maximum of the mean-pooled map, the run's --score-pool window, as sgsf_test reports
// it), the normalised score (0.5 at the decision threshold) and the decision (score > threshold). The threshold is the run's
// calibrated one (calibration.json) unless set_threshold() gives another; a run without one has
// has_threshold() false, normalized NaN and defect false until set_threshold() is called.
//
// Images of any size are resized to the model's input size as in testing. Errors (a run folder that
// is missing or inconsistent, an image that cannot be decoded) throw std::runtime_error (sg::Error)
// with a message naming the file.
//
// Thread safety: a Detector may be shared between threads. On the CPU every detect() call of the
// process is scored by one engine thread on all the cores (OMP_NUM_THREADS), and the calls that
// arrive from other threads while it works, for the same Detector, are scored with it as one batch:
// one camera gets every core for each image, several cameras share them by batching. The calling
// threads decode and resize their images themselves, at once. Results are bit for bit those of one
// call after another. On the GPU the calls take turns (one stream). Each Detector computes a
// bank image's guidance features once, on first use, and keeps them (up to 512 MiB; see
// GuidanceCache in sgsf/evaluate.h). set_threshold() and set_batch_size() must not race with
// detect() on the same Detector.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sg::sgsf {

// An 8-bit RGB image in memory, pixels interleaved (R, G, B), rows `stride` bytes apart (0: 3 x width).
struct RgbImage {
  const uint8_t* pixels = nullptr;
  int width = 0, height = 0;
  size_t stride = 0;
};

struct Detection {
  int width = 0, height = 0;      // the input image's size
  std::vector<float> map;         // anomaly map at the input's resolution: height x width, row-major, in [0, 1]
  int map_size = 0;               // the model's input size s
  std::vector<float> model_map;   // the anomaly map at the model's resolution (s x s), as sgsf_test computes it
  float score = 0;                // image score, in [0, 1]
  float normalized = 0;           // 0.5 at the threshold; NaN without a threshold
  bool defect = false;            // score > threshold (false without a threshold)
};

class Detector {
 public:
  // Load a run folder (checkpoint.safetensors, config.json, the guidance bank, calibration.json) on
  // `device`: "cpu", "cuda" or "auto" (the GPU when there is one). `precision`: "fp32", "bf16" (a CPU
  // with AVX512_BF16 or AMX), "tf32" (a GPU) or "auto"; empty = the run's own (fp32 where the device
  // lacks it). Throws naming the mode when the device lacks it.
  explicit Detector(const std::string& run_dir, const std::string& device = "auto", const std::string& precision = "");
  ~Detector();
  Detector(Detector&&) noexcept;
  Detector& operator=(Detector&&) noexcept;
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  Detection detect(const std::string& image_path);  // PNG, JPEG or BMP
  Detection detect(const RgbImage& image);
  // Batches, results in input order: on the GPU scored `batch_size()` at a time; on the CPU image
  // by image, the images spread over the cores (see Thread safety).
  std::vector<Detection> detect_files(const std::vector<std::string>& image_paths);
  std::vector<Detection> detect(const std::vector<RgbImage>& images);

  bool has_threshold() const;
  float threshold() const;          // the decision threshold (0 when there is none)
  void set_threshold(float t);      // in [0, 1]; overrides the calibrated one
  int input_size() const;           // the model's input size s
  int batch_size() const;
  std::string precision() const;    // the mode it computes in: "fp32", "bf16" or "tf32"
  void set_batch_size(int n);       // 1 to 256 (default 8); the GPU's batches (the CPU scores image by image)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Write a detection's map (at the input's resolution) as an 8-bit PGM image, whole or not at all:
// through a fresh temporary file renamed over `path`, every write checked, and never through a
// symlink or over anything but a regular file. Throws std::runtime_error naming the file.
void write_map_pgm(const Detection& detection, const std::string& path);

// A decision threshold given as text ("0.42"): the whole text must be a number from 0 to 1.
// Throws std::runtime_error naming `what` (for example "--threshold") otherwise.
float parse_threshold(const std::string& text, const std::string& what);

}  // namespace sg::sgsf
