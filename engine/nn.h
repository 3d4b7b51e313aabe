// nn.h — modules: named parameters and buffers, child modules, train/eval, device moves; and the
// two layers the SGSF networks are made of, Conv2d and BatchNorm2d.
//
// A model is a Module subclass whose layers are members registered under a name:
//
//   struct Block : nn::Module {
//     std::shared_ptr<nn::Conv2d> conv1;
//     std::shared_ptr<nn::BatchNorm2d> bn1;
//     Block(Rng& rng, int cin, int cout) {
//       conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(rng, cin, cout, 3, 1, 1));
//       bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(rng, cout));
//     }
//     Tensor forward(const Tensor& x) { return relu(bn1->forward(conv1->forward(x))); }
//   };
//
// Names compose with dots: a Block registered as "enc1" owns "enc1.conv1.weight", ... Modules
// hold their tensors by handle; to(device) moves the storage under each handle in place, so every
// copy of a parameter handle (an optimiser's, a member's) stays valid and sees the new device.
//
// Layers are created on the CPU, their initial values drawn in registration order from the
// sg::Rng passed to their constructor (conv weight N(0, 0.02), conv bias 0, BN gamma N(1, 0.02),
// BN beta 0; see sgsf/README.md, 'Initialisation'), so two models built from one seed are
// identical. Move the model with to(device) afterwards.
//
// forward() is not virtual: each module defines the forward that fits its inputs.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/named_tensors.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace sg {

// Move the values (and an accumulated gradient) of a leaf tensor to `device` in place: the
// TensorImpl gets a new storage, so every handle to it follows. Views made earlier with reshape()
// keep the old storage. No-op when already there.
void move_to_device_(const Tensor& t, Device device);

namespace nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- registration (names: non-empty, no '.', unique within this module) -----------------
  // A trainable tensor: marked requires_grad. Returns the handle to keep as a member.
  Tensor register_parameter(const std::string& name, Tensor value);
  // A non-trainable tensor that belongs in checkpoints (e.g. batch-norm running statistics).
  Tensor register_buffer(const std::string& name, Tensor value);
  // A child module; its tensors appear as "name.<child's names>". Returns the child.
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }

  // ---- inspection (depth first: a module's own tensors, then each child in order) ----------
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  // Parameters and buffers of every module (pre-order: own parameters, own buffers, children):
  // what a checkpoint stores.
  NamedTensors state() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const {
    return children_;
  }
  int64_t num_parameters() const;
  // The device of the first tensor (CPU for a module without tensors).
  Device device() const;

  // ---- mode and housekeeping ---------------------------------------------------------------
  void train(bool on = true);  // this module and all children
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void to(Device device);  // every parameter and buffer, in place
  void zero_grad();        // drop the accumulated gradients of all parameters

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;

  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// 2-D convolution. x: (N, cin, H, W) -> (N, cout, (H + 2p - k) / s + 1, (W + 2p - k) / s + 1).
class Conv2d : public Module {
 public:
  Conv2d(Rng& rng, int in_channels, int out_channels, int kernel_size, int stride = 1,
         int padding = 0, bool bias = true);
  Tensor forward(const Tensor& x) const { return sg::conv2d(x, weight, bias, stride, padding); }

  Tensor weight;  // (cout, cin, k, k), N(0, 0.02)
  Tensor bias;    // (cout), zeros; undefined when built without bias
  int in_channels, out_channels, kernel_size, stride, padding;
};

// Batch normalisation over (N, H, W) per channel; batch statistics in training mode (updating
// the running statistics), running statistics in eval mode. x: (N, C, H, W) -> same shape.
class BatchNorm2d : public Module {
 public:
  BatchNorm2d(Rng& rng, int channels, float momentum = 0.1f, float eps = 1e-5f);
  // relu: relu(bn(x)) as one op; shift: bn(x + shift) with the shift folded in (see batch_norm2d).
  Tensor forward(const Tensor& x, bool relu = false, const Tensor& shift = Tensor()) {
    return sg::batch_norm2d(x, weight, bias, running_mean, running_var, is_training(), momentum,
                            eps, relu, shift);
  }

  Tensor weight;        // gamma (C), N(1, 0.02)
  Tensor bias;          // beta (C), zeros
  Tensor running_mean;  // buffer (C), zeros
  Tensor running_var;   // buffer (C), ones
  int channels;
  float momentum, eps;
};

// Conv2d (with its bias) -> BatchNorm2d with its running statistics -> ReLU, one or more such
// layers in a row, frozen for inference: the batch norm folded into the convolution's weights and
// bias (w * gamma / sqrt(var + eps) per output channel), the ReLU fused, and the whole chain run by
// oneDNN with its results kept in oneDNN's layout between the layers (dnnl_conv::InferenceChain).
// The same function as the layers in eval mode, rounded differently (tests/test_conv.cpp).
// A snapshot: the weights and statistics as they are when it is made; make a new one after
// changing them. Runs only where applies() says so; elsewhere the layers run as they are.
class FrozenConvBnRelu {
 public:
  // Null where the build has no oneDNN.
  static std::shared_ptr<const FrozenConvBnRelu> make(const std::vector<std::pair<const Conv2d*, const BatchNorm2d*>>& layers);
  // x on the CPU, no gradient wanted (grad mode off or nothing requiring it), float32 precision,
  // and conv2d on oneDNN now (cpu_conv()).
  static bool applies(const Tensor& x);
  Tensor forward(const Tensor& x) const;
  ~FrozenConvBnRelu();

 private:
  FrozenConvBnRelu() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nn
}  // namespace sg
