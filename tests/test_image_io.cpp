// test_image_io.cpp — image files (PNG round trip, channel conversion, corrupt files) and the
// geometric resampling (antialiased resize against hand-computed weights, rotation).
#include <stb_image_write.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>

#include "data/image_io.h"
#include "tests/data_test_util.h"
#include "tests/test_util.h"

using namespace sg;
using namespace sg::data;
namespace fs = std::filesystem;

TEST_CASE("PNG round trip is exact for 8-bit values (RGB and gray)") {
  fs::path dir = test::scratch_dir("image_io_roundtrip");
  Image rgb = test::random_image(3, 13, 17, 1), gray = test::random_image(1, 9, 5, 2);
  write_png((dir / "rgb.png").string(), rgb);
  write_png((dir / "gray.png").string(), gray);
  Image r = read_image((dir / "rgb.png").string()), g = read_image((dir / "gray.png").string(), 1);
  CHECK(r.channels == 3);
  CHECK(r.height == 13);
  CHECK(r.width == 17);
  SG_CHECK_CLOSE(r.pixels, rgb.pixels, 1e-6f, 0.f);
  CHECK(g.channels == 1);
  SG_CHECK_CLOSE(g.pixels, gray.pixels, 1e-6f, 0.f);
  CHECK_FALSE(fs::exists(dir / "rgb.png.tmp"));
}

TEST_CASE("gray and RGBA files become RGB; RGB becomes luma for 1 channel") {
  fs::path dir = test::scratch_dir("image_io_channels");
  unsigned char gray[6] = {0, 51, 102, 153, 204, 255};
  unsigned char rgba[8] = {255, 0, 0, 10, 0, 255, 0, 200};
  REQUIRE(stbi_write_png((dir / "g.png").string().c_str(), 3, 2, 1, gray, 3));
  REQUIRE(stbi_write_png((dir / "a.png").string().c_str(), 2, 1, 4, rgba, 8));
  Image g = read_image((dir / "g.png").string());
  REQUIRE(g.channels == 3);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 6; ++i) CHECK(g.at(c, i / 3, i % 3) == doctest::Approx(gray[i] / 255.0));
  Image a = read_image((dir / "a.png").string());  // alpha is dropped, colour kept
  REQUIRE(a.channels == 3);
  CHECK(a.at(0, 0, 0) == doctest::Approx(1.0));
  CHECK(a.at(1, 0, 0) == doctest::Approx(0.0));
  CHECK(a.at(1, 0, 1) == doctest::Approx(1.0));
  Image l = read_image((dir / "a.png").string(), 1);  // pure red -> luma ~0.3, green ~0.59
  CHECK(l.at(0, 0, 0) == doctest::Approx(0.299).epsilon(0.03));
  CHECK(l.at(0, 0, 1) == doctest::Approx(0.587).epsilon(0.03));
}

TEST_CASE("missing and corrupt files throw naming the file") {
  fs::path dir = test::scratch_dir("image_io_corrupt");
  std::string bad = (dir / "broken.png").string();
  test::write_text(bad, "\x89PNG\r\n\x1a\nthis is not really a png");
  CHECK_THROWS_WITH_AS(read_image(bad), doctest::Contains("broken.png"), sg::Error);
  CHECK_THROWS_WITH_AS(read_image((dir / "nothere.png").string()), doctest::Contains("nothere.png"),
                       sg::Error);
  CHECK_THROWS_AS(write_png((dir / "no_such_dir" / "x.png").string(), Image(3, 2, 2)), sg::Error);
}

// jpeg_huffman_problem on bytes held in a string.
std::string huffman_problem(const std::string& b) {
  return jpeg_huffman_problem(reinterpret_cast<const unsigned char*>(b.data()), b.size());
}

