// image_io.cpp — stb-backed file I/O (with the checks stb lacks) plus resize and rotation on the CPU.
#include "data/image_io.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/common.h"
#include "engine/file_io.h"

// stb_image's allocations go through a per-thread budget (set for each decode from the image's
// declared size), so that no file can make the decoder claim more: a PNG whose compressed data
// inflates far beyond its declared pixels (a "zip bomb") fails with "outofmem" instead.
namespace sg::data::detail {
void* stb_malloc(size_t n);
void* stb_realloc(void* p, size_t n);
void stb_free(void* p);
}  // namespace sg::data::detail
#define STBI_MALLOC(n) ::sg::data::detail::stb_malloc(n)
#define STBI_REALLOC(p, n) ::sg::data::detail::stb_realloc(p, n)
#define STBI_FREE(p) ::sg::data::detail::stb_free(p)
// Only the formats the datasets use (is_image_file: PNG, JPEG, BMP) are decoded at all.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
// Three of UndefinedBehaviorSanitizer's checks are turned off for stb's functions alone (every other
// check stays on for them), for patterns that are harmless with GCC and Clang on glibc:
// shift-base: stb shifts negative values left (its JPEG code does, by design; defined since C++20);
// shift-exponent: on corrupt entropy-coded JPEG data stb's bit reader shifts a byte by 32
// (stbi__grow_buffer_unsafe; found by fuzz_image, fuzz/corpus/image/jpeg_shift32.jpg): the image
// decodes to garbage or fails, and AddressSanitizer still checks every memory access;
// nonnull-attribute: stb calls memcpy(NULL, src, 0) for a PNG whose first IDAT chunk is empty
// (found by fuzz_image; fuzz/corpus/image/png_empty_idat.png). A real null access would still be
// caught by AddressSanitizer.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("shift-base", "shift-exponent", "nonnull-attribute"))), apply_to = function)
#endif
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#if defined(__clang__)
#pragma clang attribute pop
#endif

