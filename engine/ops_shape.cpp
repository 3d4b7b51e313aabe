// ops_shape.cpp — concat and slice along any dimension, with backwards (kernels/concat.*).
//
// Both view their tensors as (outer, len, inner) around `dim` and move slabs of `dim` entries:
//   concat({x_0 .. x_{m-1}}, d): out[..., off_j + k, ...] = x_j[..., k, ...], off_j = sum_{l<j} len_l.
//     backward: g_j = the slab [off_j, off_j + len_j) of g (a slice).
//   slice(x, d, a, b): out[..., k, ...] = x[..., a + k, ...], k < b - a.
//     backward: zeros shaped like x with g written into [a, b) (a pad).
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/concat.h"
#include "engine/profile.h"

namespace sg {

static int64_t wrap_dim(int64_t dim, int64_t ndim, const Shape& s, const char* op) {
  int64_t d = dim < 0 ? dim + ndim : dim;
  SG_CHECK(d >= 0 && d < ndim, op, ": dimension ", dim, " out of range for shape ", shape_str(s));
  return d;
}

static void outer_inner(const Shape& s, int64_t d, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= s[(size_t)i];
  for (size_t i = (size_t)d + 1; i < s.size(); ++i) inner *= s[i];
}

static void copy_slab(const kernels::SlabCopy& S, const Tensor& src, Tensor& dst) {
  SG_DISPATCH(src.device(), kernels::copy_slab_cpu(S, src.data(), dst.data()),
              kernels::copy_slab_cuda(S, src.data(), dst.data()));
}

// The slab [start, start + count) of x along d, as a new tensor (no graph).
static Tensor take_slab(const Tensor& x, int64_t d, int64_t start, int64_t count) {
  Shape s = x.shape();
  kernels::SlabCopy S;
  outer_inner(s, d, S.outer, S.inner);
  S.count = count;
  S.src_len = s[(size_t)d];
  S.src_start = start;
  S.dst_len = count;
  S.dst_start = 0;
  s[(size_t)d] = count;
  Tensor out = Tensor::empty(s, x.device());
  copy_slab(S, x, out);
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  SG_PROFILE_OP("concat");
  SG_CHECK(!xs.empty(), "concat: no tensors given");
  for (size_t j = 0; j < xs.size(); ++j) SG_CHECK(xs[j].defined(), "concat: tensor ", j, " is undefined");
  const Shape& s0 = xs[0].shape();
  int64_t nd = (int64_t)s0.size();
  SG_CHECK(nd > 0, "concat: cannot concatenate 0-dimensional tensors");
  int64_t d = wrap_dim(dim, nd, s0, "concat");
  Shape out_shape = s0;
  out_shape[(size_t)d] = 0;
  for (size_t j = 0; j < xs.size(); ++j) {
    const Shape& s = xs[j].shape();
    check_same_device(xs[0], xs[j], "concat");
    bool ok = (int64_t)s.size() == nd;
    for (int64_t i = 0; ok && i < nd; ++i) ok = i == d || s[(size_t)i] == s0[(size_t)i];
    SG_CHECK(ok, "concat: along dimension ", d, " tensor ", j, " has shape ", shape_str(s),
             ", incompatible with tensor 0 of shape ", shape_str(s0),
             " (all other dimensions must match)");
    out_shape[(size_t)d] += s[(size_t)d];
  }
  Tensor out = Tensor::empty(out_shape, xs[0].device());
  kernels::SlabCopy S;
  outer_inner(out_shape, d, S.outer, S.inner);
  S.dst_len = out_shape[(size_t)d];
  std::vector<int64_t> offsets, lens;
  for (const Tensor& x : xs) {
    S.count = S.src_len = x.shape()[(size_t)d];
    S.src_start = 0;
    offsets.push_back(S.dst_start);
    lens.push_back(S.count);
    copy_slab(S, x, out);
    S.dst_start += S.count;
  }
  std::vector<bool> need;
  for (const Tensor& x : xs) need.push_back(x.requires_grad());
  return attach_grad(out, "concat", xs, [d, offsets, lens, need](const Tensor& g) {
    std::vector<Tensor> grads(offsets.size());
    for (size_t j = 0; j < offsets.size(); ++j)
      if (need[j]) grads[j] = take_slab(g, d, offsets[j], lens[j]);
    return grads;
  });
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  SG_PROFILE_OP("slice");
  check_defined(x, "slice", "input");
  const Shape& s = x.shape();
  SG_CHECK(x.dim() > 0, "slice: cannot slice a 0-dimensional tensor");
  int64_t d = wrap_dim(dim, x.dim(), s, "slice");
  int64_t len = s[(size_t)d];
  SG_CHECK(0 <= start && start <= end && end <= len, "slice: range [", start, ", ", end,
           ") is not within [0, ", len, "] along dimension ", d, " of shape ", shape_str(s));
  Tensor out = take_slab(x, d, start, end - start);
  Shape in_shape = s;
  return attach_grad(out, "slice", {x}, [in_shape, d, start, end](const Tensor& g) {
    Tensor gx = Tensor::zeros(in_shape, g.device());
    kernels::SlabCopy S;
    outer_inner(in_shape, d, S.outer, S.inner);
    S.count = S.src_len = end - start;
    S.src_start = 0;
    S.dst_len = in_shape[(size_t)d];
    S.dst_start = start;
    copy_slab(S, g, gx);
    return std::vector<Tensor>{gx};
  });
}

}  // namespace sg
