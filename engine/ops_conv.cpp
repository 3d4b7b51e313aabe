// ops_conv.cpp — conv2d (any kernel size, stride, zero padding; optional bias) with its backward.
//
// Shapes: x (N, Cin, H, W), w (Cout, Cin, kh, kw), b (Cout) or undefined, y (N, Cout, Hout, Wout),
// Hout = (H + 2p - kh) / s + 1, Wout likewise.
// CPU: per image, col = im2col(x[n]) (Cin*kh*kw, Hout*Wout) and y[n] = w (Cout, Cin*kh*kw) x col,
// an Eigen GEMM on row-major Maps (no copies; a 1x1 stride-1 unpadded conv uses x[n] as col).
// col is built in blocks of output rows (cache-sized, see block_rows) into thread-local buffers
// reused across calls. Forward: (image, row block) tasks spread over OpenMP threads. Backward:
// images spread over threads (each GEMM single-threaded) when the batch has at least one image per
// thread; smaller batches run image by image on one thread (Eigen's own threading is off:
// EIGEN_DONT_PARALLELIZE, CMakeLists.txt).
// Backward (per image):  gw += gy[n] (Cout, HW) x col^T,  gcol = w^T gy[n],  gx[n] = col2im(gcol),
// gb = sum of gy over (N, Hout, Wout). Per-thread gw partials are summed in thread order.
// With oneDNN in the build, the CPU uses its kernels instead (engine/dnnl_conv.*); these loops stay
// the reference the tests compare it against.
// GPU: cuDNN (engine/cudnn_conv.*); gb by the deterministic per-channel reduction of batchnorm.
// The emulated CUDA build (engine/cuda_emu) has no cuDNN: the CPU loops run on the device buffers.
// GPU in bf16: the cast kernels (kernels/cast.h) narrow the operands into bf16 buffers for cuDNN and
// widen what it writes (bf16) back to float32; see "bf16 on the GPU" below.
#include <algorithm>
#include <atomic>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/cudnn_conv.h"
#include "engine/dispatch.h"
#include "engine/dnnl_conv.h"
#include "engine/precision.h"
#ifdef SGSF_WITH_CUDA
#include "engine/cuda_check.h"
#endif
#include "engine/eigen_maps.h"
#include "engine/ops.h"
#include "kernels/batchnorm.h"
#include "kernels/cast.h"
#include "kernels/im2col.h"
#include "engine/profile.h"

