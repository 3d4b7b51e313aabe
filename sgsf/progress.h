// progress.h — a one-line terminal progress bar with throughput and ETA, for long work (training,
// testing). On a terminal it redraws in place; into a log file it prints a line every 10 s.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace sg {

// A one-line progress bar on stderr: "epoch 3/20 [#####.....] 45% | loss 0.123 | 9.8 img/s | ETA 1m20s".
class Progress {
 public:
  explicit Progress(int64_t total, bool enabled = true);
  void update(int64_t done, const std::string& prefix, const std::string& suffix);
  void finish();
  double elapsed_seconds() const;

 private:
  int64_t total_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

std::string format_duration(double seconds);

}  // namespace sg
