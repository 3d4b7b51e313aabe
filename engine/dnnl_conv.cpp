// dnnl_conv.cpp — conv2d's oneDNN side (see dnnl_conv.h).
#include "engine/dnnl_conv.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>
#include <tuple>
#include <unordered_map>

#include "engine/common.h"
#include "engine/precision.h"

#ifdef SGSF_WITH_DNNL
#include <dnnl.hpp>
#endif

namespace sg {

namespace {
CpuConv initial_choice() {
#ifdef SGSF_WITH_DNNL
  const char* env = std::getenv("SGSF_CPU_CONV");
  if (env && std::strcmp(env, "im2col") == 0) return CpuConv::Im2col;
  return CpuConv::Onednn;
#else
  return CpuConv::Im2col;
#endif
}
CpuConv g_choice = initial_choice();
bool g_winograd = [] {
  const char* env = std::getenv("SGSF_ONEDNN_WINOGRAD");
  return !(env && std::strcmp(env, "0") == 0);
}();
}  // namespace

bool onednn_available() {
#ifdef SGSF_WITH_DNNL
  return true;
#else
  return false;
#endif
}
CpuConv cpu_conv() { return g_choice; }
void set_cpu_conv(CpuConv c) {
  SG_CHECK(c != CpuConv::Onednn || onednn_available(), "conv2d: this build has no oneDNN (libdnnl-dev)");
  g_choice = c;
}
const char* cpu_conv_name(CpuConv c) { return c == CpuConv::Onednn ? "oneDNN" : "im2col + Eigen GEMM"; }
bool onednn_winograd() { return g_winograd; }
void set_onednn_winograd(bool on) { g_winograd = on; }
bool onednn_winograd_shape(const cudnn_conv::ConvShape& s) {
  return s.kh == 3 && s.kw == 3 && s.stride == 1 && s.Cin >= 32 && s.Cout >= 32 && s.Cin % 16 == 0 &&
         s.Cout % 16 == 0;
}

#ifdef SGSF_WITH_DNNL
namespace dnnl_conv {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
// Each calling thread has its own stream and buffers, so that threads convolve at once (several
// Detector::detect calls in one process): the cached primitives are immutable and oneDNN lets any
// number of threads execute one, each with its own scratchpad.
dnnl::stream& cpu_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

// Reorder buffers, per thread and shared by every shape: one per role a call can need at once,
// grown to the largest request and kept. Role 3 is the primitives' scratchpad, which this file
// owns (scratchpad_mode::user): oneDNN's own would belong to the thread that created the
// primitive, and a cached primitive may run on another thread after that one has ended.
void* scratch(int role, size_t bytes) {
  struct Buffer {
    void* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buf[4];
  Buffer& b = buf[role];
  if (b.size < bytes) {
    std::free(b.p);
    b.size = (bytes + 63) / 64 * 64;
    b.p = std::aligned_alloc(64, b.size);
    SG_CHECK(b.p, "conv2d: out of memory for a ", b.size, "-byte oneDNN reorder buffer");
  }
  return b.p;
}

// A plain tensor the caller owns, seen through the layout a primitive wants: either the caller's
// buffer itself (same layout) or a scratch buffer in the primitive's layout with a reorder, in
// for what the primitive reads, out for what it writes. The reorder is made once, with the plan
// (one made per call costs a primitive descriptor and a cache lookup every time).
enum class Way { In, Out };
struct Port {
  memory::desc plain, want;
  int role = 0;           // which scratch buffer holds the reordered copy
  dnnl::reorder reorder;  // In: plain -> want; Out: want -> plain (when reordered)
  bool reordered() const { return want != plain; }
  void init(const memory::desc& p, const memory::desc& w, int r, Way way) {
    plain = p;
    want = w;
    role = r;
    if (!reordered()) return;
    reorder = way == Way::In ? dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), plain, cpu_engine(), want))
                             : dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), want, cpu_engine(), plain));
  }
  memory buffer() const { return memory(want, cpu_engine(), scratch(role, want.get_size())); }
  // The memory the primitive reads: the caller's data, reordered in when needed.
  memory in(const float* data) const {
    memory user(plain, cpu_engine(), const_cast<float*>(data));
    if (!reordered()) return user;
    memory b = buffer();
    reorder.execute(cpu_stream(), user, b);
    return b;
  }
  // The memory the primitive writes; finish() moves it to the caller's buffer.
  memory out(float* data) const { return reordered() ? buffer() : memory(plain, cpu_engine(), data); }
  void finish(float* data) const {
    if (!reordered()) return;
    memory user(plain, cpu_engine(), data), b = buffer();
    reorder.execute(cpu_stream(), b, user);
  }
};

