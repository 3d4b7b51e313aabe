// cuda_context.cpp — the cuBLAS / cuDNN handles, created on first use and bound to the one stream
// all work goes to (sg::cuda::stream(), the legacy default stream: kernels/cuda_launch.h).
#ifdef SGSF_WITH_CUDA
#include "engine/cuda_check.h"

namespace sg::cuda {

#ifndef SGSF_CUDA_EMULATION  // the emulated build has no cuBLAS or cuDNN (see engine/cuda_emu)

cublasHandle_t cublas() {
  static cublasHandle_t h = [] {
    cublasHandle_t handle;
    SG_CUBLAS_CHECK(cublasCreate(&handle));
    SG_CUBLAS_CHECK(cublasSetStream(handle, stream()));
    // Keep fp32 math exact (no TF32) so the GPU agrees with the CPU reference.
    SG_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
    return handle;
  }();
  return h;
}

cudnnHandle_t cudnn() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t handle;
    SG_CUDNN_CHECK(cudnnCreate(&handle));
    SG_CUDNN_CHECK(cudnnSetStream(handle, stream()));
    return handle;
  }();
  return h;
}

#endif

}  // namespace sg::cuda
#endif
