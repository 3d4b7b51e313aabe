// detect_example — the Detector API (sgsf/detector.h) in a small program: load a trained run,
// score image files, print each image's decision and write its anomaly map as a PGM image.
//
//   sgsf_detect_example RUN_DIR IMAGE... [--threshold T]
//
// It includes nothing of the project but sgsf/detector.h, and links the CMake target sgsf::sgsf.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "sgsf/detector.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " RUN_DIR IMAGE... [--threshold T]\n";
    return 2;
  }
  try {
    sg::sgsf::Detector detector(argv[1]);  // loads the run once ("cpu", "cuda" or "auto" as 2nd argument)
    std::vector<std::string> images;
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--threshold") {
        if (i + 1 >= argc) throw std::runtime_error("--threshold expects a number from 0 to 1");
        detector.set_threshold(sg::sgsf::parse_threshold(argv[++i], "--threshold"));
      } else {
        images.push_back(a);
      }
    }
    if (images.empty()) throw std::runtime_error("no image given");
    if (!detector.has_threshold()) std::cerr << "note: the run has no calibrated threshold; pass --threshold\n";
    std::vector<sg::sgsf::Detection> results = detector.detect_files(images);
    for (size_t i = 0; i < images.size(); ++i) {
      const sg::sgsf::Detection& d = results[i];
      std::printf("%s\t%s\tscore %.4f\tnormalised %.3f\n", images[i].c_str(),
                  !detector.has_threshold() ? "-" : d.defect ? "defect" : "ok", d.score, d.normalized);
      // The map at the image's own resolution, as an 8-bit PGM next to the image (whole or not at all).
      sg::sgsf::write_map_pgm(d, images[i] + ".map.pgm");
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) throw std::runtime_error("cannot write the results to standard output");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << argv[0] << ": error: " << e.what() << "\n";
    return 1;
  }
}
