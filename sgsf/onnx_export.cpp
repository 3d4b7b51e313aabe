// onnx_export.cpp — ONNX graphs of the SGSF network (see onnx_export.h). The protobuf encoding is
// written here: varints for integers, little-endian fixed32 for floats, length-delimited fields
// for strings, bytes and sub-messages (https://protobuf.dev/programming-guides/encoding/), with the
// field numbers of onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto, StringStringEntryProto).
#include "sgsf/onnx_export.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>
#include <vector>

#include "engine/common.h"
#include "sgsf/guidance.h"
#include "sgsf/model.h"

namespace sg::sgsf {

namespace {

// ---- protobuf wire format -------------------------------------------------------------------
class Msg {
 public:
  Msg& varint_field(int field, uint64_t v) {
    key(field, 0);
    varint(v);
    return *this;
  }
  Msg& float_field(int field, float v) {
    key(field, 5);
    uint32_t u;
    std::memcpy(&u, &v, 4);
    for (int i = 0; i < 4; ++i) b_.push_back((char)((u >> (8 * i)) & 0xff));
    return *this;
  }
  Msg& bytes_field(int field, const std::string& s) {
    key(field, 2);
    varint(s.size());
    b_ += s;
    return *this;
  }
  Msg& msg_field(int field, const Msg& m) { return bytes_field(field, m.b_); }
  const std::string& bytes() const { return b_; }

 private:
  void key(int field, int wire) { varint(((uint64_t)field << 3) | (uint64_t)wire); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      b_.push_back((char)((v & 0x7f) | 0x80));
      v >>= 7;
    }
    b_.push_back((char)v);
  }
  std::string b_;
};

// onnx.proto enums
constexpr int kFloat = 1, kUint8 = 2, kInt64 = 7, kBool = 9, kDouble = 11;  // TensorProto.DataType
constexpr int kAttrFloat = 1, kAttrInt = 2, kAttrString = 3, kAttrInts = 7;  // AttributeProto.AttributeType

struct Attr {
  Msg m;
  static Attr i(const std::string& name, int64_t v) {
    Attr a;
    a.m.bytes_field(1, name).varint_field(3, (uint64_t)v).varint_field(20, kAttrInt);
    return a;
  }
  static Attr f(const std::string& name, float v) {
    Attr a;
    a.m.bytes_field(1, name).float_field(2, v).varint_field(20, kAttrFloat);
    return a;
  }
  static Attr s(const std::string& name, const std::string& v) {
    Attr a;
    a.m.bytes_field(1, name).bytes_field(4, v).varint_field(20, kAttrString);
    return a;
  }
  static Attr ints(const std::string& name, const std::vector<int64_t>& v) {
    Attr a;
    a.m.bytes_field(1, name);
    for (int64_t x : v) a.m.varint_field(8, (uint64_t)x);
    a.m.varint_field(20, kAttrInts);
    return a;
  }
};

// A graph under construction: nodes, initializers, inputs and outputs.
class Graph {
 public:
  explicit Graph(SGSFModel& model) {
    for (const auto& [name, t] : model.state()) params_[name] = t;
  }
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<Attr>& attrs = {},
                   std::string out = "") {
    if (out.empty()) out = op + "_" + std::to_string(count_);
    Msg n;
    for (const auto& i : inputs) n.bytes_field(1, i);
    n.bytes_field(2, out).bytes_field(3, "n" + std::to_string(count_++)).bytes_field(4, op);
    for (const auto& a : attrs) n.msg_field(5, a.m);
    g_.msg_field(1, n);
    return out;
  }
  // A model tensor as an initializer (once), by its state() name.
  std::string param(const std::string& name) {
    if (added_.count(name)) return name;  // before reading the tensor back
    auto it = params_.find(name);
    SG_CHECK(it != params_.end(), "onnx export: the model has no tensor '", name, "'");
    std::vector<float> v = it->second.to_vector();
    std::string raw(v.size() * 4, '\0');
    std::memcpy(raw.data(), v.data(), raw.size());
    return constant(name, it->second.shape(), kFloat, raw);
  }
  // Constants by name, added the first time they are asked for (the graph may use one many times).
  std::string const_floats(const std::string& name, const std::vector<float>& v) {
    std::string raw(v.size() * 4, '\0');
    std::memcpy(raw.data(), v.data(), raw.size());
    return constant(name, {(int64_t)v.size()}, kFloat, raw);
  }
  std::string const_int64s(const std::string& name, const std::vector<int64_t>& v) {
    std::string raw(v.size() * 8, '\0');
    std::memcpy(raw.data(), v.data(), raw.size());
    return constant(name, {(int64_t)v.size()}, kInt64, raw);
  }
  // Scalars (rank 0), as Clip's bounds must be.
  std::string scalar_float(const std::string& name, float v) {
    std::string raw(4, '\0');
    std::memcpy(raw.data(), &v, 4);
    return constant(name, {}, kFloat, raw);
  }
  std::string scalar_double(const std::string& name, double v) {
    std::string raw(8, '\0');
    std::memcpy(raw.data(), &v, 8);
    return constant(name, {}, kDouble, raw);
  }
  // Any tensor from its raw little-endian bytes.
  std::string raw_constant(const std::string& name, const Shape& dims, int type, const std::string& raw) {
    return constant(name, dims, type, raw);
  }
  void input(const std::string& name, const std::vector<int64_t>& dims, int type = kFloat) {
    g_.msg_field(11, value_info(name, dims, type));
  }
  void output(const std::string& name, const std::vector<int64_t>& dims, int type = kFloat) {
    g_.msg_field(12, value_info(name, dims, type));
  }

