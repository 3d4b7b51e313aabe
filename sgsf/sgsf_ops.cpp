// sgsf_ops.cpp — the op layer of the SGSF kernel families: validate shapes and devices (errors
// name the op and the shapes), dispatch to kernels/{perlin,sam,ssim,focal,guided_concat}.*, and
// attach the hand-written backward passes (derivations in the kernel headers).
#include "sgsf/sgsf_ops.h"

#include <cmath>

#include "engine/dispatch.h"
#include "kernels/focal.h"
#include "kernels/guided_concat.h"
#include "kernels/perlin.h"
#include "kernels/random.h"
#include "kernels/sam.h"
#include "kernels/ssim.h"
#include "engine/profile.h"

namespace sg::sgsf {
namespace {

// A scratch buffer of `bytes` bytes on `device`, held by a float tensor (the engine has one dtype).
Tensor scratch_bytes(size_t bytes, Device device) {
  return Tensor::empty({(int64_t)((bytes + sizeof(float) - 1) / sizeof(float))}, device);
}

void check_nchw(const Tensor& t, const char* op, const char* what, int64_t channels = -1) {
  check_defined(t, op, what);
  SG_CHECK(t.dim() == 4, op, ": ", what, " must be (N, C, H, W), got ", shape_str(t.shape()));
  SG_CHECK(channels < 0 || t.size(1) == channels, op, ": ", what, " must have ", channels, " channel(s), got ",
           shape_str(t.shape()));
}

}  // namespace

// ---- Perlin noise -------------------------------------------------------------------------------
Tensor perlin_noise(int64_t n, int64_t h, int64_t w, uint64_t seed, Device device) {
  SG_PROFILE_OP("perlin_noise");
  SG_CHECK(n > 0 && h > 0 && w > 0, "perlin_noise: sizes must be positive, got n=", n, " h=", h, " w=", w);
  static_assert(sizeof(kernels::PerlinSample) % sizeof(float) == 0, "PerlinSample must be float-sized");
  std::vector<kernels::PerlinSample> params((size_t)n);
  for (int64_t s = 0; s < n; ++s) params[(size_t)s] = kernels::perlin_sample_params(seed, s);
  Tensor out = Tensor::empty({n, 1, h, w}, device);
  SG_CHECK(h < (1 << 30) && w < (1 << 30), "perlin_noise: size too large, h=", h, " w=", w);
  Tensor grads = Tensor::empty({n, kernels::kPerlinLattice, kernels::kPerlinLattice, 2}, device);
  Tensor field = Tensor::empty({n, 1, h, w}, device);  // the unrotated noise
  const int hi = (int)h, wi = (int)w;
  SG_DISPATCH(device,
              (kernels::perlin_gradients_cpu(seed, n, grads.data()),
               kernels::perlin_field_cpu(params.data(), grads.data(), n, hi, wi, field.data()),
               kernels::perlin_rotate_cpu(params.data(), field.data(), n, hi, wi, out.data())),
              {
                Tensor pt = scratch_bytes(sizeof(kernels::PerlinSample) * (size_t)n, device);
                auto* pd = reinterpret_cast<kernels::PerlinSample*>(pt.data());
                kernels::perlin_params_cuda(seed, n, pd);
                kernels::perlin_gradients_cuda(seed, n, grads.data());
                kernels::perlin_field_cuda(pd, grads.data(), n, hi, wi, field.data());
                kernels::perlin_rotate_cuda(pd, field.data(), n, hi, wi, out.data());
              });
  return out;
}

// ---- SAM ----------------------------------------------------------------------------------------
Forged forge_anomalies(const Tensor& A, const Tensor& S, const Tensor& B, const Tensor& noise, const SamParams& p,
                       uint64_t seed) {
  const char* op = "forge_anomalies";
  SG_PROFILE_OP(op);
  check_nchw(A, op, "A", 3);
  check_nchw(S, op, "S", 1);
  check_nchw(B, op, "B", 3);
  check_nchw(noise, op, "noise", 1);
  check_same_shape(A, B, op);
  check_same_shape(S, noise, op);
  SG_CHECK(S.size(0) == A.size(0) && S.size(2) == A.size(2) && S.size(3) == A.size(3), op, ": S ",
           shape_str(S.shape()), " does not match A ", shape_str(A.shape()));
  check_same_device(A, S, op);
  check_same_device(A, B, op);
  check_same_device(A, noise, op);
  const int64_t n = A.size(0), c = A.size(1), hw = A.size(2) * A.size(3);
  const Device dev = A.device();

  // Pass 1: per-sample sum of S (double). Pass 2 derives each sample's scalars from it where it
  // runs; the host draws the same forged/alpha values for the caller, with no copy back.
  const kernels::SamConfig cfg{p.a, p.b, p.alpha_lo, p.alpha_hi, p.forge_prob};
  Tensor sums = scratch_bytes(sizeof(double) * (size_t)n, dev);
  double* sums_p = reinterpret_cast<double*>(sums.data());
  Forged f;
  f.image = Tensor::empty(A.shape(), dev);
  f.mask = Tensor::empty(S.shape(), dev);
  f.mask_pixels = Tensor::empty({n}, dev);
  SG_DISPATCH(dev,
              (kernels::sam_saliency_sum_cpu(S.data(), n, hw, sums_p),
               kernels::sam_forge_cpu(A.data(), S.data(), B.data(), noise.data(), seed, cfg, sums_p, n, c, hw,
                                      f.image.data(), f.mask.data(), f.mask_pixels.data())),
              (kernels::sam_saliency_sum_cuda(S.data(), n, hw, sums_p),
               kernels::sam_forge_cuda(A.data(), S.data(), B.data(), noise.data(), seed, cfg, sums_p, n, c, hw,
                                       f.image.data(), f.mask.data(), f.mask_pixels.data())));
  f.forged.resize((size_t)n);
  f.alpha.resize((size_t)n);
  for (int64_t k = 0; k < n; ++k) {  // the draws only: the saliency sum does not change them
    const kernels::SamSample sk = kernels::sam_sample(seed, k, cfg, 1.0, hw);
    f.forged[(size_t)k] = sk.forged;
    f.alpha[(size_t)k] = sk.alpha;
  }
  return f;
}

std::vector<float> Forged::mask_fraction() const {
  std::vector<float> v = mask_pixels.to_vector();
  const float hw = (float)(mask.size(2) * mask.size(3));
  for (float& x : v) x /= hw;
  return v;
}

// ---- SSIM ---------------------------------------------------------------------------------------
namespace {

void check_ssim_inputs(const Tensor& x, const Tensor& y, const char* op) {
  check_nchw(x, op, "first input");
  check_nchw(y, op, "second input");
  check_same_shape(x, y, op);
  check_same_device(x, y, op);
}

}  // namespace

Tensor ssim_map(const Tensor& x, const Tensor& y) {
  SG_PROFILE_OP("ssim_map");
  check_ssim_inputs(x, y, "ssim_map");
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const kernels::SsimTaps taps = kernels::ssim_gaussian_taps();
  Tensor map = Tensor::empty(x.shape(), x.device());
  SG_DISPATCH(x.device(),
              kernels::ssim_forward_cpu(x.data(), y.data(), planes, h, w, taps, map.data(), nullptr, nullptr, nullptr),
              kernels::ssim_forward_cuda(x.data(), y.data(), planes, h, w, taps, map.data(), nullptr, nullptr, nullptr));
  return map;
}

Tensor ssim_mean(const Tensor& recon, const Tensor& target) {
  SG_PROFILE_OP("ssim");
  check_ssim_inputs(recon, target, "ssim_mean");
  const int64_t planes = recon.size(0) * recon.size(1), h = recon.size(2), w = recon.size(3);
  const kernels::SsimTaps taps = kernels::ssim_gaussian_taps();
  const Device dev = recon.device();
  const bool want_grad = grad_enabled() && recon.requires_grad();
  Tensor map = Tensor::empty(recon.shape(), dev);
  Tensor coef;  // (3, N, C, H, W): dS/dmu_x, dS/dE[x^2], dS/dE[xy] per pixel
  float *d_mx = nullptr, *d_exx = nullptr, *d_exy = nullptr;
  if (want_grad) {
    coef = Tensor::empty({3, recon.size(0), recon.size(1), h, w}, dev);
    d_mx = coef.data();
    d_exx = d_mx + recon.numel();
    d_exy = d_exx + recon.numel();
  }
  SG_DISPATCH(dev, kernels::ssim_forward_cpu(recon.data(), target.data(), planes, h, w, taps, map.data(), d_mx, d_exx, d_exy),
              kernels::ssim_forward_cuda(recon.data(), target.data(), planes, h, w, taps, map.data(), d_mx, d_exx, d_exy));
  Tensor out;
  {
    NoGradGuard ng;
    out = mean(map);
  }
  if (!want_grad) return out;
  Tensor x = recon.detach(), y = target.detach();
  return attach_grad(out, "ssim_mean", {recon}, [x, y, coef, taps](const Tensor& g) {
    const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), m = x.numel();
    const float scale = 1.f / (float)m;
    Tensor gx = Tensor::empty(x.shape(), x.device());
    const float* c = coef.data();
    SG_DISPATCH(x.device(),
                kernels::ssim_backward_cpu(x.data(), y.data(), c, c + m, c + 2 * m, planes, h, w, taps, g.data(), scale, gx.data()),
                kernels::ssim_backward_cuda(x.data(), y.data(), c, c + m, c + 2 * m, planes, h, w, taps, g.data(), scale, gx.data()));
    return std::vector<Tensor>{gx};
  });
}