// Writes `rgb` (3 channels) as a baseline JPEG with stb's writer at quality 90 and returns its bytes.
// With channels = 1 stb reads the first height x width bytes of the interleaved pixels as gray.
std::string write_test_jpeg(const std::string& path, const Image& rgb, int channels) {
  std::vector<unsigned char> px((size_t)rgb.height * rgb.width * 3);
  for (int y = 0; y < rgb.height; ++y)
    for (int x = 0; x < rgb.width; ++x)
      for (int c = 0; c < 3; ++c)
        px[((size_t)y * rgb.width + x) * 3 + c] = (unsigned char)(rgb.at(c, y, x) * 255.f);
  REQUIRE(stbi_write_jpg(path.c_str(), rgb.width, rgb.height, channels, px.data(), 90));
  return test::read_bytes(path);
}

TEST_CASE("a JPEG whose Huffman code counts sum past 256 is refused before stb_image reads it") {
  fs::path dir = test::scratch_dir("image_io_jpeg_dht");
  const std::string evil = test::hostile_jpeg(17);
  CHECK(test::jpeg_has_dht_sum(evil, 272));
  test::write_text(dir / "evil.jpg", evil);
  CHECK_THROWS_WITH_AS(read_image((dir / "evil.jpg").string()),
                       doctest::Contains(std::string((dir / "evil.jpg").string() + "' is a corrupt JPEG").c_str()), sg::Error);
  CHECK_THROWS_WITH_AS(read_image((dir / "evil.jpg").string(), 1), doctest::Contains("sum to 272 (at most 256)"),
                       sg::Error);
  // The same file with counts in range passes the check (stb then judges the rest of it).
  const std::string fine = test::hostile_jpeg(16);
  CHECK(huffman_problem(fine) == "");
  // A DHT segment whose length disagrees with its tables; a table id stb does not have.
  std::string cut = fine;
  const size_t dht = cut.find("\xFF\xC4");
  REQUIRE(dht != std::string::npos);
  cut[dht + 3] = (char)(cut[dht + 3] - 5);  // 5 bytes short of its table
  CHECK(huffman_problem(cut).find("does not match") != std::string::npos);
  std::string bad_id = fine;
  bad_id[dht + 4] = 0x17;
  CHECK(huffman_problem(bad_id).find("class 1, id 7") != std::string::npos);
  // Real JPEGs (baseline, from stb's writer, gray and colour) pass the check and decode.
  Image rgb = test::random_image(3, 24, 40, 5);
  for (int channels : {1, 3}) {
    const std::string path = (dir / ("real" + std::to_string(channels) + ".jpg")).string();
    CHECK(huffman_problem(write_test_jpeg(path, rgb, channels)) == "");
    Image back = read_image(path);
    CHECK(back.height == 24);
    CHECK(back.width == 40);
  }
}

// Where in `jpeg` the table byte (DC id << 4 | AC id) of the first scan's component k sits.
size_t sos_table_byte(const std::string& jpeg, unsigned k) {
  const size_t sos = jpeg.find("\xFF\xDA");
  REQUIRE(sos != std::string::npos);
  REQUIRE((unsigned char)jpeg[sos + 4] > k);
  return sos + 6 + 2 * k;
}

