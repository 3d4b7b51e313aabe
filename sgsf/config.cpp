// config.cpp — presets, validation and (de)serialisation of TrainConfig.
#include "sgsf/config.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "engine/common.h"
#include "engine/json_subset.h"

namespace sg::sgsf {

void apply_preset(TrainConfig& c, const std::string& preset) {
  if (preset == "paper") {
    c.width = 128; c.size = 256; c.batch = 16; c.epochs = 800;
  } else if (preset == "small") {
    c.width = 32; c.size = 128; c.batch = 8; c.epochs = 200;
  } else if (preset == "tiny") {
    c.width = 8; c.size = 64; c.batch = 16; c.epochs = 300;
  } else {
    throw Error(str("--preset: unknown preset '", preset, "' (expected paper, small or tiny)"));
  }
  c.preset = preset;
}

namespace {
// One table drives both directions of the conversion.
struct Field {
  const char* key;
  std::function<std::string(const TrainConfig&)> get;
  std::function<void(TrainConfig&, const std::string&)> set;
};

std::string fmt(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}
float parse_float(const std::string& key, const std::string& v) {
  float f = 0;
  SG_CHECK(parse_number(v, &f), "config: '", key, "' expects a number, got '", v, "'");
  return f;
}
int64_t parse_int(const std::string& key, const std::string& v) {
  int64_t i = 0;
  SG_CHECK(parse_int64(v, &i), "config: '", key, "' expects an integer, got '", v, "'");
  return i;
}
bool parse_bool(const std::string& key, const std::string& v) {
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  throw Error(str("config: '", key, "' expects true or false, got '", v, "'"));
}

#define SG_STR_FIELD(name) {#name, [](const TrainConfig& c) { return c.name; }, [](TrainConfig& c, const std::string& v) { c.name = v; }}
#define SG_INT_FIELD(name) {#name, [](const TrainConfig& c) { return std::to_string(c.name); }, [](TrainConfig& c, const std::string& v) { c.name = (decltype(c.name))parse_int(#name, v); }}
#define SG_FLOAT_FIELD(name) {#name, [](const TrainConfig& c) { return fmt(c.name); }, [](TrainConfig& c, const std::string& v) { c.name = parse_float(#name, v); }}
#define SG_BOOL_FIELD(name) {#name, [](const TrainConfig& c) { return std::string(c.name ? "true" : "false"); }, [](TrainConfig& c, const std::string& v) { c.name = parse_bool(#name, v); }}

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      SG_STR_FIELD(preset), SG_INT_FIELD(width), SG_INT_FIELD(size), SG_STR_FIELD(guidance),
      SG_STR_FIELD(data), SG_STR_FIELD(layout), SG_STR_FIELD(category), SG_STR_FIELD(aux),
      SG_STR_FIELD(saliency), SG_STR_FIELD(saliency_dir), SG_INT_FIELD(batch), SG_INT_FIELD(epochs),
      SG_INT_FIELD(iterations), SG_FLOAT_FIELD(lr), SG_FLOAT_FIELD(warmup), SG_INT_FIELD(contrast_n),
      SG_INT_FIELD(contrast_refresh), SG_FLOAT_FIELD(a), SG_FLOAT_FIELD(b), SG_FLOAT_FIELD(alpha_lo),
      SG_FLOAT_FIELD(alpha_hi), SG_FLOAT_FIELD(forge_prob), SG_FLOAT_FIELD(rotate_prob),
      SG_BOOL_FIELD(rotate_guidance), SG_FLOAT_FIELD(lambda), SG_FLOAT_FIELD(gamma),
      SG_INT_FIELD(seed), SG_STR_FIELD(device), SG_INT_FIELD(workers), SG_STR_FIELD(out),
      SG_INT_FIELD(checkpoint_every), SG_INT_FIELD(log_every), SG_INT_FIELD(save_forged),
  };
  return f;
}
}  // namespace

