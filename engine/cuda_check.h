// cuda_check.h — the engine's CUDA header: kernels/cuda_launch.h (SG_LAUNCH, SG_KERNEL_CHECK,
// SG_CUDA_CHECK, SG_GRID_STRIDE, the stream and the launch shape, shared with the kernels) plus the
// cuBLAS and cuDNN check macros and their handles. Include only from CUDA-enabled code (.cu files, or
// .cpp files inside #ifdef SGSF_WITH_CUDA). A failing call throws sg::Error naming the expression
// and file:line.
//
// In the emulated build (-DSGSF_CUDA_EMULATION=ON, see engine/cuda_emu/README.md) <cuda_runtime.h>
// is the emulator's, and cuBLAS and cuDNN are absent: their call sites run the CPU code instead.
#pragma once
#ifdef SGSF_WITH_CUDA
#include "kernels/cuda_launch.h"
#ifndef SGSF_CUDA_EMULATION
#include <cublas_v2.h>
#include <cudnn.h>
#endif

#include "engine/common.h"

#ifndef SGSF_CUDA_EMULATION
#define SG_CUBLAS_CHECK(expr)                                                                \
  do {                                                                                       \
    cublasStatus_t sg_st_ = (expr);                                                          \
    if (sg_st_ != CUBLAS_STATUS_SUCCESS)                                                     \
      throw ::sg::Error(::sg::str("cuBLAS error ", cublasGetStatusString(sg_st_), " in ", \
                                  #expr, " at ", __FILE__, ":", __LINE__));                  \
  } while (0)

#define SG_CUDNN_CHECK(expr)                                                                \
  do {                                                                                      \
    cudnnStatus_t sg_st_ = (expr);                                                          \
    if (sg_st_ != CUDNN_STATUS_SUCCESS)                                                     \
      throw ::sg::Error(::sg::str("cuDNN error ", cudnnGetErrorString(sg_st_), " in ", \
                                  #expr, " at ", __FILE__, ":", __LINE__));                 \
  } while (0)

namespace sg::cuda {
cublasHandle_t cublas();        // bound to stream()
cudnnHandle_t cudnn();          // bound to stream()
}  // namespace sg::cuda
#endif  // !SGSF_CUDA_EMULATION
#endif