  // Layers of model.h.
  std::string cbr(const std::string& p, const std::string& x) {
    std::string c = node("Conv", {x, param(p + ".conv.weight"), param(p + ".conv.bias")},
                         {Attr::ints("kernel_shape", {3, 3}), Attr::ints("pads", {1, 1, 1, 1})});
    std::string b = node("BatchNormalization",
                         {c, param(p + ".bn.weight"), param(p + ".bn.bias"), param(p + ".bn.running_mean"),
                          param(p + ".bn.running_var")},
                         {Attr::f("epsilon", 1e-5f)});
    return node("Relu", {b});
  }
  std::string block(const std::string& p, const std::string& x) { return cbr(p + ".cbr2", cbr(p + ".cbr1", x)); }
  std::string pool(const std::string& x) {
    return node("MaxPool", {x}, {Attr::ints("kernel_shape", {2, 2}), Attr::ints("strides", {2, 2})});
  }
  std::string up(const std::string& p, const std::string& x) {
    const std::string scales = const_floats("up_scales", {1.f, 1.f, 2.f, 2.f});
    std::string r = node("Resize", {x, "", scales},
                         {Attr::s("mode", "linear"), Attr::s("coordinate_transformation_mode", "align_corners")});
    return cbr(p + ".cbr", r);
  }
  std::string concat(const std::string& a, const std::string& b) { return node("Concat", {a, b}, {Attr::i("axis", 1)}); }

  std::string model_bytes(const std::string& graph_name,
                          const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
    g_.bytes_field(2, graph_name);
    Msg opset;
    opset.bytes_field(1, "").varint_field(2, kOnnxOpset);
    Msg m;
    m.varint_field(1, 8)  // ir_version 8 (ONNX 1.10 and later)
        .bytes_field(2, "sgsf")
        .bytes_field(3, "1")
        .msg_field(7, g_)
        .msg_field(8, opset);
    for (const auto& [key, value] : metadata) {  // metadata_props: StringStringEntryProto
      Msg entry;
      entry.bytes_field(1, key).bytes_field(2, value);
      m.msg_field(14, entry);
    }
    return m.bytes();
  }

 private:
  std::string constant(const std::string& name, const Shape& dims, int type, const std::string& raw) {
    if (!added_.count(name)) {
      initializer(name, dims, type, raw);
      added_.insert({name, true});
    }
    return name;
  }
  void initializer(const std::string& name, const Shape& dims, int type, const std::string& raw) {
    Msg t;
    for (int64_t d : dims) t.varint_field(1, (uint64_t)d);
    t.varint_field(2, (uint64_t)type).bytes_field(8, name).bytes_field(9, raw);
    g_.msg_field(5, t);
  }
  // dims: -1 is the symbolic batch dimension "N".
  static Msg value_info(const std::string& name, const std::vector<int64_t>& dims, int elem_type) {
    Msg shape;
    for (int64_t d : dims) {
      Msg dim;
      if (d < 0)
        dim.bytes_field(2, "N");
      else
        dim.varint_field(1, (uint64_t)d);
      shape.msg_field(1, dim);
    }
    Msg tensor;
    tensor.varint_field(1, (uint64_t)elem_type).msg_field(2, shape);
    Msg type;
    type.msg_field(1, tensor);
    Msg vi;
    vi.bytes_field(1, name).msg_field(2, type);
    return vi;
  }

