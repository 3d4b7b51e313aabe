// concat.h — the shape-copy kernel family behind concat and slice (and their backwards).
//
// A tensor viewed as (outer, len, inner) around one dimension. copy_slab copies `count` entries of
// that dimension, starting at src_start in a source of length src_len, to dst_start in a
// destination of length dst_len:
//   dst[o, dst_start + k, i] = src[o, src_start + k, i]   for k < count.
// concat = one copy per input into its place; slice = one copy out; their backwards swap roles.
#pragma once
#include <cstdint>

#include "kernels/kernel_common.h"

namespace sg::kernels {

struct SlabCopy {
  int64_t outer = 1, inner = 1, count = 0;
  int64_t src_len = 0, src_start = 0;
  int64_t dst_len = 0, dst_start = 0;
};

// Element (o, k, i) of the copied block (outer, count, inner): returns the destination index and
// sets `src_index`.
SG_HD int64_t slab_copy_at(const SlabCopy& S, int64_t o, int64_t k, int64_t i, int64_t& src_index) {
  src_index = (o * S.src_len + S.src_start + k) * S.inner + i;
  return (o * S.dst_len + S.dst_start + k) * S.inner + i;
}

// The same for element e of the block counted flat.
SG_HD int64_t slab_copy_index(const SlabCopy& S, int64_t e, int64_t& src_index) {
  return slab_copy_at(S, e / (S.inner * S.count), (e / S.inner) % S.count, e % S.inner, src_index);
}

void copy_slab_cpu(const SlabCopy& S, const float* src, float* dst);
void copy_slab_cuda(const SlabCopy& S, const float* src, float* dst);

}  // namespace sg::kernels
