// run_files.h — what a training run writes besides checkpoints: the JSON-lines log, running means
// of the loss terms for the progress bar, and forged samples as PNG for a person to look at.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

#include "data/loader.h"
#include "engine/file_io.h"
#include "sgsf/sgsf_ops.h"

namespace sg::sgsf {

// Appends one JSON object per line to <out>/train_log.jsonl (truncated unless resuming). Every write
// is checked: a failed one (a full disk) is cut off again and throws naming the file.
class RunLog {
 public:
  // When appending, lines logged after iteration `resume_from` are dropped first: a run that
  // stopped without saving at its end (killed, or diverged after a periodic checkpoint) repeats
  // those iterations, so the log keeps one line per iteration.
  RunLog(const std::string& path, bool append, int64_t resume_from = 0);
  void write(const std::string& json_line);

 private:
  AppendFile f_;
};

// Means of the loss terms and SAM statistics over the iterations since the last reset().
class WindowStats {
 public:
  void add(float loss, float l2, float ssim, float focal, float mask_area, float nonempty, int segmenting);
  float mean_loss() const { return n_ ? (float)(loss_ / n_) : 0.f; }
  std::string progress_text(double elapsed, int64_t iterations_done, int batch) const;
  std::string json_line(int64_t iteration, int64_t epoch, float lr, double elapsed, int64_t iterations_done,
                        int batch, int saliency_fallbacks) const;
  void reset() { *this = WindowStats(); }

 private:
  double loss_ = 0, l2_ = 0, ssim_ = 0, focal_ = 0, area_ = 0, nonempty_ = 0;
  int64_t n_ = 0, seg_n_ = 0;
};

// Write up to `max_count` samples of a forged batch as <out>/forged/<k>.png: the normal image, its
// saliency map, the auxiliary texture, the mask and the forged image side by side. Returns how many.
int save_forged_samples(const std::string& out_dir, const data::TrainBatch& batch, const Forged& forged, int max_count);

}  // namespace sg::sgsf
