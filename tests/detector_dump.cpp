// detector_dump.cpp — what the C++ Detector API (sgsf/detector.h) gives for a list of images, written
// raw for tests/python_check.py, which compares the Python package's results with it bit for bit.
//
// Usage: sgsf_detector_dump RUN_DIR OUT_DIR [--batch N] [--threshold T] IMAGE...
// Loads RUN_DIR on the CPU, then scores the images twice: from their files (detect_files) and from
// their decoded 8-bit RGB pixels in memory (detect(std::vector<RgbImage>)), each as one call. Writes
//   OUT_DIR/meta.json    the Detector's settings and each image's path and size;
//   OUT_DIR/pixels.bin   each image's pixels, uint8, H x W x 3, one image after another;
//   OUT_DIR/files.bin, OUT_DIR/arrays.bin   per image, float32: score, normalized, defect (0 or 1),
//                        then the map (H x W), then the model map (s x s).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "data/image_io.h"
#include "engine/json_subset.h"
#include "sgsf/detector.h"

namespace {

void write_results(const std::string& path, const std::vector<sg::sgsf::Detection>& all) {
  std::ofstream f(path, std::ios::binary);
  for (const auto& d : all) {
    const float head[3] = {d.score, d.normalized, d.defect ? 1.f : 0.f};
    f.write(reinterpret_cast<const char*>(head), sizeof head);
    f.write(reinterpret_cast<const char*>(d.map.data()), (std::streamsize)(d.map.size() * sizeof(float)));
    f.write(reinterpret_cast<const char*>(d.model_map.data()), (std::streamsize)(d.model_map.size() * sizeof(float)));
  }
  if (!f) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 4) {
      std::cerr << "usage: sgsf_detector_dump RUN_DIR OUT_DIR [--batch N] [--threshold T] IMAGE...\n";
      return 2;
    }
    const std::string run = argv[1], out = argv[2];
    int batch = 0;
    std::string threshold;
    std::vector<std::string> paths;
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--batch" && i + 1 < argc) batch = std::stoi(argv[++i]);
      else if (a == "--threshold" && i + 1 < argc) threshold = argv[++i];
      else paths.push_back(a);
    }
    sg::sgsf::Detector det(run, "cpu");
    if (batch > 0) det.set_batch_size(batch);
    if (!threshold.empty()) det.set_threshold(sg::sgsf::parse_threshold(threshold, "--threshold"));

    // The pixels as an application would hold them: 8-bit RGB, interleaved.
    std::vector<std::vector<uint8_t>> pixels;
    std::vector<sg::sgsf::RgbImage> images;
    std::ofstream pix(out + "/pixels.bin", std::ios::binary);
    for (const auto& p : paths) {
      const sg::data::Image im = sg::data::read_image(p, 3);
      std::vector<uint8_t> rgb = sg::data::interleaved_u8(im);
      pix.write(reinterpret_cast<const char*>(rgb.data()), (std::streamsize)rgb.size());
      pixels.push_back(std::move(rgb));
      images.push_back({pixels.back().data(), im.width, im.height, 0});
    }
    if (!pix) throw std::runtime_error("cannot write " + out + "/pixels.bin");

    const std::vector<sg::sgsf::Detection> from_files = det.detect_files(paths);
    const std::vector<sg::sgsf::Detection> from_arrays = det.detect(images);
    write_results(out + "/files.bin", from_files);
    write_results(out + "/arrays.bin", from_arrays);

    std::ofstream meta(out + "/meta.json");
    char t[32];
    std::snprintf(t, sizeof t, "%.9g", det.threshold());
    meta << "{\"input_size\": " << det.input_size() << ", \"batch_size\": " << det.batch_size()
         << ", \"precision\": " << sg::json::quote(det.precision()) << ", \"has_threshold\": "
         << (det.has_threshold() ? "true" : "false") << ", \"threshold\": " << t << ", \"images\": [";
    for (size_t i = 0; i < paths.size(); ++i)
      meta << (i ? ", " : "") << "{\"path\": " << sg::json::quote(paths[i]) << ", \"width\": " << from_files[i].width
           << ", \"height\": " << from_files[i].height << "}";
    meta << "]}\n";
    if (!meta) throw std::runtime_error("cannot write " + out + "/meta.json");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "sgsf_detector_dump: error: " << e.what() << "\n";
    return 1;
  }
}
