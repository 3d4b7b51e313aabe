// resize_cpu.cpp — CPU reference loops of the resize family (see resize.h).
//
// Same arithmetic as the per-element functions, organised for a CPU: the taps of each axis are
// computed once per call instead of once per pixel, and both directions run as two separable
// passes (along W into a row buffer, then along H). The forward element computes the two W-axis
// blends first and then the H-axis one; the gather element computes sum_oh wh * (sum_ow ww * g);
// the passes keep those orders, so the results agree with the elements (up to the fused
// multiply-adds a compiler may form, and exact zeros the CPU adds where the element skips a tap).
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
  const UpAxis a(n);
  for (int64_t o = 0; o < 2 * n; ++o) upsample_taps(a, o, t.i0[(size_t)o], t.i1[(size_t)o], t.f[(size_t)o]);
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
  const UpAxis ax(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t lo = 2 * i - 2 < 0 ? 0 : 2 * i - 2, hi = 2 * i + 2 > no - 1 ? no - 1 : 2 * i + 2;
    a.lo[(size_t)i] = lo;
    a.hi[(size_t)i] = hi;
    for (int64_t o = lo; o <= hi; ++o) a.w[(size_t)(5 * i + (o - lo))] = upsample_weight(ax, o, i);
  }
  return a;
}

}  // namespace

void upsample2x_cpu(const float* x, float* out, int64_t P, int64_t H, int64_t W) {
  const AxisTaps th = forward_taps(H), tw = forward_taps(W);
  const int64_t Ho = 2 * H, Wo = 2 * W;
#pragma omp parallel if (P * Ho * Wo > 16384)
  {
    // Per plane: every input row interpolated along W once (the "top"/"bottom" terms of the
    // element function, which each input row supplies to up to four output rows), then each output
    // row blended from two of them, a contiguous loop that vectorises.
    std::vector<float> rows((size_t)(H * Wo));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      const float* q = x + p * H * W;
      for (int64_t ih = 0; ih < H; ++ih) {
        const float* r = q + ih * W;
        float* t = rows.data() + ih * Wo;
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const float fw = tw.f[(size_t)ow];
          t[ow] = (1.f - fw) * r[tw.i0[(size_t)ow]] + fw * r[tw.i1[(size_t)ow]];
        }
      }
      float* o = out + p * Ho * Wo;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const float* top = rows.data() + th.i0[(size_t)oh] * Wo;
        const float* bot = rows.data() + th.i1[(size_t)oh] * Wo;
        const float fh = th.f[(size_t)oh];
        float* d = o + oh * Wo;
        for (int64_t ow = 0; ow < Wo; ++ow) d[ow] = (1.f - fh) * top[ow] + fh * bot[ow];
      }
    }
  }
}

void upsample2x_backward_cpu(const float* g, float* gx, int64_t P, int64_t H, int64_t W) {
  const AxisGather ah = gather_taps(H), aw = gather_taps(W);
  const int64_t Ho = 2 * H, Wo = 2 * W;
  // The W-axis taps by position: tap[k][iw] is the weight of output 2 iw - 2 + k. Away from the
  // edges (1 <= iw <= W - 2) all five outputs exist, so the row pass there is one branch-free loop
  // over iw per output row (the zero weights add exact zeros); the two edge columns keep the
  // general form.
  std::vector<float> tap[5];
  for (int k = 0; k < 5; ++k) {
    tap[k].assign((size_t)W, 0.f);
    for (int64_t iw = 1; iw + 1 < W; ++iw) tap[k][(size_t)iw] = aw.w[(size_t)(5 * iw + k)];
  }
  auto edge = [&](const float* grow, int64_t iw) {  // the element function's row sum at column iw
    float row = 0.f;
    for (int64_t ow = aw.lo[(size_t)iw], k = 0; ow <= aw.hi[(size_t)iw]; ++ow, ++k) {
      const float ww = aw.w[(size_t)(5 * iw + k)];
      if (ww != 0.f) row += ww * grow[ow];
    }
    return row;
  };
#pragma omp parallel if (P * H * W > 4096)
  {
    std::vector<float> rows((size_t)(Ho * W));  // per plane: sum_ow ww * g, for every oh
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      const float* q = g + p * Ho * Wo;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const float* grow = q + oh * Wo;
        float* r = rows.data() + oh * W;
        const float *t0 = tap[0].data(), *t1 = tap[1].data(), *t2 = tap[2].data(), *t3 = tap[3].data(),
                    *t4 = tap[4].data();
        for (int64_t iw = 1; iw + 1 < W; ++iw) {
          const float* s = grow + 2 * iw - 2;
          r[iw] = (((t0[iw] * s[0] + t1[iw] * s[1]) + t2[iw] * s[2]) + t3[iw] * s[3]) + t4[iw] * s[4];
        }
        r[0] = edge(grow, 0);
        if (W > 1) r[W - 1] = edge(grow, W - 1);
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
