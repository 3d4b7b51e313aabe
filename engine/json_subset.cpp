// json_subset.cpp — the strict recursive-descent reader behind json_subset.h.
#include "engine/json_subset.h"

#include <unordered_set>

#include "engine/common.h"

namespace sg::json {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Object: return "object";
    case Kind::Array: return "array";
    case Kind::String: return "string";
    case Kind::Integer: return "number";
  }
  return "?";
}

namespace {
constexpr size_t kMaxDepth = 64;
}  // namespace

Reader::Reader(const char* d, size_t n) : d_(d), n_(n) {}

void Reader::fail(const std::string& what) const { throw Error(str("JSON: ", what, " at byte ", i_)); }

void Reader::expect(char c) {
  if (at_end() || d_[i_] != c) fail(str("expected '", c, "'"));
  ++i_;
}

void Reader::skip_ws() {
  while (!at_end() && (d_[i_] == ' ' || d_[i_] == '\t' || d_[i_] == '\n' || d_[i_] == '\r')) ++i_;
}

void Reader::enter() {
  if (first_.size() >= kMaxDepth) fail("nesting deeper than 64 levels");
  first_.push_back(true);
}

Kind Reader::peek() {
  skip_ws();
  if (at_end()) fail("unexpected end of input");
  const char c = d_[i_];
  if (c == '{') return Kind::Object;
  if (c == '[') return Kind::Array;
  if (c == '"') return Kind::String;
  if (c == '-' || (c >= '0' && c <= '9')) return Kind::Integer;
  fail(str("unsupported value starting with '", c, "' (only objects, arrays, strings and integers)"));
}

void Reader::begin_object() {
  skip_ws();
  expect('{');
  enter();
}

bool Reader::next_key(std::string* key) {
  if (first_.empty()) fail("internal: next_key outside an object");
  skip_ws();
  if (peek_char() == '}') {
    ++i_;
    first_.pop_back();
    return false;
  }
  if (!first_.back()) {
    expect(',');
    skip_ws();
  }
  first_.back() = false;
  if (peek_char() != '"') fail("expected a string key");
  *key = get_string();
  skip_ws();
  expect(':');
  return true;
}

void Reader::begin_array() {
  skip_ws();
  expect('[');
  enter();
}

bool Reader::next_item() {
  if (first_.empty()) fail("internal: next_item outside an array");
  skip_ws();
  if (peek_char() == ']') {
    ++i_;
    first_.pop_back();
    return false;
  }
  if (!first_.back()) expect(',');
  first_.back() = false;
  return true;
}

void Reader::skip() {
  switch (peek()) {
    case Kind::Object: {
      begin_object();
      std::unordered_set<std::string> seen;  // duplicate detection in O(1) per key
      std::string key;
      for (;;) {
        skip_ws();
        const size_t key_at = i_ + (first_.back() ? 0 : 1);
        if (!next_key(&key)) break;
        if (!seen.insert(key).second) {
          i_ = key_at;
          fail(str("duplicate key \"", key, "\""));
        }
        skip();
      }
      break;
    }
    case Kind::Array:
      begin_array();
      while (next_item()) skip();
      break;
    case Kind::String: get_string(); break;
    case Kind::Integer: get_integer(); break;
  }
}

void Reader::finish() {
  skip_ws();
  if (!first_.empty()) fail("internal: finish inside a container");
  if (i_ != n_) fail("unexpected characters after the JSON value");
}

// -?(0|[1-9][0-9]*), no fraction or exponent, within int64.
int64_t Reader::get_integer() {
  skip_ws();
  bool negative = false;
  if (peek_char() == '-') {
    negative = true;
    ++i_;
  }
  if (at_end() || d_[i_] < '0' || d_[i_] > '9') fail("expected a digit");
  if (d_[i_] == '0' && i_ + 1 < n_ && d_[i_ + 1] >= '0' && d_[i_ + 1] <= '9') fail("leading zero in a number");
  uint64_t mag = 0;
  const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  while (!at_end() && d_[i_] >= '0' && d_[i_] <= '9') {
    uint64_t digit = (uint64_t)(d_[i_] - '0');
    if (mag > (limit - digit) / 10) fail("integer out of the int64 range");
    mag = mag * 10 + digit;
    ++i_;
  }
  if (peek_char() == '.' || peek_char() == 'e' || peek_char() == 'E')
    fail("only integers are supported (no fractions or exponents)");
  return negative ? (int64_t)(0 - mag) : (int64_t)mag;
}

