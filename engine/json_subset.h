// json_subset.h — a small strict JSON reader and string quoting, for the safetensors header and
// config.json.
//
// Reads the subset those files use: objects, arrays, strings (all escapes, \uXXXX with surrogate
// pairs, UTF-8 validated) and numbers: get_integer() takes integers only, get_number_text() any JSON
// number (fraction, exponent) as its exact text. Anything else (true/false/null, a fraction where
// an integer is read),
// duplicate keys, trailing characters other than whitespace, nesting deeper than 64 levels or
// integers beyond int64 are rejected with sg::Error("JSON: ... at byte N"). It never reads past
// `size`.
//
// The reader pulls one value at a time and builds no tree: a caller keeps only what it needs, so
// the memory for a document stays within a small multiple of its size whatever it holds (a tree
// of generic nodes costs a hundred times the text of `[0,0,0,...]`).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sg::json {

enum class Kind { Object, Array, String, Integer };
const char* kind_name(Kind k);

class Reader {
 public:
  Reader(const char* data, size_t size);

  // The kind of the next value (leading whitespace skipped); throws when no value starts here.
  Kind peek();
  // Objects: begin_object(), then next_key(&key) / value ... until next_key returns false (the
  // closing brace is consumed). Duplicate keys are the caller's to detect (skip() detects them).
  void begin_object();
  bool next_key(std::string* key);
  // Arrays: begin_array(), then next_item() / value ... until next_item returns false.
  void begin_array();
  bool next_item();
  std::string get_string();
  int64_t get_integer();
  // A JSON number (RFC 8259's grammar, at most 64 characters) as it is written, for the caller to
  // parse into the type it wants (config.json's and calibration.json's numbers).
  std::string get_number_text();
  // Read and check any value (duplicate keys included) without keeping it.
  void skip();
  // Only whitespace may follow the document's value.
  void finish();

  size_t offset() const { return i_; }
  [[noreturn]] void fail(const std::string& what) const;

 private:
  bool at_end() const { return i_ >= n_; }
  char peek_char() const { return at_end() ? '\0' : d_[i_]; }
  void expect(char c);
  void skip_ws();
  void enter();
  unsigned hex4();
  size_t utf8_length() const;

  const char* d_;
  size_t n_, i_ = 0;
  std::vector<bool> first_;  // per open container: no member read yet
};

// Check that data[0, size) is one valid document (surrounding whitespace allowed).
void validate(const char* data, size_t size);

// `s` as a JSON string literal, quotes included (", \ and control characters escaped).
std::string quote(const std::string& s);

}  // namespace sg::json
