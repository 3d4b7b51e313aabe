// procedural_texture.cpp — random textures for the auxiliary image B when no texture folder is
// given (textures.h): five families in random colours, every choice drawn from the caller's Rng.
#include <algorithm>
#include <cmath>
#include <vector>

#include "data/textures.h"
#include "engine/common.h"

namespace sg::data {

namespace {
constexpr float kPi = 3.14159265358979f;

struct Colour {
  float v[3];
};
Colour random_colour(Rng& rng) { return {{rng.uniform(), rng.uniform(), rng.uniform()}}; }

void put(Image& img, int y, int x, const Colour& a, const Colour& b, float t) {
  t = std::clamp(t, 0.f, 1.f);
  for (int c = 0; c < 3; ++c) img.at(c, y, x) = a.v[c] + (b.v[c] - a.v[c]) * t;
}

// Value noise with `cells` lattice cells across the shorter side, smooth (quintic) interpolation.
// Returns height*width values in [0,1].
std::vector<float> value_noise(Rng& rng, int H, int W, float cells) {
  const float step = std::min(H, W) / std::max(cells, 1.f);
  const int gy = (int)std::ceil(H / step) + 2, gx = (int)std::ceil(W / step) + 2;
  std::vector<float> lattice((size_t)gy * gx);
  for (float& v : lattice) v = rng.uniform();
  auto fade = [](float t) { return t * t * t * (t * (t * 6 - 15) + 10); };
  std::vector<float> out((size_t)H * W);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float fy = y / step, fx = x / step;
      const int y0 = (int)fy, x0 = (int)fx;
      const float u = fade(fx - x0), v = fade(fy - y0);
      auto L = [&](int yy, int xx) { return lattice[(size_t)yy * gx + xx]; };
      const float top = L(y0, x0) + u * (L(y0, x0 + 1) - L(y0, x0));
      const float bot = L(y0 + 1, x0) + u * (L(y0 + 1, x0 + 1) - L(y0 + 1, x0));
      out[(size_t)y * W + x] = top + v * (bot - top);
    }
  return out;
}

// Fractal (fBm) value noise coloured along a 3-colour ramp.
void fractal(Image& img, Rng& rng) {
  const int H = img.height, W = img.width, octaves = rng.randint(2, 6);
  const float base = rng.uniform(2.f, 8.f), gain = rng.uniform(0.35f, 0.65f);
  std::vector<float> acc((size_t)H * W, 0.f);
  float amp = 1.f, total = 0.f;
  for (int o = 0; o < octaves; ++o) {
    std::vector<float> n = value_noise(rng, H, W, base * (float)(1 << o));
    for (size_t i = 0; i < acc.size(); ++i) acc[i] += amp * n[i];
    total += amp;
    amp *= gain;
  }
  const Colour a = random_colour(rng), b = random_colour(rng), c = random_colour(rng);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float t = acc[(size_t)y * W + x] / total;  // roughly centred on 0.5
      const float s = std::clamp((t - 0.5f) * 2.5f + 0.5f, 0.f, 1.f);
      if (s < 0.5f) put(img, y, x, a, b, s * 2.f); else put(img, y, x, b, c, s * 2.f - 1.f);
    }
}

// Stripes at a random angle and period, sine or hard-edged profile, optionally wavy.
void stripes(Image& img, Rng& rng) {
  const int H = img.height, W = img.width;
  const float angle = rng.uniform(0.f, kPi), period = rng.uniform(4.f, std::max(8.f, std::min(H, W) / 3.f));
  const bool hard = rng.bernoulli(0.5f);
  const float duty = rng.uniform(0.2f, 0.8f), wave = rng.bernoulli(0.5f) ? rng.uniform(0.f, period) : 0.f;
  const std::vector<float> warp = value_noise(rng, H, W, rng.uniform(1.f, 4.f));
  const Colour a = random_colour(rng), b = random_colour(rng);
  const float ca = std::cos(angle), sa = std::sin(angle);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float p = (x * ca + y * sa + wave * (warp[(size_t)y * W + x] - 0.5f) * 2.f) / period;
      const float f = p - std::floor(p);
      const float t = hard ? (f < duty ? 0.f : 1.f) : 0.5f + 0.5f * std::sin(2.f * kPi * p);
      put(img, y, x, a, b, t);
    }
}

