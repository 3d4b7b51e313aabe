// pool_cpu.cpp — CPU reference loops of the pooling family (see pool.h).
//
// The box filter is the hot one (the k x k pooling of image score maps, 21 x 21 at 256 x 256), so
// it is done separably with running sums: each output costs two additions per pass whatever k is.
// The running sums are kept in double so that adding and removing taps along a long line does not
// drift.
#include <algorithm>

#include "kernels/pool.h"

namespace sg::kernels {

// Output row by output row (no index arithmetic per element). Each value is the one
// max_pool2x2_element picks: the first of the window's maxima, in the order of max2x2_argmax.
void max_pool2x2_cpu(const float* x, float* out, int64_t P, int64_t H, int64_t W) {
  const int64_t Ho = H / 2, Wo = W / 2;
#pragma omp parallel for if (P * Ho * Wo > 16384) schedule(static)
  for (int64_t ph = 0; ph < P * Ho; ++ph) {
    const int64_t p = ph / Ho, oh = ph % Ho;
    const float* top = x + (p * H + 2 * oh) * W;
    const float* bot = top + W;
    float* o = out + ph * Wo;
    for (int64_t ow = 0; ow < Wo; ++ow) {
      float m = top[2 * ow];
      m = top[2 * ow + 1] > m ? top[2 * ow + 1] : m;
      m = bot[2 * ow] > m ? bot[2 * ow] : m;
      m = bot[2 * ow + 1] > m ? bot[2 * ow + 1] : m;
      o[ow] = m;
    }
  }
}

// Window by window: one argmax per window fills its four gradient entries (the same values as
// max_pool2x2_backward_element, which the GPU evaluates once per input element).
void max_pool2x2_backward_cpu(const float* x, const float* g, float* gx, int64_t P, int64_t H, int64_t W) {
  const int64_t Ho = H / 2, Wo = W / 2;
#pragma omp parallel for if (P * H * W > 16384) schedule(static)
  for (int64_t ph = 0; ph < P * Ho; ++ph) {
    const int64_t p = ph / Ho, oh = ph % Ho;
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t top = (p * H + 2 * oh) * W + 2 * ow;
      const int k = max2x2_argmax(x + top, W);
      const float gv = g[ph * Wo + ow];
      gx[top] = k == 0 ? gv : 0.f;
      gx[top + 1] = k == 1 ? gv : 0.f;
      gx[top + W] = k == 2 ? gv : 0.f;
      gx[top + W + 1] = k == 3 ? gv : 0.f;
    }
  }
}

void box_filter_cpu(const float* x, float* t, float* out, int64_t P, int64_t H, int64_t W, int r, float scale) {
  // 1. Row pass: t[p, h, w] = sum_{|j - w| <= r, 0 <= j < W} x[p, h, j].
  int64_t rows = P * H;
#pragma omp parallel for if (rows * W > 16384) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const float* xr = x + row * W;
    float* tr = t + row * W;
    double acc = 0.0;
    for (int64_t j = 0; j < std::min<int64_t>(r, W); ++j) acc += xr[j];  // window of w = -1
    for (int64_t w = 0; w < W; ++w) {
      if (w + r < W) acc += xr[w + r];          // tap entering on the right
      if (w - r - 1 >= 0) acc -= xr[w - r - 1];  // tap leaving on the left
      tr[w] = (float)acc;
    }
  }
  // 2. Column pass over blocks of columns, walking down the rows (cache friendly):
  //    out[p, h, w] = scale * sum_{|i - h| <= r, 0 <= i < H} t[p, i, w].
  constexpr int64_t kCols = 64;
  int64_t nblk = (W + kCols - 1) / kCols, tasks = P * nblk;
#pragma omp parallel for if (P * H * W > 16384) schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    int64_t p = task / nblk, w0 = (task % nblk) * kCols, w1 = std::min(W, w0 + kCols);
    const float* tp = t + p * H * W;
    float* op = out + p * H * W;
    double acc[kCols] = {};
    for (int64_t i = 0; i < std::min<int64_t>(r, H); ++i)
      for (int64_t w = w0; w < w1; ++w) acc[w - w0] += tp[i * W + w];
    for (int64_t h = 0; h < H; ++h) {
      if (h + r < H)
        for (int64_t w = w0; w < w1; ++w) acc[w - w0] += tp[(h + r) * W + w];
      if (h - r - 1 >= 0)
        for (int64_t w = w0; w < w1; ++w) acc[w - w0] -= tp[(h - r - 1) * W + w];
      for (int64_t w = w0; w < w1; ++w) op[h * W + w] = (float)(acc[w - w0] * scale);
    }
  }
}

}  // namespace sg::kernels