namespace sg::data {

namespace detail {
namespace {
// Bytes stb may still allocate on this thread; every block carries its size in a 16-byte prefix.
// Blocks come zeroed: stb reads some of its state before writing it when a file is corrupt (a JPEG
// scan naming a Huffman table no segment defined, refused by jpeg_huffman_problem below), and zeros
// make any such read the same every time and harmless, instead of whatever the heap last held.
thread_local size_t g_stb_budget = 0;
constexpr size_t kPrefix = 16;
}  // namespace

void* stb_malloc(size_t n) {
  if (n > g_stb_budget) return nullptr;
  auto* p = static_cast<unsigned char*>(std::calloc(1, n + kPrefix));
  if (!p) return nullptr;
  g_stb_budget -= n;
  std::memcpy(p, &n, sizeof n);
  return p + kPrefix;
}

void stb_free(void* q) {
  if (!q) return;
  auto* p = static_cast<unsigned char*>(q) - kPrefix;
  size_t n;
  std::memcpy(&n, p, sizeof n);
  g_stb_budget += n;
  std::free(p);
}

void* stb_realloc(void* q, size_t n) {
  if (!q) return stb_malloc(n);
  auto* p = static_cast<unsigned char*>(q) - kPrefix;
  size_t old;
  std::memcpy(&old, p, sizeof old);
  if (n > old && n - old > g_stb_budget) return nullptr;
  auto* r = static_cast<unsigned char*>(std::realloc(p, n + kPrefix));
  if (!r) return nullptr;
  g_stb_budget = g_stb_budget + old - n;
  std::memcpy(r, &n, sizeof n);
  return r + kPrefix;
}

// Sets the budget for one decode and restores the previous one afterwards.
struct StbBudget {
  size_t saved;
  explicit StbBudget(size_t bytes) : saved(g_stb_budget) { g_stb_budget = bytes; }
  ~StbBudget() { g_stb_budget = saved; }
};
}  // namespace detail

std::string image_pixel_limit_text() {
  return str(kMaxImagePixels, " pixels (", 4096, " x ", 4096, ")");
}

// stb_image 2.27 (Debian's libstb) trusts a JPEG's Huffman tables in two ways that corrupt files
// break: (1) it builds a table from a DHT segment without checking that its 16 code counts sum to
// at most 256, and a larger sum writes past the table's arrays (inside the decoder's allocation, so
// even AddressSanitizer stays silent); (2) a scan (SOS) may name a table that no DHT segment
// defined, and stb then decodes with whatever bytes that table's memory held: with some contents
// the symbol index lands outside the table (found by fuzz_image, which tripped stb's assertion in
// stbi__jpeg_huff_decode; fuzz/corpus/image/sos_undefined_table.jpg). This walks the JPEG's
// segments the way stb_image reads them, checks every DHT table, and checks that each scan's
// components use only tables defined before it (the tables the scan decodes with: DC and AC in a
// baseline scan; in a progressive one, DC for a first DC scan, none for a DC refinement, AC for an
// AC scan), before stb sees the file; a well-formed file is unaffected. (Validating here, rather
// than decoding JPEG with another library, keeps the dependencies header-only, which the offline
// GPU build relies on; the check is fuzzed with the rest of image decoding in fuzz/fuzz_image.cpp.)
std::string jpeg_huffman_problem(const unsigned char* d, size_t n) {
  if (n < 2 || d[0] != 0xFF) return "";  // not a JPEG (stb tests for the SOI marker the same way)
  auto byte = [&](size_t k) -> unsigned { return k < n ? d[k] : 0u; };  // stb reads 0 past the end
  bool defined[2][4] = {};  // [class: 0 DC, 1 AC][id]: tables some DHT segment has defined so far
  bool progressive = false;
  size_t i = 0;
  for (;;) {
    // The next marker: stb skips stray bytes to the next 0xFF, then 0xFF fill bytes.
    while (i < n && d[i] != 0xFF) ++i;
    while (i < n && d[i] == 0xFF) ++i;
    if (i >= n) return "";
    const unsigned m = d[i++];
    if (m == 0xD9) return "";                                                  // EOI
    if (m == 0xD8 || m == 0x01 || m == 0x00 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length
    if (i + 2 > n) return "";
    const size_t len = (size_t)d[i] << 8 | d[i + 1];
    if (len < 2) return "";  // stb refuses it
    if (m == 0xC4) {  // DHT: tables of [class/id, 16 counts, sum(counts) symbols]
      const size_t at = i - 2;
      long left = (long)len - 2;
      size_t p = i + 2;
      while (left > 0) {
        const unsigned q = byte(p);
        if ((q >> 4) > 1 || (q & 15) > 3)
          return str("its Huffman table segment (DHT) at byte ", at, " names table class ", q >> 4, ", id ", q & 15,
                     " (class 0 or 1, id 0 to 3)");
        unsigned sum = 0;
        for (size_t k = 0; k < 16; ++k) sum += byte(p + 1 + k);
        if (sum > 256)
          return str("its Huffman table segment (DHT) at byte ", at, " has code counts that sum to ", sum,
                     " (at most 256)");
        defined[q >> 4][q & 15] = true;
        p += 17 + sum;
        left -= 17 + (long)sum;
      }
      if (left != 0)
        return str("its Huffman table segment (DHT) at byte ", at, " is ", len,
                   " bytes long, which does not match the tables it holds");
    }
    if (m == 0xC2) progressive = true;  // SOF2 (stb refuses a second frame header)
    if (m == 0xDA) {  // SOS: [component count, per component id and DC/AC table ids, Ss, Se, Ah/Al]
      const unsigned ns = byte(i + 2);
      const unsigned ss = byte(i + 3 + 2 * ns), ah = byte(i + 5 + 2 * ns) >> 4;
      for (unsigned k = 0; k < ns && k < 4; ++k) {  // stb refuses more than 4 components
        const unsigned component = byte(i + 3 + 2 * k), tables = byte(i + 4 + 2 * k);
        const unsigned dc = tables >> 4, ac = tables & 15;
        if (dc > 3 || ac > 3) continue;  // stb refuses these itself
        const bool needs_dc = progressive ? ss == 0 && ah == 0 : true;
        const bool needs_ac = progressive ? ss != 0 : true;
        if ((needs_dc && !defined[0][dc]) || (needs_ac && !defined[1][ac]))
          return str("its scan (SOS) at byte ", i - 2, " decodes component ", component, " with ",
                     needs_dc && !defined[0][dc] ? str("DC Huffman table ", dc) : str("AC Huffman table ", ac),
                     ", which no Huffman table segment (DHT) before it defines");
      }
    }
    i += len;
    if (m == 0xDA) {  // SOS: entropy-coded data up to the next marker other than RSTn
      while (i < n) {
        if (d[i] != 0xFF) {
          ++i;
          continue;
        }
        size_t j = i;
        while (j < n && d[j] == 0xFF) ++j;
        if (j >= n) return "";
        if (d[j] == 0x00 || (d[j] >= 0xD0 && d[j] <= 0xD7)) {
          i = j + 1;
          continue;
        }
        break;
      }
    }
  }
}

// ---- resampling -------------------------------------------------------------------------------
// Separable resampling with a triangle filter of support max(1, scale) along each axis; pixel
// centres are aligned (align_corners = false), as in PIL. Output sample i of an axis averages the
// inputs [lo(i), lo(i) + count(i)) with weights w(i, j) = max(0, 1 - |j + 0.5 - centre(i)| /
// support) / total(i).
//
// Memory is bounded by the output, not by the input's height or width: the horizontal pass makes
// one output-width row per input row, which is added at once into every output row that uses it
// (rows are visited in order, so each output pixel sums its taps in the order a two-pass resize
// would, with the same result), and the weights are computed as they are used; an axis keeps only
// lo, count and total per output sample.
namespace {
struct Axis {
  double scale = 1, support = 1;
  int max_taps = 0;
  std::vector<int> lo, count;
  std::vector<float> total;

  Axis(int n_in, int n_out) {
    scale = (double)n_in / n_out;
    support = scale > 1.0 ? scale : 1.0;  // filter radius in input pixels
    max_taps = (int)std::ceil(support) * 2 + 1;
    lo.resize((size_t)n_out);
    count.resize((size_t)n_out);
    total.resize((size_t)n_out);
    for (int i = 0; i < n_out; ++i) {
      const double c = centre(i);
      const int first = std::max(0, (int)std::floor(c - support));
      const int end = std::min(n_in, (int)std::ceil(c + support));
      double t = 0;
      int k = 0;
      for (int j = first; j < end && k < max_taps; ++j, ++k) t += raw_weight(i, j);
      lo[(size_t)i] = first;
      count[(size_t)i] = k;
      total[(size_t)i] = (float)(t > 0 ? t : 1);
    }
  }
  double centre(int i) const { return (i + 0.5) * scale; }
  double raw_weight(int i, int j) const { return std::max(0.0, 1.0 - std::fabs((j + 0.5 - centre(i)) / support)); }
  float weight(int i, int j) const { return (float)raw_weight(i, j) / total[(size_t)i]; }
};

// `src` has width, height, channels and at(c, y, x) -> float.
template <typename Source>
Image resample(const Source& src, int height, int width) {
  const Axis ax(src.width, width), ay(src.height, height);
  const int C = src.channels;
  Image out(C, height, width, 0.f);
  std::vector<float> row((size_t)C * width), wx((size_t)ax.max_taps);
  int first = 0;  // the first output row whose taps reach the current input row or later
  for (int y = 0; y < src.height; ++y) {
    while (first < height && ay.lo[(size_t)first] + ay.count[(size_t)first] <= y) ++first;
    if (first == height || ay.lo[(size_t)first] > y) continue;  // no output row uses this input row
    for (int x = 0; x < width; ++x) {
      const int x0 = ax.lo[(size_t)x], n = ax.count[(size_t)x];
      for (int k = 0; k < n; ++k) wx[(size_t)k] = ax.weight(x, x0 + k);
      for (int c = 0; c < C; ++c) {
        float acc = 0;
        for (int k = 0; k < n; ++k) acc += wx[(size_t)k] * src.at(c, y, x0 + k);
        row[(size_t)c * width + x] = acc;
      }
    }
    for (int oy = first; oy < height && ay.lo[(size_t)oy] <= y; ++oy) {
      if (y >= ay.lo[(size_t)oy] + ay.count[(size_t)oy]) continue;
      const float w = ay.weight(oy, y);
      for (int c = 0; c < C; ++c) {
        float* o = out.channel(c) + (size_t)oy * width;
        const float* r = row.data() + (size_t)c * width;
        for (int x = 0; x < width; ++x) o[x] += w * r[x];
      }
    }
  }
  return out;
}

// stb's decoded 8-bit pixels, interleaved (y, x, channel), freed with the object.
struct Raw8 {
  unsigned char* px = nullptr;
  int width = 0, height = 0, channels = 0;
  Raw8() = default;
  Raw8(const Raw8&) = delete;
  Raw8& operator=(const Raw8&) = delete;
  ~Raw8() {
    if (px) stbi_image_free(px);
  }
  float at(int c, int y, int x) const { return px[((size_t)y * width + x) * channels + c] / 255.0f; }
};

void decode_raw(const unsigned char* data, size_t size, int channels, const std::string& name, int64_t max_pixels,
                Raw8* out) {
  SG_CHECK(channels == 1 || channels == 3, "read_image: channels must be 1 or 3, got ", channels);
  SG_CHECK(size <= (size_t)INT32_MAX, "read_image: '", name, "' is too large (", size, " bytes)");
  const std::string jpeg = jpeg_huffman_problem(data, size);
  SG_CHECK(jpeg.empty(), "read_image: '", name, "' is a corrupt JPEG: ", jpeg);
  int w = 0, h = 0, n = 0;
  {
    detail::StbBudget budget(size + (16u << 20));
    SG_CHECK(stbi_info_from_memory(data, (int)size, &w, &h, &n), "read_image: '", name,
             "' is not a readable image (PNG, JPEG or BMP: ",
             stbi_failure_reason() ? stbi_failure_reason() : "unknown error", ")");
  }
  SG_CHECK(w > 0 && h > 0, "read_image: '", name, "' declares an empty image (", w, " x ", h, ")");
  SG_CHECK((int64_t)w * h <= std::min(max_pixels, kMaxImagePixels), "read_image: '", name, "' is ", w, " x ", h,
           " = ", (int64_t)w * h, " pixels; the largest image decoded is ",
           max_pixels < kMaxImagePixels ? str(max_pixels, " pixels") : image_pixel_limit_text());
  // Enough for any decoder's working buffers at this size (16-bit RGBA PNG: 8 bytes per pixel,
  // inflated and unfiltered, then converted), and no more.
  detail::StbBudget budget((size_t)w * h * 32 + 2 * size + (16u << 20));
  int dw = 0, dh = 0;
  unsigned char* raw = stbi_load_from_memory(data, (int)size, &dw, &dh, &n, channels);
  SG_CHECK(raw != nullptr, "read_image: '", name, "' is not a readable image (",
           stbi_failure_reason() ? stbi_failure_reason() : "unknown error", ")");
  if (dw != w || dh != h) {
    stbi_image_free(raw);
    throw Error(str("read_image: '", name, "' decodes to ", dw, " x ", dh, " but declares ", w, " x ", h));
  }
  out->px = raw;
  out->width = w;
  out->height = h;
  out->channels = channels;
}

// The decoded pixels as an Image at (height, width): converted as they are at their own size,
// resampled (resample) otherwise.
Image to_image(const Raw8& raw, int height, int width) {
  if (raw.height != height || raw.width != width) return resample(raw, height, width);
  Image img(raw.channels, height, width);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < raw.channels; ++c) img.at(c, y, x) = raw.at(c, y, x);
  return img;
}

std::string read_image_bytes(const std::string& path, int channels) {
  SG_CHECK(channels == 1 || channels == 3, "read_image: channels must be 1 or 3, got ", channels);
  try {
    return read_regular_file(path, kMaxImageFileBytes, "image");
  } catch (const Error& e) {
    throw Error(str("read_image: ", e.what()));
  }
}

// Decode `path` into *raw, the file's bytes released before the caller resamples.
void read_raw(const std::string& path, int channels, Raw8* raw) {
  const std::string bytes = read_image_bytes(path, channels);
  decode_raw(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), channels, path, kMaxImagePixels, raw);
}
}  // namespace

