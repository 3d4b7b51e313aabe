// checkpoint.cpp — safetensors writer (atomic: temporary file, fsync, rename) and validating reader.
#include "engine/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "engine/json_subset.h"

namespace sg {
namespace {

// Headers larger than this are refused (the reference implementation's limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

void check_little_endian() {
  const uint32_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  SG_CHECK(first == 1, "safetensors: this machine is big-endian; only little-endian hosts are supported");
}

std::string errno_text() { return std::strerror(errno); }

// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    SG_CHECK(w > 0, "save_safetensors: cannot write '", path, "': ", errno_text());
    p += w;
    n -= (size_t)w;
  }
}

void read_exact(int fd, void* data, size_t n, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, (off_t)offset);
    if (r < 0 && errno == EINTR) continue;
    SG_CHECK(r > 0, "load_safetensors: '", path, "': read failed at byte ", offset,
             r == 0 ? " (unexpected end of file)" : ": " + errno_text());
    p += r;
    n -= (size_t)r;
    offset += (uint64_t)r;
  }
}

std::string build_header(const NamedTensors& tensors, const Metadata& metadata,
                         const std::string& path) {
  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it)
      h += (it == metadata.begin() ? "" : ",") + json::quote(it->first) + ":" + json::quote(it->second);
    h += "}";
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    uint64_t bytes = (uint64_t)t.numel() * 4;
    h += (first ? "" : ",") + json::quote(name) + ":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t d = 0; d < t.shape().size(); ++d) h += (d ? "," : "") + std::to_string(t.shape()[d]);
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
    first = false;
  }
  h += "}";
  // Never write what the reader would refuse (e.g. a name that is not valid UTF-8).
  try {
    json::parse(h.data(), h.size());
  } catch (const Error& e) {
    throw Error(str("save_safetensors: '", path, "': names or metadata do not form a valid header (",
                    e.what(), ")"));
  }
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data buffer starts 8-byte aligned
  return h;
}

}  // namespace

