// image_ops.h — small classical image-processing helpers used by the saliency maps and the
// texture generator: Gaussian and box blur, grayscale and CIE Lab conversion, percentiles, Otsu's
// threshold, and binary-mask morphology (closing, hole filling, connected components).
// Masks are 1-channel Images holding 0 or 1.
#pragma once
#include <cstddef>  // image.h uses size_t
#include <vector>

#include "data/image.h"

namespace sg::data {

// Separable Gaussian blur of every channel; kernel radius ceil(3 sigma), mirrored borders
// (... c b a | a b c ...). sigma <= 0 returns the input.
Image gaussian_blur(const Image& img, float sigma);

// 3x3 mean filter of every channel, mirrored borders.
Image box_blur3(const Image& img);

// Luma (0.299 R + 0.587 G + 0.114 B) of an RGB image -> 1 channel.
Image to_gray(const Image& rgb);

// sRGB in [0,1] -> CIE L*a*b* (linearise, XYZ under D65, Lab with the D65 white point).
// Output channels: L in [0,100], a, b roughly in [-128, 127].
Image rgb_to_lab(const Image& rgb);

// Linearly interpolated percentile (numpy's default), q in [0, 100]. Copies `values`.
float percentile(std::vector<float> values, float q);

// Otsu's threshold of `values` over [lo, hi] with `bins` bins: the value t maximising the
// between-class variance of {v <= t} and {v > t}. Returns the upper edge of the last bin of the
// lower class, so `v > t` selects the upper class. Constant input returns that constant.
float otsu_threshold(const float* values, size_t n, float lo = 0.f, float hi = 1.f, int bins = 256);

// Binary closing (dilation then erosion) with a k x k square (k odd). Outside the image counts
// as background for the dilation and as foreground for the erosion, so closing never eats edges.
Image binary_closing(const Image& mask, int k);

// Set to 1 every background pixel not 4-connected to the image border through background.
Image fill_holes(const Image& mask);

// 8-connected components of the foreground: labels (0 = background, 1..n) and sizes[label].
struct Components {
  std::vector<int> label;   // height * width
  std::vector<int> sizes;   // sizes[0] unused (0)
  int count = 0;
};
Components connected_components(const Image& mask);

// Drop foreground components with fewer than `min_pixels` pixels.
Image remove_small_components(const Image& mask, int min_pixels);

// Fraction of pixels >= 0.5 in a 1-channel map.
float mask_area(const Image& mask);

}  // namespace sg::data
