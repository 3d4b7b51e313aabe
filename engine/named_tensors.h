// named_tensors.h — an ordered list of (name, tensor) pairs: what modules expose as their state,
// what optimisers expose as theirs, and what checkpoints store. Order is kept (a checkpoint lists
// tensors in the order the model registered them), names are unique within one list.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace sg {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// The tensor called `name`, or an undefined tensor when there is none.
inline Tensor find_tensor(const NamedTensors& list, const std::string& name) {
  for (const auto& kv : list)
    if (kv.first == name) return kv.second;
  return Tensor();
}

// Every entry renamed to prefix + name (e.g. "model." + "enc1.conv1.weight"), to store the model
// and the optimiser in one checkpoint.
inline NamedTensors with_prefix(const std::string& prefix, const NamedTensors& list) {
  NamedTensors out;
  out.reserve(list.size());
  for (const auto& kv : list) out.emplace_back(prefix + kv.first, kv.second);
  return out;
}

// The entries whose name starts with `prefix`, with the prefix removed (the inverse of with_prefix).
inline NamedTensors strip_prefix(const std::string& prefix, const NamedTensors& list) {
  NamedTensors out;
  for (const auto& kv : list)
    if (kv.first.compare(0, prefix.size(), prefix) == 0)
      out.emplace_back(kv.first.substr(prefix.size()), kv.second);
  return out;
}

// Concatenate two lists (names must stay unique; checked where the list is used, e.g. on save).
inline NamedTensors concat_named(NamedTensors a, const NamedTensors& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace sg
