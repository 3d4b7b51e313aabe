// augment.cpp — the auxiliary-image augmenters of augment.h (CPU loops on float CHW images).
#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "data/image_io.h"
#include "engine/common.h"

namespace sg::data {

namespace {
void check_rgb(const Image& img, const char* who) {
  SG_CHECK(img.channels == 3 && !img.empty(), who, ": expected a non-empty RGB image, got ",
           img.channels, " channels ", img.height, "x", img.width);
}
inline float clip01(float v) { return std::clamp(v, 0.f, 1.f); }
inline int to_u8(float v) { return (int)std::lround(clip01(v) * 255.f); }
}  // namespace

Image gamma_contrast(const Image& img, const float gamma[3]) {
  check_rgb(img, "gamma_contrast");
  Image out = img;
  for (int c = 0; c < 3; ++c) {
    float* p = out.channel(c);
    for (size_t i = 0; i < out.plane(); ++i) p[i] = std::pow(clip01(p[i]), gamma[c]);
  }
  return out;
}

Image brightness(const Image& img, float mul, float add) {
  check_rgb(img, "brightness");
  Image out = img;
  for (size_t i = 0; i < img.plane(); ++i) {
    const float y = 0.299f * img.channel(0)[i] + 0.587f * img.channel(1)[i] + 0.114f * img.channel(2)[i];
    const float dy = y * mul + add - y;
    for (int c = 0; c < 3; ++c) out.channel(c)[i] = clip01(img.channel(c)[i] + dy);
  }
  return out;
}

Image sharpness(const Image& img, float factor) {
  check_rgb(img, "sharpness");
  Image out = img;
  const int H = img.height, W = img.width;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        float smooth = img.at(c, y, x);
        if (y > 0 && y < H - 1 && x > 0 && x < W - 1) {
          float s = 4.f * img.at(c, y, x);  // centre weight 5 = 4 + the 1 in the 3x3 sum
          for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) s += img.at(c, y + dy, x + dx);
          smooth = s / 13.f;
        }
        out.at(c, y, x) = clip01(smooth + factor * (img.at(c, y, x) - smooth));
      }
  return out;
}

Image hue_saturation(const Image& img, float hue_shift, float sat_shift) {
  check_rgb(img, "hue_saturation");
  Image out = img;
  if (hue_shift == 0.f && sat_shift == 0.f) return out;
  for (size_t i = 0; i < img.plane(); ++i) {
    const float r = clip01(img.channel(0)[i]), g = clip01(img.channel(1)[i]), b = clip01(img.channel(2)[i]);
    // RGB -> HSV, h in [0,1).
    const float mx = std::max({r, g, b}), mn = std::min({r, g, b}), d = mx - mn;
    float h = 0.f;
    if (d > 0) {
      if (mx == r) h = (g - b) / d;
      else if (mx == g) h = 2.f + (b - r) / d;
      else h = 4.f + (r - g) / d;
      h /= 6.f;
      if (h < 0) h += 1.f;
    }
    float s = mx > 0 ? d / mx : 0.f;
    const float v = mx;
    h += hue_shift / 255.f;
    h -= std::floor(h);
    s = clip01(s + sat_shift / 255.f);
    // HSV -> RGB.
    const float hh = h * 6.f;
    const int sector = (int)std::floor(hh) % 6;
    const float f = hh - std::floor(hh), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    float rr, gg, bb;
    switch (sector) {
      case 0: rr = v, gg = t, bb = p; break;
      case 1: rr = q, gg = v, bb = p; break;
      case 2: rr = p, gg = v, bb = t; break;
      case 3: rr = p, gg = q, bb = v; break;
      case 4: rr = t, gg = p, bb = v; break;
      default: rr = v, gg = p, bb = q; break;
    }
    out.channel(0)[i] = rr, out.channel(1)[i] = gg, out.channel(2)[i] = bb;
  }
  return out;
}

Image solarize(const Image& img, float threshold) {
  check_rgb(img, "solarize");
  Image out = img;
  for (float& v : out.pixels) v = v >= threshold ? 1.f - v : v;
  return out;
}

Image posterize(const Image& img, int bits) {
  check_rgb(img, "posterize");
  SG_CHECK(bits >= 1 && bits <= 8, "posterize: bits must be in 1..8, got ", bits);
  Image out = img;
  const int keep = (0xFF << (8 - bits)) & 0xFF;
  for (float& v : out.pixels) v = (float)(to_u8(v) & keep) / 255.f;
  return out;
}

Image invert(const Image& img) {
  check_rgb(img, "invert");
  Image out = img;
  for (float& v : out.pixels) v = 1.f - v;
  return out;
}