// ---- writing ------------------------------------------------------------------------------
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  check_little_endian();
  std::unordered_map<std::string, int> seen;
  for (const auto& [name, t] : tensors) {
    SG_CHECK(!name.empty() && name != "__metadata__", "save_safetensors: '", path,
             "': invalid tensor name '", name, "'");
    SG_CHECK(seen[name]++ == 0, "save_safetensors: '", path, "': tensor name '", name, "' appears twice");
    SG_CHECK(t.defined(), "save_safetensors: '", path, "': tensor '", name, "' is undefined");
  }
  std::string header = build_header(tensors, metadata, path);

  const std::string tmp = path + ".tmp";
  try {
    Fd f;
    f.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    SG_CHECK(f.fd >= 0, "save_safetensors: cannot create '", tmp, "': ", errno_text());
    unsigned char len[8];
    uint64_t n = header.size();
    for (int k = 0; k < 8; ++k) len[k] = (unsigned char)(n >> (8 * k));
    write_all(f.fd, len, 8, tmp);
    write_all(f.fd, header.data(), header.size(), tmp);
    for (const auto& kv : tensors) {
      std::vector<float> v = kv.second.to_vector();  // host copy (little-endian float32)
      write_all(f.fd, v.data(), v.size() * sizeof(float), tmp);
    }
    SG_CHECK(::fsync(f.fd) == 0, "save_safetensors: cannot flush '", tmp, "': ", errno_text());
    int fd = f.fd;
    f.fd = -1;
    SG_CHECK(::close(fd) == 0, "save_safetensors: cannot close '", tmp, "': ", errno_text());
    SG_CHECK(::rename(tmp.c_str(), path.c_str()) == 0, "save_safetensors: cannot rename '", tmp,
             "' to '", path, "': ", errno_text());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable (best effort: some filesystems refuse fsync on directories).
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

// ---- reading ------------------------------------------------------------------------------
namespace {

struct Entry {
  std::string name;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// One tensor description {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, validated
// against itself (shape, dtype, byte count); the layout of all entries is checked by the caller.
Entry parse_entry(const std::string& name, const json::Value& v, const std::string& where) {
  auto bad = [&](const std::string& what) {
    return Error(str(where, ": tensor '", name, "': ", what));
  };
  if (v.kind != json::Value::Kind::Object) throw bad("description is not an object");
  for (const std::string& k : v.keys)
    if (k != "dtype" && k != "shape" && k != "data_offsets") throw bad("unknown field '" + k + "'");
  const json::Value* dtype = v.find("dtype");
  const json::Value* shape = v.find("shape");
  const json::Value* offsets = v.find("data_offsets");
  if (!dtype || !shape || !offsets) throw bad("needs \"dtype\", \"shape\" and \"data_offsets\"");
  if (dtype->kind != json::Value::Kind::String) throw bad("dtype is not a string");
  if (dtype->string != "F32")
    throw bad("unsupported dtype '" + dtype->string + "' (only F32 is supported)");
  Entry e;
  e.name = name;
  if (shape->kind != json::Value::Kind::Array) throw bad("shape is not an array");
  uint64_t numel = 1;
  for (const json::Value& d : shape->items) {
    if (d.kind != json::Value::Kind::Integer || d.integer < 0)
      throw bad("shape holds something other than a non-negative integer");
    if (d.integer > 0 && numel > (uint64_t(1) << 60) / (uint64_t)d.integer)
      throw bad("shape is absurdly large");
    numel *= (uint64_t)d.integer;
    e.shape.push_back(d.integer);
  }
  if (offsets->kind != json::Value::Kind::Array || offsets->items.size() != 2 ||
      offsets->items[0].kind != json::Value::Kind::Integer ||
      offsets->items[1].kind != json::Value::Kind::Integer || offsets->items[0].integer < 0 ||
      offsets->items[1].integer < 0)
    throw bad("data_offsets is not a pair of non-negative integers");
  e.begin = (uint64_t)offsets->items[0].integer;
  e.end = (uint64_t)offsets->items[1].integer;
  if (e.end < e.begin || e.end - e.begin != numel * 4)
    throw bad(str("data_offsets [", e.begin, ", ", e.end, "] do not span ", numel * 4,
                  " bytes (shape ", shape_str(e.shape), " of F32)"));
  return e;
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  check_little_endian();
  const std::string where = "load_safetensors: '" + path + "'";
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SG_CHECK(f.fd >= 0, where, ": cannot open: ", errno_text());
  struct stat st;
  SG_CHECK(::fstat(f.fd, &st) == 0 && S_ISREG(st.st_mode), where, ": not a regular file");
  const uint64_t file_size = (uint64_t)st.st_size;
  SG_CHECK(file_size >= 8, where, ": file of ", file_size,
           " bytes is too short for the 8-byte header length");

  unsigned char len[8];
  read_exact(f.fd, len, 8, 0, path);
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | len[k];
  SG_CHECK(n <= kMaxHeaderBytes, where, ": header length ", n, " is absurd (limit ", kMaxHeaderBytes,
           " bytes)");
  SG_CHECK(n <= file_size - 8, where, ": header length ", n, " runs past the end of the file (",
           file_size, " bytes)");
  SG_CHECK(n >= 2, where, ": header of ", n, " bytes cannot hold a JSON object");
  std::string header(n, '\0');
  read_exact(f.fd, header.data(), n, 8, path);
  SG_CHECK(header[0] == '{', where, ": header does not start with '{'");

  json::Value root;
  try {
    root = json::parse(header.data(), header.size());
  } catch (const Error& e) {
    throw Error(str(where, ": malformed header: ", e.what()));
  }
  SG_CHECK(root.kind == json::Value::Kind::Object, where, ": header is not a JSON object");

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (size_t i = 0; i < root.keys.size(); ++i) {
    const std::string& key = root.keys[i];
    const json::Value& v = root.values[i];
    if (key == "__metadata__") {
      SG_CHECK(v.kind == json::Value::Kind::Object, where, ": __metadata__ is not an object");
      for (size_t k = 0; k < v.keys.size(); ++k) {
        SG_CHECK(v.values[k].kind == json::Value::Kind::String, where, ": metadata value of '",
                 v.keys[k], "' has type ", json::kind_name(v.values[k].kind), ", not string");
        out.metadata[v.keys[k]] = v.values[k].string;
      }
      continue;
    }
    entries.push_back(parse_entry(key, v, where));
  }

  // The data buffer must be tiled exactly: sorted by offset, each tensor starts where the previous
  // one ended, the first at 0 and the last at the end of the file (no overlaps, holes or trailing
  // bytes: the format forbids them).
  const uint64_t buffer_size = file_size - 8 - n;
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  for (const Entry* e : order) {
    SG_CHECK(e->end <= buffer_size, where, ": tensor '", e->name, "': data_offsets [", e->begin, ", ",
             e->end, "] lie outside the data buffer of ", buffer_size, " bytes");
    SG_CHECK(e->begin >= expected, where, ": tensor '", e->name, "' overlaps the previous tensor (",
             "starts at byte ", e->begin, ", previous ends at ", expected, ")");
    SG_CHECK(e->begin == expected, where, ": gap in the data buffer before tensor '", e->name,
             "' (bytes ", expected, " to ", e->begin, " belong to no tensor)");
    expected = e->end;
  }
  SG_CHECK(expected == buffer_size, where, ": ", buffer_size - expected,
           " trailing bytes after the last tensor (the data buffer must be fully indexed)");

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, Device::CPU);
    read_exact(f.fd, t.data(), (size_t)(e.end - e.begin), 8 + n + e.begin, path);
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

// ---- loading into a model -----------------------------------------------------------------
void load_into(const NamedTensors& dst, const NamedTensors& src, const std::string& source) {
  std::unordered_map<std::string, const Tensor*> by_name;
  for (const auto& kv : src) by_name[kv.first] = &kv.second;
  std::unordered_map<std::string, bool> wanted;
  for (const auto& [name, t] : dst) {
    wanted[name] = true;
    auto it = by_name.find(name);
    SG_CHECK(it != by_name.end(), "load_into: ", source, ": missing tensor '", name,
             "' (expected shape ", shape_str(t.shape()), ")");
    SG_CHECK(it->second->shape() == t.shape(), "load_into: ", source, ": tensor '", name,
             "' has shape ", shape_str(it->second->shape()), " in the checkpoint but ",
             shape_str(t.shape()), " in the model");
  }
  for (const auto& [name, t] : src)
    SG_CHECK(wanted.count(name), "load_into: ", source, ": unexpected tensor '", name, "' (shape ",
             shape_str(t.shape()), ") that the model does not have");
  for (const auto& [name, t] : dst) {
    Tensor target = t;
    target.copy_(*by_name[name]);
  }
}

Metadata load_into(const NamedTensors& dst, const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  load_into(dst, file.tensors, "'" + path + "'");
  return file.metadata;
}

}  // namespace sg
