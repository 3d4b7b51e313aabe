// resize_cpu.cpp — CPU reference loops of the resize family (see resize.h).
//
// Same arithmetic as the per-element functions, organised for a CPU: the taps of each axis are
// computed once per call instead of once per pixel, and the backward gather runs as two separable
// passes (along W into a row buffer, then along H). The gather element computes
// sum_oh wh * (sum_ow ww * g) in exactly this order, so the results agree with it (up to the
// fused multiply-adds a compiler may form).
#include <vector>

#include "kernels/resize.h"

namespace sg::kernels {
namespace {

struct AxisTaps {
  std::vector<int64_t> i0, i1;
  std::vector<float> f;
};

// Forward taps of every output coordinate along an axis of input length n.
AxisTaps forward_taps(int64_t n) {
  AxisTaps t;
  t.i0.resize((size_t)(2 * n));
  t.i1.resize((size_t)(2 * n));
  t.f.resize((size_t)(2 * n));
  for (int64_t o = 0; o < 2 * n; ++o) upsample_taps(o, n, t.i0[(size_t)o], t.i1[(size_t)o], t.f[(size_t)o]);
  return t;
}

// For each input coordinate i: the outputs [lo, lo + 5) that may read it, and their weights (0 where
// an output does not read i, or lies outside the axis).
struct AxisGather {
  std::vector<int64_t> lo, hi;
  std::vector<float> w;  // 5 per input
};

AxisGather gather_taps(int64_t n) {
  AxisGather a;
  a.lo.resize((size_t)n);
  a.hi.resize((size_t)n);
  a.w.assign((size_t)(5 * n), 0.f);
  const int64_t no = 2 * n;
  for (int64_t i = 0; i < n; ++i) {
    int64_t lo = 2 * i - 2 < 0 ? 0 : 2 * i - 2, hi = 2 * i + 2 > no - 1 ? no - 1 : 2 * i + 2;
    a.lo[(size_t)i] = lo;
    a.hi[(size_t)i] = hi;
    for (int64_t o = lo; o <= hi; ++o) a.w[(size_t)(5 * i + (o - lo))] = upsample_weight(o, n, i);
  }
  return a;
}

}  // namespace

void upsample2x_cpu(const float* x, float* out, int64_t P, int64_t H, int64_t W) {
  const AxisTaps th = forward_taps(H), tw = forward_taps(W);
  const int64_t Ho = 2 * H, Wo = 2 * W;
#pragma omp parallel for if (P * Ho * Wo > 16384) schedule(static)
  for (int64_t ph = 0; ph < P * Ho; ++ph) {
    const int64_t p = ph / Ho, oh = ph % Ho;
    const float* q = x + p * H * W;
    const float* r0 = q + th.i0[(size_t)oh] * W;
    const float* r1 = q + th.i1[(size_t)oh] * W;
    const float fh = th.f[(size_t)oh];
    float* o = out + ph * Wo;
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t w0 = tw.i0[(size_t)ow], w1 = tw.i1[(size_t)ow];
      const float fw = tw.f[(size_t)ow];
      float top = (1.f - fw) * r0[w0] + fw * r0[w1];
      float bot = (1.f - fw) * r1[w0] + fw * r1[w1];
      o[ow] = (1.f - fh) * top + fh * bot;
    }
  }
}

void upsample2x_backward_cpu(const float* g, float* gx, int64_t P, int64_t H, int64_t W) {
  const AxisGather ah = gather_taps(H), aw = gather_taps(W);
  const int64_t Ho = 2 * H, Wo = 2 * W;
#pragma omp parallel if (P * H * W > 4096)
  {
    std::vector<float> rows((size_t)(Ho * W));  // per plane: sum_ow ww * g, for every oh
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      const float* q = g + p * Ho * Wo;
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t iw = 0; iw < W; ++iw) {
          float row = 0.f;
          for (int64_t ow = aw.lo[(size_t)iw], k = 0; ow <= aw.hi[(size_t)iw]; ++ow, ++k) {
            const float ww = aw.w[(size_t)(5 * iw + k)];
            if (ww != 0.f) row += ww * q[oh * Wo + ow];
          }
          rows[(size_t)(oh * W + iw)] = row;
        }
      // Along H a whole row at a time: the taps of input row ih are the same for every column, so
      // the inner loop runs over contiguous columns (vectorised); each element still adds its
      // taps in the order oh = lo, lo + 1, ...
      float* dst = gx + p * H * W;
      for (int64_t ih = 0; ih < H; ++ih) {
        float* d = dst + ih * W;
        for (int64_t iw = 0; iw < W; ++iw) d[iw] = 0.f;
        for (int64_t oh = ah.lo[(size_t)ih], k = 0; oh <= ah.hi[(size_t)ih]; ++oh, ++k) {
          const float wh = ah.w[(size_t)(5 * ih + k)];
          if (wh == 0.f) continue;
          const float* r = rows.data() + oh * W;
          for (int64_t iw = 0; iw < W; ++iw) d[iw] += wh * r[iw];
        }
      }
    }
  }
}

}  // namespace sg::kernels
