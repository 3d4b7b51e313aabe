// config.cpp — presets, validation and (de)serialisation of TrainConfig.
#include "sgsf/config.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <type_traits>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "engine/common.h"
#include "engine/precision.h"
#include "engine/file_io.h"
#include "engine/json_subset.h"

namespace sg::sgsf {

bool parse_int64(const std::string& s, int64_t* out) {
  try {
    size_t pos = 0;
    long long x = std::stoll(s, &pos);
    if (pos != s.size()) return false;
    *out = x;
    return true;
  } catch (...) {
    return false;
  }
}

bool parse_uint64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = (uint64_t)(c - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *out = x;
  return true;
}

namespace {
// The whole string must be one number: `convert` is std::stof or std::stod.
template <typename T, typename Convert>
bool parse_whole(const std::string& s, T* out, Convert convert) {
  try {
    size_t pos = 0;
    T x = convert(s, &pos);
    if (pos != s.size()) return false;
    *out = x;
    return true;
  } catch (...) {
    return false;
  }
}
}  // namespace

bool parse_number(const std::string& s, float* out) {
  return parse_whole(s, out, [](const std::string& t, size_t* pos) { return std::stof(t, pos); });
}
bool parse_number(const std::string& s, double* out) {
  return parse_whole(s, out, [](const std::string& t, size_t* pos) { return std::stod(t, pos); });
}

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
  bool number;  // written as a JSON number (else a string)
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
  SG_CHECK(parse_number(v, &f) && std::isfinite(f), "config: '", key, "' expects a finite number, got '", v, "'");
  return f;
}
// An integer that fits the field's type exactly (no silent truncation of "4294967300" to 4).
template <typename T>
T parse_int(const std::string& key, const std::string& v) {
  if constexpr (std::is_unsigned_v<T>) {
    uint64_t u = 0;
    SG_CHECK(parse_uint64(v, &u), "config: '", key, "' expects an integer from 0 to ",
             std::numeric_limits<uint64_t>::max(), ", got '", v, "'");
    return (T)u;
  } else {
    int64_t i = 0;
    SG_CHECK(parse_int64(v, &i), "config: '", key, "' expects an integer, got '", v, "'");
    SG_CHECK(i >= (int64_t)std::numeric_limits<T>::min() && i <= (int64_t)std::numeric_limits<T>::max(), "config: '",
             key, "' is out of range: ", v, " (", std::numeric_limits<T>::min(), " to ",
             std::numeric_limits<T>::max(), ")");
    return (T)i;
  }
}
bool parse_bool(const std::string& key, const std::string& v) {
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  throw Error(str("config: '", key, "' expects true or false, got '", v, "'"));
}

#define SG_STR_FIELD(name) {#name, false, [](const TrainConfig& c) { return c.name; }, [](TrainConfig& c, const std::string& v) { c.name = v; }}
#define SG_INT_FIELD(name) {#name, true, [](const TrainConfig& c) { return std::to_string(c.name); }, [](TrainConfig& c, const std::string& v) { c.name = parse_int<decltype(c.name)>(#name, v); }}
#define SG_FLOAT_FIELD(name) {#name, true, [](const TrainConfig& c) { return fmt(c.name); }, [](TrainConfig& c, const std::string& v) { c.name = parse_float(#name, v); }}
#define SG_BOOL_FIELD(name) {#name, false, [](const TrainConfig& c) { return std::string(c.name ? "true" : "false"); }, [](TrainConfig& c, const std::string& v) { c.name = parse_bool(#name, v); }}

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      SG_STR_FIELD(preset), SG_INT_FIELD(width), SG_INT_FIELD(size), SG_STR_FIELD(guidance),
      SG_STR_FIELD(data), SG_STR_FIELD(layout), SG_STR_FIELD(category), SG_STR_FIELD(aux),
      SG_STR_FIELD(saliency), SG_STR_FIELD(saliency_dir), SG_INT_FIELD(batch), SG_INT_FIELD(epochs),
      SG_INT_FIELD(iterations), SG_FLOAT_FIELD(lr), SG_FLOAT_FIELD(warmup), SG_INT_FIELD(contrast_n),
      SG_INT_FIELD(contrast_refresh), SG_FLOAT_FIELD(a), SG_FLOAT_FIELD(b), SG_FLOAT_FIELD(alpha_lo),
      SG_FLOAT_FIELD(alpha_hi), SG_FLOAT_FIELD(forge_prob), SG_FLOAT_FIELD(rotate_prob),
      SG_BOOL_FIELD(rotate_guidance), SG_FLOAT_FIELD(lambda), SG_FLOAT_FIELD(gamma),
      SG_INT_FIELD(seed), SG_STR_FIELD(device), SG_STR_FIELD(precision), SG_INT_FIELD(workers), SG_STR_FIELD(out),
      SG_INT_FIELD(checkpoint_every), SG_INT_FIELD(log_every), SG_INT_FIELD(save_forged),
      SG_FLOAT_FIELD(holdout), SG_STR_FIELD(threshold_rule), SG_FLOAT_FIELD(target_fpr), SG_INT_FIELD(score_pool), SG_BOOL_FIELD(test_flip),
  };
  return f;
}
}  // namespace

const char* added_key_legacy(const std::string& key) {
  if (key == "holdout") return "0";      // no calibration hold-out
  if (key == "score_pool") return "21";  // the 21 x 21 pooling at every size
  if (key == "test_flip") return "false";
  if (key == "precision") return "fp32";
  if (key == "threshold_rule") return "spread";  // runs from before the forged-anomaly calibration
  if (key == "target_fpr") {  // unused by those runs' rule: the default, as to_key_values writes it
    static const std::string v = to_key_values(TrainConfig{}).at("target_fpr");
    return v.c_str();
  }
  return nullptr;
}

