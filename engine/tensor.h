// tensor.h — the Tensor: a shape, a device and a reference-counted float32 storage.
//
// Tensors are always contiguous (row-major, NCHW for images). Copying a Tensor copies a handle:
// both refer to the same TensorImpl, like a shared_ptr. reshape() returns a view that shares the
// storage. Autograd state (requires_grad, grad, the node that produced the tensor) lives in the
// TensorImpl; see autograd.h for how backward() sweeps the graph.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/common.h"
#include "engine/device.h"

namespace sg {

// A block of float32 memory on one device; freed (returned to the allocator) with its last owner.
struct Storage {
  Storage(int64_t nfloats, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data = nullptr;
  int64_t size = 0;  // in floats
  Device device;
};

struct Node;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;     // the op that produced this tensor (null for leaves)
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (e.g. "no gradient")
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation ---------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, Device device = default_device());
  static Tensor zeros(const Shape& shape, Device device = default_device());
  static Tensor ones(const Shape& shape, Device device = default_device());
  static Tensor full(const Shape& shape, float value, Device device = default_device());
  // Seeded random tensors: drawn on the host from sg::Rng, so every device gets the same values.
  static Tensor uniform(const Shape& shape, float lo, float hi, uint64_t seed,
                        Device device = default_device());
  static Tensor normal(const Shape& shape, float mean, float std, uint64_t seed,
                       Device device = default_device());
  static Tensor from_host(const Shape& shape, const float* data, Device device = default_device());
  static Tensor from_vector(const Shape& shape, const std::vector<float>& data,
                            Device device = default_device());
  static Tensor scalar(float value, Device device = default_device());

  // ---- inspection -------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return (int64_t)shape().size(); }
  int64_t size(int64_t d) const;  // negative d counts from the back
  int64_t numel() const { return numel_of(shape()); }
  Device device() const;
  bool is_cuda() const { return device() == Device::CUDA; }
  float* data();  // device pointer (host pointer for CPU tensors)
  const float* data() const;
  std::string str() const;  // "(2, 3, 4) cpu"

  // ---- data movement ----------------------------------------------------------------------
  Tensor to(Device device) const;         // a copy on `device` (this tensor if already there)
  std::vector<float> to_vector() const;   // a host copy of the values
  float item() const;                     // the value of a one-element tensor
  Tensor clone() const;                   // a differentiable copy with its own storage
  Tensor detach() const;                  // same storage, cut from the graph
  Tensor reshape(const Shape& shape) const;  // a view; one dimension may be -1
  void copy_(const Tensor& src);          // overwrite values (no autograd); shapes must match
  void fill_(float value);                // overwrite values (no autograd)

  // ---- autograd ---------------------------------------------------------------------------
  Tensor& requires_grad_(bool on = true);
  bool requires_grad() const;
  Tensor grad() const;           // undefined until backward() reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();              // drop the accumulated gradient
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  // Reverse-mode sweep from this scalar (or from `grad` for a non-scalar); frees the graph.
  void backward(const Tensor& grad = Tensor()) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Throws sg::Error naming `op` unless the tensor is defined.
void check_defined(const Tensor& t, const char* op, const char* what);
// Throws sg::Error naming `op` unless a and b live on the same device.
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
// Throws sg::Error naming `op` and both shapes unless a and b have the same shape.
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);

// Copy `n` floats between any two devices (host<->device, device<->device, host<->host).
void copy_floats(float* dst, Device dst_dev, const float* src, Device src_dev, int64_t n);

}  // namespace sg