  Msg g_;
  std::map<std::string, Tensor> params_;
  std::map<std::string, bool> added_;
  int count_ = 0;
};

// The autoencoder's encoder on x: E1..E4.
std::vector<std::string> encoder(Graph& g, const std::string& x) {
  std::vector<std::string> e;
  std::string h = x;
  for (int i = 0; i < 4; ++i) {
    h = g.block("ae.enc" + std::to_string(i + 1), i == 0 ? h : g.pool(h));
    e.push_back(h);
  }
  return e;
}

// The network on (x, g): the anomaly map, softmax channel 1 of the segmentation output. The
// parameters are shared when it is built twice (initializers are added once).
std::string map_of(Graph& g, SGSFModel& model, const std::string& x, const std::string& guidance,
                   const std::string& out) {
  // Self-supervised module on the guidance image: its encoder or decoder features guide.
  std::vector<std::string> e = encoder(g, guidance);
  std::vector<std::string> guide = e;
  if (model.guidance == GuidanceSource::Decoder) {
    std::vector<std::string> d(4);
    d[3] = e[3];
    for (int i = 2; i >= 0; --i) {
      const std::string k = std::to_string(i + 1);
      d[(size_t)i] = g.block("ae.dec" + k, g.up("ae.up" + k, d[(size_t)i + 1]));
    }
    guide = d;
  }
  // Segmentation module: each encoder scale concatenated with the guidance features.
  std::vector<std::string> fused(4);
  std::string h = x;
  for (int i = 0; i < 4; ++i) {
    std::string a = g.block("seg.enc" + std::to_string(i + 1), i == 0 ? h : g.pool(h));
    fused[(size_t)i] = g.concat(a, guide[(size_t)i]);
    h = fused[(size_t)i];
  }
  std::string y = fused[3];
  for (int i = 2; i >= 0; --i) {
    const std::string k = std::to_string(i + 1);
    std::string skip = g.cbr("seg.skip" + k, fused[(size_t)i]);
    y = g.block("seg.dec" + k, g.concat(g.up("seg.up" + k, y), skip));
  }
  std::string logits = g.node("Conv", {y, g.param("seg.out.weight"), g.param("seg.out.bias")},
                              {Attr::ints("kernel_shape", {3, 3}), Attr::ints("pads", {1, 1, 1, 1})});
  std::string prob = g.node("Softmax", {logits}, {Attr::i("axis", 1)});
  return g.node("Slice", {prob, g.const_int64s("slice_starts", {1}), g.const_int64s("slice_ends", {2}),
                          g.const_int64s("slice_axes", {1})},
                {}, out);
}

// x with its last axis reversed (the mirror image).
std::string mirror(Graph& g, const std::string& x) {
  return g.node("Slice", {x, g.const_int64s("mirror_starts", {-1}),
                          g.const_int64s("mirror_ends", {std::numeric_limits<int64_t>::min()}),
                          g.const_int64s("mirror_axes", {3}), g.const_int64s("mirror_steps", {-1})});
}

// The network on (image, guidance): the outputs anomaly_map (N, 1, s, s) and score (N).
void network(Graph& g, SGSFModel& model, const std::string& image, const std::string& guidance, int pool, bool flip) {
  if (!flip) {
    map_of(g, model, image, guidance, "anomaly_map");
  } else {  // the mean of the image's map and of its mirror image's, mirrored back
    std::string a = map_of(g, model, image, guidance, "");
    std::string b = mirror(g, map_of(g, model, mirror(g, image), mirror(g, guidance), ""));
    g.node("Mul", {g.node("Add", {a, b}), g.const_floats("half", {0.5f})}, {}, "anomaly_map");
  }
  std::string pooled = g.node("AveragePool", {"anomaly_map"},
                              {Attr::ints("kernel_shape", {pool, pool}), Attr::ints("strides", {1, 1}),
                               Attr::ints("pads", {pool / 2, pool / 2, pool / 2, pool / 2}),
                               Attr::i("count_include_pad", 1)});
  g.node("ReduceMax", {pooled}, {Attr::ints("axes", {1, 2, 3}), Attr::i("keepdims", 0)}, "score");
}

