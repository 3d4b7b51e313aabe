// cudnn_conv.cpp — cuDNN convolution plans (descriptors + algorithms) cached per shape.
// Not part of the emulated build, which has no cuDNN (ops_conv.cpp runs the CPU code there).
#if defined(SGSF_WITH_CUDA) && !defined(SGSF_CUDA_EMULATION)
#include "engine/cudnn_conv.h"

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "engine/cuda_check.h"
#include "engine/tensor.h"

// The legacy (v7-style) convolution API is marked deprecated in cuDNN 9 but fully supported.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace sg::cudnn_conv {
namespace {

// Workspaces above this are not considered when choosing an algorithm.
constexpr size_t kMaxWorkspace = size_t(1) << 30;

// RAII owner of every descriptor one convolution shape needs.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  explicit Descriptors(const ConvShape& s) {
    try {
      create(s);
    } catch (...) {
      release();  // a constructor that throws gets no destructor call
      throw;
    }
  }
  ~Descriptors() { release(); }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

 private:
  void create(const ConvShape& s) {
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    SG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias));
    SG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    SG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)s.N, (int)s.Cin,
                                              (int)s.H, (int)s.W));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)s.N, (int)s.Cout,
                                              (int)s.Hout, (int)s.Wout));
    SG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, (int)s.Cout, 1, 1));
    SG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, (int)s.Cout, (int)s.Cin,
                                              (int)s.kh, (int)s.kw));
    SG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, (int)s.pad, (int)s.pad, (int)s.stride, (int)s.stride,
                                                   1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    // FMA math only: no TF32 tensor cores (CUDNN_DEFAULT_MATH would allow them for float on Ampere+).
    SG_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH));
  }
  void release() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
    conv = nullptr, w = nullptr, bias = y = x = nullptr;
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

// Pick from heuristic results (best first): FMA math, not FFT, fits the workspace cap,
// deterministic when asked; else the first such result regardless of determinism; else `fallback`.
template <typename Perf, typename Algo>
void choose(const Perf* perf, int n, bool want_deterministic, Algo fallback, Algo& algo, size_t& ws) {
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < n; ++i) {
      const Perf& p = perf[i];
      if (p.status != CUDNN_STATUS_SUCCESS || p.mathType == CUDNN_TENSOR_OP_MATH ||
          p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION || p.memory > kMaxWorkspace || is_fft(p.algo))
        continue;
      if (pass == 0 && want_deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
      algo = p.algo;
      ws = p.memory;
      return;
    }
  algo = fallback;
  ws = 0;
}

struct Plan {
  explicit Plan(const ConvShape& s) : d(s) {
    // (Checked here, not in Descriptors' constructor, so that a throw still frees the descriptors.)
    int on, oc, oh, ow;
    SG_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.w, &on, &oc, &oh, &ow));
    SG_CHECK(on == s.N && oc == s.Cout && oh == s.Hout && ow == s.Wout, "conv2d: cuDNN output shape (", on, ", ",
             oc, ", ", oh, ", ", ow, ") differs from the expected (", s.N, ", ", s.Cout, ", ", s.Hout, ", ", s.Wout, ")");
    cudnnHandle_t h = cuda::cudnn();
    int n = 0;
    {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      SG_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.w, d.conv, d.y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
      choose(perf, n, true, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, fwd, fwd_ws);
      SG_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, fwd, &fwd_ws));
    }
    {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      SG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w, d.y, d.conv, d.x,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
      choose(perf, n, true, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, bwd_data, bwd_data_ws);
      SG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, bwd_data, &bwd_data_ws));
    }
    {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      SG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, d.x, d.y, d.conv, d.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
      choose(perf, n, true, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, bwd_filter, bwd_filter_ws);
      SG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, bwd_filter,
                                                                    &bwd_filter_ws));
    }
  }
  Descriptors d;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
};

const Plan& plan_for(const ConvShape& s) {
  static std::mutex mu;
  static std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>,
                  std::unique_ptr<Plan>>
      cache;
  auto key = std::make_tuple(s.N, s.Cin, s.H, s.W, s.Cout, s.kh, s.kw, s.stride, s.pad);
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, std::make_unique<Plan>(s)).first;
  return *it->second;
}

// A device workspace of at least `bytes` from the engine allocator (empty tensor when 0).
Tensor workspace(size_t bytes) {
  if (bytes == 0) return Tensor();
  return Tensor::empty({(int64_t)((bytes + sizeof(float) - 1) / sizeof(float))}, Device::CUDA);
}

}  // namespace

void forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y) {
  const Plan& p = plan_for(s);
  Tensor ws = workspace(p.fwd_ws);
  const float one = 1.f, zero = 0.f;
  SG_CUDNN_CHECK(cudnnConvolutionForward(cuda::cudnn(), &one, p.d.x, x, p.d.w, w, p.d.conv, p.fwd,
                                         ws.defined() ? ws.data() : nullptr, p.fwd_ws, &zero, p.d.y, y));
  if (b) SG_CUDNN_CHECK(cudnnAddTensor(cuda::cudnn(), &one, p.d.bias, b, &one, p.d.y, y));
}

void backward_data(const ConvShape& s, const float* w, const float* gy, float* gx) {
  const Plan& p = plan_for(s);
  Tensor ws = workspace(p.bwd_data_ws);
  const float one = 1.f, zero = 0.f;
  SG_CUDNN_CHECK(cudnnConvolutionBackwardData(cuda::cudnn(), &one, p.d.w, w, p.d.y, gy, p.d.conv, p.bwd_data,
                                              ws.defined() ? ws.data() : nullptr, p.bwd_data_ws, &zero, p.d.x,
                                              gx));
}

void backward_filter(const ConvShape& s, const float* x, const float* gy, float* gw) {
  const Plan& p = plan_for(s);
  Tensor ws = workspace(p.bwd_filter_ws);
  const float one = 1.f, zero = 0.f;
  SG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cuda::cudnn(), &one, p.d.x, x, p.d.y, gy, p.d.conv,
                                                p.bwd_filter, ws.defined() ? ws.data() : nullptr,
                                                p.bwd_filter_ws, &zero, p.d.w, gw));
}

}  // namespace sg::cudnn_conv
#endif
