// json_subset.h — a small strict JSON reader and string quoting, for the safetensors header.
//
// Reads the subset that header uses: objects, arrays, strings (all escapes, \uXXXX with surrogate
// pairs, UTF-8 validated) and integers. Anything else (fractions, exponents, true/false/null),
// duplicate keys, trailing characters other than whitespace, nesting deeper than 64 levels or
// integers beyond int64 are rejected with sg::Error("... at byte N"). It never reads past `size`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sg::json {

struct Value {
  enum class Kind { Object, Array, String, Integer };
  Kind kind = Kind::Object;
  std::string string;               // Kind::String
  int64_t integer = 0;              // Kind::Integer
  std::vector<Value> items;         // Kind::Array
  std::vector<std::string> keys;    // Kind::Object, in document order ...
  std::vector<Value> values;        // ... with their values

  // The member called `key` of an object, or nullptr.
  const Value* find(const std::string& key) const;
};

const char* kind_name(Value::Kind k);

// Parse one JSON value spanning data[0, size) (surrounding whitespace allowed).
Value parse(const char* data, size_t size);

// `s` as a JSON string literal, quotes included (", \ and control characters escaped).
std::string quote(const std::string& s);

}  // namespace sg::json
