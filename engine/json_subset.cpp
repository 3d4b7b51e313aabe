// json_subset.cpp — the strict recursive-descent reader behind json_subset.h.
#include "engine/json_subset.h"

#include <unordered_set>

#include "engine/common.h"

namespace sg::json {

const Value* Value::find(const std::string& key) const {
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return &values[i];
  return nullptr;
}

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::Object: return "object";
    case Value::Kind::Array: return "array";
    case Value::Kind::String: return "string";
    case Value::Kind::Integer: return "integer";
  }
  return "?";
}

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(const char* d, size_t n) : d_(d), n_(n) {}

  Value document() {
    skip_ws();
    Value v = value(0);
    skip_ws();
    if (i_ != n_) fail("unexpected characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(str("JSON: ", what, " at byte ", i_));
  }
  bool at_end() const { return i_ >= n_; }
  char peek() const { return at_end() ? '\0' : d_[i_]; }
  void expect(char c) {
    if (at_end() || d_[i_] != c) fail(str("expected '", c, "'"));
    ++i_;
  }
  void skip_ws() {
    while (!at_end() && (d_[i_] == ' ' || d_[i_] == '\t' || d_[i_] == '\n' || d_[i_] == '\r')) ++i_;
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64 levels");
    if (at_end()) fail("unexpected end of input");
    char c = d_[i_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      Value v;
      v.kind = Value::Kind::String;
      v.string = string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return integer();
    fail(str("unsupported value starting with '", c, "' (only objects, arrays, strings and integers)"));
  }

  Value object(int depth) {
    Value v;
    v.kind = Value::Kind::Object;
    std::unordered_set<std::string> seen;  // duplicate detection in O(1) per key
    expect('{');
    skip_ws();
    if (peek() == '}') {
      ++i_;
      return v;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key");
      size_t key_at = i_;
      std::string key = string();
      if (!seen.insert(key).second) {
        i_ = key_at;
        fail(str("duplicate key \"", key, "\""));
      }
      skip_ws();
      expect(':');
      skip_ws();
      v.keys.push_back(std::move(key));
      v.values.push_back(value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      return v;
    }
  }

  Value array(int depth) {
    Value v;
    v.kind = Value::Kind::Array;
    expect('[');
    skip_ws();
    if (peek() == ']') {
      ++i_;
      return v;
    }
    for (;;) {
      skip_ws();
      v.items.push_back(value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect(']');
      return v;
    }
  }

  // -?(0|[1-9][0-9]*), no fraction or exponent, within int64.
  Value integer() {
    bool negative = false;
    if (peek() == '-') {
      negative = true;
      ++i_;
    }
    if (at_end() || d_[i_] < '0' || d_[i_] > '9') fail("expected a digit");
    if (d_[i_] == '0' && i_ + 1 < n_ && d_[i_ + 1] >= '0' && d_[i_ + 1] <= '9')
      fail("leading zero in a number");
    uint64_t mag = 0;
    const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (!at_end() && d_[i_] >= '0' && d_[i_] <= '9') {
      uint64_t digit = (uint64_t)(d_[i_] - '0');
      if (mag > (limit - digit) / 10) fail("integer out of the int64 range");
      mag = mag * 10 + digit;
      ++i_;
    }
    if (peek() == '.' || peek() == 'e' || peek() == 'E')
      fail("only integers are supported (no fractions or exponents)");
    Value v;
    v.kind = Value::Kind::Integer;
    v.integer = negative ? (int64_t)(0 - mag) : (int64_t)mag;
    return v;
  }

  unsigned hex4() {
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

  static void put_utf8(std::string& out, unsigned cp) {
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

  // Length of the valid UTF-8 sequence starting at i_ (lead byte >= 0x80), or 0.
  size_t utf8_length() const {
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

  std::string string() {
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

  const char* d_;
  size_t n_;
  size_t i_ = 0;
};

}  // namespace

Value parse(const char* data, size_t size) { return Parser(data, size).document(); }

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
