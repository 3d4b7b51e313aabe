// fuzz_json.cpp — libFuzzer target for the strict JSON reader (engine/json_subset.h): any input is
// either accepted or refused with sg::Error, never a crash, and a string it accepts survives
// json::quote and a second read unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/common.h"
#include "engine/json_subset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  try {
    sg::json::validate(text, size);
  } catch (const sg::Error&) {
  }
  // Round trip of a string value: read -> quote -> read gives the same bytes.
  try {
    sg::json::Reader r(text, size);
    if (r.peek() == sg::json::Kind::String) {
      const std::string s = r.get_string();
      r.finish();
      const std::string q = sg::json::quote(s);
      sg::json::Reader again(q.data(), q.size());
      if (again.get_string() != s) std::abort();
      again.finish();
    }
  } catch (const sg::Error&) {
  }
  return 0;
}
