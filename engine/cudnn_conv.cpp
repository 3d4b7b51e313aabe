// cudnn_conv.cpp — cuDNN convolution plans (descriptors + algorithms) cached per shape.
// Not part of the emulated build, which has no cuDNN (ops_conv.cpp runs the CPU code there).
//
// In bf16 (engine/precision.h) the plans are bf16 ones: x, w and y (and their gradients) are bf16
// buffers, which ops_conv.cpp fills and empties with the cast kernels (kernels/cast.h), and cuDNN
// accumulates in float32 on tensor cores.
//
// Each of a shape's three passes picks its algorithm the first time it runs, by measurement:
// cudnnFind*AlgorithmEx times the candidates on the call's own buffers (the output is written
// again right after), with a workspace of up to a quarter of the device's free memory, and the
// fastest admissible one is kept for every later call of that shape and mode.
#if defined(SGSF_WITH_CUDA) && !defined(SGSF_CUDA_EMULATION)
#include "engine/cudnn_conv.h"

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "engine/cuda_check.h"
#include "engine/device.h"
#include "engine/precision.h"
#include "engine/tensor.h"

// The legacy (v7-style) convolution API is marked deprecated in cuDNN 9 but fully supported.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace sg::cudnn_conv {
namespace {

// The workspace a measurement may use and an algorithm may need: a quarter of the device memory
// free when the shape is first seen, at most 4 GiB (and at least 64 MiB, cuDNN's own algorithms
// need little).
size_t workspace_cap() {
  size_t free_bytes = 0, total = 0;
  SG_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
  const size_t quarter = free_bytes / 4;
  const size_t lo = size_t(64) << 20, hi = size_t(4) << 30;
  return quarter < lo ? lo : quarter > hi ? hi : quarter;
}

// RAII owner of every descriptor one convolution shape needs.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  cudnnTensorDescriptor_t y_f32 = nullptr;  // y as float32, where the bias is added (y itself in fp32)

  Descriptors(const ConvShape& s, Precision prec) {
    try {
      create(s, prec);
    } catch (...) {
      release();  // a constructor that throws gets no destructor call
      throw;
    }
  }
  ~Descriptors() { release(); }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

 private:
  void create(const ConvShape& s, Precision prec) {
    // The operands' type; the convolution's compute type (accumulation) is float32 in every mode.
    const cudnnDataType_t t = prec == Precision::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_f32));
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    SG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    SG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, t, (int)s.N, (int)s.Cin, (int)s.H, (int)s.W));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, t, (int)s.N, (int)s.Cout, (int)s.Hout,
                                              (int)s.Wout));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_f32, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)s.N, (int)s.Cout,
                                              (int)s.Hout, (int)s.Wout));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, (int)s.Cout, 1, 1));
    SG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, t, CUDNN_TENSOR_NCHW, (int)s.Cout, (int)s.Cin, (int)s.kh,
                                              (int)s.kw));
    SG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, (int)s.pad, (int)s.pad, (int)s.stride, (int)s.stride,
                                                   1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    // fp32: FMA math only, no TF32 tensor cores (CUDNN_DEFAULT_MATH would allow them for float on
    // Ampere and later). tf32: tensor-op math, which for float data is TF32. bf16: tensor-op math on
    // the bf16 operands.
    SG_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, prec == Precision::FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
  }
  void release() {
    if (y_f32) cudnnDestroyTensorDescriptor(y_f32);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
    conv = nullptr, w = nullptr, bias = y = x = y_f32 = nullptr;
  }
};

// FFT algorithms round differently from a direct sum (and need large workspaces): never used, so
// the GPU stays within float rounding of the CPU reference.
bool is_fft(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING;
}
bool is_fft(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING;
}
bool is_fft(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING;
}

// Pick from measured results (fastest first): FMA math (tensor-op math too in tf32 and bf16,
// never a conversion to half precision), not FFT, fits the workspace cap, and deterministic when
// the engine is in deterministic mode. -1 when none qualifies.
template <typename Perf>
int choose(const Perf* perf, int n, size_t cap, bool tensor_ops) {
  for (int i = 0; i < n; ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || (p.mathType == CUDNN_TENSOR_OP_MATH && !tensor_ops) ||
        p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION || p.memory > cap || is_fft(p.algo))
      continue;
    if (deterministic() && p.determinism != CUDNN_DETERMINISTIC) continue;
    return i;
  }
  return -1;
}

// One pass's choice: measured once, then reused.
template <typename Algo>
struct Choice {
  bool measured = false;
  Algo algo{};
  size_t ws = 0;
};

struct Plan {
  Plan(const ConvShape& s, Precision prec) : d(s, prec), tensor_ops(prec != Precision::FP32) {
    // (Checked here, not in Descriptors' constructor, so that a throw still frees the descriptors.)
    int on, oc, oh, ow;
    SG_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &on, &oc, &oh, &ow));
    SG_CHECK(on == s.N && oc == s.Cout && oh == s.Hout && ow == s.Wout, "conv2d: cuDNN output shape (", on, ", ",
             oc, ", ", oh, ", ", ow, ") differs from the expected (", s.N, ", ", s.Cout, ", ", s.Hout, ", ", s.Wout, ")");
  }
  Descriptors d;
  bool tensor_ops;  // tf32 or bf16: tensor-core algorithms admitted
  Choice<cudnnConvolutionFwdAlgo_t> fwd;
  Choice<cudnnConvolutionBwdDataAlgo_t> bwd_data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> bwd_filter;
};

