// image_io.cpp — stb-backed file I/O plus resize and rotation on the CPU.
#include "data/image_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

#include "engine/common.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

namespace sg::data {

Image read_image(const std::string& path, int channels) {
  SG_CHECK(channels == 1 || channels == 3, "read_image: channels must be 1 or 3, got ", channels);
  {
    std::ifstream f(path, std::ios::binary);
    SG_CHECK(f.good(), "read_image: cannot open '", path, "' (missing or unreadable)");
  }
  int w = 0, h = 0, n = 0;
  unsigned char* raw = stbi_load(path.c_str(), &w, &h, &n, channels);
  SG_CHECK(raw != nullptr, "read_image: '", path, "' is not a readable image (",
           stbi_failure_reason() ? stbi_failure_reason() : "unknown error", ")");
  Image img(channels, h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        img.at(c, y, x) = raw[((size_t)y * w + x) * channels + c] / 255.0f;
  stbi_image_free(raw);
  return img;
}

void write_png(const std::string& path, const Image& img) {
  SG_CHECK(img.channels == 1 || img.channels == 3, "write_png: '", path, "': 1 or 3 channels, got ",
           img.channels);
  std::vector<unsigned char> buf((size_t)img.channels * img.plane());
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < img.channels; ++c) {
        float v = std::clamp(img.at(c, y, x), 0.f, 1.f);
        buf[((size_t)y * img.width + x) * img.channels + c] = (unsigned char)std::lround(v * 255.f);
      }
  std::string tmp = path + ".tmp";
  int ok = stbi_write_png(tmp.c_str(), img.width, img.height, img.channels, buf.data(),
                          img.width * img.channels);
  SG_CHECK(ok, "write_png: cannot write '", tmp, "'");
  SG_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "write_png: cannot rename '", tmp, "' to '",
           path, "'");
}

// Separable resampling along one axis with a triangle filter of support max(1, scale).
// in: n_in samples with stride `stride`, out: n_out samples. Pixel centres are aligned
// (align_corners = false), as in PIL.
namespace {
struct Taps {
  std::vector<int> start, count;
  std::vector<float> weight;  // count[i] weights per output sample, max_taps apart
  int max_taps = 0;
};

Taps make_taps(int n_in, int n_out) {
  Taps t;
  double scale = (double)n_in / n_out;
  double support = scale > 1.0 ? scale : 1.0;  // filter radius in input pixels
  t.max_taps = (int)std::ceil(support) * 2 + 1;
  t.start.resize((size_t)n_out);
  t.count.resize((size_t)n_out);
  t.weight.assign((size_t)n_out * t.max_taps, 0.f);
  for (int i = 0; i < n_out; ++i) {
    double centre = (i + 0.5) * scale;
    int lo = std::max(0, (int)std::floor(centre - support));
    int hi = std::min(n_in, (int)std::ceil(centre + support));
    double total = 0;
    int k = 0;
    for (int j = lo; j < hi && k < t.max_taps; ++j, ++k) {
      double wgt = std::max(0.0, 1.0 - std::fabs((j + 0.5 - centre) / support));
      t.weight[(size_t)i * t.max_taps + k] = (float)wgt;
      total += wgt;
    }
    for (int q = 0; q < k; ++q) t.weight[(size_t)i * t.max_taps + q] /= (float)(total > 0 ? total : 1);
    t.start[(size_t)i] = lo;
    t.count[(size_t)i] = k;
  }
  return t;
}
}  // namespace

Image resize_bilinear(const Image& img, int height, int width) {
  SG_CHECK(height > 0 && width > 0, "resize_bilinear: bad target size ", height, "x", width);
  SG_CHECK(!img.empty(), "resize_bilinear: empty image");
  if (height == img.height && width == img.width) return img;
  Taps tx = make_taps(img.width, width), ty = make_taps(img.height, height);
  Image mid(img.channels, img.height, width), out(img.channels, height, width);
  for (int c = 0; c < img.channels; ++c) {
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < width; ++x) {
        float acc = 0;
        for (int k = 0; k < tx.count[(size_t)x]; ++k)
          acc += tx.weight[(size_t)x * tx.max_taps + k] * img.at(c, y, tx.start[(size_t)x] + k);
        mid.at(c, y, x) = acc;
      }
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        float acc = 0;
        for (int k = 0; k < ty.count[(size_t)y]; ++k)
          acc += ty.weight[(size_t)y * ty.max_taps + k] * mid.at(c, ty.start[(size_t)y] + k, x);
        out.at(c, y, x) = acc;
      }
  }
  return out;
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