Image decode_image(const unsigned char* data, size_t size, int channels, const std::string& name,
                   int64_t max_pixels) {
  Raw8 raw;
  decode_raw(data, size, channels, name, max_pixels, &raw);
  return to_image(raw, raw.height, raw.width);
}

Image read_image(const std::string& path, int channels) {
  const std::string bytes = read_image_bytes(path, channels);
  return decode_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), channels, path);
}

Image read_image_resized(const std::string& path, int channels, int height, int width, int* source_height,
                         int* source_width) {
  SG_CHECK(height > 0 && width > 0, "read_image_resized: bad target size ", height, "x", width);
  Raw8 raw;
  read_raw(path, channels, &raw);
  if (source_height) *source_height = raw.height;
  if (source_width) *source_width = raw.width;
  return to_image(raw, height, width);
}

Image read_image_within(const std::string& path, int channels, int max_side) {
  SG_CHECK(max_side > 0, "read_image_within: bad size limit ", max_side);
  Raw8 raw;
  read_raw(path, channels, &raw);
  const double shrink = std::max(1.0, (double)std::max(raw.height, raw.width) / max_side);
  return to_image(raw, std::max(1, (int)std::lround(raw.height / shrink)),
                  std::max(1, (int)std::lround(raw.width / shrink)));
}

