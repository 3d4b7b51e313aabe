// dispatch.h — how the op layer picks the CPU loop or the CUDA launcher of a kernel family.
//
//   SG_DISPATCH(x.device(), kernels::relu_cpu(...), kernels::relu_cuda(...));
//
// In a build without CUDA the second expression is never compiled, and a CUDA tensor (which cannot
// exist there) raises an error instead.
#pragma once
#include "engine/common.h"
#include "engine/device.h"

#ifdef SGSF_WITH_CUDA
#define SG_DISPATCH(dev, cpu_call, cuda_call) \
  do {                                        \
    if ((dev) == ::sg::Device::CUDA) {        \
      cuda_call;                              \
    } else {                                  \
      cpu_call;                               \
    }                                         \
  } while (0)
#else
#define SG_DISPATCH(dev, cpu_call, cuda_call)                                  \
  do {                                                                         \
    if ((dev) == ::sg::Device::CUDA) throw ::sg::Error("no CUDA in this build"); \
    cpu_call;                                                                  \
  } while (0)
#endif
