// builtin.h — the built-in synthetic dataset: an MVTec-AD-layout category generated from a seed,
// so the programs run out of the box without downloading anything.
//
// A round machined part (a ring with a through hub, concentric grooves and radial spokes) on a plain
// background, with natural variation in position, size, rotation, colour and lighting. Test
// defects, each with an exact mask: scratch (thin bright curved strokes), hole (dark pit with a
// bright rim), stain (soft coloured blob), missing (a bite out of the rim replaced by background).
// Defects cover roughly 1.5-6 % of the image and change mean brightness less than the lighting
// variation does, so they cannot be found by brightness alone.
#pragma once
#include <cstdint>
#include <string>

namespace sg::data {

struct BuiltinOptions {
  int size = 128;              // images are size x size
  int train = 80;              // train/good images
  int test_good = 30;          // test/good images
  int test_per_defect = 8;     // images per defect type (4 types)
  std::string category = "widget";
};

// The four defect types, in the order they are generated.
extern const char* const kBuiltinDefects[4];

// Write <root>/<category>/{train/good, test/{good,scratch,hole,stain,missing},
// ground_truth/<defect>/NNN_mask.png} and a stamp file, deterministically from `seed` (sg::Rng
// only). Existing train/test/ground_truth folders of the category are replaced. Returns the
// category folder (pass it to open_dataset). Throws sg::Error naming a path that cannot be written.
std::string generate_builtin_dataset(const std::string& root, uint64_t seed = 7,
                                     const BuiltinOptions& opt = {});

// True when <root>/<category> holds a complete copy generated with this seed and these options.
bool builtin_dataset_present(const std::string& root, uint64_t seed = 7, const BuiltinOptions& opt = {});

// <root>/<category>.
std::string builtin_category_path(const std::string& root, const BuiltinOptions& opt = {});

}  // namespace sg::data
