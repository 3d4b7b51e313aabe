// tensor.cpp — storage, creation, copies and views of sg::Tensor.
#include "engine/tensor.h"

#include <cstring>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/rng.h"
#ifdef SGSF_WITH_CUDA
#include "engine/cuda_check.h"
#endif

namespace sg {

// ---- storage ------------------------------------------------------------------------------
Storage::Storage(int64_t nfloats, Device dev) : size(nfloats), device(dev) {
  data = static_cast<float*>(allocate(dev, (size_t)nfloats * sizeof(float)));
}
Storage::~Storage() { deallocate(device, data, (size_t)size * sizeof(float)); }

void copy_floats(float* dst, Device dst_dev, const float* src, Device src_dev, int64_t n) {
  if (n <= 0 || dst == src) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memcpy(dst, src, (size_t)n * sizeof(float));
    return;
  }
#ifdef SGSF_WITH_CUDA
  cudaMemcpyKind kind = dst_dev == Device::CUDA
                            ? (src_dev == Device::CUDA ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                            : cudaMemcpyDeviceToHost;
  SG_CUDA_CHECK(cudaMemcpyAsync(dst, src, (size_t)n * sizeof(float), kind, cuda::stream()));
  if (kind == cudaMemcpyDeviceToHost) {
    note_cuda_host_wait();
    SG_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  }
#else
  throw Error("copy: this build has no CUDA backend");
#endif
}

// ---- creation -----------------------------------------------------------------------------
static void check_shape(const Shape& shape, const char* op) {
  for (int64_t d : shape)
    SG_CHECK(d >= 0, op, ": negative dimension in shape ", shape_str(shape));
}

Tensor Tensor::empty(const Shape& shape, Device device) {
  check_shape(shape, "Tensor::empty");
  if (device == Device::CUDA)
    SG_CHECK(cuda_available(), "Tensor: CUDA tensor requested but ", cuda_device_info());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape), device);
  impl->shape = shape;
  return Tensor(impl);
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.f, device); }
Tensor Tensor::ones(const Shape& shape, Device device) { return full(shape, 1.f, device); }
Tensor Tensor::scalar(float value, Device device) { return full({}, value, device); }

Tensor Tensor::from_host(const Shape& shape, const float* data, Device device) {
  Tensor t = empty(shape, device);
  copy_floats(t.data(), device, data, Device::CPU, t.numel());
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& data, Device device) {
  SG_CHECK((int64_t)data.size() == numel_of(shape), "Tensor::from_vector: ", data.size(),
           " values do not fill shape ", shape_str(shape));
  return from_host(shape, data.data(), device);
}

Tensor Tensor::uniform(const Shape& shape, float lo, float hi, uint64_t seed, Device device) {
  check_shape(shape, "Tensor::uniform");
  Rng rng(seed);
  std::vector<float> v((size_t)numel_of(shape));
  for (float& x : v) x = rng.uniform(lo, hi);
  return from_host(shape, v.data(), device);
}

Tensor Tensor::normal(const Shape& shape, float mean, float std, uint64_t seed, Device device) {
  check_shape(shape, "Tensor::normal");
  Rng rng(seed);
  std::vector<float> v((size_t)numel_of(shape));
  for (float& x : v) x = rng.normal(mean, std);
  return from_host(shape, v.data(), device);
}

// ---- inspection ---------------------------------------------------------------------------
const Shape& Tensor::shape() const {
  SG_CHECK(impl_, "Tensor: use of an undefined tensor");
  return impl_->shape;
}
int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  int64_t i = d < 0 ? d + n : d;
  SG_CHECK(i >= 0 && i < n, "Tensor::size: dimension ", d, " out of range for shape ",
           shape_str(shape()));
  return impl_->shape[(size_t)i];
}
Device Tensor::device() const {
  SG_CHECK(impl_, "Tensor: use of an undefined tensor");
  return impl_->storage->device;
}
float* Tensor::data() {
  SG_CHECK(impl_, "Tensor: use of an undefined tensor");
  return impl_->storage->data;
}
const float* Tensor::data() const {
  SG_CHECK(impl_, "Tensor: use of an undefined tensor");
  return impl_->storage->data;
}
std::string Tensor::str() const {
  if (!impl_) return "(undefined)";
  return shape_str(shape()) + " " + device_name(device());
}