// A device workspace of at least `bytes` from the engine allocator (empty tensor when 0).
Tensor workspace(size_t bytes) {
  if (bytes == 0) return Tensor();
  return Tensor::empty({(int64_t)((bytes + sizeof(float) - 1) / sizeof(float))}, Device::CUDA);
}

// Measure a pass once: `find(workspace, bytes, perf, &n)` runs cudnnFind*AlgorithmEx; `fallback` is
// used when nothing qualifies (it needs no workspace).
template <typename Algo, typename Perf, typename Find>
void measure(Choice<Algo>& c, bool tensor_ops, Algo fallback, const char* pass, Find find) {
  if (c.measured) return;
  const size_t cap = workspace_cap();
  Perf perf[16];
  int n = 0;
  {
    Tensor ws = workspace(cap);
    find(ws.defined() ? ws.data() : nullptr, cap, perf, &n);
  }
  const int k = choose(perf, n, cap, tensor_ops);
  if (k >= 0) {
    c.algo = perf[k].algo;
    c.ws = perf[k].memory;
  } else {
    SG_CHECK(!deterministic(), "conv2d: cuDNN offers no deterministic FMA algorithm for the ", pass,
             " pass of this shape; run without --deterministic");
    c.algo = fallback;
    c.ws = 0;
  }
  c.measured = true;
}

// The plan of a shape in the current determinism mode and precision (each measures its own choice).
Plan& plan_for(const ConvShape& s) {
  static std::mutex mu;
  static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, int>,
                  std::unique_ptr<Plan>>
      cache;
  const Precision prec = precision();
  auto key = std::make_tuple(s.N, s.Cin, s.H, s.W, s.Cout, s.kh, s.kw, s.stride, s.pad, deterministic(), (int)prec);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, std::make_unique<Plan>(s, prec)).first;
  return *it->second;
}

}  // namespace

void forward(const ConvShape& s, const void* x, const void* w, void* y) {
  Plan& p = plan_for(s);
  measure<cudnnConvolutionFwdAlgo_t, cudnnConvolutionFwdAlgoPerf_t>(
      p.fwd, p.tensor_ops, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, "forward", [&](void* ws, size_t bytes, auto* perf, int* n) {
        SG_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(cuda::cudnn(), p.d.x, x, p.d.w, w, p.d.conv, p.d.y, y,
                                                              16, n, perf, ws, bytes));
      });
  Tensor ws = workspace(p.fwd.ws);
  const float one = 1.f, zero = 0.f;
  SG_CUDNN_CHECK(cudnnConvolutionForward(cuda::cudnn(), &one, p.d.x, x, p.d.w, w, p.d.conv, p.fwd.algo,
                                         ws.defined() ? ws.data() : nullptr, p.fwd.ws, &zero, p.d.y, y));
}

void add_bias(const ConvShape& s, const float* b, float* y) {
  Plan& p = plan_for(s);
  const float one = 1.f;
  SG_CUDNN_CHECK(cudnnAddTensor(cuda::cudnn(), &one, p.d.bias, b, &one, p.d.y_f32, y));
}

void backward_data(const ConvShape& s, const void* w, const void* gy, void* gx) {
  Plan& p = plan_for(s);
  measure<cudnnConvolutionBwdDataAlgo_t, cudnnConvolutionBwdDataAlgoPerf_t>(
      p.bwd_data, p.tensor_ops, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, "backward data", [&](void* ws, size_t bytes, auto* perf, int* n) {
        SG_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(cuda::cudnn(), p.d.w, w, p.d.y, gy, p.d.conv,
                                                                   p.d.x, gx, 16, n, perf, ws, bytes));
      });
  Tensor ws = workspace(p.bwd_data.ws);
  const float one = 1.f, zero = 0.f;
  SG_CUDNN_CHECK(cudnnConvolutionBackwardData(cuda::cudnn(), &one, p.d.w, w, p.d.y, gy, p.d.conv, p.bwd_data.algo,
                                              ws.defined() ? ws.data() : nullptr, p.bwd_data.ws, &zero, p.d.x, gx));
}

void backward_filter(const ConvShape& s, const void* x, const void* gy, void* gw) {
  Plan& p = plan_for(s);
  measure<cudnnConvolutionBwdFilterAlgo_t, cudnnConvolutionBwdFilterAlgoPerf_t>(
      p.bwd_filter, p.tensor_ops, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, "backward filter",
      [&](void* ws, size_t bytes, auto* perf, int* n) {
        SG_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(cuda::cudnn(), p.d.x, x, p.d.y, gy, p.d.conv,
                                                                     p.d.w, gw, 16, n, perf, ws, bytes));
      });
  Tensor ws = workspace(p.bwd_filter.ws);
  const float one = 1.f, zero = 0.f;
  SG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cuda::cudnn(), &one, p.d.x, x, p.d.y, gy, p.d.conv,
                                                p.bwd_filter.algo, ws.defined() ? ws.data() : nullptr,
                                                p.bwd_filter.ws, &zero, p.d.w, gw));
}

}  // namespace sg::cudnn_conv
#endif
