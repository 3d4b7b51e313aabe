// image_io.h — reading and writing image files (stb), and the geometric resampling every part of
// the data pipeline uses: antialiased bilinear resize and rotation about the centre.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace sg::data {

// The largest image decoded: width x height, read from the file's header before decoding.
constexpr int64_t kMaxImagePixels = 4096 * 4096;  // 16,777,216 pixels
// The largest image file read (bytes).
constexpr uint64_t kMaxImageFileBytes = 256ull << 20;
// "16777216 pixels (4096 x 4096)", for help texts and messages.
std::string image_pixel_limit_text();

// Read a PNG, JPEG or BMP file as float [0,1]. channels = 3: gray is replicated, alpha dropped;
// channels = 1: RGB is converted to luma (masks, saliency maps). Throws sg::Error naming the file
// when it is missing, not a regular file (a FIFO is refused at once), larger than the limits
// above, unreadable or corrupt.
Image read_image(const std::string& path, int channels = 3);

// The image resized to (height, width) as resize_bilinear(read_image(path, channels), height,
// width) gives it (the same sums in the same order: equal to float rounding), but without the
// full-resolution float image: memory is the file,
// its 8-bit pixels and the output (see resize_bilinear). The source's size goes to
// *source_height and *source_width when given.
Image read_image_resized(const std::string& path, int channels, int height, int width,
                         int* source_height = nullptr, int* source_width = nullptr);

// The image at its own size when its longer side is at most `max_side`, else scaled down (aspect
// kept) to that: decoded once, memory as read_image_resized's.
Image read_image_within(const std::string& path, int channels, int max_side);

// The same from bytes in memory; `name` stands for the file in messages. `max_pixels` lowers the
// pixel limit (the fuzzing target uses it to keep each run short).
Image decode_image(const unsigned char* data, size_t size, int channels, const std::string& name,
                   int64_t max_pixels = kMaxImagePixels);

// Empty when every Huffman table (DHT) segment of a JPEG is well-formed as stb_image will read
// it and every scan (SOS) uses only tables defined before it (or when the data is not a JPEG);
// else what is wrong, in words.
std::string jpeg_huffman_problem(const unsigned char* data, size_t size);

// Write an 8-bit PNG (values clipped to [0,1]); 1 or 3 channels. Written to a temporary file,
// every write and the close checked, then renamed, so a failed or interrupted write never leaves a
// half file. Throws naming the file on failure (a full disk, say).
void write_png(const std::string& path, const Image& img);

// The same as a baseline JPEG of the given quality (1 to 100): the report's gallery images.
void write_jpeg(const std::string& path, const Image& img, int quality = 88);

// The image as 8-bit values, interleaved (row by row, each pixel's channels together, as image
// files and applications hold them): each value clipped to [0, 1], times 255, rounded.
std::vector<uint8_t> interleaved_u8(const Image& img);


// Bilinear resize to (height, width). When shrinking, each output pixel averages its whole
// footprint (a triangle filter widened by the scale factor, as PIL's BILINEAR does), so small
// details are not aliased away. Besides the output it keeps one output row and a few numbers per
// output row and column: nothing that grows with the input's height or width.
Image resize_bilinear(const Image& img, int height, int width);
// The mirror image, left and right swapped.
Image flip_horizontal(const Image& img);

// Rotate by `degrees` (counter-clockwise) about the image centre; bilinear sampling, zero outside.
Image rotate(const Image& img, float degrees);

// Nearest-neighbour-free mask helper: pixel = value >= threshold ? 1 : 0.
void binarize(Image& img, float threshold = 0.5f);

}  // namespace sg::data
