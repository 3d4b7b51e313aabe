// checkpoint.h — checkpoints in the safetensors format (https://github.com/huggingface/safetensors),
// readable by PyTorch, NumPy and other tools:
//
//   [8 bytes: N, little-endian uint64] [N bytes: JSON header, space-padded to a multiple of 8]
//   [data buffer: the raw little-endian float32 values of every tensor]
//
//   header = {"__metadata__": {"key": "value", ...},                       (optional)
//             "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//
// Offsets are in bytes relative to the data buffer. Saving is atomic (AtomicFile, engine/file_io.h):
// the file is written to a fresh temporary file beside it, flushed to disk and renamed over `path`,
// so a failed or interrupted save leaves the previous checkpoint intact. Loading validates everything before trusting it (file and header
// lengths, strict JSON, dtype, shapes, offsets: in range, matching the shape, not overlapping, and
// covering the data buffer without gaps or trailing bytes, as the format requires) and throws
// sg::Error naming the file and the problem. Only F32 tensors are written and accepted.
#pragma once
#include <map>
#include <string>

#include "engine/named_tensors.h"

namespace sg {

using Metadata = std::map<std::string, std::string>;

// Limits of the reader (and the writer, which never writes what the reader refuses). They bound the
// memory a hostile header can claim: a header is read only up to this size, and what is kept of it
// (tensor descriptions, metadata) is capped, so loading costs at most a small multiple of the
// header's size beyond the tensors' data.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 16ull << 20;  // 16 MiB
constexpr size_t kMaxSafetensorsTensors = 65536;
constexpr size_t kMaxSafetensorsMetadata = 1024;            // metadata entries
constexpr size_t kMaxSafetensorsDims = 16;                  // dimensions of one tensor

struct SafetensorsFile {
  NamedTensors tensors;  // CPU tensors, in header order
  Metadata metadata;
};

// Write `tensors` (any device; names unique, non-empty, not "__metadata__") and `metadata`.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata = {});

SafetensorsFile load_safetensors(const std::string& path);

// Copy `src` into the tensors of `dst` (e.g. module.state(), optimiser.state()), which must have
// exactly the same names and shapes; the first missing, unexpected or mismatched name is reported
// (with both shapes) and nothing is copied. Values go to each destination's device. `source` names
// where src came from in error messages.
void load_into(const NamedTensors& dst, const NamedTensors& src, const std::string& source);

// load_safetensors(path) into `dst` as above; returns the file's metadata.
Metadata load_into(const NamedTensors& dst, const std::string& path);

}  // namespace sg
