// ssim.h — SSIM with an 11x11 Gaussian window (sigma 1.5), per channel, zero padding 5,
// C1 = 0.01^2, C2 = 0.03^2 (data range 1), and its fused backward with respect to x.
//
// The window is separable: G = g g^T with g the normalised 1-D Gaussian (so G is normalised over
// the full 11x11), and zero padding means taps outside the image read 0 (nothing is renormalised).
// Forward: a horizontal then a vertical 11-tap pass over the 5 moment maps x, y, x^2, y^2, xy give
// mu_x = G*x, mu_y = G*y, E[x^2] = G*x^2, E[y^2] = G*y^2, E[xy] = G*(xy) per pixel p, and
//   sxx = E[x^2] - mu_x^2, syy = E[y^2] - mu_y^2, sxy = E[xy] - mu_x mu_y,
//   A1 = 2 mu_x mu_y + C1, A2 = 2 sxy + C2, B1 = mu_x^2 + mu_y^2 + C1, B2 = sxx + syy + C2,
//   S(p) = A1 A2 / (B1 B2).
// Backward (derivation). S depends on x only through the three window sums mu_x, E[x^2], E[xy]
// (mu_y and E[y^2] do not involve x). Treating those as the independent variables of S(p):
//   dA1/dmu_x = 2 mu_y, dA2/dmu_x = -2 mu_y (through sxy), dB1/dmu_x = 2 mu_x, dB2/dmu_x = -2 mu_x,
//   so dS/dmu_x = S (2mu_y/A1 - 2mu_y/A2 - 2mu_x/B1 + 2mu_x/B2)
//              = 2 mu_y (A2 - A1) / (B1 B2) + 2 mu_x S (1/B2 - 1/B1)   (no division by A1, A2 ~ 0);
//   dS/dE[x^2] = -S / B2;   dS/dE[xy] = 2 S / A2 = 2 A1 / (B1 B2).
// Each window sum is linear in x: d mu_x(p)/dx_q = G(q - p), dE[x^2](p)/dx_q = 2 x_q G(q - p),
// dE[xy](p)/dx_q = y_q G(q - p). For L = sum_p w_p S(p) (w_p = upstream gradient / count):
//   dL/dx_q = sum_p G(q-p) w_p dS/dmu_x(p) + 2 x_q sum_p G(q-p) w_p dS/dE[x^2](p)
//             + y_q sum_p G(q-p) w_p dS/dE[xy](p),
// where p runs over the image only (zero padding). G is symmetric, so each sum is the same
// zero-padded separable blur as the forward: dL/dx = G*(a) + 2 x G*(b) + y G*(c), with the three
// coefficient maps a, b, c saved by the forward. The backward is a blur of 3 maps plus an epilogue.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

constexpr int kSsimRadius = 5, kSsimTaps = 11;
constexpr float kSsimC1 = 0.01f * 0.01f, kSsimC2 = 0.03f * 0.03f;

struct SsimTaps {
  float w[kSsimTaps];
};

// The normalised 1-D Gaussian (sigma 1.5), computed once on the host and passed to both backends.
inline SsimTaps ssim_gaussian_taps(float sigma = 1.5f) {
  SsimTaps t;
  double g[kSsimTaps], sum = 0;
  for (int i = 0; i < kSsimTaps; ++i) {
    double d = i - kSsimRadius;
    g[i] = std::exp(-d * d / (2.0 * sigma * sigma));
    sum += g[i];
  }
  for (int i = 0; i < kSsimTaps; ++i) t.w[i] = (float)(g[i] / sum);
  return t;
}

// SSIM of one pixel from its 5 window moments; optionally the 3 coefficient maps of the backward.
SG_HD float ssim_from_moments(float mx, float my, float exx, float eyy, float exy, float* d_mx,
                              float* d_exx, float* d_exy) {
  float sxx = exx - mx * mx, syy = eyy - my * my, sxy = exy - mx * my;
  float a1 = 2.f * mx * my + kSsimC1, a2 = 2.f * sxy + kSsimC2;
  float b1 = mx * mx + my * my + kSsimC1, b2 = sxx + syy + kSsimC2;
  float inv_d = 1.f / (b1 * b2);
  float s = a1 * a2 * inv_d;
  if (d_mx) {
    *d_mx = 2.f * my * (a2 - a1) * inv_d + 2.f * mx * s * (1.f / b2 - 1.f / b1);
    *d_exx = -s / b2;
    *d_exy = 2.f * a1 * inv_d;
  }
  return s;
}

// Epilogue of the backward: dL/dx at one pixel from the blurred coefficient maps.
SG_HD float ssim_grad_combine(float ga, float gb, float gc, float x, float y, float scale) {
  return scale * (ga + 2.f * x * gb + y * gc);
}

// ---- CPU twins (ssim_cpu.cpp) ----
// x, y: (planes, h, w). map: (planes, h, w). d_mx, d_exx, d_exy: null, or (planes, h, w) each.
void ssim_forward_cpu(const float* x, const float* y, int64_t planes, int64_t h, int64_t w, const SsimTaps& taps,
                      float* map, float* d_mx, float* d_exx, float* d_exy);
// gx = g[0] * scale * (G*d_mx + 2x G*d_exx + y G*d_exy); g: one float (the upstream gradient).
void ssim_backward_cpu(const float* x, const float* y, const float* d_mx, const float* d_exx, const float* d_exy,
                       int64_t planes, int64_t h, int64_t w, const SsimTaps& taps, const float* g, float scale,
                       float* gx);
// ---- CUDA launchers (ssim.cu): shared-memory tiles, horizontal then vertical pass ----
void ssim_forward_cuda(const float* x, const float* y, int64_t planes, int64_t h, int64_t w, const SsimTaps& taps,
                       float* map, float* d_mx, float* d_exx, float* d_exy);
void ssim_backward_cuda(const float* x, const float* y, const float* d_mx, const float* d_exx, const float* d_exy,
                        int64_t planes, int64_t h, int64_t w, const SsimTaps& taps, const float* g, float scale,
                        float* gx);

}  // namespace sg::kernels