std::vector<uint8_t> interleaved_u8(const Image& img) {
  std::vector<uint8_t> buf((size_t)img.channels * img.plane());
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < img.channels; ++c)
        buf[((size_t)y * img.width + x) * img.channels + c] =
            (uint8_t)std::lround(std::clamp(img.at(c, y, x), 0.f, 1.f) * 255.f);
  return buf;
}

namespace {
// Encode `img` (1 or 3 channels, values clipped to [0, 1]) in memory with stb (whose file writers
// would ignore a failed fwrite or fclose), then write the file whole, checked, through AtomicFile.
void write_encoded(const char* what, const std::string& path, const Image& img, bool jpeg, int quality) {
  SG_CHECK(img.channels == 1 || img.channels == 3, what, ": '", path, "': 1 or 3 channels, got ", img.channels);
  const std::vector<uint8_t> buf = interleaved_u8(img);
  std::string bytes;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), (size_t)size);
  };
  const int ok = jpeg ? stbi_write_jpg_to_func(append, &bytes, img.width, img.height, img.channels, buf.data(), quality)
                      : stbi_write_png_to_func(append, &bytes, img.width, img.height, img.channels, buf.data(),
                                               img.width * img.channels);
  SG_CHECK(ok && !bytes.empty(), what, ": cannot encode '", path, "'");
  try {
    write_file_atomic(path, bytes);
  } catch (const Error& e) {
    throw Error(str(what, ": ", e.what()));
  }
}
}  // namespace

