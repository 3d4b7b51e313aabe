// hostile_files.h — hostile image files built byte by byte, for the tests and the fuzzing seeds
// (fuzz/make_seeds.cpp): no dependency beyond the standard library.
#pragma once
#include <cstdint>
#include <string>

namespace sg::test {

inline std::string be16(unsigned v) { return {(char)(v >> 8), (char)(v & 255)}; }
inline std::string be32(uint32_t v) { return be16(v >> 16) + be16(v & 0xFFFF); }
inline std::string le16(unsigned v) { return {(char)(v & 255), (char)(v >> 8)}; }
inline std::string le32(uint32_t v) { return le16(v & 0xFFFF) + le16(v >> 16); }

// A JPEG (JFIF header, quantisation table, 8x8 gray frame) whose Huffman table segment declares 16
// code lengths with `per_length` codes each: 16 x 17 = 272 codes overflow the 256-entry tables of
// stb_image 2.27. With per_length <= 16 the counts are in range. A second segment defines the AC
// table the scan names (one 1-bit code: end of block).
inline std::string hostile_jpeg(int per_length = 17) {
  std::string j = "\xFF\xD8";                                                   // SOI
  j += "\xFF\xE0" + be16(16) + std::string("JFIF\0\x01\x01\0\0\x01\0\x01\0\0", 14);  // APP0
  j += "\xFF\xDB" + be16(67) + std::string(1, '\0') + std::string(64, '\x01');    // DQT
  j += "\xFF\xC0" + be16(11) + std::string("\x08", 1) + be16(8) + be16(8) +       // SOF0, 1 component
       std::string("\x01\x01\x11\x00", 4);
  const int n = 16 * per_length;
  j += "\xFF\xC4" + be16((unsigned)(2 + 17 + n)) + std::string(1, '\0') +          // DHT class 0, id 0
       std::string(16, (char)per_length);
  for (int k = 0; k < n; ++k) j += (char)(k % 12);
  j += "\xFF\xC4" + be16(2 + 17 + 1) + std::string(1, '\x10') + std::string(1, '\x01') +  // DHT class 1, id 0
       std::string(15, '\0') + std::string(1, '\0');
  j += "\xFF\xDA" + be16(8) + std::string("\x01\x01\x00\x00\x3F\x00", 6);        // SOS
  j += std::string(16, '\0') + "\xFF\xD9";                                       // data, EOI
  return j;
}

// Whether the first DHT segment of `jpeg` holds a table whose 16 code counts sum to `sum`.
inline bool jpeg_has_dht_sum(const std::string& jpeg, unsigned sum) {
  const size_t at = jpeg.find("\xFF\xC4");
  if (at == std::string::npos || at + 21 > jpeg.size()) return false;
  unsigned total = 0;
  for (size_t k = 0; k < 16; ++k) total += (unsigned char)jpeg[at + 5 + k];
  return total == sum;
}

// A 75-byte BMP whose header declares width x height pixels (24-bit) and holds almost no data.
inline std::string hostile_bmp(uint32_t width, uint32_t height) {
  std::string b = "BM" + le32(75) + le32(0) + le32(54);
  b += le32(40) + le32(width) + le32(height) + le16(1) + le16(24) + le32(0) + le32(0) + le32(2835) + le32(2835) +
       le32(0) + le32(0);
  return b + std::string(21, '\x7f');
}

// A PNG holding only its signature, a header declaring width x height RGB pixels, and IEND.
inline std::string png_header_only(uint32_t width, uint32_t height) {
  auto crc = [](const std::string& d) {
    uint32_t c = 0xFFFFFFFFu;
    for (unsigned char ch : d) {
      c ^= ch;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
  };
  const std::string ihdr = "IHDR" + be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + ihdr + be32(crc(ihdr)) + be32(0) + "IEND" +
         be32(crc("IEND"));
}

}  // namespace sg::test
