// ops_pool.cpp — image ops on (N, C, H, W): 2x2 max pooling, k x k average pooling (the box
// filter) and bilinear 2x upsampling, with their backwards (kernels/pool.*, kernels/resize.*).
//
//   max_pool2d(x)          (N, C, H, W) -> (N, C, H/2, W/2); gradient to the first max of each window.
//   avg_pool2d(x, k)       (N, C, H, W) -> same shape; stride 1, zero padding k/2 counted (÷ k*k).
//   upsample_bilinear2x(x) (N, C, H, W) -> (N, C, 2H, 2W), align_corners = true.
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "kernels/pool.h"
#include "kernels/resize.h"
#include "engine/profile.h"

namespace sg {

static void check_image(const Tensor& x, const char* op) {
  check_defined(x, op, "input");
  SG_CHECK(x.dim() == 4, op, ": expected an (N, C, H, W) tensor, got ", shape_str(x.shape()));
}

Tensor max_pool2d(const Tensor& x) {
  SG_PROFILE_OP("max_pool2d");
  check_image(x, "max_pool2d");
  const Shape& s = x.shape();
  int64_t P = s[0] * s[1], H = s[2], W = s[3];
  SG_CHECK(H % 2 == 0 && W % 2 == 0, "max_pool2d: 2x2 stride-2 pooling needs even H and W, got ",
           shape_str(s));
  Tensor out = Tensor::empty({s[0], s[1], H / 2, W / 2}, x.device());
  SG_DISPATCH(x.device(), kernels::max_pool2x2_cpu(x.data(), out.data(), P, H, W),
              kernels::max_pool2x2_cuda(x.data(), out.data(), P, H, W));
  if (!grad_enabled() || !x.requires_grad()) return out;
  Tensor xs = x.detach();  // the argmax is recomputed from x in the backward
  return attach_grad(out, "max_pool2d", {x}, [xs, P, H, W](const Tensor& g) {
    // y_o = x_{a(o)} with a(o) the window's first argmax: dL/dx_i = g_o if i = a(o), else 0.
    Tensor gx = Tensor::empty(xs.shape(), xs.device());
    SG_DISPATCH(xs.device(), kernels::max_pool2x2_backward_cpu(xs.data(), g.data(), gx.data(), P, H, W),
                kernels::max_pool2x2_backward_cuda(xs.data(), g.data(), gx.data(), P, H, W));
    return std::vector<Tensor>{gx};
  });
}

// box_k(x) / (k*k) without recording a graph.
static Tensor box_filter(const Tensor& x, int k) {
  const Shape& s = x.shape();
  int64_t P = s[0] * s[1], H = s[2], W = s[3];
  Tensor out = Tensor::empty(s, x.device());
  Tensor tmp = Tensor::empty(s, x.device());  // the row pass
  float scale = 1.0f / (float)((double)k * k);
  int r = k / 2;
  SG_DISPATCH(x.device(), kernels::box_filter_cpu(x.data(), tmp.data(), out.data(), P, H, W, r, scale),
              kernels::box_filter_cuda(x.data(), tmp.data(), out.data(), P, H, W, r, scale));
  return out;
}

Tensor avg_pool2d(const Tensor& x, int k) {
  SG_PROFILE_OP("avg_pool2d");
  check_image(x, "avg_pool2d");
  SG_CHECK(k >= 1 && k % 2 == 1, "avg_pool2d: the window size k must be odd and positive (padding k/2 ",
           "keeps the shape), got k = ", k, " for input ", shape_str(x.shape()));
  Tensor out = box_filter(x, k);
  return attach_grad(out, "avg_pool2d", {x}, [k](const Tensor& g) {
    // y = B x / k^2 with B the zero-padded box sum, a symmetric matrix (B_ij = 1 iff |i - j| <= r
    // per axis, both in range): dL/dx = B^T g / k^2 = B g / k^2, the same filter.
    return std::vector<Tensor>{box_filter(g, k)};
  });
}

Tensor upsample_bilinear2x(const Tensor& x) {
  SG_PROFILE_OP("upsample_bilinear2x");
  check_image(x, "upsample_bilinear2x");
  const Shape& s = x.shape();
  int64_t P = s[0] * s[1], H = s[2], W = s[3];
  Tensor out = Tensor::empty({s[0], s[1], 2 * H, 2 * W}, x.device());
  SG_DISPATCH(x.device(), kernels::upsample2x_cpu(x.data(), out.data(), P, H, W),
              kernels::upsample2x_cuda(x.data(), out.data(), P, H, W));
  Shape in_shape = s;
  return attach_grad(out, "upsample_bilinear2x", {x}, [in_shape, P, H, W](const Tensor& g) {
    // y_o = sum_i w(o, i) x_i (product of per-axis bilinear weights): dL/dx_i = sum_o w(o, i) g_o,
    // gathered per input pixel over the <= 5 x 5 outputs that read it.
    Tensor gx = Tensor::empty(in_shape, g.device());
    SG_DISPATCH(g.device(), kernels::upsample2x_backward_cpu(g.data(), gx.data(), P, H, W),
                kernels::upsample2x_backward_cuda(g.data(), gx.data(), P, H, W));
    return std::vector<Tensor>{gx};
  });
}

}  // namespace sg
