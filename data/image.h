// image.h — an image in memory: float32, planar CHW (the layout of a tensor sample), values in [0,1].
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sg::data {

struct Image {
  int channels = 0, height = 0, width = 0;
  std::vector<float> pixels;  // channels * height * width, plane after plane

  Image() = default;
  Image(int c, int h, int w, float fill = 0.f)
      : channels(c), height(h), width(w), pixels((size_t)c * h * w, fill) {}

  bool empty() const { return pixels.empty(); }
  size_t plane() const { return (size_t)height * width; }
  float& at(int c, int y, int x) { return pixels[(size_t)c * plane() + (size_t)y * width + x]; }
  float at(int c, int y, int x) const { return pixels[(size_t)c * plane() + (size_t)y * width + x]; }
  float* channel(int c) { return pixels.data() + (size_t)c * plane(); }
  const float* channel(int c) const { return pixels.data() + (size_t)c * plane(); }
};

}  // namespace sg::data
