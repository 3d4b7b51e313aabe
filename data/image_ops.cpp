// image_ops.cpp — CPU implementations of the helpers in image_ops.h (plain loops).
#include "data/image_ops.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "engine/common.h"

namespace sg::data {

namespace {
// Mirror index into [0, n): -1 -> 0, -2 -> 1, n -> n-1 (symmetric padding).
inline int mirror(int i, int n) {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - i - 1;
  return i;
}

// Separable correlation with a symmetric 1-D kernel (length 2r+1) along x then y. Rows are
// copied into a mirrored-padded buffer and columns accumulated row by row, so the inner loops
// are contiguous.
Image separable(const Image& img, const std::vector<float>& k) {
  const int r = (int)k.size() / 2, H = img.height, W = img.width;
  Image tmp(img.channels, H, W), out(img.channels, H, W, 0.f);
  std::vector<float> padded((size_t)(W + 2 * r));
  for (int c = 0; c < img.channels; ++c) {
    const float* src = img.channel(c);
    float* t = tmp.channel(c);
    float* o = out.channel(c);
    for (int y = 0; y < H; ++y) {
      for (int x = -r; x < W + r; ++x) padded[(size_t)(x + r)] = src[(size_t)y * W + mirror(x, W)];
      float* trow = t + (size_t)y * W;
      for (int x = 0; x < W; ++x) {
        float acc = 0;
        for (int d = 0; d <= 2 * r; ++d) acc += k[(size_t)d] * padded[(size_t)(x + d)];
        trow[x] = acc;
      }
    }
    for (int y = 0; y < H; ++y) {
      float* orow = o + (size_t)y * W;
      for (int d = -r; d <= r; ++d) {
        const float kd = k[(size_t)(d + r)];
        const float* trow = t + (size_t)mirror(y + d, H) * W;
        for (int x = 0; x < W; ++x) orow[x] += kd * trow[x];
      }
    }
  }
  return out;
}
}  // namespace

Image gaussian_blur(const Image& img, float sigma) {
  if (sigma <= 0.f || img.empty()) return img;
  const int r = std::max(1, (int)std::ceil(3.f * sigma));
  std::vector<float> k((size_t)(2 * r + 1));
  double total = 0;
  for (int d = -r; d <= r; ++d) total += k[(size_t)(d + r)] = (float)std::exp(-0.5 * d * d / (sigma * sigma));
  for (float& v : k) v = (float)(v / total);
  return separable(img, k);
}

Image box_blur3(const Image& img) { return separable(img, {1.f / 3, 1.f / 3, 1.f / 3}); }

Image to_gray(const Image& rgb) {
  SG_CHECK(rgb.channels == 3, "to_gray: expected 3 channels, got ", rgb.channels);
  Image g(1, rgb.height, rgb.width);
  const float *r = rgb.channel(0), *gr = rgb.channel(1), *b = rgb.channel(2);
  for (size_t i = 0; i < rgb.plane(); ++i) g.pixels[i] = 0.299f * r[i] + 0.587f * gr[i] + 0.114f * b[i];
  return g;
}

Image rgb_to_lab(const Image& rgb) {
  SG_CHECK(rgb.channels == 3, "rgb_to_lab: expected 3 channels, got ", rgb.channels);
  Image lab(3, rgb.height, rgb.width);
  auto lin = [](float c) {
    c = std::clamp(c, 0.f, 1.f);
    return c <= 0.04045f ? c / 12.92f : std::pow((c + 0.055f) / 1.055f, 2.4f);
  };
  auto f = [](float t) {
    const float e = 216.f / 24389.f;  // (6/29)^3
    return t > e ? std::cbrt(t) : t * (841.f / 108.f) + 4.f / 29.f;  // t / (3 (6/29)^2) + 4/29
  };
  for (size_t i = 0; i < rgb.plane(); ++i) {
    const float R = lin(rgb.channel(0)[i]), G = lin(rgb.channel(1)[i]), B = lin(rgb.channel(2)[i]);
    const float X = 0.4124564f * R + 0.3575761f * G + 0.1804375f * B;
    const float Y = 0.2126729f * R + 0.7151522f * G + 0.0721750f * B;
    const float Z = 0.0193339f * R + 0.1191920f * G + 0.9503041f * B;
    const float fx = f(X / 0.95047f), fy = f(Y), fz = f(Z / 1.08883f);
    lab.channel(0)[i] = 116.f * fy - 16.f;
    lab.channel(1)[i] = 500.f * (fx - fy);
    lab.channel(2)[i] = 200.f * (fy - fz);
  }
  return lab;
}

float percentile(std::vector<float> v, float q) {
  SG_CHECK(!v.empty(), "percentile: empty input");
  std::sort(v.begin(), v.end());
  const double pos = std::clamp(q, 0.f, 100.f) / 100.0 * (double)(v.size() - 1);
  const size_t i = (size_t)std::floor(pos);
  const double frac = pos - (double)i;
  if (i + 1 >= v.size()) return v.back();
  return (float)(v[i] + frac * (v[i + 1] - v[i]));
}

float otsu_threshold(const float* values, size_t n, float lo, float hi, int bins) {
  SG_CHECK(n > 0 && bins >= 2 && hi > lo, "otsu_threshold: bad arguments");
  std::vector<double> hist((size_t)bins, 0.0);
  const double scale = bins / (double)(hi - lo);
  float vmin = values[0], vmax = values[0];
  for (size_t i = 0; i < n; ++i) {
    vmin = std::min(vmin, values[i]);
    vmax = std::max(vmax, values[i]);
    int b = (int)((values[i] - lo) * scale);
    hist[(size_t)std::clamp(b, 0, bins - 1)] += 1;
  }
  if (vmin == vmax) return vmin;
  double total = 0, sum_all = 0;
  for (int b = 0; b < bins; ++b) {
    total += hist[(size_t)b];
    sum_all += b * hist[(size_t)b];
  }
  double w0 = 0, sum0 = 0, best = -1;
  int best_b = 0;
  for (int b = 0; b < bins - 1; ++b) {
    w0 += hist[(size_t)b];
    sum0 += b * hist[(size_t)b];
    const double w1 = total - w0;
    if (w0 == 0 || w1 == 0) continue;
    const double m0 = sum0 / w0, m1 = (sum_all - sum0) / w1;
    const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) {
      best = between;
      best_b = b;
    }
  }
  return lo + (float)((best_b + 1) / scale);
}

