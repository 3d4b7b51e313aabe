// common.h — the one error family, host/device qualifiers and small shape helpers.
//
// Every failure the library can detect on user input throws sg::Error with a message that names the
// op and the shapes involved; the library never calls exit() or abort(). Apps catch sg::Error and
// turn it into a message and a non-zero exit code. sg::Error, sg::str and SG_HD live on the ground
// floor, kernels/kernel_common.h, which kernels/ needs without the engine; this header adds shapes
// and SG_CHECK.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/kernel_common.h"

namespace sg {

using Shape = std::vector<int64_t>;

inline int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

inline std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ")";
  return o.str();
}

}  // namespace sg

// Check a condition on user input; on failure throw sg::Error built from the remaining arguments.
#define SG_CHECK(cond, ...)                                  \
  do {                                                       \
    if (!(cond)) throw ::sg::Error(::sg::str(__VA_ARGS__)); \
  } while (0)
