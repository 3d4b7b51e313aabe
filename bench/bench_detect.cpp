// bench_detect.cpp — scoring throughput of the Detector API from several threads at once, as a
// process serving several cameras runs it: every thread takes the next image (decoded beforehand,
// 8-bit RGB in memory) and calls detect() on it, one image per call, until all are scored.
//
//   bench_detect --run RUN_DIR IMAGE... [--threads 1,2,4] [--repeats 3] [--passes 4] [--json [--scores]]
//
// Each thread count is timed `repeats` times over `passes` passes through the images; the median
// time gives images/s. The results of every threaded pass are checked against one call after
// another (bit for bit), so a number never comes from wrong answers. bench/detect_scaling.py runs
// this beside ONNX Runtime on the run's exported model; --scores adds each image's score to the JSON
// (for its check that both compute the same thing).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/image_io.h"
#include "engine/common.h"
#include "sgsf/detector.h"

using namespace sg;

namespace {

struct Rgb {
  std::vector<uint8_t> pixels;
  int width = 0, height = 0;
};

Rgb load_rgb(const std::string& path) {
  const data::Image im = data::read_image(path, 3);
  return Rgb{data::interleaved_u8(im), im.width, im.height};
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    SG_CHECK(!item.empty() && item.find_first_not_of("0123456789") == std::string::npos,
             "--threads expects a list of positive integers such as 1,2,4, got '", text, "'");
    const int n = std::stoi(item);
    SG_CHECK(n >= 1 && n <= 256, "--threads: ", n, " is not from 1 to 256");
    v.push_back(n);
  }
  SG_CHECK(!v.empty(), "--threads expects a list such as 1,2,4");
  return v;
}

int parse_count(const std::string& opt, const std::string& text) {
  SG_CHECK(!text.empty() && text.find_first_not_of("0123456789") == std::string::npos && text.size() < 6,
           opt, " expects a positive integer, got '", text, "'");
  const int n = std::stoi(text);
  SG_CHECK(n >= 1, opt, " expects a positive integer, got '", text, "'");
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string run;
    std::vector<std::string> files;
    std::vector<int> threads{1, 2, 4};
    int repeats = 3, passes = 4;
    bool json = false, scores = false;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        SG_CHECK(i + 1 < argc, a, " expects a value");
        return argv[++i];
      };
      if (a == "--run") run = value();
      else if (a == "--threads") threads = parse_list(value());
      else if (a == "--repeats") repeats = parse_count(a, value());
      else if (a == "--passes") passes = parse_count(a, value());
      else if (a == "--json") json = true;
      else if (a == "--scores") scores = true;
      else if (a.rfind("--", 0) == 0) throw Error(str("unknown option ", a));
      else files.push_back(a);
    }
    SG_CHECK(!run.empty() && !files.empty(), "usage: bench_detect --run RUN_DIR IMAGE... [--threads 1,2,4] "
                                             "[--repeats 3] [--passes 4] [--json]");
    std::vector<Rgb> images;
    for (const auto& f : files) images.push_back(load_rgb(f));
    sgsf::Detector det(run, "cpu");
    auto rgb = [&](size_t i) { return sgsf::RgbImage{images[i].pixels.data(), images[i].width, images[i].height, 0}; };
    std::vector<sgsf::Detection> ref;  // one call after another
    for (size_t i = 0; i < images.size(); ++i) ref.push_back(det.detect(rgb(i)));

    const size_t total = images.size() * (size_t)passes;
    std::string rows;
    for (int t : threads) {
      std::vector<double> secs;
      for (int r = 0; r < repeats; ++r) {
        std::atomic<size_t> next{0};
        std::atomic<int64_t> mismatches{0};
        std::vector<std::string> errors((size_t)t);
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int k = 0; k < t; ++k)
          pool.emplace_back([&, k] {
            try {
              for (size_t j; (j = next++) < total;) {
                const size_t i = j % images.size();
                const sgsf::Detection d = det.detect(rgb(i));
                if (d.model_map != ref[i].model_map || d.score != ref[i].score) ++mismatches;
              }
            } catch (const std::exception& e) {
              errors[(size_t)k] = e.what();
            }
          });
        for (auto& th : pool) th.join();
        secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        for (const auto& e : errors) SG_CHECK(e.empty(), "a scoring thread failed: ", e);
        SG_CHECK(mismatches == 0, mismatches.load(), " results from ", t, " threads differ from one call after another");
      }
      std::sort(secs.begin(), secs.end());
      const double med = secs[secs.size() / 2], ips = (double)total / med;
      if (json) rows += str(rows.empty() ? "" : ", ", "{\"threads\": ", t, ", \"images_per_s\": ", ips, ", \"seconds\": ", med, "}");
      else std::printf("%d thread%s: %.1f images/s (median of %d runs of %zu images)\n", t, t == 1 ? " " : "s", ips,
                       repeats, total);
    }
    if (json) {
      std::string list;
      for (size_t i = 0; scores && i < ref.size(); ++i) list += str(i ? ", " : "", ref[i].score);
      std::printf("{\"images\": %zu, \"input_size\": %d, \"hardware_threads\": %u, \"rows\": [%s]%s}\n",
                  images.size(), det.input_size(), std::thread::hardware_concurrency(), rows.c_str(),
                  scores ? str(", \"scores\": [", list, "]").c_str() : "");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_detect: error: %s\n", e.what());
    return 1;
  }
}