TEST_CASE("a JPEG scan that names a Huffman table no segment defines is refused before stb_image reads it") {
  // stb_image would decode with whatever the undefined table's memory held (fuzz_image found the
  // symbol index landing outside the table). Start from a real colour JPEG (stb's writer: DC and AC
  // tables 0 for luma, 1 for chroma).
  fs::path dir = test::scratch_dir("image_io_jpeg_sos");
  const std::string real = write_test_jpeg((dir / "real.jpg").string(), test::random_image(3, 16, 16, 9), 3);
  CHECK(huffman_problem(real) == "");
  REQUIRE((unsigned char)real[sos_table_byte(real, 1)] == 0x11);
  std::string dc3 = real;
  dc3[sos_table_byte(dc3, 1)] = 0x31;  // component 2 (Cb) decodes with DC table 3
  CHECK(huffman_problem(dc3).find("component 2 with DC Huffman table 3, which no Huffman table segment (DHT) before it "
                          "defines") != std::string::npos);
  std::string ac2 = real;
  ac2[sos_table_byte(ac2, 2)] = 0x12;  // component 3 (Cr) decodes with AC table 2
  CHECK(huffman_problem(ac2).find("component 3 with AC Huffman table 2") != std::string::npos);
  test::write_text(dir / "dc3.jpg", dc3);
  CHECK_THROWS_WITH_AS(read_image((dir / "dc3.jpg").string()),
                       doctest::Contains(std::string((dir / "dc3.jpg").string() + "' is a corrupt JPEG").c_str()),
                       sg::Error);
  // Tables defined only after the scan do not count: move the scan in front of the DHT segment.
  std::string late = real;
  const size_t dht = late.find("\xFF\xC4"), sos = late.find("\xFF\xDA");
  REQUIRE(dht < sos);
  const size_t sos_len = 2 + ((size_t)(unsigned char)late[sos + 2] << 8 | (unsigned char)late[sos + 3]);
  const std::string scan_header = late.substr(sos, sos_len);
  late.erase(sos, sos_len);
  late.insert(dht, scan_header);
  CHECK(huffman_problem(late).find("DC Huffman table 0") != std::string::npos);
  // The fuzzing input that tripped stb (fuzz/corpus/image/sos_undefined_table.jpg) and a
  // progressive JPEG from an independent encoder (PIL; its DC refinement and AC scans name tables
  // they do not use, which must not count against it).
  const std::string corpus = std::string(SGSF_SOURCE_DIR) + "/fuzz/corpus/image/";
  CHECK(huffman_problem(test::read_bytes(corpus + "sos_undefined_table.jpg")).find("which no Huffman table segment") !=
        std::string::npos);
  const std::string prog = test::read_bytes(corpus + "progressive.jpg");
  CHECK(prog.find("\xFF\xC2") != std::string::npos);
  CHECK(huffman_problem(prog) == "");
  Image p = decode_image(reinterpret_cast<const unsigned char*>(prog.data()), prog.size(), 3, "progressive.jpg");
  CHECK(p.height == 24);
  CHECK(p.width == 32);
}

TEST_CASE("images over the pixel limit are refused from their header, before decoding") {
  fs::path dir = test::scratch_dir("image_io_pixels");
  // 75 bytes declaring 4 x 4,261,892 pixels (17,047,568 > 4096 x 4096).
  test::write_text(dir / "tall.bmp", test::hostile_bmp(4, 4261892));
  CHECK(fs::file_size(dir / "tall.bmp") == 75);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(read_image((dir / "tall.bmp").string()),
                       doctest::Contains("tall.bmp' is 4 x 4261892 = 17047568 pixels; the largest image decoded is "
                                         "16777216 pixels"),
                       sg::Error);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.0);
  test::write_text(dir / "huge.png", test::png_header_only(12000, 12000));
  CHECK_THROWS_WITH_AS(read_image((dir / "huge.png").string()), doctest::Contains("12000 x 12000 = 144000000 pixels"),
                       sg::Error);
  // At the limit the header is accepted (this one then fails for want of pixel data, not size).
  test::write_text(dir / "edge.png", test::png_header_only(4096, 4096));
  try {
    read_image((dir / "edge.png").string());
    FAIL("a PNG without pixel data decoded");
  } catch (const sg::Error& e) {
    CHECK(std::string(e.what()).find("pixels;") == std::string::npos);
    CHECK(std::string(e.what()).find("edge.png") != std::string::npos);
  }
}

TEST_CASE("inputs the fuzzer found are refused with an error, without undefined behaviour") {
  // A PNG whose first IDAT chunk is empty, then garbage (stb passed a null pointer to memcpy;
  // under the sanitizer build this aborted before stb's functions were exempted from that check).
  const std::string png = test::read_bytes(std::string(SGSF_SOURCE_DIR) + "/fuzz/corpus/image/png_empty_idat.png");
  REQUIRE(png.size() == 80);
  for (int channels : {1, 3})
    CHECK_THROWS_AS(decode_image(reinterpret_cast<const unsigned char*>(png.data()), png.size(), channels, "idat.png"),
                    sg::Error);
}

