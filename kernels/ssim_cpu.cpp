// ssim_cpu.cpp — the CPU reference of the SSIM family (see ssim.h): per plane, a horizontal 11-tap
// pass into a row buffer, then a vertical 11-tap pass, taps outside the image reading 0.
#include <vector>

#include "kernels/ssim.h"

namespace sg::kernels {
namespace {

// Separable zero-padded blur of k maps of one plane: in[m] -> out[m], each (h, w). tmp: (k, h, w).
// Each output pixel accumulates its 11 taps in order d = 0..10 (as the CUDA kernel does); the loops
// run tap-outer, pixel-inner so that they vectorise, and taps outside the image are skipped (the
// CUDA kernel adds w * 0 there: the same sums).
void blur_maps(const float* const* in, float* const* out, int k, int64_t h, int64_t w, const SsimTaps& t,
               float* tmp) {
  for (int m = 0; m < k; ++m)  // horizontal
    for (int64_t i = 0; i < h; ++i) {
      float* acc = tmp + (m * h + i) * w;
      const float* row = in[m] + i * w;
      for (int64_t j = 0; j < w; ++j) acc[j] = 0.f;
      for (int d = 0; d < kSsimTaps; ++d) {
        const int64_t off = d - kSsimRadius, lo = off < 0 ? -off : 0, hi = off > 0 ? w - off : w;
        const float wt = t.w[d];
        for (int64_t j = lo; j < hi; ++j) acc[j] += wt * row[j + off];
      }
    }
  for (int m = 0; m < k; ++m)  // vertical
    for (int64_t i = 0; i < h; ++i) {
      float* acc = out[m] + i * w;
      for (int64_t j = 0; j < w; ++j) acc[j] = 0.f;
      for (int d = 0; d < kSsimTaps; ++d) {
        const int64_t ii = i + d - kSsimRadius;
        if (ii < 0 || ii >= h) continue;
        const float wt = t.w[d];
        const float* row = tmp + (m * h + ii) * w;
        for (int64_t j = 0; j < w; ++j) acc[j] += wt * row[j];
      }
    }
}

}  // namespace

void ssim_forward_cpu(const float* x, const float* y, int64_t planes, int64_t h, int64_t w, const SsimTaps& taps,
                      float* map, float* d_mx, float* d_exx, float* d_exy) {
  const int64_t hw = h * w;
#pragma omp parallel
  {
    std::vector<float> prod(3 * hw), mom(5 * hw), tmp(5 * hw);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      const float* xp = x + p * hw;
      const float* yp = y + p * hw;
      for (int64_t i = 0; i < hw; ++i) {  // the products x^2, y^2, xy
        prod[i] = xp[i] * xp[i];
        prod[hw + i] = yp[i] * yp[i];
        prod[2 * hw + i] = xp[i] * yp[i];
      }
      const float* in[5] = {xp, yp, prod.data(), prod.data() + hw, prod.data() + 2 * hw};
      float* out[5] = {mom.data(), mom.data() + hw, mom.data() + 2 * hw, mom.data() + 3 * hw, mom.data() + 4 * hw};
      blur_maps(in, out, 5, h, w, taps, tmp.data());
      for (int64_t i = 0; i < hw; ++i) {
        float a = 0.f, b = 0.f, c = 0.f;
        map[p * hw + i] = ssim_from_moments(out[0][i], out[1][i], out[2][i], out[3][i], out[4][i],
                                            d_mx ? &a : nullptr, &b, &c);
        if (d_mx) {
          d_mx[p * hw + i] = a;
          d_exx[p * hw + i] = b;
          d_exy[p * hw + i] = c;
        }
      }
    }
  }
}

void ssim_backward_cpu(const float* x, const float* y, const float* d_mx, const float* d_exx, const float* d_exy,
                       int64_t planes, int64_t h, int64_t w, const SsimTaps& taps, const float* g, float scale,
                       float* gx) {
  const int64_t hw = h * w;
  const float s = g[0] * scale;
#pragma omp parallel
  {
    std::vector<float> blurred(3 * hw), tmp(3 * hw);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      const float* in[3] = {d_mx + p * hw, d_exx + p * hw, d_exy + p * hw};
      float* out[3] = {blurred.data(), blurred.data() + hw, blurred.data() + 2 * hw};
      blur_maps(in, out, 3, h, w, taps, tmp.data());
      for (int64_t i = 0; i < hw; ++i)
        gx[p * hw + i] = ssim_grad_combine(out[0][i], out[1][i], out[2][i], x[p * hw + i], y[p * hw + i], s);
    }
  }
}

}  // namespace sg::kernels
