// batchnorm_cpu.cpp — CPU batch-norm loops (see batchnorm.h): one channel per OpenMP iteration,
// each channel's sums accumulated in double in the fixed order (n, hw).
#include "kernels/batchnorm.h"

namespace sg::kernels {

void bn_stats_cpu(const BnLayout& L, const float* x, float* mean, float* var) {
#pragma omp parallel for schedule(static) if (L.N * L.C * L.HW > (1 << 15))
  for (int64_t c = 0; c < L.C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < L.N; ++n) {
      const float* p = x + (n * L.C + c) * L.HW;
      for (int64_t i = 0; i < L.HW; ++i) s += p[i];
    }
    double m = L.count() ? s / (double)L.count() : 0.0, ss = 0;
    for (int64_t n = 0; n < L.N; ++n) {
      const float* p = x + (n * L.C + c) * L.HW;
      for (int64_t i = 0; i < L.HW; ++i) {
        double d = p[i] - m;
        ss += d * d;
      }
    }
    mean[c] = (float)m;
    var[c] = L.count() ? (float)(ss / (double)L.count()) : 0.f;
  }
}

void bn_forward_cpu(const BnLayout& L, const float* x, const float* mean, const float* invstd,
                    const float* gamma, const float* beta, float* y) {
#pragma omp parallel for collapse(2) schedule(static) if (L.N * L.C * L.HW > (1 << 15))
  for (int64_t n = 0; n < L.N; ++n)
    for (int64_t c = 0; c < L.C; ++c) {
      const float* p = x + (n * L.C + c) * L.HW;
      float* q = y + (n * L.C + c) * L.HW;
      const float mu = mean[c], r = invstd[c], ga = gamma[c], be = beta[c];
      for (int64_t i = 0; i < L.HW; ++i) q[i] = bn_forward_element(p[i], mu, r, ga, be);
    }
}

void bn_invstd_cpu(int64_t C, const float* var, float eps, float* invstd) {
  for (int64_t c = 0; c < C; ++c) invstd[c] = bn_invstd(var[c], eps);
}

void bn_update_running_cpu(const BnLayout& L, float* r_mean, float* r_var, const float* mean,
                           const float* var, float momentum) {
  for (int64_t c = 0; c < L.C; ++c)
    bn_update_running(r_mean[c], r_var[c], mean[c], var[c], momentum, L.count());
}

void bn_backward_reduce_cpu(const BnLayout& L, const float* g, const float* x, const float* mean,
                            const float* invstd, float* sum_g, float* sum_gx) {
#pragma omp parallel for schedule(static) if (L.N * L.C * L.HW > (1 << 15))
  for (int64_t c = 0; c < L.C; ++c) {
    double sg = 0, sgx = 0;
    const float mu = mean ? mean[c] : 0.f, r = invstd ? invstd[c] : 0.f;
    for (int64_t n = 0; n < L.N; ++n) {
      const float* gp = g + (n * L.C + c) * L.HW;
      if (sum_gx) {
        const float* xp = x + (n * L.C + c) * L.HW;
        for (int64_t i = 0; i < L.HW; ++i) {
          sg += gp[i];
          sgx += (double)gp[i] * ((xp[i] - mu) * r);
        }
      } else {
        for (int64_t i = 0; i < L.HW; ++i) sg += gp[i];
      }
    }
    if (sum_g) sum_g[c] = (float)sg;
    if (sum_gx) sum_gx[c] = (float)sgx;
  }
}

void bn_backward_input_cpu(const BnLayout& L, bool training, const float* g, const float* x,
                           const float* mean, const float* invstd, const float* gamma,
                           const float* sum_g, const float* sum_gx, float* gx) {
#pragma omp parallel for collapse(2) schedule(static) if (L.N * L.C * L.HW > (1 << 15))
  for (int64_t n = 0; n < L.N; ++n)
    for (int64_t c = 0; c < L.C; ++c) {
      const int64_t off = (n * L.C + c) * L.HW;
      if (training) {
        for (int64_t i = 0; i < L.HW; ++i)
          gx[off + i] = bn_grad_input(g[off + i], x[off + i], mean[c], invstd[c], gamma[c],
                                      sum_g[c], sum_gx[c], L.count());
      } else {
        for (int64_t i = 0; i < L.HW; ++i) gx[off + i] = bn_grad_input_eval(g[off + i], invstd[c], gamma[c]);
      }
    }
}

void channel_sum_cpu(int64_t N, int64_t C, int64_t HW, const float* g, float* sum) {
  BnLayout L;
  L.N = N, L.C = C, L.HW = HW;
  bn_backward_reduce_cpu(L, g, nullptr, nullptr, nullptr, sum, nullptr);
}

}  // namespace sg::kernels