// Soft-edged ellipses of random colours over a background colour.
void blobs(Image& img, Rng& rng) {
  const int H = img.height, W = img.width, n = rng.randint(5, 40);
  const Colour bg = random_colour(rng);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) put(img, y, x, bg, bg, 0.f);
  const float side = (float)std::min(H, W);
  for (int k = 0; k < n; ++k) {
    const float cy = rng.uniform(0.f, (float)H), cx = rng.uniform(0.f, (float)W);
    const float ry = rng.uniform(0.03f, 0.2f) * side, rx = rng.uniform(0.03f, 0.2f) * side;
    const float soft = rng.uniform(0.05f, 0.5f);
    const Colour col = random_colour(rng);
    const int y0 = std::max(0, (int)(cy - ry - 1)), y1 = std::min(H - 1, (int)(cy + ry + 1));
    const int x0 = std::max(0, (int)(cx - rx - 1)), x1 = std::min(W - 1, (int)(cx + rx + 1));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        const float d = std::sqrt(((y - cy) / ry) * ((y - cy) / ry) + ((x - cx) / rx) * ((x - cx) / rx));
        const float t = std::clamp((1.f - d) / soft, 0.f, 1.f);  // 1 inside, 0 outside
        if (t <= 0.f) continue;
        for (int c = 0; c < 3; ++c) img.at(c, y, x) += (col.v[c] - img.at(c, y, x)) * t;
      }
  }
}

// A checkerboard rotated by a random angle.
void checker(Image& img, Rng& rng) {
  const int H = img.height, W = img.width;
  const float cell = rng.uniform(6.f, std::max(12.f, std::min(H, W) / 4.f)), angle = rng.uniform(0.f, kPi / 2);
  const Colour a = random_colour(rng), b = random_colour(rng);
  const float ca = std::cos(angle), sa = std::sin(angle);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float u = (x * ca + y * sa) / cell, v = (-x * sa + y * ca) / cell;
      const long parity = ((long)std::floor(u) + (long)std::floor(v)) & 1L;
      put(img, y, x, a, b, (float)parity);
    }
}

// Voronoi cells from a palette, darkened towards the cell borders.
void cells(Image& img, Rng& rng) {
  const int H = img.height, W = img.width, n = rng.randint(8, 64), ncol = rng.randint(2, 4);
  std::vector<Colour> palette;
  for (int i = 0; i < ncol; ++i) palette.push_back(random_colour(rng));
  std::vector<float> py((size_t)n), px((size_t)n);
  std::vector<int> col((size_t)n);
  for (int i = 0; i < n; ++i)
    py[(size_t)i] = rng.uniform(0.f, (float)H), px[(size_t)i] = rng.uniform(0.f, (float)W),
    col[(size_t)i] = rng.randint(0, ncol - 1);
  const float edge = rng.uniform(0.f, 0.8f);
  const Colour black{{0.f, 0.f, 0.f}};
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      float d1 = 1e30f, d2 = 1e30f;
      int best = 0;
      for (int i = 0; i < n; ++i) {
        const float d = (y - py[(size_t)i]) * (y - py[(size_t)i]) + (x - px[(size_t)i]) * (x - px[(size_t)i]);
        if (d < d1) d2 = d1, d1 = d, best = i;
        else if (d < d2) d2 = d;
      }
      const float gap = std::sqrt(d2) - std::sqrt(d1);  // distance-like measure to the border
      const float shade = edge * std::exp(-gap / 3.f);
      put(img, y, x, palette[(size_t)col[(size_t)best]], black, shade);
    }
}
}  // namespace

Image procedural_texture(Rng& rng, int height, int width) {
  SG_CHECK(height > 0 && width > 0, "procedural_texture: bad size ", height, "x", width);
  Image img(3, height, width);
  switch (rng.randint(0, 4)) {
    case 0: fractal(img, rng); break;
    case 1: stripes(img, rng); break;
    case 2: blobs(img, rng); break;
    case 3: checker(img, rng); break;
    default: cells(img, rng); break;
  }
  const float grain = rng.uniform(0.f, 0.04f);
  for (float& v : img.pixels) v = std::clamp(v + rng.normal(0.f, grain), 0.f, 1.f);
  return img;
}

}  // namespace sg::data