Image autocontrast(const Image& img, float cutoff_percent) {
  check_rgb(img, "autocontrast");
  Image out = img;
  const size_t n = img.plane();
  for (int c = 0; c < 3; ++c) {
    long hist[256] = {0};
    for (size_t i = 0; i < n; ++i) ++hist[to_u8(img.channel(c)[i])];
    // Cut `cutoff` % of the pixels from each end (as PIL does), then find the extremes.
    const long cut = (long)((double)n * cutoff_percent / 100.0);
    long left = cut;
    for (int b = 0; b < 256 && left > 0; ++b) {
      long take = std::min(left, hist[b]);
      hist[b] -= take, left -= take;
    }
    left = cut;
    for (int b = 255; b >= 0 && left > 0; --b) {
      long take = std::min(left, hist[b]);
      hist[b] -= take, left -= take;
    }
    int lo = 0, hi = 255;
    while (lo < 256 && hist[lo] == 0) ++lo;
    while (hi >= 0 && hist[hi] == 0) --hi;
    if (hi <= lo) continue;  // nothing to stretch
    const float a = lo / 255.f, scale = 255.f / (float)(hi - lo);
    float* p = out.channel(c);
    for (size_t i = 0; i < n; ++i) p[i] = clip01((p[i] - a) * scale);
  }
  return out;
}

Image equalize(const Image& img) {
  check_rgb(img, "equalize");
  Image out = img;
  const size_t n = img.plane();
  for (int c = 0; c < 3; ++c) {
    long hist[256] = {0};
    for (size_t i = 0; i < n; ++i) ++hist[to_u8(img.channel(c)[i])];
    int last = 255;
    while (last > 0 && hist[last] == 0) --last;
    const long step = ((long)n - hist[last]) / 255;
    if (step == 0) continue;  // (nearly) constant channel: PIL leaves it alone
    int lut[256];
    long acc = step / 2;
    for (int b = 0; b < 256; ++b) {
      lut[b] = (int)std::min<long>(255, acc / step);
      acc += hist[b];
    }
    float* p = out.channel(c);
    for (size_t i = 0; i < n; ++i) p[i] = lut[to_u8(p[i])] / 255.f;
  }
  return out;
}

Image affine_rotate(const Image& img, float degrees) {
  check_rgb(img, "affine_rotate");
  return rotate(img, degrees);
}

const char* augmenter_name(int index) {
  static const char* names[kNumAugmenters] = {"gamma_contrast", "brightness", "sharpness",
                                              "hue_saturation", "solarize",   "posterize",
                                              "invert",         "autocontrast", "equalize",
                                              "affine_rotate"};
  SG_CHECK(index >= 0 && index < kNumAugmenters, "augmenter_name: index ", index, " out of range");
  return names[index];
}

Image augment_auxiliary(const Image& img, Rng& rng, std::vector<int>* applied) {
  check_rgb(img, "augment_auxiliary");
  // Partial Fisher-Yates: the first 3 of a shuffled 0..9 are 3 distinct augmenters in drawn order.
  int order[kNumAugmenters];
  for (int i = 0; i < kNumAugmenters; ++i) order[i] = i;
  for (int i = 0; i < 3; ++i) std::swap(order[i], order[rng.randint(i, kNumAugmenters - 1)]);
  if (applied) applied->assign(order, order + 3);
  Image out = img;
  for (int k = 0; k < 3; ++k) {
    switch (order[k]) {
      case 0: {
        const float g[3] = {rng.uniform(0.5f, 2.f), rng.uniform(0.5f, 2.f), rng.uniform(0.5f, 2.f)};
        out = gamma_contrast(out, g);
        break;
      }
      case 1: {
        const float mul = rng.uniform(0.8f, 1.2f);
        const float add = rng.uniform(-30.f, 30.f) / 255.f;
        out = brightness(out, mul, add);
        break;
      }
      case 2: out = sharpness(out, rng.uniform(0.f, 2.f)); break;
      case 3: {
        const float hue = rng.uniform(-50.f, 50.f);
        const float sat = rng.uniform(-50.f, 50.f);
        out = hue_saturation(out, hue, sat);
        break;
      }
      case 4: {
        const bool apply = rng.bernoulli(0.5f);
        const float threshold = rng.uniform(32.f, 128.f) / 255.f;  // drawn either way: fixed stream use
        if (apply) out = solarize(out, threshold);
        break;
      }
      case 5: out = posterize(out, rng.randint(1, 8)); break;
      case 6: out = invert(out); break;
      case 7: out = autocontrast(out, (float)rng.randint(0, 20)); break;
      case 8: out = equalize(out); break;
      default: out = affine_rotate(out, rng.uniform(-45.f, 45.f)); break;
    }
  }
  return out;
}

}  // namespace sg::data
