// guided_concat.h — guided concatenation of segmentation features and guidance features along
// channels: (N, C1, H, W) (+) (N, C2, H, W) -> (N, C1 + C2, H, W), and the backward that splits
// the output gradient back to both inputs. One output element per index in both directions.
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

// Source of output element (k, ch, i) of (n, c1 + c2, hw): which input (0 seg, 1 guide) and the
// flat index inside it.
SG_HD void concat_source_at(int64_t k, int64_t ch, int64_t i, int64_t c1, int64_t c2, int64_t hw, int& which,
                            int64_t& idx) {
  which = ch < c1 ? 0 : 1;
  idx = which == 0 ? (k * c1 + ch) * hw + i : (k * c2 + ch - c1) * hw + i;
}

// The same for output element t counted flat.
SG_HD void concat_source(int64_t t, int64_t c1, int64_t c2, int64_t hw, int& which, int64_t& idx) {
  const int64_t c = c1 + c2, r = t % (c * hw);
  concat_source_at(t / (c * hw), r / hw, r % hw, c1, c2, hw, which, idx);
}

// ---- CPU twins (guided_concat_cpu.cpp) ----
// out: (n, c1 + c2, hw).
void guided_concat_cpu(const float* seg, const float* guide, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* out);
// gseg / gguide may be null (that input needs no gradient).
void guided_concat_backward_cpu(const float* gout, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* gseg, float* gguide);
// ---- CUDA launchers (guided_concat.cu) ----
void guided_concat_cuda(const float* seg, const float* guide, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* out);
void guided_concat_backward_cuda(const float* gout, int64_t n, int64_t c1, int64_t c2, int64_t hw, float* gseg, float* gguide);

}  // namespace sg::kernels