namespace sg {
namespace {

using eigen::CMap;
using eigen::CSMap;
using eigen::MMap;
using eigen::SMap;
using cudnn_conv::ConvShape;

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// A per-thread scratch buffer (slot 0: col, slot 1: gradient of col), grown on demand, kept.
float* scratch(int slot, size_t n) {
  thread_local std::vector<float> buf[2];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

kernels::ConvGeom geom_of(const ConvShape& s) {
  kernels::ConvGeom g;
  g.C = s.Cin, g.H = s.H, g.W = s.W, g.kh = s.kh, g.kw = s.kw, g.stride = s.stride, g.pad = s.pad;
  g.Hout = s.Hout, g.Wout = s.Wout;
  return g;
}

bool is_pointwise(const ConvShape& s) { return s.kh == 1 && s.kw == 1 && s.stride == 1 && s.pad == 0; }

// Spread images over threads when there is at least one image per thread and enough work per
// image (about 2^18 multiply-adds) to pay for waking the thread team.
bool batch_parallel(const ConvShape& s) {
  const int64_t macs = s.Cout * s.Cin * s.kh * s.kw * s.Hout * s.Wout;
  return s.N > 1 && s.N >= max_threads() && macs >= (int64_t(1) << 18);
}

// Output rows per column block. A block of col is about 64K floats (256 KiB, so it stays in L2
// between im2col and the GEMM) but spans at least 256 output pixels, so that each GEMM is wide
// enough to amortise packing the weights. Measured on 2 cores at the bench shapes: 1.2-2x faster
// than one whole-image col, most at large images (16 channels at 256x256).
int64_t block_rows(const kernels::ConvGeom& g) {
  constexpr int64_t kColBlockFloats = 1 << 16, kMinCols = 256;
  int64_t r = kColBlockFloats / std::max<int64_t>(1, g.rows() * g.Wout);
  r = std::max(r, (kMinCols + g.Wout - 1) / std::max<int64_t>(1, g.Wout));
  return std::min<int64_t>(std::max<int64_t>(r, 1), g.Hout);
}

// y = conv(x, w) + b on the CPU. The tasks are (image, block of output rows) pairs: they write
// disjoint parts of y, so they run on OpenMP threads (each GEMM single-threaded) whenever there
// are enough of them, which keeps both cores busy even for a single image.
void conv_forward_im2col(const ConvShape& s, const float* x, const float* w, const float* b, float* y) {
  const kernels::ConvGeom g = geom_of(s);
  const int64_t rows = g.rows(), cols = g.cols(), in_sz = s.Cin * s.H * s.W, out_sz = s.Cout * cols;
  const bool direct = is_pointwise(s);
  const int64_t br = direct ? g.Hout : block_rows(g), nblk = (g.Hout + br - 1) / br, tasks = s.N * nblk;
  const bool par = tasks > 1 && tasks >= max_threads() && s.Cout * rows * br * g.Wout >= (int64_t(1) << 16);
  CMap wm(w, s.Cout, rows);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t n = t / nblk, oy0 = (t % nblk) * br, oy1 = std::min(oy0 + br, g.Hout), nc = (oy1 - oy0) * g.Wout;
    SMap yb(y + n * out_sz + oy0 * g.Wout, s.Cout, nc, Eigen::OuterStride<>(cols));
    if (direct) {
      yb.noalias() = wm * CMap(x + n * in_sz, rows, cols);
    } else {
      float* buf = scratch(0, (size_t)(rows * nc));
      kernels::im2col_rows_cpu(g, x + n * in_sz, oy0, oy1, buf);
      yb.noalias() = wm * CMap(buf, rows, nc);
    }
    if (b)
      for (int64_t c = 0; c < s.Cout; ++c) yb.row(c).array() += b[c];
  }
}

// Gradients on the CPU; gx / gw may be null (not wanted). gw is overwritten.
void conv_backward_im2col(const ConvShape& s, const float* x, const float* w, const float* gy, float* gx,
                          float* gw) {
  const kernels::ConvGeom g = geom_of(s);
  const int64_t rows = g.rows(), cols = g.cols(), in_sz = s.Cin * s.H * s.W, out_sz = s.Cout * cols;
  const int64_t w_sz = s.Cout * rows;
  const bool direct = is_pointwise(s), par = batch_parallel(s);
  const int nthreads = par ? max_threads() : 1;
  const int64_t br = block_rows(g);
  std::vector<float> partial(gw ? (size_t)(nthreads * w_sz) : 0, 0.f);
  CMap wm(w, s.Cout, rows);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t n = 0; n < s.N; ++n) {
    MMap gwp(gw ? partial.data() + (par ? thread_id() : 0) * w_sz : nullptr, s.Cout, gw ? rows : 0);
    if (direct) {
      CMap gyn(gy + n * out_sz, s.Cout, cols);
      if (gw) gwp.noalias() += gyn * CMap(x + n * in_sz, rows, cols).transpose();
      if (gx) MMap(gx + n * in_sz, rows, cols).noalias() = wm.transpose() * gyn;
      continue;
    }
    float* col = gw ? scratch(0, (size_t)(rows * br * g.Wout)) : nullptr;
    float* gcol = gx ? scratch(1, (size_t)(rows * br * g.Wout)) : nullptr;
    if (gx) std::fill(gx + n * in_sz, gx + (n + 1) * in_sz, 0.f);
    for (int64_t oy0 = 0; oy0 < g.Hout; oy0 += br) {
      const int64_t oy1 = std::min(oy0 + br, g.Hout), nc = (oy1 - oy0) * g.Wout;
      CSMap gyb(gy + n * out_sz + oy0 * g.Wout, s.Cout, nc, Eigen::OuterStride<>(cols));
      if (gw) {
        kernels::im2col_rows_cpu(g, x + n * in_sz, oy0, oy1, col);
        gwp.noalias() += gyb * CMap(col, rows, nc).transpose();
      }
      if (gx) {
        MMap(gcol, rows, nc).noalias() = wm.transpose() * gyb;
        kernels::col2im_rows_add_cpu(g, gcol, oy0, oy1, gx + n * in_sz);
      }
    }
  }
  if (gw) {
    std::copy(partial.begin(), partial.begin() + w_sz, gw);
    for (int t = 1; t < nthreads; ++t)
      for (int64_t i = 0; i < w_sz; ++i) gw[i] += partial[(size_t)(t * w_sz + i)];
  }
}

// The operands of a bf16 convolution on the reference path: `n` floats rounded to bf16 (kept as
// floats, so the float32 GEMM multiplies exactly what bf16 hardware would: the product of two bf16
// numbers fits a float's mantissa), in a per-thread buffer (slot 0-2) that lives until the next
// call with that slot.
const float* bf16_operand(int slot, const float* v, int64_t n) {
  thread_local std::vector<float> buf[3];
  std::vector<float>& b = buf[slot];
  b.resize((size_t)n);
  for (int64_t i = 0; i < n; ++i) b[(size_t)i] = round_bf16(v[i]);
  return b.data();
}

// The CPU side: oneDNN when the build has it and it is chosen (engine/dnnl_conv.h), else the
// im2col reference above (in bf16, on rounded operands).
void conv_forward_cpu(const ConvShape& s, const float* x, const float* w, const float* b, float* y) {
#ifdef SGSF_WITH_DNNL
  if (cpu_conv() == CpuConv::Onednn) return dnnl_conv::forward(s, x, w, b, y);
#endif
  if (precision() == Precision::BF16) {
    x = bf16_operand(0, x, s.N * s.Cin * s.H * s.W);
    w = bf16_operand(1, w, s.Cout * s.Cin * s.kh * s.kw);
  }
  conv_forward_im2col(s, x, w, b, y);
}

void conv_backward_cpu(const ConvShape& s, const float* x, const float* w, const float* gy, float* gx, float* gw) {
#ifdef SGSF_WITH_DNNL
  if (cpu_conv() == CpuConv::Onednn) return dnnl_conv::backward(s, x, w, gy, gx, gw);
#endif
  if (precision() == Precision::BF16) {
    if (gw) x = bf16_operand(0, x, s.N * s.Cin * s.H * s.W);
    if (gx) w = bf16_operand(1, w, s.Cout * s.Cin * s.kh * s.kw);
    gy = bf16_operand(2, gy, s.N * s.Cout * s.Hout * s.Wout);
  }
  conv_backward_im2col(s, x, w, gy, gx, gw);
}

#ifdef SGSF_WITH_CUDA
// ---- bf16 on the GPU ----------------------------------------------------------------------------
// cuDNN's bf16 convolutions read and write bf16 and accumulate in float32. So in bf16 the operands
// (x, w, the output gradient) are narrowed by the cast kernels into bf16 buffers, and what cuDNN
// writes (y, the input and weight gradients) is widened back to float32: on the GPU those carry
// bf16 rounding, where oneDNN on the CPU writes float32. The weights are narrowed once per step:
// conv2d narrows them for the forward and its backward keeps that copy for the input gradient.
// A bf16 buffer of n values is a device tensor of ceil(n / 2) floats (the engine's allocator).
Tensor bf16_buffer(int64_t n) { return Tensor::empty({(n + 1) / 2}, Device::CUDA); }
uint16_t* bf16_bits(const Tensor& t) { return reinterpret_cast<uint16_t*>(const_cast<float*>(t.data())); }
Tensor narrow_bf16(const float* v, int64_t n) {
  Tensor t = bf16_buffer(n);
  kernels::cast_to_bf16_cuda(v, bf16_bits(t), n);
  return t;
}

#ifdef SGSF_CUDA_EMULATION
// The emulator has no cuDNN: a bf16 pass there widens its bf16 operands, runs the reference loops
// on them (exact products, float32 sums) and narrows the result, which is what cuDNN's bf16 pass
// computes up to the order of its sums.
Tensor widened(const Tensor& b, int64_t n) {
  Tensor t = Tensor::empty({n}, Device::CUDA);
  kernels::cast_from_bf16_cuda(bf16_bits(b), t.data(), n);
  return t;
}
void narrow_into(const float* v, const Tensor& out, int64_t n) { kernels::cast_to_bf16_cuda(v, bf16_bits(out), n); }
#endif

// The CUDA side: cuDNN, or in the emulated build the CPU loops above on the device buffers, in
// stream order (cuDNN is the one part of the GPU path the emulator does not run). `wb`: the
// weights narrowed to bf16 in bf16 precision (conv2d makes it), undefined otherwise.
void conv_forward_cuda(const ConvShape& s, const float* x, const float* w, const Tensor& wb, const float* b,
                       float* y) {
  if (!wb.defined()) {
#ifdef SGSF_CUDA_EMULATION
    cuda_emu::on_device(cuda::stream(), [&] { conv_forward_im2col(s, x, w, b, y); });
#else
    cudnn_conv::forward(s, x, w, y);
    if (b) cudnn_conv::add_bias(s, b, y);
#endif
    return;
  }
  const int64_t nx = s.N * s.Cin * s.H * s.W, ny = s.N * s.Cout * s.Hout * s.Wout;
  Tensor xb = narrow_bf16(x, nx), yb = bf16_buffer(ny);
#ifdef SGSF_CUDA_EMULATION
  Tensor xf = widened(xb, nx), wf = widened(wb, s.Cout * s.Cin * s.kh * s.kw), yf = Tensor::empty({ny}, Device::CUDA);
  cuda_emu::on_device(cuda::stream(), [&] { conv_forward_im2col(s, xf.data(), wf.data(), nullptr, yf.data()); });
  narrow_into(yf.data(), yb, ny);
#else
  cudnn_conv::forward(s, bf16_bits(xb), bf16_bits(wb), bf16_bits(yb));
#endif
  kernels::cast_from_bf16_cuda(bf16_bits(yb), y, ny);
  if (!b) return;
#ifdef SGSF_CUDA_EMULATION
  cuda_emu::on_device(cuda::stream(), [&] {
    const int64_t hw = s.Hout * s.Wout;
    for (int64_t i = 0; i < ny; ++i) y[i] += b[(i / hw) % s.Cout];
  });
#else
  cudnn_conv::add_bias(s, b, y);
#endif
}

void conv_backward_cuda(const ConvShape& s, const float* x, const float* w, const Tensor& wb, const float* gy,
                        float* gx, float* gw) {
  if (!wb.defined()) {
#ifdef SGSF_CUDA_EMULATION
    cuda_emu::on_device(cuda::stream(), [&] { conv_backward_im2col(s, x, w, gy, gx, gw); });
#else
    if (gx) cudnn_conv::backward_data(s, w, gy, gx);
    if (gw) cudnn_conv::backward_filter(s, x, gy, gw);
#endif
    return;
  }
  const int64_t nx = s.N * s.Cin * s.H * s.W, nw = s.Cout * s.Cin * s.kh * s.kw, ny = s.N * s.Cout * s.Hout * s.Wout;
  Tensor gyb = narrow_bf16(gy, ny);  // narrowed once for both passes
  if (gx) {
    Tensor gxb = bf16_buffer(nx);
#ifdef SGSF_CUDA_EMULATION
    Tensor wf = widened(wb, nw), gyf = widened(gyb, ny), gxf = Tensor::empty({nx}, Device::CUDA);
    cuda_emu::on_device(cuda::stream(), [&] { conv_backward_im2col(s, x, wf.data(), gyf.data(), gxf.data(), nullptr); });
    narrow_into(gxf.data(), gxb, nx);
#else
    cudnn_conv::backward_data(s, bf16_bits(wb), bf16_bits(gyb), bf16_bits(gxb));
#endif
    kernels::cast_from_bf16_cuda(bf16_bits(gxb), gx, nx);
  }
  if (gw) {
    Tensor xb = narrow_bf16(x, nx), gwb = bf16_buffer(nw);
#ifdef SGSF_CUDA_EMULATION
    Tensor xf = widened(xb, nx), gyf = widened(gyb, ny), gwf = Tensor::empty({nw}, Device::CUDA);
    cuda_emu::on_device(cuda::stream(), [&] { conv_backward_im2col(s, xf.data(), w, gyf.data(), nullptr, gwf.data()); });
    narrow_into(gwf.data(), gwb, nw);
#else
    cudnn_conv::backward_filter(s, bf16_bits(xb), bf16_bits(gyb), bf16_bits(gwb));
#endif
    kernels::cast_from_bf16_cuda(bf16_bits(gwb), gw, nw);
  }
}
#endif

// gb[c] = sum of gy over (N, Hout, Wout).
void conv_bias_grad(Device dev, const ConvShape& s, const float* gy, float* gb) {
  const int64_t hw = s.Hout * s.Wout;
  SG_DISPATCH(dev, kernels::channel_sum_cpu(s.N, s.Cout, hw, gy, gb),
              kernels::channel_sum_cuda(s.N, s.Cout, hw, gy, gb,
                                        Tensor::empty({kernels::bn_scratch_floats({s.N, s.Cout, hw})}, dev).data()));
}

}  // namespace

