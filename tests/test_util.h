// test_util.h — shared helpers for the doctest suites: tolerant comparison that reports where it
// failed, a finite-difference gradient check, and the skip guard of `gpu`-labelled tests.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace sg::test {

// |a - b| <= atol + rtol * |b| everywhere; on failure, report the max error and the first bad index.
inline bool all_close(const std::vector<float>& a, const std::vector<float>& b, float atol,
                      float rtol, std::string* report = nullptr) {
  if (a.size() != b.size()) {
    if (report) *report = "sizes differ: " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    return false;
  }
  double max_err = 0;
  long first = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::fabs((double)a[i] - (double)b[i]);
    bool bad = !(err <= atol + rtol * std::fabs((double)b[i]));  // NaN counts as bad
    if (bad && first < 0) first = (long)i;
    if (err > max_err || std::isnan(err)) max_err = std::isnan(err) ? INFINITY : err;
  }
  if (report) {
    std::ostringstream o;
    o << "max |a-b| = " << max_err;
    if (first >= 0) o << "; first mismatch at " << first << ": " << a[(size_t)first] << " vs " << b[(size_t)first];
    *report = o.str();
  }
  return first < 0;
}

#define SG_CHECK_CLOSE(a, b, atol, rtol)                               \
  do {                                                                 \
    std::string sg_report_;                                            \
    bool sg_ok_ = ::sg::test::all_close((a), (b), (atol), (rtol), &sg_report_); \
    INFO(sg_report_);                                                  \
    CHECK(sg_ok_);                                                     \
  } while (0)

// Finite-difference gradient check. `f` maps the inputs to any tensor; the scalar checked is
// sum(f(inputs) * w) with a fixed random weight w, so every output element matters differently.
// Central differences in float32 with step `eps`; compares with |num - ana| <= atol + rtol |num|.
inline void gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                      std::vector<Tensor> inputs, float eps = 1e-2f, float atol = 2e-3f,
                      float rtol = 2e-2f, uint64_t seed = 1234) {
  for (auto& t : inputs) {
    t = t.detach();
    t.requires_grad_(true);
  }
  Tensor out0 = f(inputs);
  Tensor w = Tensor::uniform(out0.shape(), 0.5f, 1.5f, seed, out0.device());
  auto objective = [&](const std::vector<Tensor>& in) -> double {
    NoGradGuard ng;
    std::vector<float> o = f(in).to_vector(), wv = w.to_vector();
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += (double)o[i] * wv[i];
    return s;
  };
  Tensor loss = sum(mul(out0, w));
  loss.backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor grad = inputs[k].grad();
    REQUIRE_MESSAGE(grad.defined(), "input ", k, " got no gradient");
    std::vector<float> ana = grad.to_vector();
    std::vector<float> x = inputs[k].to_vector();
    std::vector<float> num(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      std::vector<Tensor> in = inputs;
      std::vector<float> xp = x, xm = x;
      xp[i] += eps;
      xm[i] -= eps;
      in[k] = Tensor::from_vector(inputs[k].shape(), xp, inputs[k].device());
      double fp = objective(in);
      in[k] = Tensor::from_vector(inputs[k].shape(), xm, inputs[k].device());
      double fm = objective(in);
      num[i] = (float)((fp - fm) / (2.0 * eps));
    }
    std::string report;
    bool ok = all_close(ana, num, atol, rtol, &report);
    INFO("gradient of input ", k, " ", shape_str(inputs[k].shape()), ": analytic vs numeric: ", report);
    CHECK(ok);
  }
}

// The real data for development (never part of the project): $SGSF_DATA_DIR, else ../shared/data
// (or ../../shared/data, from a nested checkout) beside the sources. Tests that use it skip with a
// message when the folder they want is not there.
inline std::string shared_data_dir() {
  if (const char* e = std::getenv("SGSF_DATA_DIR")) return e;
  for (const char* rel : {"/../shared/data", "/../../shared/data"})
    if (std::filesystem::is_directory(std::string(SGSF_SOURCE_DIR) + rel)) return std::string(SGSF_SOURCE_DIR) + rel;
  return std::string(SGSF_SOURCE_DIR) + "/../shared/data";
}

}  // namespace sg::test

// First statement of every `gpu`-labelled test case: without a device, say so visibly and return.
#define SG_REQUIRE_GPU()                                                           \
  do {                                                                             \
    if (!::sg::cuda_available()) {                                                 \
      MESSAGE("SKIPPED (no GPU): " << ::sg::cuda_device_info());                   \
      return;                                                                      \
    }                                                                              \
  } while (0)
