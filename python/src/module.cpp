// module.cpp — the extension module sgsf._sgsf: the C++ Detector (sgsf/detector.h) and the programs
// sgsf_train and sgsf_test run in-process (apps/programs.h). python/sgsf/__init__.py is the public
// face: it checks arguments with Python's messages and builds Detection objects from what this
// module returns.
//
// Every call into the engine releases the GIL, so other Python threads run meanwhile; the pixels
// are copied out of the NumPy arrays (and the paths out of the Python strings) first, so nothing
// Python owns is touched without it. C++ exceptions (std::runtime_error, sg::Error) reach Python as
// RuntimeError, range errors of the setters as ValueError.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <signal.h>

#include <array>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "apps/cli.h"
#include "apps/programs.h"
#include "engine/device.h"
#include "engine/file_io.h"
#include "sgsf/detector.h"
#include "sgsf/evaluate.h"

namespace nb = nanobind;
using sg::sgsf::Detection;
using sg::sgsf::Detector;
using sg::sgsf::RgbImage;

namespace {

// An image array as the module accepts it: uint8, (H, W, 3), any strides, on the CPU. No implicit
// conversion (the arguments are taken with noconvert): a float array is refused, not rounded.
using Pixels = nb::ndarray<const uint8_t, nb::ndim<3>, nb::device::cpu>;

// The pixels of one array, packed (rows of 3 x W bytes), copied while the GIL is held.
struct Packed {
  std::vector<uint8_t> rgb;
  int width = 0, height = 0;
};

Packed pack(const Pixels& a, size_t index) {
  const int64_t h = (int64_t)a.shape(0), w = (int64_t)a.shape(1), c = (int64_t)a.shape(2);
  if (c != 3 || h < 1 || w < 1 || h > INT32_MAX || w > INT32_MAX)
    throw nb::value_error(("Detector.detect: image " + std::to_string(index) + " has shape (" + std::to_string(h) +
                           ", " + std::to_string(w) + ", " + std::to_string(c) + "); expected (H, W, 3) with H, W >= 1")
                              .c_str());
  Packed p;
  p.width = (int)w;
  p.height = (int)h;
  p.rgb.resize((size_t)(h * w * 3));
  const int64_t sy = a.stride(0), sx = a.stride(1), sc = a.stride(2);  // in elements (bytes)
  const uint8_t* src = a.data();
  uint8_t* dst = p.rgb.data();
  if (sc == 1 && sx == 3) {
    for (int64_t y = 0; y < h; ++y) std::memcpy(dst + y * w * 3, src + y * sy, (size_t)(w * 3));
  } else {
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t k = 0; k < 3; ++k) dst[(y * w + x) * 3 + k] = src[y * sy + x * sx + k * sc];
  }
  return p;
}

// A float32 NumPy array (rows x cols) that owns `v`.
nb::object to_numpy(std::vector<float>&& v, size_t rows, size_t cols) {
  auto* owned = new std::vector<float>(std::move(v));
  nb::capsule owner(owned, [](void* q) noexcept { delete static_cast<std::vector<float>*>(q); });
  const size_t shape[2] = {rows, cols};
  return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<2>>(owned->data(), 2, shape, owner));
}

// A detection as a tuple: (map, model_map, score, normalized, defect).
nb::list to_python(std::vector<Detection>&& all) {
  nb::list out;
  for (Detection& d : all) {
    const size_t s = (size_t)d.map_size;
    out.append(nb::make_tuple(to_numpy(std::move(d.map), (size_t)d.height, (size_t)d.width),
                              to_numpy(std::move(d.model_map), s, s), d.score, d.normalized, d.defect));
  }
  return out;
}

nb::list detect_arrays(Detector& det, const nb::list& arrays) {
  std::vector<Packed> packed;
  packed.reserve(arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    Pixels a;
    if (!nb::try_cast<Pixels>(arrays[i], a, false))
      throw nb::type_error(("Detector.detect: image " + std::to_string(i) +
                            " is not a uint8 array of shape (H, W, 3) on the CPU")
                               .c_str());
    packed.push_back(pack(a, i));
  }
  std::vector<Detection> result;
  {
    nb::gil_scoped_release released;
    std::vector<RgbImage> images;
    images.reserve(packed.size());
    for (const Packed& p : packed) images.push_back({p.rgb.data(), p.width, p.height, 0});
    result = det.detect(images);
  }
  return to_python(std::move(result));
}

