// checkpoint.cpp — safetensors writer (atomic: temporary file, fsync, rename) and validating reader.
#include "engine/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "engine/file_io.h"
#include "engine/json_subset.h"

namespace sg {
namespace {

constexpr uint64_t kMaxHeaderBytes = kMaxSafetensorsHeaderBytes;

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
  SG_CHECK(h.size() <= kMaxHeaderBytes - 8, "save_safetensors: '", path, "': the header would be ", h.size(),
           " bytes, over the limit of ", kMaxHeaderBytes);
  SG_CHECK(tensors.size() <= kMaxSafetensorsTensors, "save_safetensors: '", path, "': ", tensors.size(),
           " tensors, over the limit of ", kMaxSafetensorsTensors);
  try {
    json::validate(h.data(), h.size());
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

  // Through the one safe writer (engine/file_io.h): a fresh temporary file, renamed over `path` only
  // when complete.
  AtomicFile f(path);
  unsigned char len[8];
  const uint64_t n = header.size();
  for (int k = 0; k < 8; ++k) len[k] = (unsigned char)(n >> (8 * k));
  f.write(len, 8);
  f.write(header.data(), header.size());
  for (const auto& kv : tensors) {
    std::vector<float> v = kv.second.to_vector();  // host copy (little-endian float32)
    f.write(v.data(), v.size() * sizeof(float));
  }
  f.commit();
}

// ---- reading ------------------------------------------------------------------------------
namespace {

struct Entry {
  std::string name;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// One tensor description {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}, read and checked
// against itself (shape, dtype, byte count); the layout of all entries is checked by the caller.
// Problems with the content are recorded in *problem (the first one wins) and the value is still
// read to its end, so that a syntax error anywhere in the header is reported first, as "malformed".
// Returns whether the entry is good.
bool parse_entry(json::Reader& r, const std::string& name, const std::string& where, Entry* e,
                 std::string* problem) {
  auto bad = [&](const std::string& what) {
    if (problem->empty()) *problem = str(where, ": tensor '", name, "': ", what);
    return false;
  };
  if (r.peek() != json::Kind::Object) {
    r.skip();
    return bad("description is not an object");
  }
  r.begin_object();
  bool ok = true, has_dtype = false, has_shape = false, has_offsets = false;
  uint64_t numel = 1, offsets[2] = {0, 0};
  e->name = name;
  std::string key;
  auto once = [&](bool& seen) {
    if (seen) r.fail(str("duplicate key \"", key, "\""));
    seen = true;
  };
  while (r.next_key(&key)) {
    if (key == "dtype") {
      once(has_dtype);
      if (r.peek() != json::Kind::String) {
        r.skip();
        ok = bad("dtype is not a string");
        continue;
      }
      const std::string dtype = r.get_string();
      if (dtype != "F32") ok = bad("unsupported dtype '" + dtype + "' (only F32 is supported)");
    } else if (key == "shape") {
      once(has_shape);
      if (r.peek() != json::Kind::Array) {
        r.skip();
        ok = bad("shape is not an array");
        continue;
      }
      r.begin_array();
      while (r.next_item()) {
        if (r.peek() != json::Kind::Integer) {
          r.skip();
          ok = bad("shape holds something other than a non-negative integer");
          continue;
        }
        const int64_t d = r.get_integer();
        if (d < 0) {
          ok = bad("shape holds something other than a non-negative integer");
        } else if (e->shape.size() >= kMaxSafetensorsDims) {
          ok = bad(str("shape has more than ", kMaxSafetensorsDims, " dimensions"));
        } else if (d > 0 && numel > (uint64_t(1) << 60) / (uint64_t)d) {
          ok = bad("shape is absurdly large");
        } else {
          numel *= (uint64_t)d;
          e->shape.push_back(d);
        }
      }
    } else if (key == "data_offsets") {
      once(has_offsets);
      if (r.peek() != json::Kind::Array) {
        r.skip();
        ok = bad("data_offsets is not a pair of non-negative integers");
        continue;
      }
      r.begin_array();
      size_t count = 0;
      while (r.next_item()) {
        if (r.peek() != json::Kind::Integer) {
          r.skip();
          ok = bad("data_offsets is not a pair of non-negative integers");
        } else {
          const int64_t v = r.get_integer();
          if (v < 0 || count >= 2) ok = bad("data_offsets is not a pair of non-negative integers");
          else offsets[count] = (uint64_t)v;
        }
        ++count;
      }
      if (count != 2) ok = bad("data_offsets is not a pair of non-negative integers");
    } else {
      r.skip();
      ok = bad("unknown field '" + key + "'");
    }
  }
  if (!has_dtype || !has_shape || !has_offsets) return bad("needs \"dtype\", \"shape\" and \"data_offsets\"");
  if (!ok) return false;
  e->begin = offsets[0];
  e->end = offsets[1];
  if (e->end < e->begin || e->end - e->begin != numel * 4)
    return bad(str("data_offsets [", e->begin, ", ", e->end, "] do not span ", numel * 4, " bytes (shape ",
                   shape_str(e->shape), " of F32)"));
  return true;
}

// The header's entries and metadata. Memory stays within a small multiple of the header's size:
// nothing but the entries and metadata is kept, their number is capped, and the entry list is
// sized once from the header's length (an entry takes at least kMinEntryBytes of text).
void parse_header(const std::string& header, const std::string& where, std::vector<Entry>* entries,
                  Metadata* metadata) {
  constexpr size_t kMinEntryBytes = 44;  // "x":{"dtype":"F32","shape":[],"data_offsets":[0,0]}
  entries->reserve(std::min<size_t>(header.size() / kMinEntryBytes + 1, kMaxSafetensorsTensors));
  std::string problem;
  auto bad = [&](const std::string& what) {
    if (problem.empty()) problem = str(where, ": ", what);
  };
  json::Reader r(header.data(), header.size());
  try {
    if (r.peek() != json::Kind::Object) {
      r.skip();
      r.finish();
      throw Error(str(where, ": header is not a JSON object"));
    }
    r.begin_object();
    std::string key;
    bool has_metadata = false;
    while (r.next_key(&key)) {
      if (key == "__metadata__") {
        if (has_metadata) r.fail("duplicate key \"__metadata__\"");
        has_metadata = true;
        if (r.peek() != json::Kind::Object) {
          r.skip();
          bad("__metadata__ is not an object");
          continue;
        }
        r.begin_object();
        std::string k;
        while (r.next_key(&k)) {
          const json::Kind kind = r.peek();
          if (kind != json::Kind::String) {
            r.skip();
            bad(str("metadata value of '", k, "' has type ", json::kind_name(kind), ", not string"));
            continue;
          }
          std::string v = r.get_string();
          if (metadata->count(k)) r.fail(str("duplicate key \"", k, "\""));
          if (metadata->size() >= kMaxSafetensorsMetadata)
            bad(str("__metadata__ has more than ", kMaxSafetensorsMetadata, " entries"));
          else
            metadata->emplace(k, std::move(v));
        }
        continue;
      }
      if (key.empty()) {
        r.skip();
        bad("a tensor has an empty name");
        continue;
      }
      if (entries->size() >= kMaxSafetensorsTensors) {
        r.skip();
        bad(str("more than ", kMaxSafetensorsTensors, " tensors"));
        continue;
      }
      Entry e;
      if (parse_entry(r, key, where, &e, &problem)) entries->push_back(std::move(e));
    }
    r.finish();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind("JSON: ", 0) == 0) throw Error(str(where, ": malformed header: ", msg));
    throw;
  }
  // Duplicate tensor names, found by sorting indices (no second copy of the names).
  std::vector<uint32_t> idx(entries->size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = (uint32_t)i;
  std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) { return (*entries)[a].name < (*entries)[b].name; });
  for (size_t i = 1; i < idx.size(); ++i)
    SG_CHECK((*entries)[idx[i]].name != (*entries)[idx[i - 1]].name, where, ": malformed header: duplicate key \"",
             (*entries)[idx[i]].name, "\"");
  if (!problem.empty()) throw Error(problem);
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  check_little_endian();
  const std::string where = "load_safetensors: '" + path + "'";
  Fd f;
  uint64_t file_size = 0;
  try {
    f.fd = open_regular_file(path, "checkpoint", &file_size);
  } catch (const Error& e) {
    throw Error(str("load_safetensors: ", e.what()));
  }
  SG_CHECK(file_size >= 8, where, ": file of ", file_size,
           " bytes is too short for the 8-byte header length");

  unsigned char len[8];
  read_exact(f.fd, len, 8, 0, path);
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | len[k];
  SG_CHECK(n <= kMaxHeaderBytes, where, ": header length ", n, " is absurd (the limit is ", kMaxHeaderBytes,
           " bytes)");
  SG_CHECK(n <= file_size - 8, where, ": header length ", n, " runs past the end of the file (",
           file_size, " bytes)");
  SG_CHECK(n >= 2, where, ": header of ", n, " bytes cannot hold a JSON object");
  std::string header(n, '\0');
  read_exact(f.fd, header.data(), n, 8, path);
  SG_CHECK(header[0] == '{', where, ": header does not start with '{'");

  SafetensorsFile out;
  std::vector<Entry> entries;
  parse_header(header, where, &entries, &out.metadata);
  std::string().swap(header);  // not needed any more

  // The data buffer must be tiled exactly: sorted by offset, each tensor starts where the previous
  // one ended, the first at 0 and the last at the end of the file (no overlaps, holes or trailing
  // bytes: the format forbids them).
  const uint64_t buffer_size = file_size - 8 - n;
  std::vector<const Entry*> order;
  order.reserve(entries.size());
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

  out.tensors.reserve(entries.size());
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
