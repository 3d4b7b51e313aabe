// kernel_common.h — what every kernel family needs from outside its own files: the SG_HD marker of
// the per-element math, sg::Error (the library's one exception type) and sg::str, which builds its
// messages. kernels/cuda_launch.h adds the CUDA launch and check macros.
//
// kernels/ is the ground floor: its files include the standard library, CUDA's headers and each
// other, never engine/, sgsf/, data/ or apps/ (the configure step fails when one does; see
// CMakeLists.txt), so the folder can be read, tested or lifted out on its own. The engine builds on
// this header: engine/common.h includes it and adds shapes and SG_CHECK.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

// SG_HD marks the per-element math that both the CPU loops and the CUDA kernels call.
#if defined(__CUDACC__)
#define SG_HD __host__ __device__ __forceinline__
#else
#define SG_HD inline
#endif

namespace sg {

// Every failure the library can detect on user input, or a CUDA call that fails, throws sg::Error
// with a message naming what went wrong; the library never calls exit() or abort().
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

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
