// bench_loader.cpp — throughput of the training data loader alone (decode once, then per batch:
// rotation, texture draw + 3 augmenters, guidance, stacking), in images/s, for 1 and 2 workers.
// Data: the built-in dataset generated into a temporary folder; procedural textures (or --textures
// DIR); border saliency. Prints a table, or JSON with --json.
//   bench_loader [--size 256] [--batch 16] [--batches 20] [--workers 1,2] [--textures DIR] [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "data/builtin.h"
#include "data/loader.h"
#include "engine/common.h"

using namespace sg;
using namespace sg::data;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int main(int argc, char** argv) {
  int size = 256, batch = 16, batches = 20;
  std::vector<int> workers = {1, 2};
  std::string textures;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_loader: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--size") size = std::atoi(value().c_str());
    else if (a == "--batch") batch = std::atoi(value().c_str());
    else if (a == "--batches") batches = std::atoi(value().c_str());
    else if (a == "--textures") textures = value();
    else if (a == "--json") json = true;
    else if (a == "--workers") {
      workers.clear();
      std::stringstream ss(value());
      for (std::string w; std::getline(ss, w, ',');) workers.push_back(std::atoi(w.c_str()));
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: bench_loader [--size 256] [--batch 16] [--batches 20] [--workers 1,2] "
                  "[--textures DIR] [--json]\n");
      return 0;
    } else {
      std::fprintf(stderr, "bench_loader: unknown option %s (try --help)\n", a.c_str());
      return 2;
    }
  }
  try {
    namespace fs = std::filesystem;
    fs::path root = fs::temp_directory_path() / "sgsf_bench_loader";
    auto t0 = Clock::now();
    if (!builtin_dataset_present(root.string())) generate_builtin_dataset(root.string());
    double gen_s = seconds_since(t0);
    Dataset ds = open_dataset(builtin_category_path(root.string()));
    AuxiliaryTextures aux = textures.empty() ? AuxiliaryTextures::procedural()
                                             : AuxiliaryTextures::from_folder(textures);
    struct Row {
      int workers;
      double init_s, images_per_s, ms_per_batch;
    };
    std::vector<Row> rows;
    for (int w : workers) {
      LoaderOptions o;
      o.size = size;
      o.batch = batch;
      o.workers = w;
      o.seed = 1;
      auto t1 = Clock::now();
      TrainLoader loader(ds.train, o, aux);
      double init_s = seconds_since(t1);
      for (int b = 0; b < 2; ++b) loader.next();  // warm-up (fills the prefetch queue)
      // Median of 3 timed runs of `batches` batches each.
      std::vector<double> runs;
      for (int r = 0; r < 3; ++r) {
        auto t2 = Clock::now();
        for (int b = 0; b < batches; ++b) loader.next();
        runs.push_back(seconds_since(t2));
      }
      std::sort(runs.begin(), runs.end());
      double s = runs[1];
      rows.push_back({w, init_s, batches * batch / s, 1000.0 * s / batches});
    }
    if (json) {
      std::printf("{\"size\": %d, \"batch\": %d, \"train_images\": %zu, \"textures\": \"%s\", "
                  "\"saliency\": \"border\", \"dataset_generation_s\": %.3f, \"results\": [",
                  size, batch, ds.train.size(), textures.empty() ? "procedural" : "folder", gen_s);
      for (size_t i = 0; i < rows.size(); ++i)
        std::printf("%s{\"workers\": %d, \"init_s\": %.3f, \"images_per_s\": %.1f, \"ms_per_batch\": %.2f}",
                    i ? ", " : "", rows[i].workers, rows[i].init_s, rows[i].images_per_s,
                    rows[i].ms_per_batch);
      std::printf("]}\n");
    } else {
      std::printf("loader throughput: %zu built-in training images at %dx%d, batch %d, %s textures, "
                  "border saliency\n", ds.train.size(), size, size, batch,
                  textures.empty() ? "procedural" : "folder");
      std::printf("%8s %12s %12s %14s\n", "workers", "init (s)", "images/s", "ms/batch");
      for (const auto& r : rows)
        std::printf("%8d %12.2f %12.1f %14.2f\n", r.workers, r.init_s, r.images_per_s, r.ms_per_batch);
      std::printf("(init = decode + resize + saliency of every training image, once; images/s = "
                  "median of 3 runs of %d batches)\n", batches);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: %s\n", e.what());
    return 1;
  }
  return 0;
}
