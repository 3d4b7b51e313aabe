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

// Strict parsing of user input (command lines, config files): true only when the whole string is
// one number (no trailing characters, no overflow).
inline bool parse_int64(const std::string& s, int64_t* out) {
  try {
    size_t pos = 0;
    long long x = std::stoll(s, &pos);
    if (pos != s.size()) return false;
    *out = x;
    return true;
  } catch (...) {
    return false;
  }
}
// Digits only (no sign, no spaces), within uint64.
inline bool parse_uint64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = (uint64_t)(c - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *out = x;
  return true;
}
template <typename Float>  // float or double, parsed at that precision
bool parse_number(const std::string& s, Float* out) {
  try {
    size_t pos = 0;
    Float x = sizeof(Float) == sizeof(float) ? (Float)std::stof(s, &pos) : (Float)std::stod(s, &pos);
    if (pos != s.size()) return false;
    *out = x;
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace sg

// Check a condition on user input; on failure throw sg::Error built from the remaining arguments.
#define SG_CHECK(cond, ...)                                  \
  do {                                                       \
    if (!(cond)) throw ::sg::Error(::sg::str(__VA_ARGS__)); \
  } while (0)