// The scratchpad a primitive wants, in role 3.
memory scratchpad(const memory::desc& d) { return memory(d, cpu_engine(), scratch(3, d.get_size())); }

struct Plan {
  dnnl::algorithm alg = dnnl::algorithm::convolution_direct;
  memory::desc fwd_sp, bd_sp, bw_sp;  // scratchpads
  dnnl::convolution_forward fwd;
  Port fwd_x, fwd_w, fwd_y;
  memory::desc bias;
  bool has_bw = false;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights bwd_weights;
  Port bd_gy, bd_w, bd_gx, bw_x, bw_gy, bw_gw;
};

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, bool>;

struct Geometry {
  memory::dims x, w, y, b, strides, pad_l, pad_r;
  explicit Geometry(const ConvShape& s)
      : x{s.N, s.Cin, s.H, s.W},
        w{s.Cout, s.Cin, s.kh, s.kw},
        y{s.N, s.Cout, s.Hout, s.Wout},
        b{s.Cout},
        strides{s.stride, s.stride},
        pad_l{s.pad, s.pad},
        // oneDNN wants the padding that makes the sizes agree on the right/bottom edge
        pad_r{(s.Hout - 1) * s.stride + s.kh - s.H - s.pad, (s.Wout - 1) * s.stride + s.kw - s.W - s.pad} {}
};

// Guards the plan cache (lookup, creation, a plan's backward half added): held while a plan is
// found, not while it runs.
std::mutex& call_mutex() {
  static std::mutex mu;
  return mu;
}

// The three primitive descriptors of one algorithm; throws dnnl::error where this CPU has no
// implementation of it (oneDNN's Winograd kernels need AVX-512).
struct Descs {
  dnnl::algorithm alg;
  dnnl::convolution_forward::primitive_desc fwd;
  dnnl::convolution_backward_data::primitive_desc data;
  dnnl::convolution_backward_weights::primitive_desc weights;
};
// In bf16 the operands a pass multiplies (inputs, weights, output gradients) are bf16 and what it
// produces (outputs, input and weight gradients) float32; oneDNN accumulates in float32. The
// plain float32 tensors are converted by the reorders that also change their layout.
Descs make_descs(const Geometry& g, bool bias, dnnl::algorithm alg, bool bf16) {
  const dt op = bf16 ? dt::bf16 : dt::f32;
  const memory::desc any_x(g.x, op, tag::any), any_w(g.w, op, tag::any), any_y(g.y, dt::f32, tag::any);
  const memory::desc bias_md = bias ? memory::desc(g.b, dt::f32, tag::x) : memory::desc();
  const dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, alg, any_x, any_w, bias_md, any_y,
                                           g.strides, g.pad_l, g.pad_r);
  // The backward passes: gradients out in float32, the output gradient in as an operand.
  const memory::desc any_gx(g.x, dt::f32, tag::any), any_gw(g.w, dt::f32, tag::any), any_gy(g.y, op, tag::any);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::convolution_forward::primitive_desc fpd(fd, attr, cpu_engine());
  const dnnl::convolution_backward_data::desc dd(alg, any_gx, any_w, any_gy, g.strides, g.pad_l, g.pad_r);
  const dnnl::convolution_backward_weights::desc wd(alg, any_x, any_gw, any_gy, g.strides, g.pad_l, g.pad_r);
  return {alg, fpd, dnnl::convolution_backward_data::primitive_desc(dd, attr, cpu_engine(), fpd),
          dnnl::convolution_backward_weights::primitive_desc(wd, attr, cpu_engine(), fpd)};
}