// The image's features: the mean over positions of the deepest autoencoder encoder block's output.
std::string features_of(Graph& g, const std::string& image, const std::string& out) {
  std::vector<std::string> e = encoder(g, image);
  return g.node("ReduceMean", {e[3]}, {Attr::ints("axes", {2, 3}), Attr::i("keepdims", 0)}, out);
}

int onnx_type(const std::string& type) {
  if (type == "float32") return kFloat;
  SG_CHECK(type == "bool", "onnx export: no element type '", type, "'");
  return kBool;
}

}  // namespace

std::vector<OnnxTensorInfo> onnx_one_graph_inputs(int s) { return {{"image", "float32", {-1, 3, s, s}}}; }

std::vector<OnnxTensorInfo> onnx_one_graph_outputs(int s) {
  return {{"anomaly_map", "float32", {-1, 1, s, s}},
          {"score", "float32", {-1}},
          {"normalized_score", "float32", {-1}},
          {"decision", "bool", {-1}}};
}

uint64_t onnx_bank_bytes(int count, int s, int dim) {
  return (uint64_t)count * (3ull * (uint64_t)s * (uint64_t)s + (uint64_t)dim * 4ull);
}

std::string onnx_one_graph_bytes(SGSFModel& model, int s, int pool, bool flip, const GuidanceBank& bank,
                                 float threshold, const std::vector<std::pair<std::string, std::string>>& metadata) {
  const int m = bank.count(), dim = bank.dim;
  SG_CHECK(m >= 1 && (int64_t)bank.features.size() == (int64_t)m * dim && dim == 8 * model.width,
           "onnx export: the guidance bank holds ", m, " images and ", bank.features.size(),
           " feature values; expected rows of ", 8 * model.width);
  SG_CHECK(threshold >= 0.f && threshold <= 1.f, "onnx export: the threshold ", threshold, " is not from 0 to 1");
  Graph g(model);
  for (const auto& t : onnx_one_graph_inputs(s)) g.input(t.name, t.dims, onnx_type(t.type));

  // The bank: features (M, D) float32 and images (M, 3, s, s) uint8, exactly the 8-bit pixels the
  // engine reads back from guidance/NNNNN.png (whose floats are u / 255).
  std::string raw(bank.features.size() * 4, '\0');
  std::memcpy(raw.data(), bank.features.data(), raw.size());
  const std::string bank_features = g.raw_constant("guidance_features", {m, dim}, kFloat, raw);
  raw.assign((size_t)m * 3 * s * s, '\0');
  for (int i = 0; i < m; ++i) {
    const data::Image& im = bank.images[(size_t)i];
    SG_CHECK(im.channels == 3 && im.height == s && im.width == s, "onnx export: guidance image ", i, " is ",
             im.channels, " x ", im.height, " x ", im.width, ", expected 3 x ", s, " x ", s);
    for (size_t k = 0; k < im.pixels.size(); ++k) {
      const float v = im.pixels[k] * 255.f;
      const long u = std::lround(v);
      SG_CHECK(u >= 0 && u <= 255 && std::fabs(v - (float)u) < 1e-3f, "onnx export: guidance image ", i,
               " is not 8-bit (a value ", im.pixels[k], ")");
      raw[(size_t)i * im.pixels.size() + k] = (char)(unsigned char)u;
    }
  }
  const std::string bank_images = g.raw_constant("guidance_images", {m, 3, s, s}, kUint8, raw);

  // The look-up, as GuidanceBank::lookup: cosine = dot / sqrt(|q|^2 |b|^2) in double, 0 where either
  // norm is 0; the first row with the largest similarity.
  const std::string q = g.node("Cast", {features_of(g, "image", "features")}, {Attr::i("to", kDouble)});
  const std::string b = g.node("Cast", {bank_features}, {Attr::i("to", kDouble)});
  const std::string dot = g.node("MatMul", {q, g.node("Transpose", {b}, {Attr::ints("perm", {1, 0})})});
  const std::string nq = g.node("ReduceSumSquare", {q}, {Attr::ints("axes", {1}), Attr::i("keepdims", 1)});
  const std::string nb = g.node("ReduceSumSquare", {b}, {Attr::ints("axes", {1}), Attr::i("keepdims", 0)});
  const std::string norms = g.node("Mul", {nq, nb});
  const std::string zero = g.scalar_double("zero_double", 0.0);
  const std::string sim = g.node("Where", {g.node("Greater", {norms, zero}),
                                           g.node("Div", {dot, g.node("Sqrt", {norms})}), zero},
                                 {}, "similarity");
  const std::string index = g.node("ArgMax", {sim},
                                   {Attr::i("axis", 1), Attr::i("keepdims", 0), Attr::i("select_last_index", 0)},
                                   "guidance_index");
  const std::string picked = g.node("Gather", {bank_images, index}, {Attr::i("axis", 0)});
  g.node("Div", {g.node("Cast", {picked}, {Attr::i("to", kFloat)}), g.scalar_float("u8_max", 255.f)}, {}, "guidance");

  network(g, model, "image", "guidance", pool, flip);

  // The normalised score and the decision at the threshold t (calibration.h):
  //   0.5 s / t for s <= t, else 0.5 + 0.5 (s - t) / (1 - t), clipped to [0, 1]; defect when s > t.
  const std::string t = g.scalar_float("threshold", threshold);
  const std::string half = g.scalar_float("half_scalar", 0.5f);
  const std::string below = threshold > 0.f ? g.node("Div", {g.node("Mul", {"score", half}), t})
                                            : g.node("Mul", {"score", g.scalar_float("zero_float", 0.f)});
  const std::string above =
      threshold < 1.f
          ? g.node("Add", {half, g.node("Div", {g.node("Mul", {half, g.node("Sub", {"score", t})}),
                                                g.scalar_float("one_minus_threshold", (float)(1.0 - threshold))})})
          : g.node("Add", {g.node("Mul", {"score", g.scalar_float("zero_float", 0.f)}), g.scalar_float("one", 1.f)});
  g.node("Clip", {g.node("Where", {g.node("LessOrEqual", {"score", t}), below, above}), g.scalar_float("zero_float", 0.f),
                  g.scalar_float("one", 1.f)},
         {}, "normalized_score");
  g.node("Greater", {"score", t}, {}, "decision");
  for (const auto& o : onnx_one_graph_outputs(s)) g.output(o.name, o.dims, onnx_type(o.type));
  return g.model_bytes("sgsf", metadata);
}