KeyValues to_key_values(const TrainConfig& c) {
  KeyValues kv;
  for (const Field& f : fields()) kv[f.key] = f.get(c);
  return kv;
}

TrainConfig from_key_values(const KeyValues& kv) {
  TrainConfig c;
  for (const auto& [key, value] : kv) {
    const Field* found = nullptr;
    for (const Field& f : fields())
      if (key == f.key) found = &f;
    SG_CHECK(found, "config: unknown key '", key, "'");
    found->set(c, value);
  }
  return c;
}

void validate(const TrainConfig& c) {
  SG_CHECK(c.width >= 1 && c.width <= 1024, "config: width must be in [1, 1024], got ", c.width);
  SG_CHECK(c.size >= 16 && c.size % 8 == 0, "config: size must be a multiple of 8 and at least 16, got ", c.size);
  SG_CHECK(c.batch >= 1, "config: batch must be at least 1, got ", c.batch);
  SG_CHECK(c.epochs >= 1 || c.iterations > 0, "config: epochs must be at least 1, got ", c.epochs);
  SG_CHECK(c.lr > 0, "config: lr must be positive, got ", c.lr);
  SG_CHECK(c.warmup >= 0 && c.warmup < 1, "config: warmup must be in [0, 1), got ", c.warmup);
  SG_CHECK(c.contrast_n >= 1, "config: contrast_n must be at least 1, got ", c.contrast_n);
  SG_CHECK(c.contrast_refresh >= 0, "config: contrast_refresh must be >= 0");
  SG_CHECK(c.alpha_lo >= 0 && c.alpha_lo <= c.alpha_hi && c.alpha_hi <= 1,
           "config: need 0 <= alpha_lo <= alpha_hi <= 1, got ", c.alpha_lo, ", ", c.alpha_hi);
  SG_CHECK(c.forge_prob >= 0 && c.forge_prob <= 1, "config: forge_prob must be in [0, 1]");
  SG_CHECK(c.rotate_prob >= 0 && c.rotate_prob <= 1, "config: rotate_prob must be in [0, 1]");
  SG_CHECK(c.lambda >= 0, "config: lambda must be >= 0");
  SG_CHECK(c.workers >= 1 && c.workers <= 64, "config: workers must be in [1, 64]");
  SG_CHECK(c.guidance == "decoder" || c.guidance == "encoder", "config: guidance must be decoder or encoder, got '",
           c.guidance, "'");
}

void write_config_json(const std::string& path, const TrainConfig& c) {
  std::ostringstream o;
  o << "{\n";
  KeyValues kv = to_key_values(c);
  size_t i = 0;
  for (const auto& [k, v] : kv) o << "  " << json::quote(k) << ": " << json::quote(v) << (++i < kv.size() ? ",\n" : "\n");
  o << "}\n";
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    SG_CHECK(f.good(), "config: cannot write '", tmp, "'");
    f << o.str();
    f.flush();
    SG_CHECK(f.good(), "config: write to '", tmp, "' failed");
  }
  SG_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "config: cannot rename '", tmp, "' to '", path, "'");
}

TrainConfig read_config_json(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SG_CHECK(f.good(), "config: cannot open '", path, "'");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  json::Value v;
  try {
    v = json::parse(text.data(), text.size());
  } catch (const Error& e) {
    throw Error(str("config: '", path, "' is not valid JSON: ", e.what()));
  }
  SG_CHECK(v.kind == json::Value::Kind::Object, "config: '", path, "' must hold a JSON object");
  KeyValues kv;
  for (size_t i = 0; i < v.keys.size(); ++i) {
    SG_CHECK(v.values[i].kind == json::Value::Kind::String, "config: '", path, "': value of '", v.keys[i],
             "' must be a string");
    kv[v.keys[i]] = v.values[i].string;
  }
  try {
    return from_key_values(kv);
  } catch (const Error& e) {
    throw Error(str("config: '", path, "': ", e.what()));
  }
}

}  // namespace sg::sgsf
