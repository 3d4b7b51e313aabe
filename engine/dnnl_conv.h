// dnnl_conv.h — 2-D convolution on the CPU through oneDNN (Debian's libdnnl), when the build has it.
//
// conv2d's CPU side has two implementations: im2col + an Eigen GEMM (ops_conv.cpp), short and
// readable, the reference every test compares against; and this one, oneDNN's JIT kernels, which
// are faster at the channel counts of the larger presets. oneDNN computes in its own blocked
// layouts (e.g. channels in groups of 8 for AVX2), so each call reorders its plain NCHW inputs in
// and its output back; the backward reorders the output gradient once for both gradients. Each
// shape's primitives and reorder buffers are built on first use and cached.
//
// The build uses oneDNN when CMake finds it (-DSGSF_WITH_DNNL=OFF leaves it out), and conv2d uses
// it by default; SGSF_CPU_CONV=im2col in the environment, or set_cpu_conv(CpuConv::Im2col), picks
// the reference instead.
#pragma once
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "engine/cudnn_conv.h"

namespace sg {

enum class CpuConv { Im2col, Onednn };
bool onednn_available();     // compiled with oneDNN
CpuConv cpu_conv();          // what conv2d uses on the CPU now
void set_cpu_conv(CpuConv);  // Onednn without oneDNN in the build is an error
const char* cpu_conv_name(CpuConv);
// oneDNN's Winograd convolution (F(4x4, 3x3)) for the shapes where it is faster: 3 x 3, stride 1,
// at least 32 input and output channels, both multiples of 16 (measured per layer at w = 16 and
// 32: 1.1-2.8x faster there, slower below 32 channels). Its kernels need AVX-512; elsewhere those
// shapes stay direct. On by default; SGSF_ONEDNN_WINOGRAD=0 in the environment, or
// set_onednn_winograd(false), keeps every shape direct. It rounds differently from the direct
// kernels: against the im2col reference at 64 -> 64 channels the largest error is 0.8-1.7e-6 of the
// largest value (direct: 0.3-1.3e-6; tests/test_conv.cpp), and the PyTorch parity check passes
// with and without it (tests/reference/parity_check.py).
bool onednn_winograd();
void set_onednn_winograd(bool on);
bool onednn_winograd_shape(const cudnn_conv::ConvShape& s);
// Whether conv2d at this shape (no bias) runs oneDNN's Winograd kernels now: the build has oneDNN,
// the setting allows it, the shape qualifies and this CPU has the kernels.
bool onednn_uses_winograd(const cudnn_conv::ConvShape& s);

namespace dnnl_conv {
using cudnn_conv::ConvShape;
#ifdef SGSF_WITH_DNNL
// y = conv(x, w) (+ b per channel when b is not null).
void forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y);
// gx and gw from gy; either may be null (not wanted). Both are overwritten.
void backward(const ConvShape& s, const float* x, const float* w, const float* gy, float* gx, float* gw);

// A chain of convolutions for inference with weights that no longer change, each followed by its
// per-channel bias and a ReLU: y = relu(conv_k(... relu(conv_1(x) + b_1) ...) + b_k), in float32.
// What forward() saves over conv2d call after call: the weights are put in each primitive's layout
// once, when a shape is first run (Winograd's transform included: oneDNN's inference primitives take
// pre-transformed weights), the bias and ReLU run inside the convolution, and the results between
// the layers stay in oneDNN's blocked layout (only the input is reordered in and the last output
// out). Rounding differs from separate ops by the fused bias (tests/test_conv.cpp). Primitives are
// made per (N, H, W) on first use and kept; forward() may run from several threads at once.
struct ChainLayer {
  int64_t cin = 0, cout = 0, k = 3, stride = 1, pad = 1;
  std::vector<float> w;  // (cout, cin, k, k)
  std::vector<float> b;  // (cout)
};
class InferenceChain {
 public:
  explicit InferenceChain(std::vector<ChainLayer> layers);
  ~InferenceChain();
  InferenceChain(const InferenceChain&) = delete;
  InferenceChain& operator=(const InferenceChain&) = delete;
  // x (N, cin of the first layer, H, W) -> y (N, cout of the last, Hout, Wout), both NCHW.
  void forward(int64_t N, int64_t H, int64_t W, const float* x, float* y) const;
  // The output's (Hout, Wout) for an input of H x W.
  std::pair<int64_t, int64_t> out_size(int64_t H, int64_t W) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
#endif
}  // namespace dnnl_conv

}  // namespace sg