TEST_CASE("a FIFO or a folder is refused at once instead of read") {
  fs::path dir = test::scratch_dir("image_io_fifo");
  const std::string fifo = (dir / "pipe.png").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  // Run the read on another thread: before the check, opening the FIFO blocked forever.
  auto result = std::async(std::launch::async, [&] {
    try {
      read_image(fifo);
      return std::string("no error");
    } catch (const sg::Error& e) {
      return std::string(e.what());
    }
  });
  if (result.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    // Unblock the reader (open a writer) so the test can end, then fail.
    int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) close(fd);
    FAIL("read_image blocked on a FIFO");
  }
  const std::string msg = result.get();
  CHECK(msg.find(fifo) != std::string::npos);
  CHECK(msg.find("not a regular file") != std::string::npos);
  CHECK_THROWS_WITH_AS(read_image(dir.string()), doctest::Contains("it is a folder"), sg::Error);
}

TEST_CASE("resize keeps a constant image constant, shrinking and enlarging") {
  Image c(3, 37, 53, 0.3f);
  for (auto hw : {std::pair<int, int>{16, 20}, {64, 90}, {37, 7}, {1, 1}}) {
    Image r = resize_bilinear(c, hw.first, hw.second);
    CHECK(r.height == hw.first);
    CHECK(r.width == hw.second);
    for (float v : r.pixels) CHECK(v == doctest::Approx(0.3f).epsilon(1e-5));
  }
}

TEST_CASE("4x4 -> 2x2 resize equals the hand-computed triangle-filter average") {
  // Shrinking by 2 widens the triangle filter to a radius of 2 input pixels. Output 0 is centred
  // at input coordinate 1.0, so pixel centres 0.5, 1.5, 2.5 get weights 0.75, 0.75, 0.25 (pixel 3
  // gets 0): normalised 3/7, 3/7, 1/7. Output 1 mirrors it. (PIL's BILINEAR does the same.)
  Image img(1, 4, 4);
  for (int i = 0; i < 16; ++i) img.pixels[(size_t)i] = (float)((i * 7) % 16) / 16.f;
  const double w[2][4] = {{3 / 7., 3 / 7., 1 / 7., 0}, {0, 1 / 7., 3 / 7., 3 / 7.}};
  Image r = resize_bilinear(img, 2, 2);
  for (int oy = 0; oy < 2; ++oy)
    for (int ox = 0; ox < 2; ++ox) {
      double want = 0;
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) want += w[oy][y] * w[ox][x] * img.at(0, y, x);
      CHECK(r.at(0, oy, ox) == doctest::Approx(want).epsilon(1e-5));
    }
}

namespace {
// The triangle-filter resize in float64, straight from its definition (support max(1, scale), pixel
// centres aligned, weights normalised per output sample): the oracle for resize_bilinear.
std::vector<double> resize_oracle(const Image& img, int c, int H, int W) {
  auto weights = [](int n_in, int n_out, int i) {
    const double scale = (double)n_in / n_out, support = std::max(1.0, scale), centre = (i + 0.5) * scale;
    std::vector<double> w((size_t)n_in, 0.0);
    double total = 0;
    for (int j = 0; j < n_in; ++j) total += w[(size_t)j] = std::max(0.0, 1.0 - std::fabs((j + 0.5 - centre) / support));
    for (double& v : w) v /= total;
    return w;
  };
  std::vector<double> out((size_t)H * W);
  for (int oy = 0; oy < H; ++oy) {
    const std::vector<double> wy = weights(img.height, H, oy);
    for (int ox = 0; ox < W; ++ox) {
      const std::vector<double> wx = weights(img.width, W, ox);
      double acc = 0;
      for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x) acc += wy[(size_t)y] * wx[(size_t)x] * img.at(c, y, x);
      out[(size_t)oy * W + ox] = acc;
    }
  }
  return out;
}
}  // namespace

TEST_CASE("resize matches the float64 triangle filter on tall, wide and odd shapes, shrinking and enlarging") {
  const int shapes[][4] = {{200, 3, 8, 8}, {3, 200, 8, 8}, {37, 53, 16, 20}, {5, 7, 23, 11}, {64, 64, 64, 64}};
  for (const auto& sh : shapes) {
    Image img = test::random_image(3, sh[0], sh[1], (uint64_t)sh[0] * 7 + sh[1]);
    Image r = resize_bilinear(img, sh[2], sh[3]);
    for (int c = 0; c < 3; ++c) {
      const std::vector<double> want = resize_oracle(img, c, sh[2], sh[3]);
      for (size_t i = 0; i < want.size(); ++i) CHECK(r.channel(c)[i] == doctest::Approx(want[i]).epsilon(1e-5));
    }
  }
}