namespace {
// Running max (dilate = true) or min of a 0/1 plane along x then y, window 2r+1; `outside` is
// the value assumed beyond the border.
std::vector<unsigned char> morph(const std::vector<unsigned char>& m, int H, int W, int r,
                                 bool dilate, unsigned char outside) {
  std::vector<unsigned char> tmp(m.size()), out(m.size());
  auto pick = [&](unsigned char a, unsigned char b) { return dilate ? std::max(a, b) : std::min(a, b); };
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      unsigned char acc = dilate ? 0 : 1;
      for (int d = -r; d <= r; ++d) {
        int xx = x + d;
        acc = pick(acc, (xx < 0 || xx >= W) ? outside : m[(size_t)y * W + xx]);
      }
      tmp[(size_t)y * W + x] = acc;
    }
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      unsigned char acc = dilate ? 0 : 1;
      for (int d = -r; d <= r; ++d) {
        int yy = y + d;
        acc = pick(acc, (yy < 0 || yy >= H) ? outside : tmp[(size_t)yy * W + x]);
      }
      out[(size_t)y * W + x] = acc;
    }
  return out;
}

std::vector<unsigned char> to_bits(const Image& mask) {
  SG_CHECK(mask.channels == 1, "mask operation: expected a 1-channel mask, got ", mask.channels, " channels");
  std::vector<unsigned char> b(mask.plane());
  for (size_t i = 0; i < b.size(); ++i) b[i] = mask.pixels[i] >= 0.5f ? 1 : 0;
  return b;
}

Image from_bits(const std::vector<unsigned char>& b, int H, int W) {
  Image m(1, H, W);
  for (size_t i = 0; i < b.size(); ++i) m.pixels[i] = b[i];
  return m;
}
}  // namespace

Image binary_closing(const Image& mask, int k) {
  SG_CHECK(k >= 1 && k % 2 == 1, "binary_closing: square size must be odd and >= 1, got ", k);
  auto b = to_bits(mask);
  const int r = k / 2;
  auto d = morph(b, mask.height, mask.width, r, true, 0);
  auto e = morph(d, mask.height, mask.width, r, false, 1);
  return from_bits(e, mask.height, mask.width);
}

Image fill_holes(const Image& mask) {
  auto b = to_bits(mask);
  const int H = mask.height, W = mask.width;
  std::vector<unsigned char> reached(b.size(), 0);
  std::deque<int> q;
  auto push = [&](int y, int x) {
    size_t i = (size_t)y * W + x;
    if (!b[i] && !reached[i]) {
      reached[i] = 1;
      q.push_back((int)i);
    }
  };
  for (int x = 0; x < W; ++x) push(0, x), push(H - 1, x);
  for (int y = 0; y < H; ++y) push(y, 0), push(y, W - 1);
  while (!q.empty()) {
    int i = q.front();
    q.pop_front();
    int y = i / W, x = i % W;
    if (y > 0) push(y - 1, x);
    if (y + 1 < H) push(y + 1, x);
    if (x > 0) push(y, x - 1);
    if (x + 1 < W) push(y, x + 1);
  }
  for (size_t i = 0; i < b.size(); ++i) b[i] = reached[i] ? 0 : 1;
  return from_bits(b, H, W);
}

Components connected_components(const Image& mask) {
  auto b = to_bits(mask);
  const int H = mask.height, W = mask.width;
  Components c;
  c.label.assign(b.size(), 0);
  c.sizes.push_back(0);
  std::vector<int> stack;
  for (size_t s = 0; s < b.size(); ++s) {
    if (!b[s] || c.label[s]) continue;
    const int id = ++c.count;
    int size = 0;
    stack.push_back((int)s);
    c.label[s] = id;
    while (!stack.empty()) {
      int i = stack.back();
      stack.pop_back();
      ++size;
      int y = i / W, x = i % W;
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          int yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          size_t j = (size_t)yy * W + xx;
          if (b[j] && !c.label[j]) {
            c.label[j] = id;
            stack.push_back((int)j);
          }
        }
    }
    c.sizes.push_back(size);
  }
  return c;
}

Image remove_small_components(const Image& mask, int min_pixels) {
  Components c = connected_components(mask);
  Image out(1, mask.height, mask.width);
  for (size_t i = 0; i < c.label.size(); ++i)
    out.pixels[i] = (c.label[i] && c.sizes[(size_t)c.label[i]] >= min_pixels) ? 1.f : 0.f;
  return out;
}

float mask_area(const Image& mask) {
  if (mask.empty()) return 0.f;
  size_t on = 0;
  for (size_t i = 0; i < mask.plane(); ++i) on += mask.pixels[i] >= 0.5f;
  return (float)on / (float)mask.plane();
}

}  // namespace sg::data