Tensor ssim_loss(const Tensor& recon, const Tensor& target) { return rsub_scalar(1.f, ssim_mean(recon, target)); }

// ---- focal loss ---------------------------------------------------------------------------------
Tensor focal_loss(const Tensor& logits, const Tensor& mask, float gamma) {
  SG_PROFILE_OP("focal_loss");
  const char* op = "focal_loss";
  check_nchw(logits, op, "logits", 2);
  check_nchw(mask, op, "mask", 1);
  SG_CHECK(mask.size(0) == logits.size(0) && mask.size(2) == logits.size(2) && mask.size(3) == logits.size(3), op,
           ": mask ", shape_str(mask.shape()), " does not match logits ", shape_str(logits.shape()));
  check_same_device(logits, mask, op);
  const int64_t n = logits.size(0), hw = logits.size(2) * logits.size(3);
  const Device dev = logits.device();
  Tensor loss = Tensor::empty(mask.shape(), dev), dz = Tensor::empty(mask.shape(), dev);
  SG_DISPATCH(dev, kernels::focal_forward_cpu(logits.data(), mask.data(), n, hw, gamma, loss.data(), dz.data()),
              kernels::focal_forward_cuda(logits.data(), mask.data(), n, hw, gamma, loss.data(), dz.data()));
  Tensor out;
  {
    NoGradGuard ng;
    out = mean(loss);
  }
  if (!grad_enabled() || !logits.requires_grad()) return out;
  Shape ls = logits.shape();
  return attach_grad(out, op, {logits}, [dz, ls, n, hw](const Tensor& g) {
    Tensor gl = Tensor::empty(ls, g.device());
    const float scale = 1.f / (float)(n * hw);
    SG_DISPATCH(g.device(), kernels::focal_backward_cpu(dz.data(), g.data(), scale, n, hw, gl.data()),
                kernels::focal_backward_cuda(dz.data(), g.data(), scale, n, hw, gl.data()));
    return std::vector<Tensor>{gl};
  });
}

