// im2col_cpu.cpp — CPU im2col / col2im (see im2col.h), row by row.
//
// Each col row (c, i, j) is, for every output row oy, either zeros (input row outside the image)
// or a strided read of input row iy with zeros where ix falls outside [0, W). For stride 1 the
// inner part is a contiguous copy, which the compiler turns into memcpy-speed loops.
#include <cstring>

#include "kernels/im2col.h"

namespace sg::kernels {

// The range of ox for which ix = ox*s - p + j lies inside [0, W): [lo, hi).
static inline void valid_range(int64_t offset, int64_t s, int64_t W, int64_t Wout, int64_t& lo,
                               int64_t& hi) {
  // ix = ox*s + offset >= 0  <=>  ox >= ceil(-offset / s)
  lo = offset >= 0 ? 0 : (-offset + s - 1) / s;
  // ix <= W - 1  <=>  ox <= floor((W - 1 - offset) / s)
  int64_t last = W - 1 - offset;
  hi = last < 0 ? 0 : last / s + 1;
  if (hi > Wout) hi = Wout;
  if (lo > hi) lo = hi;
}

void im2col_rows_cpu(const ConvGeom& g, const float* x, int64_t oy0, int64_t oy1, float* col) {
  const int64_t s = g.stride, ncols = (oy1 - oy0) * g.Wout;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        float* row = col + ((c * g.kh + i) * g.kw + j) * ncols;
        int64_t lo, hi;
        valid_range(j - g.pad, s, g.W, g.Wout, lo, hi);
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          float* out = row + (oy - oy0) * g.Wout;
          int64_t iy = oy * s - g.pad + i;
          if (iy < 0 || iy >= g.H) {
            std::memset(out, 0, sizeof(float) * (size_t)g.Wout);
            continue;
          }
          const float* in = x + (c * g.H + iy) * g.W + (j - g.pad);  // in[ox*s] = x[c, iy, ix]
          for (int64_t ox = 0; ox < lo; ++ox) out[ox] = 0.f;
          if (s == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] = in[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] = in[ox * s];
          }
          for (int64_t ox = hi; ox < g.Wout; ++ox) out[ox] = 0.f;
        }
      }
}

void col2im_rows_add_cpu(const ConvGeom& g, const float* col, int64_t oy0, int64_t oy1, float* x) {
  const int64_t s = g.stride, ncols = (oy1 - oy0) * g.Wout;
  // Scatter-add in the fixed order (c, i, j, oy, ox): deterministic.
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const float* row = col + ((c * g.kh + i) * g.kw + j) * ncols;
        int64_t lo, hi;
        valid_range(j - g.pad, s, g.W, g.Wout, lo, hi);
        for (int64_t oy = oy0; oy < oy1; ++oy) {
          int64_t iy = oy * s - g.pad + i;
          if (iy < 0 || iy >= g.H) continue;
          const float* in = row + (oy - oy0) * g.Wout;
          float* out = x + (c * g.H + iy) * g.W + (j - g.pad);
          if (s == 1) {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox] += in[ox];
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) out[ox * s] += in[ox];
          }
        }
      }
}

void im2col_cpu(const ConvGeom& g, const float* x, float* col) { im2col_rows_cpu(g, x, 0, g.Hout, col); }

void col2im_cpu(const ConvGeom& g, const float* col, float* x) {
  std::memset(x, 0, sizeof(float) * (size_t)(g.C * g.H * g.W));
  col2im_rows_add_cpu(g, col, 0, g.Hout, x);
}

}  // namespace sg::kernels
