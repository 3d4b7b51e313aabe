// fuzz_image.cpp — libFuzzer target for image decoding (data/image_io.h: the JPEG Huffman-table
// check, the pixel limit read from the header, stb_image's PNG, JPEG and BMP decoders under an
// allocation budget) and the resampling every decoded image goes through. Any input is either
// decoded or refused with sg::Error; a decoded image has the size it declared and values in [0, 1].
#include <cstdint>
#include <cstdlib>

#include "data/image_io.h"
#include "engine/common.h"

// Images are decoded up to 512 x 512 pixels here: the limit check is the same code at any value, and
// small images keep each run short (a few bytes of BMP can declare 4096 x 4096 pixels).
constexpr int64_t kFuzzPixels = 512 * 512;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (int channels : {3, 1}) {
    sg::data::Image img;
    try {
      img = sg::data::decode_image(data, size, channels, "fuzz", kFuzzPixels);
    } catch (const sg::Error&) {
      return 0;
    }
    if (img.channels != channels || img.height < 1 || img.width < 1 ||
        (int64_t)img.height * img.width > kFuzzPixels)
      std::abort();
    for (float v : img.pixels)
      if (!(v >= 0.f && v <= 1.f)) std::abort();
    sg::data::Image small = sg::data::resize_bilinear(img, 16, 16);
    for (float v : small.pixels)
      if (!(v >= -1e-5f && v <= 1.f + 1e-5f)) std::abort();
  }
  return 0;
}
