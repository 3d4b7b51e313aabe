// saliency.h — the saliency map S of SGSF's Saliency Augmentation Module: where forged anomalies
// may appear (sgsf/README.md, 'Saliency maps'). Built-in object maps (border), spectral-residual
// maps, maps read from PNG files, or none (S = 1). Every map has the image's size, 1 channel,
// values in [0,1].
#pragma once
#include <cstddef>  // image.h uses size_t
#include <string>

#include "data/image.h"

namespace sg::data {

enum class SaliencyMode { Border, Spectral, File, None };

// "border" | "spectral" | "file" | "none"; anything else throws sg::Error listing the choices.
SaliencyMode parse_saliency_mode(const std::string& name);
const char* saliency_mode_name(SaliencyMode mode);

struct SaliencyResult {
  Image map;              // (1, H, W), values in [0,1]
  bool fallback = false;  // true when the map carried no saliency and S = 1 was used (Eq. 3)
};

// S for an RGB image (3, H, W).
//  Border: "size" = min(H, W). Gaussian blur sigma = size/64; CIE Lab; background = per-channel
//    median of the border strip (width round(size/20), at least 1); distance to it minus the 99th
//    percentile of the strip's own distances, /100, clipped to [0,1], square root. max <= 0.05 ->
//    S = 1 (fallback). Else Otsu, closing with a k x k square (k = 2 round(3 size/128) + 1: 7 at
//    128, 13 at 256), hole filling, components under 1 % of the image dropped; area outside
//    [2 %, 80 %] -> S = 1 (fallback). S in {0,1}.
//  Spectral: spectral residual at 64x64 (sgsf/README.md, 'Saliency maps'), resized back,
//    Otsu-binarised; a flat image (gray range under 1/255) or an empty mask -> S = 1 (fallback).
//  File: `map_file` (8-bit PNG, 1 channel; RGB is converted to luma), /255, resized to H x W;
//    >= 0.5 on under 1 % of the image -> S = 1 (fallback). A missing file throws naming it.
//  None: S = 1, fallback = false (it was asked for).
SaliencyResult compute_saliency(const Image& rgb, SaliencyMode mode, const std::string& map_file = "");

// The map file of an image in a saliency directory mirroring the dataset: dir / relative path,
// with the extension replaced by ".png" (e.g. ("maps", "train/good/000.jpg") -> "maps/train/good/000.png").
std::string saliency_file_for(const std::string& saliency_dir, const std::string& relative_image_path);

// Write a PNG for a person to look at: the image, the map (gray), and the image dimmed to 30 %
// outside the map, side by side (3W x H).
void save_saliency_preview(const std::string& out_png, const Image& rgb, const SaliencyResult& s);

// The spectral-residual map before binarisation: (1, H, W), normalised to [0,1] (for inspection
// and tests).
Image spectral_residual_map(const Image& rgb);

}  // namespace sg::data