std::string onnx_model_bytes(SGSFModel& model, int s, int pool, bool flip) {
  Graph g(model);
  g.input("image", {-1, 3, s, s});
  g.input("guidance", {-1, 3, s, s});
  network(g, model, "image", "guidance", pool, flip);
  g.output("anomaly_map", {-1, 1, s, s});
  g.output("score", {-1});
  return g.model_bytes("sgsf");
}

std::string onnx_features_bytes(SGSFModel& model, int s) {
  Graph g(model);
  g.input("image", {-1, 3, s, s});
  features_of(g, "image", "features");
  g.output("features", {-1, 8 * model.width});
  return g.model_bytes("sgsf_features");
}

std::string triton_config(const std::string& name, int s, int max_batch_size) {
  auto section = [](const std::string& key, const std::vector<OnnxTensorInfo>& tensors) {
    std::ostringstream o;
    o << key << " [\n";
    for (size_t i = 0; i < tensors.size(); ++i) {
      const OnnxTensorInfo& t = tensors[i];
      std::vector<int64_t> dims(t.dims.begin() + 1, t.dims.end());  // without the batch dimension
      const bool batch_only = dims.empty();
      if (batch_only) dims = {1};
      o << "  {\n    name: \"" << t.name << "\"\n    data_type: " << (t.type == "bool" ? "TYPE_BOOL" : "TYPE_FP32")
        << "\n    dims: [ ";
      for (size_t k = 0; k < dims.size(); ++k) o << (k ? ", " : "") << dims[k];
      o << " ]\n";
      if (batch_only) o << "    reshape: { shape: [ ] }\n";
      o << "  }" << (i + 1 < tensors.size() ? "," : "") << "\n";
    }
    o << "]\n";
    return o.str();
  };
  std::ostringstream o;
  o << "# SGSF anomaly detection, one ONNX graph (sgsf_export --triton): image -> anomaly_map, score,\n"
    << "# normalized_score, decision (true = defect: score above the run's threshold).\n"
    << "name: \"" << name << "\"\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: " << max_batch_size << "\n"
    << section("input", onnx_one_graph_inputs(s)) << section("output", onnx_one_graph_outputs(s))
    << "dynamic_batching { }\n";
  return o.str();
}

}  // namespace sg::sgsf
