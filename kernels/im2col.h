// im2col.h — the im2col / col2im kernel family behind the CPU convolution (GEMM form).
//
// For one image x (C, H, W), a kernel (kh, kw), stride s and zero padding p, the column matrix is
//   col (C*kh*kw, Hout*Wout),  row r = (c*kh + i)*kw + j,  column q = oy*Wout + ox,
//   col[r, q] = x[c, oy*s - p + i, ox*s - p + j]   (0 outside the image),
// so that conv(x, w) for one image is the GEMM  w (Cout, C*kh*kw) x col -> (Cout, Hout*Wout).
// col2im is the adjoint: every col entry is added back to the input pixel it was read from
// (the backward of im2col, used for the input gradient).
//
// CPU only: on the GPU, conv2d runs cuDNN. The per-element functions below are the definition of
// both maps; the loops in im2col_cpu.cpp walk whole rows instead, which is much faster and computes
// the same values (the tests compare them with the per-element functions).
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

struct ConvGeom {
  int64_t C = 0, H = 0, W = 0;  // one input image (C, H, W)
  int64_t kh = 1, kw = 1;       // kernel size
  int64_t stride = 1, pad = 0;  // same stride and zero padding on both axes
  int64_t Hout = 0, Wout = 0;   // (H + 2p - kh) / s + 1, (W + 2p - kw) / s + 1
  int64_t rows() const { return C * kh * kw; }
  int64_t cols() const { return Hout * Wout; }
};

// col[r, q] with r = idx / cols, q = idx % cols (see above).
inline float im2col_element(const ConvGeom& g, const float* x, int64_t idx) {
  int64_t q = idx % g.cols(), r = idx / g.cols();
  int64_t ox = q % g.Wout, oy = q / g.Wout;
  int64_t j = r % g.kw, i = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
  int64_t iy = oy * g.stride - g.pad + i, ix = ox * g.stride - g.pad + j;
  if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) return 0.f;
  return x[(c * g.H + iy) * g.W + ix];
}

// The value col2im writes at image element idx = (c*H + y)*W + x: the sum of every col entry that
// im2col read from that pixel, i.e. over kernel taps (i, j) with y = oy*s - p + i, x = ox*s - p + j
// for an integer output position (oy, ox) inside the output. Fixed order: deterministic.
inline float col2im_element(const ConvGeom& g, const float* col, int64_t idx) {
  int64_t xx = idx % g.W, yy = (idx / g.W) % g.H, c = idx / (g.W * g.H);
  float acc = 0.f;
  for (int64_t i = 0; i < g.kh; ++i) {
    int64_t ty = yy + g.pad - i;  // = oy * s
    if (ty < 0 || ty % g.stride != 0) continue;
    int64_t oy = ty / g.stride;
    if (oy >= g.Hout) continue;
    for (int64_t j = 0; j < g.kw; ++j) {
      int64_t tx = xx + g.pad - j;  // = ox * s
      if (tx < 0 || tx % g.stride != 0) continue;
      int64_t ox = tx / g.stride;
      if (ox >= g.Wout) continue;
      acc += col[((c * g.kh + i) * g.kw + j) * g.cols() + oy * g.Wout + ox];
    }
  }
  return acc;
}

// ---- CPU loops (im2col_cpu.cpp); one image, single-threaded (callers parallelise over images) --
// col: (rows, cols) fully overwritten.
void im2col_cpu(const ConvGeom& g, const float* x, float* col);
// x: (C, H, W) fully overwritten with the col2im sum.
void col2im_cpu(const ConvGeom& g, const float* col, float* x);
// The same for the output rows [oy0, oy1) only: col is then (rows, (oy1 - oy0) * Wout), the
// columns of those output rows. col2im_rows_add_cpu adds into x (no clearing), so a loop over
// row blocks accumulates the full col2im. Used to keep column blocks cache-sized.
void im2col_rows_cpu(const ConvGeom& g, const float* x, int64_t oy0, int64_t oy1, float* col);
void col2im_rows_add_cpu(const ConvGeom& g, const float* col, int64_t oy0, int64_t oy1, float* x);

}  // namespace sg::kernels
