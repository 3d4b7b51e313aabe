// fuzz_config.cpp — libFuzzer target for the config.json reader (sgsf/config.h): any input is
// either read or refused with sg::Error; a config it reads converts back to the same key-value map
// (so what config.json holds is what the run uses, with nothing truncated).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/common.h"
#include "sgsf/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  sg::sgsf::TrainConfig c;
  try {
    c = sg::sgsf::parse_config_json(text, "fuzz.json");
  } catch (const sg::Error&) {
    return 0;
  }
  try {
    sg::sgsf::validate(c);
  } catch (const sg::Error&) {
  }
  const sg::sgsf::KeyValues kv = sg::sgsf::to_key_values(c);
  if (sg::sgsf::to_key_values(sg::sgsf::from_key_values(kv)) != kv) std::abort();
  return 0;
}
