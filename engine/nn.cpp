// nn.cpp — Module bookkeeping (registration, naming, modes, device moves) and the construction and
// initialisation of Conv2d and BatchNorm2d (their forwards are one-liners in nn.h).
#include "engine/nn.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/dnnl_conv.h"
#include "engine/precision.h"

namespace sg {

void move_to_device_(const Tensor& t, Device device) {
  check_defined(t, "move_to_device_", "tensor");
  TensorImpl* impl = t.impl();
  if (impl->grad) move_to_device_(Tensor(impl->grad), device);
  if (impl->storage->device == device) return;
  SG_CHECK(!impl->grad_fn, "move_to_device_: only leaf tensors can move in place (this one is "
           "produced by ", impl->grad_fn->op, ")");
  SG_CHECK(device != Device::CUDA || cuda_available(), "move_to_device_: CUDA requested but ",
           cuda_device_info());
  int64_t n = numel_of(impl->shape);
  auto storage = std::make_shared<Storage>(n, device);
  copy_floats(storage->data, device, impl->storage->data, impl->storage->device, n);
  impl->storage = storage;
}

namespace nn {

// ---- registration -------------------------------------------------------------------------
void Module::check_new_name(const std::string& name, const char* what) const {
  SG_CHECK(!name.empty(), "Module::register_", what, ": empty name");
  SG_CHECK(name.find('.') == std::string::npos, "Module::register_", what, ": name '", name,
           "' contains '.' (dots separate the names of nested modules)");
  bool taken = false;
  for (const auto& kv : params_) taken |= kv.first == name;
  for (const auto& kv : buffers_) taken |= kv.first == name;
  for (const auto& kv : children_) taken |= kv.first == name;
  SG_CHECK(!taken, "Module::register_", what, ": name '", name, "' is already registered");
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name, "parameter");
  check_defined(value, "Module::register_parameter", name.c_str());
  SG_CHECK(value.is_leaf(), "Module::register_parameter: '", name, "' is not a leaf tensor");
  value.requires_grad_(true);
  params_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name, "buffer");
  check_defined(value, "Module::register_buffer", name.c_str());
  buffers_.emplace_back(name, value);
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name, "module");
  SG_CHECK(child != nullptr, "Module::register_module: '", name, "' is null");
  SG_CHECK(child.get() != this, "Module::register_module: '", name, "' is the module itself");
  children_.emplace_back(name, std::move(child));
}

// ---- inspection ---------------------------------------------------------------------------
void Module::collect(const std::string& prefix, bool params, bool buffers,
                     NamedTensors& out) const {
  if (params)
    for (const auto& kv : params_) out.emplace_back(prefix + kv.first, kv.second);
  if (buffers)
    for (const auto& kv : buffers_) out.emplace_back(prefix + kv.first, kv.second);
  for (const auto& kv : children_) kv.second->collect(prefix + kv.first + ".", params, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& kv : named_parameters()) out.push_back(kv.second);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& kv : named_parameters()) n += kv.second.numel();
  return n;
}

Device Module::device() const {
  NamedTensors s = state();
  return s.empty() ? Device::CPU : s.front().second.device();
}

// ---- mode and housekeeping ----------------------------------------------------------------
void Module::train(bool on) {
  training_ = on;
  for (auto& kv : children_) kv.second->train(on);
}

void Module::to(Device device) {
  for (auto& kv : state()) move_to_device_(kv.second, device);
}

void Module::zero_grad() {
  for (auto& kv : named_parameters()) kv.second.zero_grad();
}

// ---- layers -------------------------------------------------------------------------------
// A CPU tensor of `shape` filled with rng.normal(mean, std), drawn in flat (row-major) order.
static Tensor normal_from(Rng& rng, const Shape& shape, float mean, float std) {
  std::vector<float> v((size_t)numel_of(shape));
  for (float& x : v) x = rng.normal(mean, std);
  return Tensor::from_vector(shape, v, Device::CPU);
}

Conv2d::Conv2d(Rng& rng, int cin, int cout, int k, int stride_, int padding_, bool with_bias)
    : in_channels(cin), out_channels(cout), kernel_size(k), stride(stride_), padding(padding_) {
  SG_CHECK(cin > 0 && cout > 0 && k > 0 && stride_ > 0 && padding_ >= 0,
           "Conv2d: invalid configuration (in ", cin, ", out ", cout, ", kernel ", k, ", stride ",
           stride_, ", padding ", padding_, ")");
  weight = register_parameter("weight", normal_from(rng, {cout, cin, k, k}, 0.f, 0.02f));
  if (with_bias) bias = register_parameter("bias", Tensor::zeros({cout}, Device::CPU));
}