TEST_CASE("read_image_resized equals read_image then resize_bilinear (to float rounding) and reports the source size") {
  fs::path dir = test::scratch_dir("read_resized");
  const int shapes[][2] = {{1, 300}, {300, 1}, {45, 61}, {32, 32}};
  for (const auto& sh : shapes) {
    const fs::path p = dir / ("im" + std::to_string(sh[0]) + "x" + std::to_string(sh[1]) + ".png");
    test::write_random_png(p, sh[0], sh[1], 9);
    for (int channels : {1, 3})
      for (int target : {16, 32, 50}) {
        int h = 0, w = 0;
        Image a = read_image_resized(p.string(), channels, target, target, &h, &w);
        Image b = resize_bilinear(read_image(p.string(), channels), target, target);
        CHECK(h == sh[0]);
        CHECK(w == sh[1]);
        // The same sums in the same order; only the compiler's contraction of 8-bit loads into
        // multiply-adds may differ in the last bit.
        REQUIRE(a.pixels.size() == b.pixels.size());
        for (size_t i = 0; i < a.pixels.size(); ++i) CHECK(std::fabs(a.pixels[i] - b.pixels[i]) <= 2e-7f);
      }
  }
}

TEST_CASE("read_image_within keeps an image that fits and shrinks one that does not, aspect kept") {
  fs::path dir = test::scratch_dir("read_within");
  const fs::path p = dir / "wide.png";
  test::write_random_png(p, 45, 300, 4);
  Image own = read_image_within(p.string(), 3, 300);
  CHECK(own.height == 45);
  CHECK(own.width == 300);
  CHECK(own.pixels == read_image(p.string(), 3).pixels);
  Image small = read_image_within(p.string(), 3, 100);  // 300 -> 100: 45 -> 15
  CHECK(small.height == 15);
  CHECK(small.width == 100);
  CHECK(small.pixels == read_image_resized(p.string(), 3, 15, 100).pixels);
}

TEST_CASE("enlarging 2x interpolates linearly between pixel centres") {
  Image img(1, 1, 2);
  img.pixels = {0.f, 1.f};
  Image r = resize_bilinear(img, 1, 4);  // centres at 0.25, 0.75, 1.25, 1.75 in input units
  SG_CHECK_CLOSE(r.pixels, (std::vector<float>{0.f, 0.25f, 0.75f, 1.f}), 1e-6f, 0.f);
}

TEST_CASE("rotate by 0 is the identity; by 90 on a square moves pixels counter-clockwise") {
  Image img = test::random_image(2, 6, 6, 3);
  Image r0 = rotate(img, 0.f);
  CHECK(r0.pixels == img.pixels);
  Image r = rotate(img, 90.f);
  // Counter-clockwise by 90 degrees: source (row y', col x') lands at (W-1-x', y').
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x) CHECK(r.at(c, y, x) == doctest::Approx(img.at(c, x, 5 - y)).epsilon(1e-4));
  // 45 degrees: corners fall outside the source and become black (zero fill).
  Image ones(1, 8, 8, 1.f);
  Image r45 = rotate(ones, 45.f);
  CHECK(r45.at(0, 0, 0) == 0.f);
  CHECK(r45.at(0, 4, 4) == doctest::Approx(1.f));
  // A blend never leaves the input range, whatever the angle (no 1 + epsilon from rounding).
  Image big(1, 37, 41, 1.f);
  for (float deg : {-89.3f, -33.f, 7.7f, 45.f, 61.2f}) {
    Image rr = rotate(big, deg);
    float hi = *std::max_element(rr.pixels.begin(), rr.pixels.end());
    float lo = *std::min_element(rr.pixels.begin(), rr.pixels.end());
    CHECK(hi <= 1.f);
    CHECK(lo >= 0.f);
    CHECK(rr.at(0, 18, 20) == 1.f);
  }
}