namespace {
std::atomic<int64_t> g_conv_flops{0};
int64_t pass_flops(const ConvShape& s) { return 2 * s.N * s.Cout * s.Cin * s.kh * s.kw * s.Hout * s.Wout; }
}  // namespace

int64_t conv2d_flops() { return g_conv_flops.load(); }

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding) {
  SG_PROFILE_OP("conv2d");
  check_defined(x, "conv2d", "input");
  check_defined(w, "conv2d", "weight");
  check_same_device(x, w, "conv2d");
  SG_CHECK(x.dim() == 4, "conv2d: input must be 4-D (N, Cin, H, W), got ", shape_str(x.shape()));
  SG_CHECK(w.dim() == 4, "conv2d: weight must be 4-D (Cout, Cin, kh, kw), got ", shape_str(w.shape()));
  SG_CHECK(x.size(1) == w.size(1), "conv2d: input ", shape_str(x.shape()), " has ", x.size(1),
           " channels but weight ", shape_str(w.shape()), " expects ", w.size(1));
  SG_CHECK(stride >= 1 && padding >= 0, "conv2d: stride must be >= 1 and padding >= 0, got stride ",
           stride, ", padding ", padding);
  if (b.defined()) {
    check_same_device(x, b, "conv2d");
    SG_CHECK(b.dim() == 1 && b.size(0) == w.size(0), "conv2d: bias must have shape (", w.size(0),
             ") for weight ", shape_str(w.shape()), ", got ", shape_str(b.shape()));
  }
  ConvShape s;
  s.N = x.size(0), s.Cin = x.size(1), s.H = x.size(2), s.W = x.size(3);
  s.Cout = w.size(0), s.kh = w.size(2), s.kw = w.size(3), s.stride = stride, s.pad = padding;
  SG_CHECK(s.H + 2 * s.pad >= s.kh && s.W + 2 * s.pad >= s.kw, "conv2d: kernel ", shape_str(w.shape()),
           " larger than the padded input ", shape_str(x.shape()), " (padding ", padding, ")");
  s.Hout = (s.H + 2 * s.pad - s.kh) / s.stride + 1;
  s.Wout = (s.W + 2 * s.pad - s.kw) / s.stride + 1;
  const Device dev = x.device();
  Tensor y = Tensor::empty({s.N, s.Cout, s.Hout, s.Wout}, dev);
  const float* bp = b.defined() ? b.data() : nullptr;
  Tensor wb;  // the weights in bf16, on the GPU in bf16 precision (kept for the backward)
#ifdef SGSF_WITH_CUDA
  if (dev == Device::CUDA && precision() == Precision::BF16 && y.numel() > 0) wb = narrow_bf16(w.data(), w.numel());
#endif
  if (y.numel() > 0)
    SG_DISPATCH(dev, conv_forward_cpu(s, x.data(), w.data(), bp, y.data()),
                conv_forward_cuda(s, x.data(), w.data(), wb, bp, y.data()));
  g_conv_flops += pass_flops(s);

  const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.defined() && b.requires_grad();
  if (!grad_enabled() || !(need_x || need_w || need_b)) return y;
  Tensor xs = x.detach(), ws = w.detach();
  std::vector<Tensor> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  const bool has_b = b.defined();
  const Precision prec = precision();  // the backward runs in the forward's precision
  return attach_grad(y, "conv2d", inputs, [=](const Tensor& g) {
    PrecisionGuard in_forward_precision(prec);
    // The kernels overwrite every element; zeros only cover an empty output (nothing to sum).
    auto make = [&](const Shape& shape) { return g.numel() > 0 ? Tensor::empty(shape, dev) : Tensor::zeros(shape, dev); };
    Tensor gx = need_x ? make(xs.shape()) : Tensor();
    Tensor gw = need_w ? make(ws.shape()) : Tensor();
    Tensor gb = need_b ? make({s.Cout}) : Tensor();
    if (g.numel() > 0) {
      float* gxp = need_x ? gx.data() : nullptr;
      float* gwp = need_w ? gw.data() : nullptr;
#ifdef SGSF_WITH_CUDA
      if (dev == Device::CUDA)
        conv_backward_cuda(s, xs.data(), ws.data(), wb, g.data(), gxp, gwp);
      else
#endif
      {
        SG_CHECK(dev == Device::CPU, "conv2d: no CUDA in this build");
        conv_backward_cpu(s, xs.data(), ws.data(), g.data(), gxp, gwp);
      }
      if (need_b) conv_bias_grad(dev, s, g.data(), gb.data());
      g_conv_flops += pass_flops(s) * ((gxp ? 1 : 0) + (gwp ? 1 : 0));
    }
    std::vector<Tensor> grads{gx, gw};
    if (has_b) grads.push_back(gb);
    return grads;
  });
}

}  // namespace sg
