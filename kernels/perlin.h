// perlin.h — one-octave Perlin noise per sample (DRAEM's rand_perlin_2d), rotated about the centre.
//
// Output: noise (N, 1, H, W). Per sample, three draws from the counter-based Philox keyed by
// (seed, sample): kx, ky in 0..5 (resolution rx = 2^kx cells along H, ry = 2^ky cells along W) and a
// rotation angle U(-90, 90) degrees. The lattice ((rx+1) x (ry+1) unit gradients, angle U[0, 2pi))
// is keyed by (seed, sample, lattice point). Both draws use distinct Philox streams (kPerlinTag), so
// the same seed passed to the SAM blend does not reuse these numbers.
//
// Layout of the computation (identical on CPU and GPU, documented choice):
//   pass 1 (perlin_gradients_*): fill a small table (N, 33, 33, 2) with the lattice gradients;
//   pass 2 (perlin_field_*):     the unrotated noise into a buffer (N, H, W), one evaluation per pixel;
//   pass 3 (perlin_rotate_*):    per output pixel, rotate back to the source point and sample the
//     buffer bilinearly (taps outside H x W read 0: zero fill).
// A buffer rather than evaluating the noise on the fly at the 4 bilinear taps: 4x fewer noise
// evaluations (each has integer divisions) for one extra (N, H, W) write and read.
// The unrotated field is defined on (Hp, Wp) = (H, W) rounded up to multiples of (rx, ry) and read
// only inside H x W (compute on the next multiple, crop). Cell size dh = Hp / rx pixels, and
// u = (i mod dh) / dh, as numpy's mgrid[0:rx:rx/Hp] % 1 does.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/kernel_common.h"
#include "kernels/random.h"

namespace sg::kernels {

constexpr int kPerlinMaxK = 5;                       // resolutions 1, 2, ..., 32
constexpr int kPerlinLattice = (1 << kPerlinMaxK) + 1;  // 33 lattice points per axis at most
constexpr uint64_t kPerlinTag = 0x5045524C494E0000ull;  // "PERLIN": Philox stream domain

struct PerlinSample {
  int kx, ky;          // log2 of the resolution along H (rows) and W (columns)
  float cos_a, sin_a;  // rotation
  float angle_deg;
};

// Per-sample parameters: Philox(seed, stream = tag | sample, index 0).
SG_HD PerlinSample perlin_sample_params(uint64_t seed, int64_t sample) {
  rnd::U32x4 r = rnd::draw4(seed, kPerlinTag | (uint64_t)sample, 0);
  PerlinSample p;
  p.kx = (int)(r.v[0] % 6u);
  p.ky = (int)(r.v[1] % 6u);
  p.angle_deg = -90.f + 180.f * rnd::to_unit(r.v[2]);
  float rad = p.angle_deg * 0.017453292519943295f;
  p.cos_a = cosf(rad);
  p.sin_a = sinf(rad);
  return p;
}

// Unit gradient of lattice point (gy, gx) of `sample`: Philox index 1 + gy * 33 + gx.
SG_HD void perlin_gradient(uint64_t seed, int64_t sample, int gy, int gx, float& g0, float& g1) {
  rnd::U32x4 r = rnd::draw4(seed, kPerlinTag | (uint64_t)sample, 1u + (uint64_t)(gy * kPerlinLattice + gx));
  float a = 6.283185307179586f * rnd::to_unit(r.v[0]);
  g0 = cosf(a);  // along H
  g1 = sinf(a);  // along W
}

SG_HD float perlin_fade(float t) { return t * t * t * (t * (t * 6.f - 15.f) + 10.f); }  // 6t^5-15t^4+10t^3
SG_HD float perlin_lerp(float a, float b, float t) { return a + t * (b - a); }

// Unrotated noise at integer pixel (i, j) of a field of `h` x `w` (i < h, j < w), sample params p,
// gradient table grads (33 x 33 x 2) of this sample.
SG_HD float perlin_at(const PerlinSample& p, const float* grads, int h, int w, int i, int j) {
  int rx = 1 << p.kx, ry = 1 << p.ky;
  int dh = (h + rx - 1) / rx, dw = (w + ry - 1) / ry;  // cell size in pixels of (Hp, Wp)
  int cy = i / dh, cx = j / dw;
  float u = (float)(i % dh) / (float)dh, v = (float)(j % dw) / (float)dw;
  const float* g00 = grads + 2 * (cy * kPerlinLattice + cx);
  const float* g10 = grads + 2 * ((cy + 1) * kPerlinLattice + cx);
  const float* g01 = grads + 2 * (cy * kPerlinLattice + cx + 1);
  const float* g11 = grads + 2 * ((cy + 1) * kPerlinLattice + cx + 1);
  float n00 = u * g00[0] + v * g00[1];
  float n10 = (u - 1.f) * g10[0] + v * g10[1];
  float n01 = u * g01[0] + (v - 1.f) * g01[1];
  float n11 = (u - 1.f) * g11[0] + (v - 1.f) * g11[1];
  float fu = perlin_fade(u), fv = perlin_fade(v);
  float n0 = perlin_lerp(n00, n10, fu), n1 = perlin_lerp(n01, n11, fu);  // along H first
  return 1.4142135623730951f * perlin_lerp(n0, n1, fv);                 // then along W, x sqrt(2)
}

// Output pixel (i, j) of the field rotated about the centre ((h-1)/2, (w-1)/2) of the cropped field:
// bilinear at the back-rotated point of the unrotated
// field (h, w), zero fill.
SG_HD float perlin_rotate_at(const PerlinSample& p, const float* field, int h, int w, int i, int j) {
  float cy = 0.5f * (float)(h - 1), cx = 0.5f * (float)(w - 1);
  float dy = (float)i - cy, dx = (float)j - cx;
  float sy = cy + p.cos_a * dy + p.sin_a * dx;
  float sx = cx - p.sin_a * dy + p.cos_a * dx;
  float fy0 = floorf(sy), fx0 = floorf(sx);
  float ty = sy - fy0, tx = sx - fx0;
  int y0 = (int)fy0, x0 = (int)fx0;
  float acc = 0.f;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      int yy = y0 + a, xx = x0 + b;
      if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;  // zero fill
      float wgt = (a ? ty : 1.f - ty) * (b ? tx : 1.f - tx);
      acc += wgt * field[(int64_t)yy * w + xx];
    }
  return acc;
}

// ---- CPU twins (perlin_cpu.cpp) ----
// params: (n) per-sample parameters; grads: (n, 33, 33, 2); field, out: (n, 1, h, w).
void perlin_gradients_cpu(uint64_t seed, int64_t n, float* grads);
void perlin_field_cpu(const PerlinSample* params, const float* grads, int64_t n, int h, int w, float* field);
void perlin_rotate_cpu(const PerlinSample* params, const float* field, int64_t n, int h, int w, float* out);
// ---- CUDA launchers (perlin.cu); params is a device pointer ----
void perlin_gradients_cuda(uint64_t seed, int64_t n, float* grads);
// params[s] = perlin_sample_params(seed, s) for s < n, on the device (nothing to upload).
void perlin_params_cuda(uint64_t seed, int64_t n, PerlinSample* params);
void perlin_field_cuda(const PerlinSample* params, const float* grads, int64_t n, int h, int w, float* field);
void perlin_rotate_cuda(const PerlinSample* params, const float* field, int64_t n, int h, int w, float* out);

}  // namespace sg::kernels
