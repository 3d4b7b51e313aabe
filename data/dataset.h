// dataset.h — lists the images of an anomaly-detection dataset on disk (no pixels are read here,
// except KolektorSDD2 masks, which decide whether a training image is normal).
//
// Layouts (root is one category / class folder):
//   MVTec AD   root/train/good/*, root/test/<defect>/*, root/ground_truth/<defect>/<stem>_mask.png
//              (`good` test images have no masks). PNG or JPEG. MVTec 3D-AD's root/validation/good
//              (normal images, not trained on) becomes `validation` when present.
//   DAGM 2007  root/Train, root/Test, each with images, Label/ (masks) and Labels.txt
//              (a header line, then rows `id label(0/1) image unknown maskfile`). Training keeps
//              the defect-free (label 0) images only.
//   KSDD2      root/train, root/test with NNNNN.png + NNNNN_GT.png; training keeps the images whose
//              mask is empty; a test image is anomalous when its mask is not empty.
//   Generic    root = a folder of normal images (all used for training); optionally a folder of
//              anomalous test images with a folder of masks of the same base name.
// Every listing is sorted by name, so a dataset always opens the same way. Problems throw sg::Error
// naming the folder or file involved.
#pragma once
#include <string>
#include <vector>

namespace sg::data {

struct Sample {
  std::string path;       // the image file
  std::string relpath;    // path relative to the dataset root (mirrors saliency-map folders)
  std::string mask_path;  // "" when there is none (normal images)
  int label = 0;          // 0 normal, 1 anomalous
  std::string defect;     // "good" or the defect type
};

enum class Layout { Auto, MVTec, DAGM, KSDD2, Generic };

// "auto", "mvtec", "dagm", "ksdd2" (or "kolektor"), "generic"; throws on anything else.
Layout parse_layout(const std::string& s);
const char* layout_name(Layout l);

struct Dataset {
  std::string root, category;  // category: the root folder's name
  Layout layout = Layout::Auto;
  std::vector<Sample> train, test;
  std::vector<Sample> validation;  // normal images for calibration (MVTec 3D-AD's validation/good), if any
};

// Open a dataset. Layout::Auto detects the layout from the folders present (train/good -> MVTec,
// Train+Test -> DAGM, train+test with *_GT.png -> KSDD2, a folder with images -> Generic).
// generic_anomalous_dir / generic_mask_dir only matter for the Generic layout (both or neither).
Dataset open_dataset(const std::string& root, Layout layout = Layout::Auto,
                     const std::string& generic_anomalous_dir = "",
                     const std::string& generic_mask_dir = "");

// The MVTec-layout categories under `root` (subfolders that have train/good), sorted. Used for
// `--category all`. Throws when root is missing or holds no category.
std::vector<std::string> find_mvtec_categories(const std::string& root);

// The folder holding one dataset: `root` itself, or root/category when a category is named.
std::string category_folder(const std::string& root, const std::string& category);

// True for file names ending in .png/.jpg/.jpeg/.bmp (any case).
bool is_image_file(const std::string& name);

}  // namespace sg::data