// Every pass of a shape uses one algorithm: Winograd where onednn_winograd_shape() allows it and
// the CPU has it (float32 only), else direct.
Descs choose_descs(const ConvShape& s, const Geometry& g, bool bias, bool bf16) {
  if (!bf16 && onednn_winograd() && onednn_winograd_shape(s)) {
    try {
      return make_descs(g, bias, dnnl::algorithm::convolution_winograd, false);
    } catch (const dnnl::error&) {  // not implemented on this CPU: direct below
    }
  }
  try {
    return make_descs(g, bias, dnnl::algorithm::convolution_direct, bf16);
  } catch (const dnnl::error& e) {
    if (!bf16) throw;
    throw Error(str("conv2d: oneDNN has no bf16 convolution on this CPU (", e.what(),
                    "); run in fp32, or with SGSF_CPU_CONV=im2col"));
  }
}

Plan& plan_for(const ConvShape& s, bool bias, bool backward) {
  static std::map<Key, std::unique_ptr<Plan>> cache;
  const bool bf16 = precision() == Precision::BF16;
  std::unique_ptr<Plan>& slot =
      cache[Key{s.N, s.Cin, s.H, s.W, s.Cout, s.kh, s.kw, s.stride, s.pad, bias, onednn_winograd(), bf16}];
  if (slot && (slot->has_bw || !backward)) return *slot;
  const Geometry g(s);
  const memory::desc plain_x(g.x, dt::f32, tag::nchw), plain_w(g.w, dt::f32, tag::oihw),
      plain_y(g.y, dt::f32, tag::nchw);
  const Descs d = choose_descs(s, g, bias, bf16);
  if (!slot) {
    slot = std::make_unique<Plan>();
    slot->alg = d.alg;
    slot->fwd = dnnl::convolution_forward(d.fwd);
    slot->fwd_sp = d.fwd.scratchpad_desc();
    slot->fwd_x.init(plain_x, d.fwd.src_desc(), 0, Way::In);
    slot->fwd_w.init(plain_w, d.fwd.weights_desc(), 1, Way::In);
    slot->fwd_y.init(plain_y, d.fwd.dst_desc(), 2, Way::Out);
    slot->bias = d.fwd.bias_desc();  // a zero desc without a bias
  }
  Plan& p = *slot;
  if (backward) {
    p.bwd_data = dnnl::convolution_backward_data(d.data);
    p.bwd_weights = dnnl::convolution_backward_weights(d.weights);
    p.bd_sp = d.data.scratchpad_desc();
    p.bw_sp = d.weights.scratchpad_desc();
    // Roles: the output gradient stays in buffer 0 from the data pass to the weights pass when
    // both want the same layout; the weights pass then reuses 1 and 2.
    p.bd_gy.init(plain_y, d.data.diff_dst_desc(), 0, Way::In);
    p.bd_w.init(plain_w, d.data.weights_desc(), 1, Way::In);
    p.bd_gx.init(plain_x, d.data.diff_src_desc(), 2, Way::Out);
    p.bw_gy.init(plain_y, d.weights.diff_dst_desc(), 0, Way::In);
    p.bw_x.init(plain_x, d.weights.src_desc(), 1, Way::In);
    p.bw_gw.init(plain_w, d.weights.diff_weights_desc(), 2, Way::Out);
    p.has_bw = true;
  }
  return p;
}

Plan& locked_plan_for(const ConvShape& s, bool bias, bool backward) {
  std::lock_guard<std::mutex> lock(call_mutex());
  return plan_for(s, bias, backward);  // a map's elements stay where they are: the reference outlives the lock
}

}  // namespace

void forward(const ConvShape& s, const float* x, const float* w, const float* b, float* y) {
  const Plan& p = locked_plan_for(s, b != nullptr, false);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, p.fwd_x.in(x)}, {DNNL_ARG_WEIGHTS, p.fwd_w.in(w)},
                                       {DNNL_ARG_DST, p.fwd_y.out(y)}, {DNNL_ARG_SCRATCHPAD, scratchpad(p.fwd_sp)}};
  if (b) args.emplace(DNNL_ARG_BIAS, memory(p.bias, cpu_engine(), const_cast<float*>(b)));
  p.fwd.execute(cpu_stream(), args);
  p.fwd_y.finish(y);
  cpu_stream().wait();
}