int score_pool_size(const TrainConfig& c) { return c.score_pool > 0 ? c.score_pool : 2 * (21 * c.size / 512) + 1; }

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
  SG_CHECK(c.threshold_rule == "forged" || c.threshold_rule == "spread" || c.threshold_rule == "target-fpr",
           "config: threshold_rule must be forged, spread or target-fpr, got '", c.threshold_rule, "'");
  SG_CHECK(c.target_fpr > 0 && c.target_fpr < 1, "config: target_fpr must be between 0 and 1, got ", c.target_fpr);
  SG_CHECK(is_precision_name(c.precision), "config: precision must be fp32, bf16, tf32 or auto, got '", c.precision,
           "'");
  SG_CHECK(c.width >= 1 && c.width <= 1024, "config: width must be in [1, 1024], got ", c.width);
  SG_CHECK(c.size >= 16 && c.size <= kMaxSize && c.size % 8 == 0, "config: size must be a multiple of 8 from 16 to ",
           kMaxSize, ", got ", c.size);
  SG_CHECK(c.batch >= 1 && c.batch <= kMaxBatch, "config: batch must be from 1 to ", kMaxBatch, ", got ", c.batch);
  SG_CHECK((int64_t)c.batch * c.size * c.size <= kMaxBatchPixels, "config: batch x size x size must be at most ",
           kMaxBatchPixels, " pixels, got ", c.batch, " x ", c.size, " x ", c.size, " = ",
           (int64_t)c.batch * c.size * c.size);
  SG_CHECK(c.iterations >= 0, "config: iterations must be >= 0, got ", c.iterations);
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
  SG_CHECK(c.workers >= 1 && c.workers <= kMaxWorkers, "config: workers must be from 1 to ", kMaxWorkers, ", got ",
           c.workers);
  SG_CHECK(c.checkpoint_every >= 0, "config: checkpoint_every must be >= 0, got ", c.checkpoint_every);
  SG_CHECK(c.log_every >= 1, "config: log_every must be at least 1, got ", c.log_every);
  SG_CHECK(c.holdout >= 0 && c.holdout <= 0.5f, "config: holdout must be in [0, 0.5], got ", c.holdout);
  SG_CHECK(c.score_pool >= 0 && c.score_pool <= c.size && (c.score_pool == 0 || c.score_pool % 2 == 1),
           "config: score_pool must be 0 (by the size) or an odd number from 1 to the size ", c.size, ", got ",
           c.score_pool);
  SG_CHECK(c.save_forged >= 0, "config: save_forged must be >= 0, got ", c.save_forged);
  SG_CHECK(c.guidance == "decoder" || c.guidance == "encoder", "config: guidance must be decoder or encoder, got '",
           c.guidance, "'");
}

// Whether config.json writes the value of `key` as a JSON number.
static bool is_number_key(const std::string& key) {
  for (const Field& f : fields())
    if (key == f.key) return f.number;
  return false;
}

void write_config_json(const std::string& path, const TrainConfig& c) {
  std::ostringstream o;
  o << "{\n";
  KeyValues kv = to_key_values(c);
  size_t i = 0;
  for (const auto& [k, v] : kv)
    o << "  " << json::quote(k) << ": " << (is_number_key(k) ? v : json::quote(v)) << (++i < kv.size() ? ",\n" : "\n");
  o << "}\n";
  write_file_atomic(path, o.str());
}

TrainConfig parse_config_json(const std::string& text, const std::string& path) {
  KeyValues kv;
  json::Reader r(text.data(), text.size());
  try {
    if (r.peek() != json::Kind::Object) throw Error(str("config: '", path, "' must hold a JSON object"));
    r.begin_object();
    std::string key;
    while (r.next_key(&key)) {
      // Numbers are JSON numbers; a string holding one is read too (config.json before numbers were).
      const json::Kind kind = r.peek();
      const bool number_ok = is_number_key(key);
      SG_CHECK(kind == json::Kind::String || (number_ok && kind == json::Kind::Integer), "config: '", path,
               "': value of '", key, "' must be ", number_ok ? "a number" : "a string", ", not ",
               json::kind_name(kind));
      std::string value = kind == json::Kind::String ? r.get_string() : r.get_number_text();
      SG_CHECK(kv.emplace(key, std::move(value)).second, "config: '", path, "': key '", key, "' appears twice");
      SG_CHECK(kv.size() <= 256, "config: '", path, "' has more than 256 keys");
    }
    r.finish();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind("JSON: ", 0) == 0) throw Error(str("config: '", path, "' is not valid JSON: ", msg));
    throw;
  }
  for (const Field& f : fields())  // a run from before a key existed had that key's legacy value
    if (const char* legacy = added_key_legacy(f.key)) kv.emplace(f.key, legacy);
  try {
    return from_key_values(kv);
  } catch (const Error& e) {
    throw Error(str("config: '", path, "': ", e.what()));
  }
}

TrainConfig read_config_json(const std::string& path) {
  std::string text;
  try {
    text = read_regular_file(path, kMaxConfigBytes, "config");
  } catch (const Error& e) {
    throw Error(str("config: ", e.what()));
  }
  return parse_config_json(text, path);
}

}  // namespace sg::sgsf