void write_png(const std::string& path, const Image& img) { write_encoded("write_png", path, img, false, 0); }

void write_jpeg(const std::string& path, const Image& img, int quality) {
  SG_CHECK(quality >= 1 && quality <= 100, "write_jpeg: '", path, "': quality must be from 1 to 100, got ", quality);
  write_encoded("write_jpeg", path, img, true, quality);
}


Image flip_horizontal(const Image& img) {
  Image out = img;
  for (int c = 0; c < img.channels; ++c)
    for (int y = 0; y < img.height; ++y) {
      float* row = out.channel(c) + (size_t)y * img.width;
      std::reverse(row, row + img.width);
    }
  return out;
}

Image resize_bilinear(const Image& img, int height, int width) {
  SG_CHECK(height > 0 && width > 0, "resize_bilinear: bad target size ", height, "x", width);
  SG_CHECK(!img.empty(), "resize_bilinear: empty image");
  if (height == img.height && width == img.width) return img;
  struct Planar {
    const Image& im;
    int width, height, channels;
    float at(int c, int y, int x) const { return im.at(c, y, x); }
  } src{img, img.width, img.height, img.channels};
  return resample(src, height, width);
}

Image rotate(const Image& img, float degrees) {
  if (degrees == 0.f) return img;
  Image out(img.channels, img.height, img.width, 0.f);
  const double a = degrees * 3.14159265358979323846 / 180.0, ca = std::cos(a), sa = std::sin(a);
  const double cy = (img.height - 1) / 2.0, cx = (img.width - 1) / 2.0;
  const int H = img.height, W = img.width;
  const size_t plane = img.plane();
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      // Inverse map: where in the source does output (x, y) come from (y axis points down).
      const double dx = x - cx, dy = y - cy;
      const double sx = ca * dx - sa * dy + cx, sy = sa * dx + ca * dy + cy;
      const int x0 = (int)std::floor(sx), y0 = (int)std::floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= W || y0 >= H) continue;  // all four taps outside: zero
      const double fx = sx - x0, fy = sy - y0;  // double: a blend of values <= 1 stays <= 1
      // Bilinear weights of the four taps; a tap outside the image contributes zero (black fill).
      const bool in_x0 = x0 >= 0, in_x1 = x0 + 1 < W, in_y0 = y0 >= 0, in_y1 = y0 + 1 < H;
      const double w00 = (in_y0 && in_x0) ? (1 - fy) * (1 - fx) : 0.0;
      const double w01 = (in_y0 && in_x1) ? (1 - fy) * fx : 0.0;
      const double w10 = (in_y1 && in_x0) ? fy * (1 - fx) : 0.0;
      const double w11 = (in_y1 && in_x1) ? fy * fx : 0.0;
      const size_t i00 = (size_t)std::max(y0, 0) * W + std::max(x0, 0);
      const size_t i01 = (size_t)std::max(y0, 0) * W + std::min(x0 + 1, W - 1);
      const size_t i10 = (size_t)std::min(y0 + 1, H - 1) * W + std::max(x0, 0);
      const size_t i11 = (size_t)std::min(y0 + 1, H - 1) * W + std::min(x0 + 1, W - 1);
      for (int c = 0; c < img.channels; ++c) {
        const float* p = img.pixels.data() + c * plane;
        out.pixels[c * plane + (size_t)y * W + x] =
            (float)(w00 * p[i00] + w01 * p[i01] + w10 * p[i10] + w11 * p[i11]);
      }
    }
  return out;
}

void binarize(Image& img, float threshold) {
  for (float& v : img.pixels) v = v >= threshold ? 1.f : 0.f;
}

}  // namespace sg::data