BatchNorm2d::BatchNorm2d(Rng& rng, int c, float momentum_, float eps_)
    : channels(c), momentum(momentum_), eps(eps_) {
  SG_CHECK(c > 0, "BatchNorm2d: invalid channel count ", c);
  SG_CHECK(momentum_ >= 0.f && momentum_ <= 1.f && eps_ > 0.f, "BatchNorm2d: momentum ", momentum_,
           " must lie in [0, 1] and eps ", eps_, " be positive");
  weight = register_parameter("weight", normal_from(rng, {c}, 1.f, 0.02f));
  bias = register_parameter("bias", Tensor::zeros({c}, Device::CPU));
  running_mean = register_buffer("running_mean", Tensor::zeros({c}, Device::CPU));
  running_var = register_buffer("running_var", Tensor::ones({c}, Device::CPU));
}

// ---- frozen conv -> batch norm -> ReLU chains ---------------------------------------------------

#ifdef SGSF_WITH_DNNL
struct FrozenConvBnRelu::Impl {
  explicit Impl(std::vector<dnnl_conv::ChainLayer> layers)
      : cin(layers.front().cin), cout(layers.back().cout), chain(std::move(layers)) {}
  int64_t cin, cout;
  dnnl_conv::InferenceChain chain;
};
#else
struct FrozenConvBnRelu::Impl {};
#endif

FrozenConvBnRelu::~FrozenConvBnRelu() = default;

std::shared_ptr<const FrozenConvBnRelu> FrozenConvBnRelu::make(
    const std::vector<std::pair<const Conv2d*, const BatchNorm2d*>>& layers) {
#ifdef SGSF_WITH_DNNL
  std::vector<dnnl_conv::ChainLayer> folded;
  for (const auto& [conv, bn] : layers) {
    SG_CHECK(conv->out_channels == bn->channels, "FrozenConvBnRelu: a convolution with ", conv->out_channels,
             " outputs before a batch norm of ", bn->channels, " channels");
    dnnl_conv::ChainLayer L;
    L.cin = conv->in_channels, L.cout = conv->out_channels, L.k = conv->kernel_size;
    L.stride = conv->stride, L.pad = conv->padding;
    const std::vector<float> w = conv->weight.to_vector(), gamma = bn->weight.to_vector(), beta = bn->bias.to_vector(),
                             mean = bn->running_mean.to_vector(), var = bn->running_var.to_vector();
    const std::vector<float> b = conv->bias.defined() ? conv->bias.to_vector() : std::vector<float>(L.cout, 0.f);
    const size_t per = w.size() / (size_t)L.cout;
    L.w.resize(w.size());
    L.b.resize((size_t)L.cout);
    for (size_t o = 0; o < (size_t)L.cout; ++o) {
      // In double, rounded once: y = gamma (conv + b - mean) / sqrt(var + eps) + beta.
      const double scale = (double)gamma[o] / std::sqrt((double)var[o] + (double)bn->eps);
      for (size_t k = 0; k < per; ++k) L.w[o * per + k] = (float)(w[o * per + k] * scale);
      L.b[o] = (float)(((double)b[o] - mean[o]) * scale + beta[o]);
    }
    folded.push_back(std::move(L));
  }
  SG_CHECK(!folded.empty(), "FrozenConvBnRelu: no layers");
  std::shared_ptr<FrozenConvBnRelu> f(new FrozenConvBnRelu());
  f->impl_ = std::make_unique<Impl>(std::move(folded));
  return f;
#else
  (void)layers;
  return nullptr;
#endif
}

bool FrozenConvBnRelu::applies(const Tensor& x) {
#ifdef SGSF_WITH_DNNL
  return x.defined() && x.device() == Device::CPU && (!grad_enabled() || !x.requires_grad()) &&
         precision() == Precision::FP32 && cpu_conv() == CpuConv::Onednn;
#else
  (void)x;
  return false;
#endif
}

Tensor FrozenConvBnRelu::forward(const Tensor& x) const {
#ifdef SGSF_WITH_DNNL
  SG_CHECK(applies(x), "FrozenConvBnRelu: not for this input (it runs on the CPU, in fp32, without gradients)");
  SG_CHECK(x.dim() == 4 && x.size(1) == impl_->cin, "FrozenConvBnRelu: input must be (N, ", impl_->cin,
           ", H, W), got ", shape_str(x.shape()));
  const auto [h, w] = impl_->chain.out_size(x.size(2), x.size(3));
  Tensor y = Tensor::empty({x.size(0), impl_->cout, h, w}, Device::CPU);
  if (y.numel() > 0) impl_->chain.forward(x.size(0), x.size(2), x.size(3), x.data(), y.data());
  return y;
#else
  return x;
#endif
}

}  // namespace nn
}  // namespace sg
