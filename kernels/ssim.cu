// ssim.cu — CUDA twins of ssim_cpu.cpp. One block per 32x16 output tile of one plane: the inputs
// of the tile plus a 5-pixel halo go to shared memory (zero outside the image), a horizontal 11-tap
// pass writes the row sums of every needed map to shared memory, a vertical 11-tap pass finishes
// each output pixel, and the epilogue calls the same SG_HD math as the CPU (ssim.h). The taps run
// in the same order as on the CPU, so the two agree to rounding (nvcc may contract to FMA).
#include "kernels/cuda_launch.h"
#include "kernels/traffic.h"
#include "kernels/ssim.h"

namespace sg::kernels {
namespace {

constexpr int TX = 32, TY = 16;
constexpr int HX = TX + 2 * kSsimRadius, HY = TY + 2 * kSsimRadius;  // tile with halo

// K input maps are loaded (forward: x, y; backward: d_mx, d_exx, d_exy) and M maps blurred
// (forward: x, y, x^2, y^2, xy; backward: the three inputs).
template <bool kForward>
__global__ void ssim_tile_kernel(const float* __restrict__ x, const float* __restrict__ y,
                                 const float* __restrict__ c0, const float* __restrict__ c1,
                                 const float* __restrict__ c2, int h, int w, SsimTaps taps,
                                 float* __restrict__ out, float* __restrict__ d_mx, float* __restrict__ d_exx,
                                 float* __restrict__ d_exy, const float* __restrict__ g, float scale) {
  constexpr int K = kForward ? 2 : 3, M = kForward ? 5 : 3;
  __shared__ float in_s[K][HY][HX];
  __shared__ float row_s[M][HY][TX];
  const int64_t plane = blockIdx.z, hw = (int64_t)h * w;
  const int oy = blockIdx.y * TY, ox = blockIdx.x * TX;
  const int tid = threadIdx.y * TX + threadIdx.x, nthreads = TX * TY;
  const float* src[3] = {kForward ? x : c0, kForward ? y : c1, c2};

  for (int t = tid; t < HY * HX; t += nthreads) {  // load tile + halo, zero outside
    int r = t / HX, c = t % HX, gy = oy - kSsimRadius + r, gx = ox - kSsimRadius + c;
    bool inside = gy >= 0 && gy < h && gx >= 0 && gx < w;
    for (int k = 0; k < K; ++k) in_s[k][r][c] = inside ? src[k][plane * hw + (int64_t)gy * w + gx] : 0.f;
  }
  __syncthreads();
  for (int t = tid; t < HY * TX; t += nthreads) {  // horizontal pass
    int r = t / TX, c = t % TX;
    float acc[M];
    for (int m = 0; m < M; ++m) acc[m] = 0.f;
    for (int d = 0; d < kSsimTaps; ++d) {
      float wt = taps.w[d];
      if (kForward) {
        float xv = in_s[0][r][c + d], yv = in_s[1][r][c + d];
        acc[0] += wt * xv;
        acc[1] += wt * yv;
        acc[2] += wt * (xv * xv);
        acc[3] += wt * (yv * yv);
        acc[4] += wt * (xv * yv);
      } else {
        for (int m = 0; m < M; ++m) acc[m] += wt * in_s[m][r][c + d];
      }
    }
    for (int m = 0; m < M; ++m) row_s[m][r][c] = acc[m];
  }
  __syncthreads();
  const int i = oy + threadIdx.y, j = ox + threadIdx.x;
  if (i >= h || j >= w) return;
  float v[M];  // vertical pass
  for (int m = 0; m < M; ++m) v[m] = 0.f;
  for (int d = 0; d < kSsimTaps; ++d)
    for (int m = 0; m < M; ++m) v[m] += taps.w[d] * row_s[m][threadIdx.y + d][threadIdx.x];
  const int64_t idx = plane * hw + (int64_t)i * w + j;
  if (kForward) {
    float a = 0.f, b = 0.f, c = 0.f;  // set by ssim_from_moments
    out[idx] = ssim_from_moments(v[0], v[1], v[2], v[3], v[4], d_mx ? &a : nullptr, &b, &c);
    if (d_mx) {
      d_mx[idx] = a;
      d_exx[idx] = b;
      d_exy[idx] = c;
    }
  } else {
    out[idx] = ssim_grad_combine(v[0], v[1], v[2], x[idx], y[idx], g[0] * scale);
  }
}

dim3 tiles(int64_t planes, int64_t h, int64_t w) {
  return dim3(cuda::grid_for(w, TX), cuda::grid_for(h, TY), (unsigned)planes);
}

}  // namespace

void ssim_forward_cuda(const float* x, const float* y, int64_t planes, int64_t h, int64_t w, const SsimTaps& taps,
                       float* map, float* d_mx, float* d_exx, float* d_exy) {
  SG_TRAFFIC("ssim (forward, tiled)", 4.0 * 7 * planes * h * w, 2.0 * 5 * 22 * planes * h * w);
  SG_LAUNCH(ssim_tile_kernel<true>, tiles(planes, h, w), dim3(TX, TY), 0, cuda::stream())(
      x, y, nullptr, nullptr, nullptr, (int)h, (int)w, taps, map, d_mx, d_exx, d_exy, nullptr, 0.f);
  SG_KERNEL_CHECK();
}

void ssim_backward_cuda(const float* x, const float* y, const float* d_mx, const float* d_exx, const float* d_exy,
                        int64_t planes, int64_t h, int64_t w, const SsimTaps& taps, const float* g, float scale,
                        float* gx) {
  SG_TRAFFIC("ssim backward (tiled)", 4.0 * 8 * planes * h * w, 2.0 * 5 * 22 * planes * h * w);
  SG_LAUNCH(ssim_tile_kernel<false>, tiles(planes, h, w), dim3(TX, TY), 0, cuda::stream())(
      x, y, d_mx, d_exx, d_exy, (int)h, (int)w, taps, gx, nullptr, nullptr, nullptr, g, scale);
  SG_KERNEL_CHECK();
}

}  // namespace sg::kernels