void backward(const ConvShape& s, const float* x, const float* w, const float* gy, float* gx, float* gw) {
  const Plan& p = locked_plan_for(s, false, true);
  memory gy_data;  // the output gradient in the backward-data layout, reused by backward-weights when alike
  if (gx) {
    gy_data = p.bd_gy.in(gy);
    p.bwd_data.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, gy_data}, {DNNL_ARG_WEIGHTS, p.bd_w.in(w)},
                                      {DNNL_ARG_DIFF_SRC, p.bd_gx.out(gx)}, {DNNL_ARG_SCRATCHPAD, scratchpad(p.bd_sp)}});
    p.bd_gx.finish(gx);
  }
  if (gw) {
    const memory gy_w = gx && p.bw_gy.want == p.bd_gy.want ? gy_data : p.bw_gy.in(gy);
    p.bwd_weights.execute(cpu_stream(), {{DNNL_ARG_SRC, p.bw_x.in(x)}, {DNNL_ARG_DIFF_DST, gy_w},
                                         {DNNL_ARG_DIFF_WEIGHTS, p.bw_gw.out(gw)},
                                         {DNNL_ARG_SCRATCHPAD, scratchpad(p.bw_sp)}});
    p.bw_gw.finish(gw);
  }
  cpu_stream().wait();
}

// ---- inference chains ----------------------------------------------------------------------

namespace {
// Layer L's convolution on an (N, L.cin, H, W) input: its shape, output size included.
ConvShape layer_shape(const ChainLayer& L, int64_t N, int64_t H, int64_t W) {
  ConvShape s;
  s.N = N, s.Cin = L.cin, s.H = H, s.W = W, s.Cout = L.cout, s.kh = s.kw = L.k, s.stride = L.stride, s.pad = L.pad;
  s.Hout = (H + 2 * L.pad - L.k) / L.stride + 1;
  s.Wout = (W + 2 * L.pad - L.k) / L.stride + 1;
  return s;
}
}  // namespace

struct InferenceChain::Impl {
  std::vector<ChainLayer> layers;
  // One shape's primitives: each layer's convolution (bias and ReLU fused), its weights already
  // in the layout it wants, its scratchpad; the ports that reorder the chain's input in and its
  // output out. Intermediate results alternate between scratch buffers 1 and 2.
  struct Shape {
    std::vector<dnnl::convolution_forward> conv;
    std::vector<memory> weights, bias;
    std::vector<memory::desc> dst, scratchpad;
    Port in, out;
  };
  std::mutex m;
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::unique_ptr<Shape>> shapes;

