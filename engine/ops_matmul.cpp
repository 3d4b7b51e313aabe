// ops_matmul.cpp — matrix product (M, K) x (K, N) -> (M, N) with its backward.
//
// CPU: Eigen on row-major Maps of the tensors' memory (no copies). GPU: cuBLAS sgemm. cuBLAS is
// column-major; a row-major matrix seen column-major is its transpose, so the row-major product
// C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T, i.e. sgemm with the
// operands swapped and the same transpose flags. The emulated CUDA build (engine/cuda_emu) has no
// cuBLAS: there the CPU GEMM runs on the device buffers.
// Backward of C = A B: dA = dC B^T (M, K), dB = A^T dC (K, N).
#include "engine/dispatch.h"
#include "engine/precision.h"
#include "engine/eigen_maps.h"
#include "engine/ops.h"
#include "engine/profile.h"
#ifdef SGSF_WITH_CUDA
#include "engine/cuda_check.h"
#endif

namespace sg {
namespace {

using eigen::CMap;
using eigen::MMap;

// C (M, N) = op(A) op(B), op(A) of shape (M, K), op(B) of shape (K, N); A is stored (M, K), or
// (K, M) when ta; B is stored (K, N), or (N, K) when tb. Row-major, contiguous.
void gemm_cpu(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
              float* C) {
  MMap c(C, M, N);
  if (K == 0) {
    c.setZero();
    return;
  }
  CMap a(A, ta ? K : M, ta ? M : K), b(B, tb ? N : K, tb ? K : N);
  if (!ta && !tb) c.noalias() = a * b;
  else if (!ta && tb) c.noalias() = a * b.transpose();
  else if (ta && !tb) c.noalias() = a.transpose() * b;
  else c.noalias() = a.transpose() * b.transpose();
}

#ifdef SGSF_WITH_CUDA
void gemm_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
               float* C) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    SG_CUDA_CHECK(cudaMemsetAsync(C, 0, sizeof(float) * (size_t)(M * N), cuda::stream()));
    return;
  }
#ifdef SGSF_CUDA_EMULATION
  cuda_emu::on_device(cuda::stream(), [&] { gemm_cpu(ta, tb, M, N, K, A, B, C); });
#else
  const float one = 1.f, zero = 0.f;
  int lda = (int)(ta ? M : K), ldb = (int)(tb ? K : N);
  // tf32 (engine/precision.h): TF32 tensor cores; otherwise exact float32 (the handle is shared, so
  // the mode is set per call: a host-side setting, no GPU work).
  SG_CUBLAS_CHECK(cublasSetMathMode(
      cuda::cublas(), precision() == Precision::TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  SG_CUBLAS_CHECK(cublasSgemm(cuda::cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              (int)N, (int)M, (int)K, &one, B, ldb, A, lda, &zero, C, (int)N));
#endif
}
#endif

void gemm(Device d, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A,
          const float* B, float* C) {
  SG_DISPATCH(d, gemm_cpu(ta, tb, M, N, K, A, B, C), gemm_cuda(ta, tb, M, N, K, A, B, C));
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  SG_PROFILE_OP("matmul");
  check_defined(a, "matmul", "first input");
  check_defined(b, "matmul", "second input");
  check_same_device(a, b, "matmul");
  SG_CHECK(a.dim() == 2 && b.dim() == 2, "matmul: expects two 2-D tensors, got ",
           shape_str(a.shape()), " and ", shape_str(b.shape()));
  SG_CHECK(a.size(1) == b.size(0), "matmul: inner dimensions differ: ", shape_str(a.shape()),
           " x ", shape_str(b.shape()));
  const int64_t M = a.size(0), K = a.size(1), N = b.size(1);
  Tensor out = Tensor::empty({M, N}, a.device());
  gemm(a.device(), false, false, M, N, K, a.data(), b.data(), out.data());
  if (!grad_enabled() || !(a.requires_grad() || b.requires_grad())) return out;
  bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return attach_grad(out, "matmul", {a, b}, [=](const Tensor& g) {
    Tensor ga, gb;
    if (need_a) {  // dA (M, K) = dC (M, N) B^T
      ga = Tensor::empty({M, K}, g.device());
      gemm(g.device(), false, true, M, K, N, g.data(), b.data(), ga.data());
    }
    if (need_b) {  // dB (K, N) = A^T dC
      gb = Tensor::empty({K, N}, g.device());
      gemm(g.device(), true, false, K, N, M, a.data(), g.data(), gb.data());
    }
    return std::vector<Tensor>{ga, gb};
  });
}

}  // namespace sg