// ---- guided concatenation -----------------------------------------------------------------------
Tensor guided_concat(const Tensor& seg, const Tensor& guide) {
  SG_PROFILE_OP("guided_concat");
  const char* op = "guided_concat";
  check_nchw(seg, op, "seg");
  check_nchw(guide, op, "guide");
  SG_CHECK(seg.size(0) == guide.size(0) && seg.size(2) == guide.size(2) && seg.size(3) == guide.size(3), op,
           ": seg ", shape_str(seg.shape()), " and guide ", shape_str(guide.shape()), " differ outside channels");
  check_same_device(seg, guide, op);
  const int64_t n = seg.size(0), c1 = seg.size(1), c2 = guide.size(1), hw = seg.size(2) * seg.size(3);
  Tensor out = Tensor::empty({n, c1 + c2, seg.size(2), seg.size(3)}, seg.device());
  SG_DISPATCH(seg.device(), kernels::guided_concat_cpu(seg.data(), guide.data(), n, c1, c2, hw, out.data()),
              kernels::guided_concat_cuda(seg.data(), guide.data(), n, c1, c2, hw, out.data()));
  if (!grad_enabled() || !(seg.requires_grad() || guide.requires_grad())) return out;
  const bool need_s = seg.requires_grad(), need_g = guide.requires_grad();
  Shape ss = seg.shape(), gs = guide.shape();
  return attach_grad(out, op, {seg, guide}, [=](const Tensor& g) {
    Tensor gseg = need_s ? Tensor::empty(ss, g.device()) : Tensor();
    Tensor gguide = need_g ? Tensor::empty(gs, g.device()) : Tensor();
    float* ps = need_s ? gseg.data() : nullptr;
    float* pg = need_g ? gguide.data() : nullptr;
    SG_DISPATCH(g.device(), kernels::guided_concat_backward_cpu(g.data(), n, c1, c2, hw, ps, pg),
                kernels::guided_concat_backward_cuda(g.data(), n, c1, c2, hw, ps, pg));
    return std::vector<Tensor>{gseg, gguide};
  });
}

}  // namespace sg::sgsf