nb::list detect_files(Detector& det, const std::vector<std::string>& paths) {
  std::vector<Detection> result;
  {
    nb::gil_scoped_release released;
    result = det.detect_files(paths);
  }
  return to_python(std::move(result));
}

// A program's run in this process: the signal handlers it installs, the program name its folder
// locks record and the deterministic switch it may turn on are put back afterwards, so that
// Python's own Ctrl-C handling returns and a later call starts as the first did.
class ProgramScope {
 public:
  ProgramScope() : name_(sg::program_name()), deterministic_(sg::deterministic()) {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], nullptr, &saved_[i]);
  }
  ~ProgramScope() {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &saved_[i], nullptr);
    sg::set_program_name(name_);
    sg::set_deterministic(deterministic_);
  }

 private:
  static constexpr std::array<int, 3> kSignals = {SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> saved_{};
  std::string name_;
  bool deterministic_;
};

// Runs sgsf_train or sgsf_test with `args` (its options; argv[0] is added). Returns (exit code, the
// error line it printed, empty when none).
nb::tuple run_program(const std::string& program, const std::vector<std::string>& args) {
  int (*body)(int, char**) = nullptr;
  if (program == "sgsf_train") body = sg::cli::sgsf_train_main;
  else if (program == "sgsf_test") body = sg::cli::sgsf_test_main;
  else throw nb::value_error(("unknown program '" + program + "' (sgsf_train or sgsf_test)").c_str());
  std::vector<std::string> argv_strings;
  argv_strings.push_back(program);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  int status = 0;
  std::string error;
  {
    nb::gil_scoped_release released;
    std::lock_guard<std::mutex> lock(sg::sgsf::engine_lock());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    {
      ProgramScope scope;
      status = body((int)argv_strings.size(), argv.data());
      error = status == 0 ? std::string() : sg::cli::last_error();
    }
    std::cout.flush();
    std::cerr.flush();
    std::fflush(stdout);
    std::fflush(stderr);
  }
  return nb::make_tuple(status, error);
}

}  // namespace

NB_MODULE(_sgsf, m) {
  m.doc() = "The SGSF engine (C++): the Detector API and the programs sgsf_train and sgsf_test, in-process. "
            "Use the package sgsf, not this module.";
#ifdef SGSF_PYTHON_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif

  nb::class_<Detector>(m, "Detector")
      .def(
          "__init__",
          [](Detector* self, const std::string& run_dir, const std::string& device, const std::string& precision) {
            nb::gil_scoped_release released;
            new (self) Detector(run_dir, device, precision);
          },
          nb::arg("run_dir"), nb::arg("device") = "auto", nb::arg("precision") = "")
      .def("detect_arrays", &detect_arrays, nb::arg("arrays"))
      .def("detect_files", &detect_files, nb::arg("paths"))
      .def("has_threshold", &Detector::has_threshold)
      .def("threshold", &Detector::threshold)
      .def(
          "set_threshold",
          [](Detector& d, float t) {
            try {
              d.set_threshold(t);
            } catch (const std::exception& e) {
              throw nb::value_error(e.what());
            }
          },
          nb::arg("threshold"))
      .def("input_size", &Detector::input_size)
      .def("batch_size", &Detector::batch_size)
      .def(
          "set_batch_size",
          [](Detector& d, int n) {
            try {
              d.set_batch_size(n);
            } catch (const std::exception& e) {
              throw nb::value_error(e.what());
            }
          },
          nb::arg("n"))
      .def("precision", &Detector::precision);

  m.def("run_program", &run_program, nb::arg("program"), nb::arg("args"),
        "Run sgsf_train or sgsf_test in this process; returns (exit code, error line).");
}
