// cudnn_conv.h — 2-D convolution on the GPU through cuDNN (the CUDA side of conv2d).
//
// Descriptors are built once per shape and cached (RAII, freed at exit). Each pass's algorithm is
// chosen by measurement the first time that shape runs it (cudnnFind*AlgorithmEx, on the call's own
// buffers, with a workspace of up to a quarter of the free device memory) and cached, per
// determinism mode (engine/device.h: deterministic() admits only algorithms that give the same bits
// every run). In fp32 only plain FP32 FMA math is admitted (no TF32, so the GPU agrees with the CPU
// reference); tf32 and bf16 (engine/precision.h) admit tensor-op math. Never an FFT algorithm.
// Workspaces are engine tensors (the caching allocator), so no cudaMalloc per call.
#pragma once
#include <cstdint>

namespace sg::cudnn_conv {

struct ConvShape {
  int64_t N = 0, Cin = 0, H = 0, W = 0;  // x (N, Cin, H, W)
  int64_t Cout = 0, kh = 1, kw = 1;      // w (Cout, Cin, kh, kw)
  int64_t stride = 1, pad = 0;
  int64_t Hout = 0, Wout = 0;            // y (N, Cout, Hout, Wout)
};

#if defined(SGSF_WITH_CUDA) && !defined(SGSF_CUDA_EMULATION)
// Device pointers to the operands' type in the thread's precision (engine/precision.h): float32 in
// fp32 and tf32, bf16 values (uint16_t) in bf16; the caller converts (ops_conv.cpp).
// y = conv(x, w).
void forward(const ConvShape& s, const void* x, const void* w, void* y);
// y += b per channel; y is float32 in every precision.
void add_bias(const ConvShape& s, const float* b, float* y);
// gx = d loss / d x from gy (overwrites gx).
void backward_data(const ConvShape& s, const void* w, const void* gy, void* gx);
// gw = d loss / d w from gy (overwrites gw).
void backward_filter(const ConvShape& s, const void* x, const void* gy, void* gw);
#endif

}  // namespace sg::cudnn_conv
