// image_io.h — reading and writing image files (stb), and the geometric resampling every part of
// the data pipeline uses: antialiased bilinear resize and rotation about the centre.
#pragma once
#include <string>

#include "data/image.h"

namespace sg::data {

// Read PNG/JPEG/BMP/... as float [0,1]. channels = 3: gray is replicated, alpha dropped;
// channels = 1: RGB is converted to luma (masks, saliency maps). Throws sg::Error naming the file
// when it is missing, unreadable or corrupt.
Image read_image(const std::string& path, int channels = 3);

// Write an 8-bit PNG (values clipped to [0,1]); 1 or 3 channels. Written to a temporary file and
// renamed, so an interrupted write never leaves a half file. Throws naming the file on failure.
void write_png(const std::string& path, const Image& img);

// Bilinear resize to (height, width). When shrinking, each output pixel averages its whole
// footprint (a triangle filter widened by the scale factor, as PIL's BILINEAR does), so small
// details are not aliased away.
Image resize_bilinear(const Image& img, int height, int width);

// Rotate by `degrees` (counter-clockwise) about the image centre; bilinear sampling, zero outside.
Image rotate(const Image& img, float degrees);

// Nearest-neighbour-free mask helper: pixel = value >= threshold ? 1 : 0.
void binarize(Image& img, float threshold = 0.5f);

}  // namespace sg::data