std::string Reader::get_number_text() {
  skip_ws();
  const size_t start = i_;
  auto digits = [&]() {
    const size_t d0 = i_;
    while (!at_end() && d_[i_] >= '0' && d_[i_] <= '9') ++i_;
    return i_ - d0;
  };
  if (peek_char() == '-') ++i_;
  if (at_end() || d_[i_] < '0' || d_[i_] > '9') fail("expected a digit");
  if (d_[i_] == '0' && i_ + 1 < n_ && d_[i_ + 1] >= '0' && d_[i_ + 1] <= '9') fail("leading zero in a number");
  digits();
  if (peek_char() == '.') {
    ++i_;
    if (digits() == 0) fail("expected a digit after the decimal point");
  }
  if (peek_char() == 'e' || peek_char() == 'E') {
    ++i_;
    if (peek_char() == '+' || peek_char() == '-') ++i_;
    if (digits() == 0) fail("expected a digit in the exponent");
  }
  if (i_ - start > 64) fail("a number longer than 64 characters");
  return std::string(d_ + start, i_ - start);
}

unsigned Reader::hex4() {
  if (n_ - i_ < 4) fail("truncated \\u escape");
  unsigned u = 0;
  for (int k = 0; k < 4; ++k) {
    char c = d_[i_++];
    u <<= 4;
    if (c >= '0' && c <= '9') u |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') u |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') u |= (unsigned)(c - 'A' + 10);
    else fail("bad hex digit in \\u escape");
  }
  return u;
}

namespace {
void put_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xC0 | (cp >> 6));
    out += (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += (char)(0xE0 | (cp >> 12));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | (cp >> 18));
    out += (char)(0x80 | ((cp >> 12) & 0x3F));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  }
}
}  // namespace

// Length of the valid UTF-8 sequence starting at i_ (lead byte >= 0x80), or 0.
size_t Reader::utf8_length() const {
  auto b = [&](size_t k) { return (unsigned char)d_[i_ + k]; };
  unsigned char c = b(0);
  size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (len == 0 || n_ - i_ < len) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((b(k) & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
  if (c == 0xED && b(1) > 0x9F) return 0;   // surrogate
  if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
  if (c == 0xF4 && b(1) > 0x8F) return 0;   // beyond U+10FFFF
  return len;
}

std::string Reader::get_string() {
  skip_ws();
  expect('"');
  std::string out;
  for (;;) {
    if (at_end()) fail("unterminated string");
    unsigned char c = (unsigned char)d_[i_];
    if (c == '"') {
      ++i_;
      return out;
    }
    if (c < 0x20) fail("control character in a string");
    if (c >= 0x80) {
      size_t len = utf8_length();
      if (len == 0) fail("invalid UTF-8 in a string");
      out.append(d_ + i_, len);
      i_ += len;
      continue;
    }
    ++i_;
    if (c != '\\') {
      out += (char)c;
      continue;
    }
    if (at_end()) fail("unterminated escape");
    char e = d_[i_++];
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        unsigned cp = hex4();
        if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (n_ - i_ < 2 || d_[i_] != '\\' || d_[i_ + 1] != 'u') fail("unpaired high surrogate");
          i_ += 2;
          unsigned lo = hex4();
          if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired high surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        put_utf8(out, cp);
        break;
      }
      default: --i_; fail(str("bad escape '\\", e, "'"));
    }
  }
}

void validate(const char* data, size_t size) {
  Reader r(data, size);
  r.skip();
  r.finish();
}

std::string quote(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else out += (char)c;
  }
  return out + "\"";
}

}  // namespace sg::json
