// builtin.cpp — renders the built-in synthetic category (see builtin.h). Every image is a pure
// function of (seed, split, index): its own sg::Rng stream, so images can be drawn in parallel.
#include "data/builtin.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "data/image_io.h"
#include "engine/common.h"
#include "engine/file_io.h"
#include "engine/rng.h"

namespace fs = std::filesystem;

namespace sg::data {

const char* const kBuiltinDefects[4] = {"scratch", "hole", "stain", "missing"};

namespace {

constexpr float kPi = 3.14159265358979f;
constexpr int kVersion = 1;

float clamp01(float v) { return std::min(1.f, std::max(0.f, v)); }
float smoothstep(float a, float b, float x) {
  float t = clamp01((x - a) / (b - a));
  return t * t * (3 - 2 * t);
}

// The part and its scene: everything that varies between normal images.
struct Part {
  float cx, cy, R, theta;       // centre, radius (px), rotation of the pattern
  float base[3], bg[3];         // surface and background colours
  float gain, gdir, gstr;       // lighting: overall gain, gradient direction and strength
};

Part draw_part(Rng& rng, int S) {
  Part p;
  p.cx = S * (0.5f + rng.uniform(-0.06f, 0.06f));
  p.cy = S * (0.5f + rng.uniform(-0.06f, 0.06f));
  p.R = S * rng.uniform(0.33f, 0.365f);
  p.theta = rng.uniform(0.f, 2 * kPi);
  const float base[3] = {0.60f, 0.52f, 0.40f}, bg[3] = {0.36f, 0.38f, 0.37f};
  for (int c = 0; c < 3; ++c) {
    p.base[c] = base[c] + rng.normal(0.f, 0.015f);
    p.bg[c] = bg[c] + rng.normal(0.f, 0.012f);
  }
  p.gain = rng.uniform(0.8f, 1.2f);
  p.gdir = rng.uniform(0.f, 2 * kPi);
  p.gstr = rng.uniform(0.f, 0.18f);
  return p;
}

// A defect: its type and geometry. Type -1 = none.
struct Defect {
  int type = -1;
  std::vector<std::vector<float>> strokes;  // scratch: polylines x0,y0,x1,y1,...
  float hw = 0;                              // scratch half width
  float hx = 0, hy = 0, rho = 0;             // hole / missing-cut centre and radius
  float lx = 0, ly = 0;                      // hole: light direction
  std::vector<float> blobs;                  // stain: x, y, sigma triples
  float colour[3] = {0, 0, 0}, opacity = 0;  // stain
};

// A point on the part, at a random radius fraction in [r0, r1] of R.
void point_on_part(Rng& rng, const Part& p, float r0, float r1, float& x, float& y) {
  float r = p.R * std::sqrt(rng.uniform(r0 * r0, r1 * r1)), a = rng.uniform(0.f, 2 * kPi);
  x = p.cx + r * std::cos(a);
  y = p.cy + r * std::sin(a);
}

Defect draw_defect(Rng& rng, const Part& p, int type) {
  Defect d;
  d.type = type;
  if (type == 0) {  // scratch: 1-2 quadratic Bezier strokes
    d.hw = rng.uniform(1.0f, 1.6f) * p.R / 45.f;
    int n = rng.randint(1, 2);
    for (int s = 0; s < n; ++s) {
      float x0, y0;
      point_on_part(rng, p, 0.2f, 0.7f, x0, y0);
      float len = p.R * rng.uniform(0.7f, 1.1f), a = rng.uniform(0.f, 2 * kPi);
      float x2 = x0 + len * std::cos(a), y2 = y0 + len * std::sin(a);
      float bend = len * rng.uniform(-0.3f, 0.3f);
      float x1 = 0.5f * (x0 + x2) - bend * std::sin(a), y1 = 0.5f * (y0 + y2) + bend * std::cos(a);
      std::vector<float> line;
      for (int i = 0; i <= 32; ++i) {
        float t = i / 32.f, u = 1 - t;
        line.push_back(u * u * x0 + 2 * u * t * x1 + t * t * x2);
        line.push_back(u * u * y0 + 2 * u * t * y1 + t * t * y2);
      }
      d.strokes.push_back(line);
    }
  } else if (type == 1) {  // hole
    point_on_part(rng, p, 0.38f, 0.7f, d.hx, d.hy);
    d.rho = p.R * rng.uniform(0.22f, 0.3f);
    float a = rng.uniform(0.f, 2 * kPi);
    d.lx = std::cos(a);
    d.ly = std::sin(a);
  } else if (type == 2) {  // stain: a few overlapping Gaussian lobes
    float x0, y0;
    point_on_part(rng, p, 0.2f, 0.65f, x0, y0);
    int n = rng.randint(3, 5);
    for (int i = 0; i < n; ++i) {
      float s = p.R * rng.uniform(0.1f, 0.17f);
      d.blobs.insert(d.blobs.end(), {x0 + rng.normal(0.f, 0.15f * p.R),
                                     y0 + rng.normal(0.f, 0.15f * p.R), s});
    }
    static const float colours[3][3] = {{0.30f, 0.20f, 0.10f}, {0.18f, 0.34f, 0.42f},
                                        {0.88f, 0.86f, 0.74f}};
    int k = rng.randint(0, 2);
    for (int c = 0; c < 3; ++c) d.colour[c] = colours[k][c];
    d.opacity = rng.uniform(0.55f, 0.8f);
  } else {  // missing: a bite out of the rim
    float a = rng.uniform(0.f, 2 * kPi), r = p.R * rng.uniform(0.95f, 1.08f);
    d.hx = p.cx + r * std::cos(a);
    d.hy = p.cy + r * std::sin(a);
    d.rho = p.R * rng.uniform(0.36f, 0.5f);
  }
  return d;
}

float segment_distance(float px, float py, float ax, float ay, float bx, float by) {
  float vx = bx - ax, vy = by - ay, wx = px - ax, wy = py - ay;
  float t = std::min(1.f, std::max(0.f, (vx * wx + vy * wy) / (vx * vx + vy * vy + 1e-12f)));
  float dx = wx - t * vx, dy = wy - t * vy;
  return std::sqrt(dx * dx + dy * dy);
}

// Render one image (3 x S x S) and its mask (1 x S x S, {0,1}); returns the mask's pixel count.
int render(const Part& p, const Defect& d, Rng& rng, int S, Image& img, Image& mask) {
  img = Image(3, S, S);
  mask = Image(1, S, S);
  int area = 0;
  const float R = p.R, period = 2 * kPi / 8, gc = std::cos(p.gdir), gs = std::sin(p.gdir);
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      float px = x + 0.5f, py = y + 0.5f, dx = px - p.cx, dy = py - p.cy;
      float r = std::sqrt(dx * dx + dy * dy), a = std::atan2(dy, dx) - p.theta;
      float light = p.gain * (1 + p.gstr * (dx * gc + dy * gs) / R);
      // Surface shading of the part: hub, grooves, spokes, raised rim.
      float shade = 1.f;
      if (r < 0.3f * R) {
        shade = 0.86f;
        float ka = std::fmod(a + 8 * kPi, 2 * kPi);  // a keyway notch marks the rotation
        if (r > 0.14f * R && r < 0.22f * R && std::min(ka, 2 * kPi - ka) * r < 2.0f) shade = 0.55f;
      } else if (r < 0.86f * R) {
        shade = 1 - 0.08f * (0.5f + 0.5f * std::cos(2 * kPi * r / (0.085f * R)));
        float am = std::fmod(a + 8 * kPi, period), arc = r * std::min(am, period - am);
        if (r < 0.82f * R && arc < 5.f) shade *= 1 - 0.22f * std::exp(-arc * arc / (2 * 1.3f * 1.3f));
        if (r < 0.33f * R) shade *= 0.7f;  // groove around the hub
      } else {
        shade = r > 0.96f * R ? 0.92f : 1.12f;
      }
      float obj[3];
      for (int c = 0; c < 3; ++c) obj[c] = p.base[c] * shade * light;
      float cov = clamp01(R - r + 0.5f) * clamp01(r - 0.12f * R + 0.5f);
      bool in_mask = false;
      if (d.type == 0) {
        float dist = 1e9f;
        for (const auto& l : d.strokes)
          for (size_t i = 0; i + 3 < l.size(); i += 2)
            dist = std::min(dist, segment_distance(px, py, l[i], l[i + 1], l[i + 2], l[i + 3]));
        float s = clamp01(d.hw + 0.5f - dist);
        for (int c = 0; c < 3; ++c) {
          float bright = std::min(1.f, 0.9f * light + 0.05f);
          obj[c] = obj[c] * (1 - 0.7f * s) + 0.7f * s * bright;
          if (dist > d.hw + 0.5f && dist < d.hw + 1.7f) obj[c] *= 0.85f;  // thin shadow
        }
        in_mask = dist <= d.hw + 0.25f;
      } else if (d.type == 1) {
        float hx = (px - d.hx) / d.rho, hy = (py - d.hy) / d.rho, q = std::sqrt(hx * hx + hy * hy);
        if (q < 0.78f) {
          float lit = 0.5f + 0.5f * (hx * d.lx + hy * d.ly);
          for (float& v : obj) v *= 0.15f + 0.3f * lit;
        } else if (q < 1.f) {
          for (float& v : obj) v = std::min(1.f, v * 1.35f);
        }
        in_mask = q <= 1.f;
      } else if (d.type == 2) {
        float f = 0;
        for (size_t i = 0; i < d.blobs.size(); i += 3) {
          float bx = px - d.blobs[i], by = py - d.blobs[i + 1], s = d.blobs[i + 2];
          f = std::max(f, std::exp(-(bx * bx + by * by) / (2 * s * s)));
        }
        float al = d.opacity * smoothstep(0.25f, 0.45f, f);
        for (int c = 0; c < 3; ++c) obj[c] = obj[c] * (1 - al) + al * d.colour[c] * light;
        in_mask = f >= 0.33f;
      } else if (d.type == 3) {
        float q = std::sqrt((px - d.hx) * (px - d.hx) + (py - d.hy) * (py - d.hy));
        float cut = clamp01(d.rho - q + 0.5f);
        if (q > d.rho && q < d.rho + 2.f) for (float& v : obj) v *= 0.78f;  // broken edge
        in_mask = cov >= 0.5f && q <= d.rho;
        cov *= 1 - cut;
      }
      in_mask = in_mask && (d.type == 3 || cov >= 0.5f);
      float bl = p.gain * (1 + 0.5f * p.gstr * (dx * gc + dy * gs) / S);
      float noise = rng.normal(0.f, 0.012f);
      for (int c = 0; c < 3; ++c)
        img.at(c, y, x) = clamp01(cov * obj[c] + (1 - cov) * p.bg[c] * bl + noise);
      mask.at(0, y, x) = in_mask ? 1.f : 0.f;
      area += in_mask;
    }
  return area;
}

std::string stamp_text(uint64_t seed, const BuiltinOptions& o) {
  return str("sgsf built-in dataset v", kVersion, " seed=", seed, " size=", o.size, " train=", o.train,
             " test_good=", o.test_good, " per_defect=", o.test_per_defect, "\n");
}

struct Job {
  std::string image_path, mask_path;
  uint64_t stream;
  int defect;  // -1 for normal images
};

}  // namespace