  const Shape& shape(int64_t N, int64_t H, int64_t W) {
    std::lock_guard<std::mutex> lock(m);
    std::unique_ptr<Shape>& slot = shapes[{N, H, W}];
    if (slot) return *slot;
    auto sh = std::make_unique<Shape>();
    memory::desc src;  // what the previous layer wrote (its blocked layout)
    int64_t h = H, w = W;
    for (size_t i = 0; i < layers.size(); ++i) {
      const ChainLayer& L = layers[i];
      const ConvShape s = layer_shape(L, N, h, w);
      const Geometry g(s);
      const memory::desc any_x(g.x, dt::f32, tag::any), any_w(g.w, dt::f32, tag::any), any_y(g.y, dt::f32, tag::any);
      const memory::desc bias_md(g.b, dt::f32, tag::x);
      dnnl::post_ops relu;
      relu.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      attr.set_post_ops(relu);
      // The same choice of algorithm as conv2d's (Winograd where it is allowed and faster).
      auto make = [&](dnnl::algorithm alg) {
        const dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, alg, i == 0 ? any_x : src, any_w,
                                                bias_md, any_y, g.strides, g.pad_l, g.pad_r);
        return dnnl::convolution_forward::primitive_desc(d, attr, cpu_engine());
      };
      dnnl::convolution_forward::primitive_desc pd;
      bool made = false;
      if (onednn_winograd() && onednn_winograd_shape(s)) {
        try {
          pd = make(dnnl::algorithm::convolution_winograd);
          made = true;
        } catch (const dnnl::error&) {  // not on this CPU, or not from this source layout: direct
        }
      }
      if (!made) pd = make(dnnl::algorithm::convolution_direct);
      if (i == 0) sh->in.init(memory::desc(g.x, dt::f32, tag::nchw), pd.src_desc(), 0, Way::In);
      // The weights, once, in the primitive's layout.
      memory plain_w(memory::desc(g.w, dt::f32, tag::oihw), cpu_engine(), const_cast<float*>(L.w.data()));
      memory wm(pd.weights_desc(), cpu_engine());
      dnnl::stream once(cpu_engine());
      dnnl::reorder(plain_w, wm).execute(once, plain_w, wm);
      memory bm(bias_md, cpu_engine());
      std::memcpy(bm.get_data_handle(), L.b.data(), L.b.size() * sizeof(float));
      once.wait();
      sh->conv.emplace_back(pd);
      sh->weights.push_back(wm);
      sh->bias.push_back(bm);
      sh->dst.push_back(pd.dst_desc());
      sh->scratchpad.push_back(pd.scratchpad_desc());
      src = pd.dst_desc();
      h = s.Hout, w = s.Wout;
      if (i + 1 == layers.size())
        sh->out.init(memory::desc(g.y, dt::f32, tag::nchw), pd.dst_desc(), 1 + (int)(i % 2), Way::Out);
    }
    slot = std::move(sh);
    return *slot;
  }
};

InferenceChain::InferenceChain(std::vector<ChainLayer> layers) : impl_(std::make_unique<Impl>()) {
  SG_CHECK(!layers.empty(), "InferenceChain: no layers");
  for (size_t i = 0; i < layers.size(); ++i) {
    const ChainLayer& L = layers[i];
    SG_CHECK(L.cin >= 1 && L.cout >= 1 && L.k >= 1 && L.stride >= 1 && L.pad >= 0 &&
                 L.w.size() == (size_t)(L.cout * L.cin * L.k * L.k) && L.b.size() == (size_t)L.cout,
             "InferenceChain: layer ", i, " has inconsistent sizes");
    SG_CHECK(i == 0 || L.cin == layers[i - 1].cout, "InferenceChain: layer ", i, " takes ", L.cin,
             " channels, the one before gives ", layers[i - 1].cout);
  }
  impl_->layers = std::move(layers);
}
InferenceChain::~InferenceChain() = default;

std::pair<int64_t, int64_t> InferenceChain::out_size(int64_t H, int64_t W) const {
  for (const ChainLayer& L : impl_->layers) {
    const ConvShape s = layer_shape(L, 1, H, W);
    H = s.Hout, W = s.Wout;
  }
  return {H, W};
}

void InferenceChain::forward(int64_t N, int64_t H, int64_t W, const float* x, float* y) const {
  const Impl::Shape& sh = impl_->shape(N, H, W);
  const size_t n = sh.conv.size();
  memory src = sh.in.in(x);
  for (size_t i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    memory dst = last ? sh.out.out(y) : memory(sh.dst[i], cpu_engine(), scratch(1 + (int)(i % 2), sh.dst[i].get_size()));
    sh.conv[i].execute(cpu_stream(), {{DNNL_ARG_SRC, src},
                                      {DNNL_ARG_WEIGHTS, sh.weights[i]},
                                      {DNNL_ARG_BIAS, sh.bias[i]},
                                      {DNNL_ARG_DST, dst},
                                      {DNNL_ARG_SCRATCHPAD, scratchpad(sh.scratchpad[i])}});
    src = dst;
  }
  sh.out.finish(y);
  cpu_stream().wait();
}

}  // namespace dnnl_conv
#endif

bool onednn_uses_winograd(const cudnn_conv::ConvShape& s) {
#ifdef SGSF_WITH_DNNL
  std::lock_guard<std::mutex> lock(dnnl_conv::call_mutex());
  return dnnl_conv::plan_for(s, false, false).alg == dnnl::algorithm::convolution_winograd;
#else
  (void)s;
  return false;
#endif
}

}  // namespace sg
