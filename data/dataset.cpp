// dataset.cpp — folder layouts (MVTec AD, DAGM 2007, KolektorSDD2, generic) to sorted sample lists.
#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/image_io.h"
#include "engine/common.h"

namespace fs = std::filesystem;

namespace sg::data {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

void require_dir(const fs::path& p, const char* what) {
  SG_CHECK(is_dir(p), "dataset: ", what, " folder '", p.string(), "' does not exist");
}

// File names (not paths) of the images directly inside `dir`, sorted. `dir` must exist.
std::vector<std::string> image_names(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string n = e.path().filename().string();
    if (is_image_file(n)) names.push_back(n);
  }
  SG_CHECK(!ec, "dataset: cannot list folder '", dir.string(), "': ", ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> nonempty_image_names(const fs::path& dir, const char* what) {
  require_dir(dir, what);
  auto names = image_names(dir);
  SG_CHECK(!names.empty(), "dataset: ", what, " folder '", dir.string(), "' has no images");
  return names;
}

std::vector<std::string> subdirs(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string stem_of(const std::string& name) { return fs::path(name).stem().string(); }

// The first existing file `dir/<base><ext>` over the usual image extensions (either case).
std::string find_with_image_ext(const fs::path& dir, const std::string& base) {
  for (const char* ext : {".png", ".PNG", ".jpg", ".JPG", ".jpeg", ".JPEG", ".bmp", ".BMP"}) {
    fs::path p = dir / (base + ext);
    if (is_file(p)) return p.string();
  }
  return "";
}

// ---- MVTec AD -------------------------------------------------------------------------------
void open_mvtec(Dataset& ds) {
  fs::path root(ds.root);
  for (const auto& n : nonempty_image_names(root / "train" / "good", "training"))
    ds.train.push_back({(root / "train" / "good" / n).string(), "train/good/" + n, "", 0, "good"});
  if (is_dir(root / "validation" / "good"))
    for (const auto& n : nonempty_image_names(root / "validation" / "good", "validation"))
      ds.validation.push_back({(root / "validation" / "good" / n).string(), "validation/good/" + n, "", 0, "good"});
  require_dir(root / "test", "test");
  auto defects = subdirs(root / "test");
  SG_CHECK(!defects.empty(), "dataset: test folder '", (root / "test").string(), "' is empty");
  for (const auto& d : defects) {
    for (const auto& n : nonempty_image_names(root / "test" / d, "test")) {
      Sample s{(root / "test" / d / n).string(), "test/" + d + "/" + n, "", d == "good" ? 0 : 1, d};
      if (d != "good") {
        fs::path gt = root / "ground_truth" / d;
        s.mask_path = find_with_image_ext(gt, stem_of(n) + "_mask");
        if (s.mask_path.empty()) s.mask_path = find_with_image_ext(gt, stem_of(n));
        SG_CHECK(!s.mask_path.empty(), "dataset: test image '", s.path, "' (", d,
                 ") has no mask: expected '", (gt / (stem_of(n) + "_mask.png")).string(), "'");
      }
      ds.test.push_back(std::move(s));
    }
  }
}

// ---- DAGM 2007 ------------------------------------------------------------------------------
struct DagmRow {
  std::string image, mask;
  int label;
};

// Labels.txt: a header line, then `id label image unknown maskfile` rows (tabs or spaces). Rows
// that do not parse are skipped. Without Labels.txt, an image is defective when Label/ holds
// `<stem>_label.*` for it.
std::vector<DagmRow> dagm_rows(const fs::path& dir) {
  std::vector<DagmRow> rows;
  fs::path labels = dir / "Labels.txt";
  if (is_file(labels)) {
    std::ifstream f(labels);
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::vector<std::string> tok;
      for (std::string t; ls >> t;) tok.push_back(t);
      if (tok.size() < 3 || (tok[1] != "0" && tok[1] != "1") || !is_image_file(tok[2])) continue;
      DagmRow r{tok[2], "", tok[1] == "1" ? 1 : 0};
      if (r.label == 1 && tok.size() >= 5 && tok[4] != "0") r.mask = tok[4];
      rows.push_back(r);
    }
    SG_CHECK(!rows.empty(), "dataset: '", labels.string(), "' lists no images");
  } else {
    for (const auto& n : image_names(dir)) {
      std::string m = find_with_image_ext(dir / "Label", stem_of(n) + "_label");
      rows.push_back({n, m.empty() ? "" : fs::path(m).filename().string(), m.empty() ? 0 : 1});
    }
  }
  std::sort(rows.begin(), rows.end(), [](const DagmRow& a, const DagmRow& b) { return a.image < b.image; });
  return rows;
}

void open_dagm(Dataset& ds) {
  fs::path root(ds.root);
  for (const char* split : {"Train", "Test"}) {
    fs::path dir = root / split;
    require_dir(dir, split);
    auto rows = dagm_rows(dir);
    SG_CHECK(!rows.empty(), "dataset: folder '", dir.string(), "' has no images");
    bool train = std::string(split) == "Train";
    for (const auto& r : rows) {
      Sample s{(dir / r.image).string(), std::string(split) + "/" + r.image, "", r.label,
               r.label ? "defect" : "good"};
      SG_CHECK(is_file(s.path), "dataset: '", s.path, "' is listed in Labels.txt but missing");
      if (train) {
        if (r.label == 0) ds.train.push_back(std::move(s));
        continue;
      }
      if (r.label == 1) {
        std::string m = r.mask.empty() ? "" : (dir / "Label" / r.mask).string();
        if (m.empty() || !is_file(m)) m = find_with_image_ext(dir / "Label", stem_of(r.image) + "_label");
        SG_CHECK(!m.empty(), "dataset: defective test image '", s.path, "' has no mask in '",
                 (dir / "Label").string(), "'");
        s.mask_path = m;
      }
      ds.test.push_back(std::move(s));
    }
  }
  SG_CHECK(!ds.train.empty(), "dataset: '", (root / "Train").string(), "' has no defect-free images");
}

// ---- KolektorSDD2 ---------------------------------------------------------------------------
bool mask_is_empty(const std::string& path) {
  Image m = read_image(path, 1);
  for (float v : m.pixels)
    if (v > 0.f) return false;
  return true;
}

void open_ksdd2(Dataset& ds) {
  fs::path root(ds.root);
  for (const char* split : {"train", "test"}) {
    fs::path dir = root / split;
    std::vector<std::string> images;
    for (const auto& n : nonempty_image_names(dir, split))
      if (stem_of(n).size() < 3 || stem_of(n).substr(stem_of(n).size() - 3) != "_GT") images.push_back(n);
    SG_CHECK(!images.empty(), "dataset: folder '", dir.string(), "' has no images (only masks)");
    for (const auto& n : images) {
      std::string gt = find_with_image_ext(dir, stem_of(n) + "_GT");
      SG_CHECK(!gt.empty(), "dataset: image '", (dir / n).string(), "' has no mask: expected '",
               (dir / (stem_of(n) + "_GT.png")).string(), "'");
      bool normal = mask_is_empty(gt);
      Sample s{(dir / n).string(), std::string(split) + "/" + n, gt, normal ? 0 : 1,
               normal ? "good" : "defect"};
      if (std::string(split) == "train") {
        if (normal) ds.train.push_back({s.path, s.relpath, "", 0, "good"});
      } else {
        ds.test.push_back(std::move(s));
      }
    }
  }
  SG_CHECK(!ds.train.empty(), "dataset: '", (root / "train").string(), "' has no defect-free images");
}

// ---- generic folders ------------------------------------------------------------------------
void open_generic(Dataset& ds, const std::string& anomalous_dir, const std::string& mask_dir) {
  fs::path root(ds.root);
  for (const auto& n : nonempty_image_names(root, "normal-image"))
    ds.train.push_back({(root / n).string(), n, "", 0, "good"});
  if (anomalous_dir.empty()) {
    SG_CHECK(mask_dir.empty(), "dataset: a mask folder ('", mask_dir, "') needs an anomalous-image folder");
    return;
  }
  SG_CHECK(!mask_dir.empty(), "dataset: the anomalous-image folder '", anomalous_dir,
           "' needs a mask folder");
  fs::path adir(anomalous_dir), mdir(mask_dir);
  require_dir(mdir, "mask");
  std::string prefix = adir.filename().empty() ? adir.parent_path().filename().string()
                                               : adir.filename().string();
  for (const auto& n : nonempty_image_names(adir, "anomalous-image")) {
    std::string m = find_with_image_ext(mdir, stem_of(n));
    if (m.empty()) m = find_with_image_ext(mdir, stem_of(n) + "_mask");
    SG_CHECK(!m.empty(), "dataset: anomalous image '", (adir / n).string(), "' has no mask '",
             (mdir / (stem_of(n) + ".png")).string(), "'");
    ds.test.push_back({(adir / n).string(), prefix + "/" + n, m, 1, "anomalous"});
  }
}

bool has_gt_files(const fs::path& dir) {
  for (const auto& n : image_names(dir))
    if (stem_of(n).size() > 3 && stem_of(n).substr(stem_of(n).size() - 3) == "_GT") return true;
  return false;
}

Layout detect_layout(const fs::path& root) {
  if (is_dir(root / "train" / "good")) return Layout::MVTec;
  if (is_dir(root / "Train") && is_dir(root / "Test")) return Layout::DAGM;
  if (is_dir(root / "train") && is_dir(root / "test") && has_gt_files(root / "train"))
    return Layout::KSDD2;
  if (!image_names(root).empty()) return Layout::Generic;
  std::string cats;
  for (const auto& d : subdirs(root))
    if (is_dir(root / d / "train" / "good")) cats += (cats.empty() ? "" : ", ") + d;
  SG_CHECK(cats.empty(), "dataset: '", root.string(), "' holds MVTec-layout categories (", cats,
           "): open one of them (or ask for all of them)");
  throw Error(str("dataset: cannot tell the layout of '", root.string(),
                  "': expected train/good (MVTec AD), Train+Test (DAGM), train+test with *_GT.png "
                  "(KolektorSDD2) or a folder of images (generic)"));
}

}  // namespace

std::string category_folder(const std::string& root, const std::string& category) {
  return category.empty() ? root : (fs::path(root) / category).string();
}

bool is_image_file(const std::string& name) {
  std::string ext = lower(fs::path(name).extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

Layout parse_layout(const std::string& s) {
  std::string l = lower(s);
  if (l == "auto") return Layout::Auto;
  if (l == "mvtec") return Layout::MVTec;
  if (l == "dagm") return Layout::DAGM;
  if (l == "ksdd2" || l == "kolektor" || l == "kolektorsdd2") return Layout::KSDD2;
  if (l == "generic") return Layout::Generic;
  throw Error(str("unknown dataset layout '", s, "' (expected auto, mvtec, dagm, ksdd2 or generic)"));
}

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Auto: return "auto";
    case Layout::MVTec: return "mvtec";
    case Layout::DAGM: return "dagm";
    case Layout::KSDD2: return "ksdd2";
    case Layout::Generic: return "generic";
  }
  return "?";
}

Dataset open_dataset(const std::string& root, Layout layout, const std::string& generic_anomalous_dir,
                     const std::string& generic_mask_dir) {
  fs::path r(root);
  SG_CHECK(!root.empty(), "dataset: empty dataset path");
  require_dir(r, "dataset");
  Dataset ds;
  ds.root = root;
  fs::path clean = r.filename().empty() ? r.parent_path() : r;
  ds.category = clean.filename().string();
  ds.layout = layout == Layout::Auto ? detect_layout(r) : layout;
  switch (ds.layout) {
    case Layout::MVTec: open_mvtec(ds); break;
    case Layout::DAGM: open_dagm(ds); break;
    case Layout::KSDD2: open_ksdd2(ds); break;
    default: open_generic(ds, generic_anomalous_dir, generic_mask_dir); break;
  }
  return ds;
}

std::vector<std::string> find_mvtec_categories(const std::string& root) {
  require_dir(root, "dataset");
  std::vector<std::string> cats;
  for (const auto& d : subdirs(root))
    if (is_dir(fs::path(root) / d / "train" / "good")) cats.push_back(d);
  SG_CHECK(!cats.empty(), "dataset: '", root, "' holds no MVTec-layout category (no <category>/train/good)");
  return cats;
}

}  // namespace sg::data
