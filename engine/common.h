// common.h — the one error family, host/device qualifiers and small shape helpers.
//
// Every failure the library can detect on user input throws sg::Error with a message that names the
// op and the shapes involved; the library never calls exit() or abort(). Apps catch sg::Error and
// turn it into a message and a non-zero exit code.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

// SG_HD marks the per-element math that both the CPU loops and the CUDA kernels call.
#if defined(__CUDACC__)
#define SG_HD __host__ __device__ __forceinline__
#else
#define SG_HD inline
#endif

namespace sg {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

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

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& o, const T& v, const Rest&... rest) {
  o << v;
  append(o, rest...);
}
}  // namespace detail

// Concatenate anything streamable into a string: str("conv2d: got ", shape_str(x), ...).
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream o;
  detail::append(o, args...);
  return o.str();
}

}  // namespace sg

// Check a condition on user input; on failure throw sg::Error built from the remaining arguments.
#define SG_CHECK(cond, ...)                                  \
  do {                                                       \
    if (!(cond)) throw ::sg::Error(::sg::str(__VA_ARGS__)); \
  } while (0)
