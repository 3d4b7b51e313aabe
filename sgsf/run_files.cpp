// run_files.cpp — training log lines, window statistics and forged-sample previews.
#include "sgsf/run_files.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/image_io.h"
#include "engine/common.h"
#include "sgsf/progress.h"

namespace sg::sgsf {

namespace {
// The lines of an existing log up to iteration `last` (each line starts {"iteration": N, ...).
std::string log_lines_through(const std::string& path, int64_t last) {
  std::ifstream in(path);
  std::string kept, line;
  const std::string key = "{\"iteration\": ";
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0 && std::strtoll(line.c_str() + key.size(), nullptr, 10) > last) break;
    kept += line + "\n";
  }
  return kept;
}
}  // namespace

RunLog::RunLog(const std::string& path, bool append, int64_t resume_from) {
  // When resuming, rewrite the kept lines through a temporary file, so a crash loses none of them.
  if (append) write_file_atomic(path, log_lines_through(path, resume_from));
  f_ = AppendFile(path, !append);
}

void RunLog::write(const std::string& line) { f_.append(line + "\n"); }

void WindowStats::add(float loss, float l2, float ssim, float focal, float mask_area, float nonempty,
                      int segmenting) {
  loss_ += loss;
  l2_ += l2;
  ssim_ += ssim;
  focal_ += focal;
  area_ += mask_area;
  nonempty_ += nonempty;
  n_ += 1;
  seg_n_ += segmenting;
}

static std::string num(double v, int digits = 4) {
  std::ostringstream o;
  o.precision(digits);
  o << v;
  return o.str();
}

std::string WindowStats::progress_text(double elapsed, int64_t done, int batch) const {
  std::ostringstream o;
  if (n_ == 0) {  // nothing read back yet: no loss to show (not a loss of 0)
    o << "loss - | " << num(elapsed > 0 ? (double)done * batch / elapsed : 0, 3) << " img/s";
    return o.str();
  }
  const double n = (double)n_;
  o << "loss " << num(loss_ / n) << " (l2 " << num(l2_ / n, 3) << " ssim " << num(ssim_ / n, 3);
  if (seg_n_) o << " focal " << num(focal_ / (double)seg_n_, 3);
  o << ") | " << num(elapsed > 0 ? (double)done * batch / elapsed : 0, 3) << " img/s";
  return o.str();
}

std::string WindowStats::json_line(int64_t iteration, int64_t epoch, float lr, double elapsed, int64_t done,
                                   int batch, int fallbacks) const {
  double n = n_ ? (double)n_ : 1.0, s = seg_n_ ? (double)seg_n_ : 1.0;
  std::ostringstream o;
  o << "{\"iteration\": " << iteration << ", \"epoch\": " << epoch << ", \"lr\": " << lr
    << ", \"loss\": " << loss_ / n << ", \"l2\": " << l2_ / n << ", \"ssim\": " << ssim_ / n
    << ", \"focal\": " << (seg_n_ ? focal_ / s : 0) << ", \"phase\": \"" << (seg_n_ ? "joint" : "warm-up")
    << "\", \"mask_area\": " << (seg_n_ ? area_ / s : 0) << ", \"mask_nonempty\": " << (seg_n_ ? nonempty_ / s : 0)
    << ", \"saliency_fallbacks\": " << fallbacks << ", \"images_per_s\": "
    << (elapsed > 0 ? (double)done * batch / elapsed : 0) << ", \"elapsed_s\": " << elapsed << "}";
  return o.str();
}

int save_forged_samples(const std::string& out_dir, const data::TrainBatch& batch, const Forged& forged, int max_count) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(out_dir) / "forged";
  fs::create_directories(dir);
  const int64_t n = batch.image.size(0), h = batch.image.size(2), w = batch.image.size(3);
  std::vector<float> A = batch.image.to_vector(), S = batch.saliency.to_vector(), B = batch.aux.to_vector(),
                     M = forged.mask.to_vector(), I = forged.image.to_vector();
  int written = 0;
  static int counter = 0;
  // Samples with a forged region first: they are the ones worth looking at.
  std::vector<int64_t> order;
  const std::vector<float> fraction = forged.mask_fraction();
  for (int64_t k = 0; k < n; ++k)
    if (fraction[(size_t)k] > 0) order.push_back(k);
  for (int64_t k = 0; k < n; ++k)
    if (!(fraction[(size_t)k] > 0)) order.push_back(k);
  for (int64_t k : order) {
    if (written >= max_count) break;
    ++written;
    data::Image panel(3, (int)h, (int)(5 * w));
    const size_t plane = (size_t)(h * w);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          size_t rgb = (size_t)(k * 3 + c) * plane + (size_t)(y * w + x), one = (size_t)k * plane + (size_t)(y * w + x);
          panel.at(c, (int)y, (int)x) = A[rgb];
          panel.at(c, (int)y, (int)(w + x)) = S[one];
          panel.at(c, (int)y, (int)(2 * w + x)) = B[rgb];
          panel.at(c, (int)y, (int)(3 * w + x)) = M[one];
          panel.at(c, (int)y, (int)(4 * w + x)) = I[rgb];
        }
    data::write_png((dir / ("forged_" + std::to_string(counter++) + ".png")).string(), panel);
  }
  return written;
}

}  // namespace sg::sgsf
