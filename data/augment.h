// augment.h — the ten augmenters applied to an auxiliary texture image B before it is pasted into a
// forged anomaly (sgsf/README.md, 'Texture augmentation'; after DRAEM's imgaug pipeline). Each
// takes an RGB image in [0,1] and explicit parameters; augment_auxiliary draws 3 distinct ones and
// their parameters.
#pragma once
#include <cstddef>  // image.h uses size_t
#include <string>
#include <vector>

#include "data/image.h"
#include "engine/rng.h"

namespace sg::data {

// out = in^gamma[c] per channel (imgaug GammaContrast, per_channel).
Image gamma_contrast(const Image& img, const float gamma[3]);
// Brightness of the YCbCr luma: Y' = Y * mul + add (add in [0,1] units), chroma kept, so every
// RGB channel moves by Y' - Y; clipped (imgaug MultiplyAndAddToBrightness).
Image brightness(const Image& img, float mul, float add);
// PIL ImageEnhance.Sharpness: blend with the image smoothed by [[1,1,1],[1,5,1],[1,1,1]]/13
// (border pixels left unsmoothed): out = smooth + factor * (img - smooth), clipped. 1 = identity.
Image sharpness(const Image& img, float factor);
// Add hue_shift (0..255 units = a full turn) to the HSV hue, wrapping, and sat_shift (0..255
// units) to the saturation, clipped (imgaug AddToHueAndSaturation).
Image hue_saturation(const Image& img, float hue_shift, float sat_shift);
// Invert values >= threshold (threshold in [0,1]).
Image solarize(const Image& img, float threshold);
// Keep the top `bits` bits of the 8-bit value (1..8).
Image posterize(const Image& img, int bits);
// 1 - v.
Image invert(const Image& img);
// PIL ImageOps.autocontrast per channel on a 256-bin histogram: cut cutoff_percent % of the pixels
// at each end, stretch [lo, hi] to [0, 1]; a channel with hi <= lo is left alone.
Image autocontrast(const Image& img, float cutoff_percent);
// PIL ImageOps.equalize per channel on 256 levels.
Image equalize(const Image& img);
// Rotate about the centre by `degrees` (bilinear, black fill) (imgaug Affine(rotate)).
Image affine_rotate(const Image& img, float degrees);

// The augmenters in the order sgsf/README.md, 'Texture augmentation', lists them.
constexpr int kNumAugmenters = 10;
const char* augmenter_name(int index);  // "gamma_contrast", "brightness", ...

// Draw 3 distinct augmenter indices (without replacement), then for each, in drawn order, its
// parameters, and apply it: gamma U(0.5,2) per channel; brightness mul U(0.8,1.2), add
// U(-30,30)/255; sharpness U(0,2); hue and saturation shifts U(-50,50) each; solarize with p = 0.5,
// threshold U(32,128)/255; posterize U{1..8} bits; invert; autocontrast cutoff U{0..20} %;
// equalize; rotation U(-45,45) degrees. `applied` (optional) receives the drawn indices.
Image augment_auxiliary(const Image& img, Rng& rng, std::vector<int>* applied = nullptr);

}  // namespace sg::data
