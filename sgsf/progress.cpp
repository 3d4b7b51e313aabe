// progress.cpp — the progress bar of progress.h.
#include "sgsf/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace sg {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = std::lround(s);
  std::ostringstream o;
  if (t >= 3600) o << t / 3600 << "h" << (t % 3600) / 60 << "m";
  else if (t >= 60) o << t / 60 << "m" << t % 60 << "s";
  else o << t << "s";
  return o.str();
}

Progress::Progress(int64_t total, bool enabled)
    : total_(total), enabled_(enabled), tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()), last_(start_ - std::chrono::seconds(10)) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& prefix, const std::string& suffix) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  // Redraw at most 5 times a second on a terminal, every 10 s into a log file.
  double since = std::chrono::duration<double>(now - last_).count();
  if (done < total_ && since < (tty_ ? 0.2 : 10.0)) return;
  last_ = now;
  double frac = total_ > 0 ? (double)done / total_ : 1.0;
  double el = elapsed_seconds();
  double eta = done > 0 ? el / done * (total_ - done) : NAN;
  const int width = 24;
  int fill = (int)std::lround(frac * width);
  std::ostringstream o;
  o << prefix << " [" << std::string((size_t)fill, '#') << std::string((size_t)(width - fill), '.') << "] "
    << (int)std::lround(frac * 100) << "% | " << suffix << " | ETA " << format_duration(eta);
  if (tty_) std::cerr << "\r" << o.str() << "\033[K" << std::flush;
  else std::cerr << o.str() << "\n";
}

void Progress::finish() {
  if (enabled_ && tty_) std::cerr << "\n";
}

}  // namespace sg
