// make_seeds.cpp — writes the image seeds of fuzz/corpus/image (tiny PNG, JPEG and BMP files from
// stb_image_write, plus the hostile files the tests build) and the checkpoint seeds of
// fuzz/corpus/checkpoint. (progressive.jpg comes from fuzz/make_progressive_seed.py, another
// encoder.) Not part of the build; run it once from the repository root:
//   g++ -std=c++17 -I/usr/include/stb fuzz/make_seeds.cpp -o /tmp/make_seeds && /tmp/make_seeds
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/hostile_files.h"

static void put(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

static std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int k = 0; k < 8; ++k) s[(size_t)k] = (char)(n >> (8 * k));
  return s;
}

int main() {
  const std::string img = "fuzz/corpus/image/";
  for (int channels : {1, 3, 4}) {
    const int w = 5, h = 3;
    std::vector<unsigned char> px((size_t)w * h * channels);
    for (size_t i = 0; i < px.size(); ++i) px[i] = (unsigned char)(i * 37 + 11);
    const std::string c = std::to_string(channels);
    stbi_write_png((img + "tiny" + c + ".png").c_str(), w, h, channels, px.data(), w * channels);
    stbi_write_bmp((img + "tiny" + c + ".bmp").c_str(), w, h, channels, px.data());
    if (channels != 4) stbi_write_jpg((img + "tiny" + c + ".jpg").c_str(), w, h, channels, px.data(), 80);
  }
  {
    // tiny3.jpg with every component of its scan on DC and AC Huffman tables 3, which no segment
    // defines (fuzz_image found stb_image decoding with such a table's stale memory).
    std::ifstream f(img + "tiny3.jpg", std::ios::binary);
    std::string jpg((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const size_t sos = jpg.find("\xFF\xDA");
    for (size_t k = 0; k < (unsigned char)jpg[sos + 4]; ++k) jpg[sos + 6 + 2 * k] = '\x33';
    put(img + "sos_undefined_table.jpg", jpg);
  }
  put(img + "dht_overflow.jpg", sg::test::hostile_jpeg(17));
  put(img + "dht_in_range.jpg", sg::test::hostile_jpeg(16));
  put(img + "tall.bmp", sg::test::hostile_bmp(4, 4261892));
  put(img + "header_only.png", sg::test::png_header_only(64, 48));

  const std::string ck = "fuzz/corpus/checkpoint/";
  auto file = [](const std::string& header, const std::string& data) { return le64(header.size()) + header + data; };
  const float v[3] = {1.f, -2.5f, 0.f};
  const std::string three(reinterpret_cast<const char*>(v), sizeof v);
  put(ck + "empty.safetensors", file("{}      ", ""));
  put(ck + "two.safetensors",
      file("{\"__metadata__\":{\"format\":\"sgsf-checkpoint-1\",\"iteration\":\"4\"},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[8,12]}}",
           three));
  put(ck + "scalar_and_empty.safetensors",
      file("{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
           "\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]}}",
           three.substr(0, 4)));
  return 0;
}