// ---- data movement ------------------------------------------------------------------------
Tensor Tensor::to(Device dev) const {
  if (device() == dev) return *this;
  Tensor out = empty(shape(), dev);
  copy_floats(out.data(), dev, data(), device(), numel());
  if (requires_grad() && grad_enabled()) {
    Device src_dev = device();
    return attach_grad(out, "to", {*this}, [src_dev](const Tensor& g) {
      return std::vector<Tensor>{g.to(src_dev)};
    });
  }
  return out;
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v((size_t)numel());
  copy_floats(v.data(), Device::CPU, data(), device(), numel());
  return v;
}

float Tensor::item() const {
  SG_CHECK(numel() == 1, "Tensor::item: tensor of shape ", shape_str(shape()),
           " has more than one element");
  float v = 0;
  copy_floats(&v, Device::CPU, data(), device(), 1);
  return v;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), device());
  copy_floats(out.data(), device(), data(), device(), numel());
  return attach_grad(out, "clone", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  return Tensor(impl);
}

Tensor Tensor::reshape(const Shape& new_shape) const {
  Shape s = new_shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      SG_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(new_shape));
      infer = (int64_t)i;
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    SG_CHECK(known > 0 && numel() % known == 0, "reshape: cannot view ", shape_str(shape()),
             " as ", shape_str(new_shape));
    s[(size_t)infer] = numel() / known;
  }
  SG_CHECK(numel_of(s) == numel(), "reshape: cannot view ", shape_str(shape()), " (",
           numel(), " elements) as ", shape_str(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = s;
  Tensor out(impl);
  Shape old_shape = shape();
  return attach_grad(out, "reshape", {*this}, [old_shape](const Tensor& g) {
    return std::vector<Tensor>{g.reshape(old_shape)};
  });
}

void Tensor::copy_(const Tensor& src) {
  check_same_shape(*this, src, "copy_");
  copy_floats(data(), device(), src.data(), src.device(), numel());
}

// Tensor::fill_ is defined in ops_elementwise.cpp, beside the fill kernel it launches.

// ---- autograd -----------------------------------------------------------------------------
Tensor& Tensor::requires_grad_(bool on) {
  SG_CHECK(impl_, "requires_grad_: undefined tensor");
  SG_CHECK(!on || !impl_->grad_fn, "requires_grad_: only leaf tensors can be marked (this one is ",
           "produced by ", impl_->grad_fn ? impl_->grad_fn->op : "", ")");
  impl_->requires_grad = on;
  return *this;
}
bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }
Tensor Tensor::grad() const { return impl_ && impl_->grad ? Tensor(impl_->grad) : Tensor(); }
void Tensor::set_grad(const Tensor& g) { impl_->grad = g.impl_ptr(); }
void Tensor::zero_grad() {
  if (impl_) impl_->grad.reset();
}
bool Tensor::is_leaf() const { return !impl_ || !impl_->grad_fn; }
const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl_ ? impl_->grad_fn : none;
}
void Tensor::backward(const Tensor& grad) const { run_backward(*this, grad); }

// ---- checks -------------------------------------------------------------------------------
void check_defined(const Tensor& t, const char* op, const char* what) {
  SG_CHECK(t.defined(), op, ": ", what, " is an undefined tensor");
}
void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  SG_CHECK(a.device() == b.device(), op, ": inputs on different devices (", device_name(a.device()),
           " and ", device_name(b.device()), ")");
}
void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  SG_CHECK(a.shape() == b.shape(), op, ": shape mismatch ", shape_str(a.shape()), " vs ",
           shape_str(b.shape()));
}

}  // namespace sg