std::string builtin_category_path(const std::string& root, const BuiltinOptions& opt) {
  return (fs::path(root) / opt.category).string();
}

bool builtin_dataset_present(const std::string& root, uint64_t seed, const BuiltinOptions& opt) {
  std::ifstream f(fs::path(builtin_category_path(root, opt)) / ".sgsf_builtin");
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  if (ss.str() != stamp_text(seed, opt)) return false;
  // Cheap completeness check: every training image is still there.
  std::error_code ec;
  fs::path good = fs::path(builtin_category_path(root, opt)) / "train" / "good";
  int n = 0;
  for (const auto& e : fs::directory_iterator(good, ec)) n += e.is_regular_file();
  return !ec && n == opt.train;
}

std::string generate_builtin_dataset(const std::string& root, uint64_t seed, const BuiltinOptions& opt) {
  SG_CHECK(opt.size >= 32 && opt.train > 0 && opt.test_good > 0 && opt.test_per_defect > 0,
           "builtin dataset: bad options (size ", opt.size, ", train ", opt.train, ", test_good ",
           opt.test_good, ", per_defect ", opt.test_per_defect, ")");
  fs::path cat = builtin_category_path(root, opt);
  std::error_code ec;
  // Only a set this function made (its stamp is there) is replaced; a folder of anything else is
  // someone's data and is never deleted.
  if (fs::exists(cat, ec) && !fs::is_empty(cat, ec))
    SG_CHECK(fs::is_regular_file(cat / ".sgsf_builtin", ec), "builtin dataset: '", cat.string(),
             "' exists and was not made as the built-in dataset (it has no .sgsf_builtin stamp); it is not written "
             "over: move it, or pass --data");
  for (const char* sub : {"train", "test", "ground_truth"}) fs::remove_all(cat / sub, ec);
  // The stamp goes first, saying the set is incomplete, so an interrupted generation is still
  // recognised as ours (and replaced) next time; the finished set's stamp replaces it at the end.
  fs::create_directories(cat, ec);
  try {
    write_file_atomic((cat / ".sgsf_builtin").string(), "incomplete: generation did not finish\n");
  } catch (const Error& e) {
    throw Error(str("builtin dataset: ", e.what()));
  }
  std::vector<Job> jobs;
  auto dir = [&](const fs::path& p) {
    fs::create_directories(p, ec);
    SG_CHECK(fs::is_directory(p), "builtin dataset: cannot create folder '", p.string(), "'");
    return p;
  };
  auto name = [](int i) { return str(i < 100 ? (i < 10 ? "00" : "0") : "", i); };
  fs::path tg = dir(cat / "train" / "good"), sg_ = dir(cat / "test" / "good");
  for (int i = 0; i < opt.train; ++i) jobs.push_back({(tg / (name(i) + ".png")).string(), "", (1ull << 32) + i, -1});
  for (int i = 0; i < opt.test_good; ++i) jobs.push_back({(sg_ / (name(i) + ".png")).string(), "", (2ull << 32) + i, -1});
  for (int k = 0; k < 4; ++k) {
    fs::path td = dir(cat / "test" / kBuiltinDefects[k]), gd = dir(cat / "ground_truth" / kBuiltinDefects[k]);
    for (int i = 0; i < opt.test_per_defect; ++i)
      jobs.push_back({(td / (name(i) + ".png")).string(), (gd / (name(i) + "_mask.png")).string(),
                      ((uint64_t)(3 + k) << 32) + i, k});
  }
  std::vector<std::string> errors(jobs.size());
#pragma omp parallel for schedule(dynamic)
  for (long j = 0; j < (long)jobs.size(); ++j) {
    try {
      const Job& job = jobs[(size_t)j];
      Rng rng(seed, job.stream);
      Part part = draw_part(rng, opt.size);
      Image img, mask;
      // Redraw a defect whose mask would be too small (it is almost never needed).
      for (int attempt = 0;; ++attempt) {
        Defect d = job.defect >= 0 ? draw_defect(rng, part, job.defect) : Defect{};
        int area = render(part, d, rng, opt.size, img, mask);
        if (job.defect < 0 || area >= opt.size * opt.size / 100 || attempt >= 20) break;
      }
      write_png(job.image_path, img);
      if (!job.mask_path.empty()) write_png(job.mask_path, mask);
    } catch (const std::exception& e) {
      errors[(size_t)j] = e.what();
    }
  }
  for (const auto& e : errors) SG_CHECK(e.empty(), "builtin dataset: ", e);
  try {
    write_file_atomic((cat / ".sgsf_builtin").string(), stamp_text(seed, opt));
  } catch (const Error& e) {
    throw Error(str("builtin dataset: ", e.what()));
  }
  return cat.string();
}

}  // namespace sg::data
