// mse_cpu.cpp — CPU reference loops of the MSE kernels (mse.h).
#include "kernels/mse.h"

namespace sg::kernels {

void sq_diff_cpu(const float* p, const float* t, float* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = sq_diff(p[i], t[i]);
}

void mse_grad_cpu(const float* p, const float* t, const float* g, float scale, float* gp, int64_t n) {
  float gv = g[0];
  for (int64_t i = 0; i < n; ++i) gp[i] = mse_grad(p[i], t[i], gv, scale);
}

}  // namespace sg::kernels
