// evaluate.cpp — test-time inference, metrics and report files (see evaluate.h).
//
// For each test image A: p_A = pooled deepest encoder features; the guidance image is the training
// image with the highest cosine similarity (never a test image); O = model(A, guidance);
// map = softmax(O)[1] at input resolution (with test_flip, the mean of that and the mirror image's
// map mirrored back); score = max(avg_pool_kxk(map)), k = score_pool_size(config).
#include "sgsf/evaluate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>

#include "data/dataset.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include "engine/json_subset.h"
#include "sgsf/contrast.h"
#include "report/metrics.h"
#include "sgsf/model.h"
#include "report/plot.h"
#include "sgsf/progress.h"
#include "sgsf/trainer.h"
#include "report/report_html.h"
#include "engine/autograd.h"

namespace fs = std::filesystem;

namespace sg::sgsf {

// The metrics, curves and figures come from the reporting folder (report/).
using namespace sg::report;

LoadedRun load_run(const std::string& run, Device dev) {
  const std::string cfg_path = config_path(run), ckpt_path = checkpoint_path(run);
  SG_CHECK(fs::is_directory(run), "test: run folder '", run, "' does not exist");
  SG_CHECK(fs::exists(cfg_path), "test: '", cfg_path, "' is missing (is '", run, "' a training run folder?)");
  SG_CHECK(fs::exists(ckpt_path), "test: '", ckpt_path, "' is missing");
  LoadedRun r;
  r.cfg = read_config_json(cfg_path);
  validate(r.cfg);
  SafetensorsFile f = load_safetensors(ckpt_path);
  SG_CHECK(f.metadata.count("format") && f.metadata.at("format") == "sgsf-checkpoint-1", "test: '", ckpt_path,
           "' is not an SGSF checkpoint (no format tag in its metadata)");
  for (const auto& [k, v] : to_key_values(r.cfg)) {
    // A key that a newer version added is absent from older checkpoints: there it has its legacy value.
    const char* legacy = added_key_legacy(k);
    if (!f.metadata.count(k) && legacy && v == legacy) continue;
    SG_CHECK(f.metadata.count(k) && f.metadata.at(k) == v, "test: '", ckpt_path, "' and '", cfg_path,
             "' disagree on ", k, " ('", f.metadata.count(k) ? f.metadata.at(k) : std::string("missing"), "' vs '", v,
             "')");
  }
  r.model = std::make_unique<SGSFModel>(r.cfg.width, parse_guidance(r.cfg.guidance), r.cfg.seed);
  load_into(r.model->state(), strip_prefix("model.", f.tensors), ckpt_path);
  r.fingerprint = weights_fingerprint(r.model->state());
  r.model->to(dev);
  r.model->eval();
  r.model->freeze(true);  // only scored from here on
  return r;
}

Scoring scoring_of(const TrainConfig& c) {
  Scoring s;
  s.pool = score_pool_size(c);
  s.flip = c.test_flip;
  return s;
}

std::array<Tensor, 4> GuidanceCache::batch(SGSFModel& model, const GuidanceBank& bank, const std::vector<int>& guides,
                                            bool mirrored, Device dev) {
  // In training mode batch norm normalises by the batch's statistics: a guide's features would then
  // depend on the guides beside it.
  SG_CHECK(!model.is_training(), "guidance cache: the model must be in eval mode");
  std::vector<std::array<Tensor, 4>> rows;
  for (int j : guides) {
    SG_CHECK(j >= 0 && j < bank.count(), "guidance cache: no bank image ", j);
    const std::pair<int, bool> key{j, mirrored};
    {
      std::lock_guard<std::mutex> lock(m_);
      auto it = kept_.find(key);
      if (it != kept_.end()) {
        rows.push_back(it->second);
        continue;
      }
    }
    // Computed outside the lock: another thread may compute the same entry meanwhile; the first
    // one kept wins, and both are the same numbers.
    const data::Image flipped = mirrored ? data::flip_horizontal(bank.images[(size_t)j]) : data::Image();
    std::array<Tensor, 4> f =
        model.guidance_features(data::stack_images({mirrored ? &flipped : &bank.images[(size_t)j]}, dev));
    size_t bytes = 0;
    for (const Tensor& t : f) bytes += (size_t)t.numel() * sizeof(float);
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!kept_.count(key) && bytes_ + bytes <= limit_) {
        kept_.emplace(key, f);
        bytes_ += bytes;
      }
    }
    rows.push_back(std::move(f));
  }
  std::array<Tensor, 4> out;
  for (size_t level = 0; level < 4; ++level) {
    if (rows.size() == 1) {
      out[level] = rows[0][level];
      continue;
    }
    std::vector<Tensor> parts;
    for (const auto& r : rows) parts.push_back(r[level]);
    out[level] = concat(parts, 0);
  }
  return out;
}

size_t GuidanceCache::bytes() const {
  std::lock_guard<std::mutex> lock(m_);
  return bytes_;
}

size_t GuidanceCache::entries() const {
  std::lock_guard<std::mutex> lock(m_);
  return kept_.size();
}

Inference infer(SGSFModel& model, const std::vector<const data::Image*>& images, const GuidanceBank& bank,
                const Scoring& how, int batch, Device dev, bool progress, GuidanceCache* cache) {
  Inference inf;
  NoGradGuard ng;
  Progress bar((int64_t)images.size(), progress);
  for (size_t s = 0; s < images.size(); s += (size_t)batch) {
    std::vector<const data::Image*> part(images.begin() + (long)s,
                                         images.begin() + (long)std::min(images.size(), s + (size_t)batch));
    Tensor x = data::stack_images(part, dev);
    std::vector<float> q = model.ae->pooled_features(x).to_vector();
    std::vector<int> guides;
    for (size_t k = 0; k < part.size(); ++k) guides.push_back(bank.lookup(q.data() + k * (size_t)bank.dim));
    inf.guide.insert(inf.guide.end(), guides.begin(), guides.end());
    // The network on `in` with this part's guides (mirror images of them if `mirrored`): their
    // features from the cache, or the whole model run on the guide images.
    auto logits = [&](const Tensor& in, bool mirrored) {
      if (cache) return model.seg->forward(in, cache->batch(model, bank, guides, mirrored, dev));
      std::vector<data::Image> flipped;
      flipped.reserve(guides.size());
      std::vector<const data::Image*> gs;
      for (int j : guides) {
        const data::Image& g = bank.images[(size_t)j];
        if (mirrored) flipped.push_back(data::flip_horizontal(g));
        gs.push_back(mirrored ? &flipped.back() : &g);
      }
      return model.forward(in, data::stack_images(gs, dev)).logits;
    };
    Tensor map = anomaly_map(logits(x, false));
    std::vector<float> mv = map.to_vector();
    if (how.flip) {  // the mirror images with their mirrored guidance; their maps mirrored back
      std::vector<data::Image> mirrored;
      std::vector<const data::Image*> xs;
      mirrored.reserve(part.size());
      for (const auto* im : part) {
        mirrored.push_back(data::flip_horizontal(*im));
        xs.push_back(&mirrored.back());
      }
      const std::vector<float> b = anomaly_map(logits(data::stack_images(xs, dev), true)).to_vector();
      const int64_t w = map.size(3), rows = map.numel() / w;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < w; ++c) {
          float& v = mv[(size_t)(r * w + c)];
          v = 0.5f * (v + b[(size_t)(r * w + w - 1 - c)]);
        }
      map = Tensor::from_vector(map.shape(), mv, dev);
    }
    std::vector<float> sc = image_scores(map, how.pool);
    size_t plane = (size_t)(map.size(2) * map.size(3));
    for (size_t k = 0; k < part.size(); ++k) {
      inf.maps.emplace_back(mv.begin() + (long)(k * plane), mv.begin() + (long)((k + 1) * plane));
      inf.scores.push_back(sc[k]);
    }
    bar.update((int64_t)std::min(images.size(), s + part.size()), "testing", str(s + part.size(), " images"));
  }
  bar.finish();
  return inf;
}

GuidanceBank run_guidance(const LoadedRun& run, const std::string& run_dir, const std::string& data,
                          const std::string& layout, const std::string& category, int batch, int workers, Device dev) {
  const TrainConfig& cfg = run.cfg;
  if (has_guidance(run_dir)) return read_guidance(run_dir, cfg.size, 8 * cfg.width, run.fingerprint);
  const std::string cat = category.empty() ? cfg.category : category;
  const std::string root = data::category_folder(data.empty() ? cfg.data : data, cat);
  std::cerr << "note: '" << run_dir << "' holds no guidance images (guidance.safetensors; a run from an older "
            << "version): taking guidance from the training images of '" << root << "'\n";
  data::Dataset ds;
  try {
    ds = data::open_dataset(root, data::parse_layout(layout.empty() ? cfg.layout : layout));
  } catch (const Error& e) {
    throw Error(str("'", run_dir, "' holds no guidance images and its training data cannot be read: ", e.what()));
  }
  SG_CHECK(!ds.train.empty(), "test: no training images in '", root, "' to take guidance from");
  std::vector<data::TestImage> train = data::load_test_images(ds.train, cfg.size, workers);
  GuidanceBank bank;
  for (auto& t : train) {
    bank.images.push_back(std::move(t.image));
    bank.names.push_back(t.relpath);
  }
  std::vector<const data::Image*> ptrs;
  for (const auto& im : bank.images) ptrs.push_back(&im);
  bank.features = contrast_features(*run.model, ptrs, batch, dev, &bank.dim);
  return bank;
}

namespace {
// The scoring a test uses: the run's, with the options' overrides.
Scoring scoring_for(const LoadedRun& run, const EvalOptions& opt) {
  Scoring how = scoring_of(run.cfg);
  if (opt.score_pool >= 0) {
    SG_CHECK(opt.score_pool % 2 == 1 && opt.score_pool <= run.cfg.size,
             "--score-pool must be odd and at most the run's size ", run.cfg.size, ", got ", opt.score_pool);
    how.pool = opt.score_pool;
  }
  if (opt.test_flip >= 0) how.flip = opt.test_flip == 1;
  return how;
}

// The decision threshold of a test scored `how`: run_threshold(), except that a calibrated one does
// not apply when `how` differs from the run's own scoring (the calibration's).
bool test_threshold(const LoadedRun& run, const EvalOptions& opt, const Scoring& how, float* threshold,
                    std::string* source) {
  const bool decide = run_threshold(run, opt.run, opt.threshold, threshold, source);
  const Scoring own = scoring_of(run.cfg);
  if (decide && (how.pool != own.pool || how.flip != own.flip) && *source == "calibrated") {
    std::cerr << "note: the calibrated threshold was set with the run's own scoring (" << own.pool << " x "
              << own.pool << " pooling, flips " << (own.flip ? "on" : "off")
              << "); with other scoring, decisions need --threshold\n";
    source->clear();
    return false;
  }
  if (!decide) std::cerr << "note: " << no_calibration_notice(opt.run) << "\n";
  return decide;
}
}  // namespace

bool run_threshold(const LoadedRun& run, const std::string& run_dir, double override_threshold, float* threshold,
                   std::string* source) {
  if (!std::isnan(override_threshold)) {
    *threshold = (float)override_threshold;
    *source = "--threshold";
    return true;
  }
  if (has_calibration(run_dir)) {
    *threshold = read_calibration(run_dir, run.fingerprint).threshold;
    *source = "calibrated";
    return true;
  }
  source->clear();
  return false;
}

namespace {

// The dataset a run is tested on: the options' data, category and layout, else the run's own.
struct RunDataset {
  std::string root, category;
  data::Dataset ds;
};

RunDataset open_run_dataset(const EvalOptions& opt, const TrainConfig& cfg) {
  RunDataset r;
  r.category = opt.category.empty() ? cfg.category : opt.category;
  r.root = data::category_folder(opt.data.empty() ? cfg.data : opt.data, r.category);
  r.ds = data::open_dataset(r.root, data::parse_layout(opt.layout.empty() ? cfg.layout : opt.layout));
  return r;
}

// The overlay file names of the images `relpaths`: the image's path with '/' as '_' and ".png"
// added, its extension kept ("a.jpg" -> "a.jpg.png"), so a.png and a.jpg get their own. Names that
// still meet (sub/a.png and sub_a.png), or that would pass the 255-byte limit of a file name, are
// cut and numbered ("~2"), so no two images ever share an overlay.
std::vector<std::string> overlay_names(const std::vector<std::string>& relpaths) {
  std::vector<std::string> names;
  std::set<std::string> taken;
  for (const std::string& rel : relpaths) {
    std::string base = rel;
    for (char& c : base)
      if (c == '/' || c == '\\') c = '_';
    std::string name = base + ".png";
    for (int k = 2; name.size() > 255 || taken.count(name); ++k) {
      const std::string tag = str("~", k, ".png");
      size_t keep = std::min(base.size(), 255 - tag.size());
      while (keep > 0 && keep < base.size() && (static_cast<unsigned char>(base[keep]) & 0xC0) == 0x80) --keep;
      name = base.substr(0, keep) + tag;
    }
    taken.insert(name);
    names.push_back(name);
  }
  return names;
}

// Outputs never go over inputs: `folder` (where a program writes) must not be a folder that holds
// one of `inputs` (the images it reads), however either is named. Checked before anything is written.
void check_not_input_folder(const std::string& folder, const std::vector<std::string>& inputs, const std::string& option) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return;  // created later, so it holds no input
  for (const std::string& in : inputs) {
    std::string parent = fs::path(in).parent_path().string();
    if (parent.empty()) parent = ".";
    SG_CHECK(!same_file(parent, folder), option, " '", folder, "' holds the images being read (", in,
             "): outputs would mix with them or replace them; choose another ", option);
  }
}

// The output folder `out`, checked against the images it must not hold (it and its overlays/),
// created, and locked for this program's writes.
FolderLock open_output_folder(const std::string& out, const std::vector<std::string>& inputs) {
  check_not_input_folder(out, inputs, "--out");
  check_not_input_folder((fs::path(out) / "overlays").string(), inputs, "--out");
  fs::create_directories(out);
  return FolderLock(out);
}

}  // namespace

Precision run_precision(const std::string& requested, const TrainConfig& cfg, Device dev,
                        const std::string& option) {
  if (!requested.empty()) return parse_precision(requested, dev, option);
  try {
    return parse_precision(cfg.precision, dev, option);
  } catch (const Error&) {
    std::cerr << "note: the run was trained in " << cfg.precision << ", which " << device_name(dev)
              << " here lacks: computing in fp32\n";
    return Precision::FP32;
  }
}

CategoryMetrics evaluate(const EvalOptions& opt) {
  const Device dev = parse_device(opt.device);
  LoadedRun run = load_run(opt.run, dev);
  const TrainConfig& cfg = run.cfg;
  const PrecisionGuard precision(run_precision(opt.precision, cfg, dev));
  const RunDataset rd = open_run_dataset(opt, cfg);
  const data::Dataset& ds = rd.ds;
  const std::string& root = rd.root;
  const std::string& category = rd.category;
  const std::string out = opt.out.empty() ? (fs::path(opt.run) / "test").string() : opt.out;
  SG_CHECK(!ds.test.empty(), "test: no test images in '", root, "'");
  std::vector<std::string> inputs;
  for (const auto& smp : ds.test) inputs.push_back(smp.path);
  const FolderLock lock = open_output_folder(out, inputs);
  const Scoring how = scoring_for(run, opt);
  float threshold = 0;
  std::string threshold_source;
  const bool decide = test_threshold(run, opt, how, &threshold, &threshold_source);
  auto t0 = std::chrono::steady_clock::now();
  const GuidanceBank bank = run_guidance(run, opt.run, opt.data, opt.layout, opt.category, opt.batch, opt.workers, dev);
  std::cerr << "testing " << ds.test.size() << " images of " << root << " (guidance from " << bank.count()
            << " training images)\n";
  std::vector<data::TestImage> test = data::load_test_images(ds.test, cfg.size, opt.workers);
  std::vector<const data::Image*> test_images;
  for (const auto& t : test) test_images.push_back(&t.image);
  GuidanceCache guides;  // a guide shared by several test images is run through the autoencoder once
  Inference inf = infer(*run.model, test_images, bank, how, opt.batch, dev, opt.progress, &guides);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // ---- metrics ---------------------------------------------------------------------------
  CategoryMetrics m;
  m.category = category.empty() ? fs::path(root).filename().string() : category;
  m.layout = data::layout_name(ds.layout);
  m.images = (int)test.size();
  m.seconds = seconds;
  m.images_per_second = seconds > 0 ? test.size() / seconds : 0;
  std::vector<uint8_t> labels;
  for (auto& t : test) labels.push_back((uint8_t)t.label);
  m.anomalous = (int)std::count(labels.begin(), labels.end(), 1);
  const bool both_classes = m.anomalous > 0 && m.anomalous < m.images;
  const int h = cfg.size, w = cfg.size;
  std::vector<float> pix_scores;
  std::vector<uint8_t> pix_labels;
  std::vector<std::vector<uint8_t>> masks(test.size());
  for (size_t i = 0; i < test.size(); ++i) {
    masks[i].resize((size_t)h * w);
    for (size_t p = 0; p < masks[i].size(); ++p) masks[i][p] = test[i].mask.pixels[p] >= 0.5f ? 1 : 0;
    pix_scores.insert(pix_scores.end(), inf.maps[i].begin(), inf.maps[i].end());
    pix_labels.insert(pix_labels.end(), masks[i].begin(), masks[i].end());
  }
  const bool any_pix = std::count(pix_labels.begin(), pix_labels.end(), 1) > 0;
  if (both_classes) {
    m.image_auroc = roc_auc(inf.scores, labels);
    m.image_ap = average_precision(inf.scores, labels);
    ClassificationAtBestF1 c = best_f1(inf.scores, labels);
    m.image_f1 = c.f1;
    m.tpr = c.tpr;
    m.tnr = c.tnr;
    m.accuracy = c.accuracy;
    m.macc = c.macc;
    m.threshold = c.threshold;
    {
    const Curve curve = roc_curve(inf.scores, labels);
    plot_curve_svg((fs::path(out) / "image_roc.svg").string(), curve,
                   "image ROC " + m.category, "false positive rate", "true positive rate", m.image_auroc);
    write_curve_csv((fs::path(out) / "image_roc.csv").string(), curve, "fpr", "tpr");
  }
    {
    const Curve curve = pr_curve(inf.scores, labels);
    plot_curve_svg((fs::path(out) / "image_pr.svg").string(), curve,
                   "image PR " + m.category, "recall", "precision", m.image_ap);
    write_curve_csv((fs::path(out) / "image_pr.csv").string(), curve, "recall", "precision");
  }
  } else {
    std::cerr << "warning: the test split has only " << (m.anomalous ? "anomalous" : "normal")
              << " images: image-level metrics are undefined\n";
  }
  if (any_pix) {
    m.has_pixel_metrics = true;
    m.pixel_auroc = roc_auc(pix_scores, pix_labels);
    m.pixel_ap = average_precision(pix_scores, pix_labels);
    std::vector<const float*> mp;
    std::vector<const uint8_t*> mk;
    for (size_t i = 0; i < test.size(); ++i) {
      mp.push_back(inf.maps[i].data());
      mk.push_back(masks[i].data());
    }
    m.aupro = aupro(mp, mk, h, w, 0.3);
    {
    const Curve curve = roc_curve(pix_scores, pix_labels);
    plot_curve_svg((fs::path(out) / "pixel_roc.svg").string(), curve,
                   "pixel ROC " + m.category, "false positive rate", "true positive rate", m.pixel_auroc);
    write_curve_csv((fs::path(out) / "pixel_roc.csv").string(), curve, "fpr", "tpr");
  }
    {
    const Curve curve = pr_curve(pix_scores, pix_labels);
    plot_curve_svg((fs::path(out) / "pixel_pr.svg").string(), curve,
                   "pixel PR " + m.category, "recall", "precision", m.pixel_ap);
    write_curve_csv((fs::path(out) / "pixel_pr.csv").string(), curve, "recall", "precision");
  }
  }
  std::vector<std::string> warnings;  // about the decision, for the terminal and the report
  if (decide) {
    m.has_decision = true;
    m.decision_source = threshold_source;
    m.decision_threshold = threshold;
    int tp = 0, fp = 0, tn = 0, fn = 0;
    for (size_t i = 0; i < test.size(); ++i) {
      const bool d = is_defect(inf.scores[i], threshold);
      if (labels[i]) (d ? tp : fn)++;
      else (d ? fp : tn)++;
    }
    m.flagged = tp + fp;
    m.precision = tp + fp > 0 ? (double)tp / (tp + fp) : NAN;  // undefined when nothing is flagged
    m.recall = tp + fn > 0 ? (double)tp / (tp + fn) : 0;
    m.f1 = tp > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0;
    m.decision_accuracy = (double)(tp + tn) / (double)test.size();
    m.fpr = fp + tn > 0 ? (double)fp / (fp + tn) : 0;
    warnings = decision_warnings(inf.scores, threshold, "test images");
    for (const std::string& w : warnings) std::cerr << "warning: " << w << "\n";
    if (m.anomalous > 0 && tp == 0 && m.flagged > 0)
      std::cerr << "warning: none of the " << m.anomalous << " defective test images is called a defect at the "
                << threshold_source << " threshold " << threshold << "\n";
  }

  // ---- files -------------------------------------------------------------------------------
  {
    std::ostringstream csv;
    csv << "path,defect,label,score,normalized_score,decision,guidance\n";
    for (size_t i = 0; i < test.size(); ++i) {
      csv << csv_field(test[i].relpath) << "," << csv_field(test[i].defect) << "," << test[i].label << ","
          << std::setprecision(7) << inf.scores[i] << ",";
      if (decide)
        csv << normalized_score(inf.scores[i], threshold) << ","
            << (is_defect(inf.scores[i], threshold) ? "defect" : "ok");
      else
        csv << ",";
      csv << "," << csv_field(bank.names[(size_t)inf.guide[i]]) << "\n";
    }
    write_file_atomic((fs::path(out) / "scores.csv").string(), csv.str());
  }
  write_file_atomic((fs::path(out) / "report.json").string(), metrics_json({m}) + "\n");
  // The inspection report (report/report_html.h): the metrics, the curves, the decision and every
  // test image; the overlays go in its gallery's order (the most informative first).
  report::ReportInput r;
  r.title = str(m.category, ": ", m.images, " test images (", m.anomalous, " defective)");
  auto pct = [](double v) { return str(std::fixed, std::setprecision(1), 100 * v); };
  if (both_classes) {
    r.metrics = {{"image AUROC", pct(m.image_auroc)}, {"image AP", pct(m.image_ap)},
                 {"image F1-max", pct(m.image_f1)}};
    r.curve_files = {"image_roc.svg", "image_pr.svg"};
  }
  if (m.has_pixel_metrics) {
    r.metrics.push_back({"pixel AUROC", pct(m.pixel_auroc)});
    r.metrics.push_back({"pixel AP", pct(m.pixel_ap)});
    r.metrics.push_back({"AUPRO (FPR 0.3)", pct(m.aupro)});
    r.curve_files.push_back("pixel_roc.svg");
    r.curve_files.push_back("pixel_pr.svg");
  }
  r.has_threshold = decide;
  r.threshold = threshold;
  r.threshold_source = threshold_source;
  r.warnings = warnings;
  r.map_size = h;
  for (size_t i = 0; i < test.size(); ++i)
    r.images.push_back({test[i].relpath, test[i].path, test[i].label, test[i].defect, inf.scores[i],
                        std::move(inf.maps[i]), std::move(masks[i])});
  const int n_overlays = opt.overlays < 0 ? (int)test.size() : std::min(opt.overlays, (int)test.size());
  if (n_overlays > 0) {
    fs::path dir = fs::path(out) / "overlays";
    fs::create_directories(dir);
    std::vector<std::string> rel;
    for (const auto& t : test) rel.push_back(t.relpath);
    const std::vector<std::string> names = overlay_names(rel);
    const std::vector<size_t> order = report::gallery_order(r);
    for (int k = 0; k < n_overlays; ++k) {
      const size_t i = order[(size_t)k];
      heatmap_overlay_png((dir / names[i]).string(), test[i].image, r.images[i].map.data(), r.images[i].mask.data(),
                          h, w);
    }
  }
  report::write_report(out, r);
  return m;
}

void score_images(const EvalOptions& opt, const std::string& path) {
  const Device dev = parse_device(opt.device);
  LoadedRun run = load_run(opt.run, dev);
  const TrainConfig& cfg = run.cfg;
  const PrecisionGuard precision(run_precision(opt.precision, cfg, dev));
  const std::string out = opt.out.empty() ? (fs::path(opt.run) / "scored").string() : opt.out;
  // The images to score: one file, or every image file in a folder (sorted).
  std::vector<data::Sample> samples;
  auto add = [&](const fs::path& p) {
    data::Sample s;
    s.path = p.string();
    s.relpath = p.filename().string();
    s.label = 0;
    s.defect = "unknown";
    samples.push_back(s);
  };
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  SG_CHECK(fs::exists(st), "--score: '", path, "' does not exist");
  SG_CHECK(fs::is_directory(st) || fs::is_regular_file(st), "--score: '", path,
           "' is neither an image file nor a folder (a FIFO, socket or device is not read)");
  if (fs::is_directory(st)) {
    std::vector<fs::path> files;
    fs::directory_iterator it(path, ec);
    SG_CHECK(!ec, "--score: cannot list '", path, "': ", ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      SG_CHECK(!ec, "--score: cannot list '", path, "': ", ec.message());
      if (!data::is_image_file(it->path().filename().string())) continue;
      std::error_code bad;  // a dangling link or a link loop is skipped, named
      if (it->is_regular_file(bad)) files.push_back(it->path());
      else if (bad) std::cerr << "note: skipping '" << it->path().string() << "': " << bad.message() << "\n";
    }
    std::sort(files.begin(), files.end());
    SG_CHECK(!files.empty(), "--score: no images (png, jpg, bmp) in '", path, "'");
    for (auto& f : files) add(f);
  } else {
    add(path);
  }
  std::vector<std::string> inputs;
  for (const auto& smp : samples) inputs.push_back(smp.path);
  const FolderLock lock = open_output_folder(out, inputs);
  const Scoring how = scoring_for(run, opt);
  float threshold = 0;
  std::string threshold_source;
  const bool decide = test_threshold(run, opt, how, &threshold, &threshold_source);
  const GuidanceBank bank = run_guidance(run, opt.run, opt.data, opt.layout, opt.category, opt.batch, opt.workers, dev);
  std::vector<data::TestImage> imgs = data::load_test_images(samples, cfg.size, opt.workers);
  std::vector<const data::Image*> ptrs;
  for (const auto& t : imgs) ptrs.push_back(&t.image);
  GuidanceCache guides;
  Inference inf = infer(*run.model, ptrs, bank, how, opt.batch, dev, opt.progress, &guides);
  std::vector<std::string> rel;
  for (const auto& smp : samples) rel.push_back(smp.relpath);
  const std::vector<std::string> names = overlay_names(rel);
  const fs::path overlay_dir = fs::path(out) / "overlays";
  fs::create_directories(overlay_dir);
  std::ostringstream csv;
  csv << "path,score,normalized_score,decision,overlay\n";
  for (size_t i = 0; i < imgs.size(); ++i) {
    csv << csv_field(samples[i].path) << "," << std::setprecision(7) << inf.scores[i] << ",";
    if (decide)
      csv << normalized_score(inf.scores[i], threshold) << "," << (is_defect(inf.scores[i], threshold) ? "defect" : "ok");
    else
      csv << ",";
    csv << "," << csv_field("overlays/" + names[i]) << "\n";
    heatmap_overlay_png((overlay_dir / names[i]).string(), imgs[i].image, inf.maps[i].data(), nullptr, cfg.size,
                        cfg.size);
  }
  write_file_atomic((fs::path(out) / "scores.csv").string(), csv.str());
  if (opt.save_maps) {
    NamedTensors maps;
    for (size_t i = 0; i < imgs.size(); ++i)
      maps.emplace_back(samples[i].relpath, Tensor::from_vector({cfg.size, cfg.size}, inf.maps[i], Device::CPU));
    save_safetensors((fs::path(out) / "maps.safetensors").string(), maps, {{"size", std::to_string(cfg.size)}});
  }
  // About the decision (one image alone says nothing about a threshold's place among scores).
  const std::vector<std::string> warnings =
      decide && imgs.size() > 1 ? decision_warnings(inf.scores, threshold, "scored images") : std::vector<std::string>();
  {
    report::ReportInput r;
    r.title = str(imgs.size(), " scored images");
    r.has_threshold = decide;
    r.threshold = threshold;
    r.threshold_source = threshold_source;
    r.warnings = warnings;
    r.map_size = cfg.size;
    for (size_t i = 0; i < imgs.size(); ++i)
      r.images.push_back({samples[i].relpath, samples[i].path, -1, "", inf.scores[i], inf.maps[i], {}});
    report::write_report(out, r);
  }
  if (decide) {
    std::cerr << "decisions at the " << threshold_source << " threshold " << std::setprecision(4) << threshold
              << " (normalised score 0.5)\n";
    for (const std::string& w : warnings) std::cerr << "warning: " << w << "\n";
  }
  std::cout << "path\tscore\tnormalized\tdecision\n";
  for (size_t i = 0; i < imgs.size(); ++i) {
    std::cout << samples[i].path << "\t" << std::setprecision(4) << inf.scores[i];
    if (decide)
      std::cout << "\t" << normalized_score(inf.scores[i], threshold) << "\t"
                << (is_defect(inf.scores[i], threshold) ? "defect" : "ok");
    else
      std::cout << "\t-\t-";
    std::cout << "\n";
  }
  std::cerr << "scores and maps written to " << out << "\n";
}

std::string metrics_table(const std::vector<CategoryMetrics>& rows) {
  std::ostringstream o;
  const bool dagm = !rows.empty() && rows[0].layout == "dagm";
  o << std::fixed << std::setprecision(1);
  if (dagm) {
    o << std::left << std::setw(16) << "category" << std::right << std::setw(9) << "AUROC" << std::setw(7) << "AP"
      << std::setw(7) << "F1" << std::setw(7) << "TPR" << std::setw(7) << "TNR" << std::setw(7) << "ACC"
      << std::setw(7) << "mACC" << "\n";
  } else {
    o << std::left << std::setw(16) << "category" << std::right << std::setw(11) << "AUROC_det" << std::setw(11)
      << "AUROC_loc" << std::setw(9) << "AP_loc" << std::setw(8) << "AUPRO" << std::setw(8) << "F1max"
      << std::setw(8) << "AP_det" << "\n";
  }
  CategoryMetrics mean;
  mean.category = "mean";
  for (const auto& r : rows) {
    mean.image_auroc += r.image_auroc / rows.size();
    mean.pixel_auroc += r.pixel_auroc / rows.size();
    mean.pixel_ap += r.pixel_ap / rows.size();
    mean.aupro += r.aupro / rows.size();
    mean.image_f1 += r.image_f1 / rows.size();
    mean.image_ap += r.image_ap / rows.size();
    mean.tpr += r.tpr / rows.size();
    mean.tnr += r.tnr / rows.size();
    mean.accuracy += r.accuracy / rows.size();
    mean.macc += r.macc / rows.size();
  }
  std::vector<CategoryMetrics> all = rows;
  if (rows.size() > 1) all.push_back(mean);
  for (const auto& r : all) {
    o << std::left << std::setw(16) << r.category << std::right;
    if (dagm)
      o << std::setw(9) << 100 * r.image_auroc << std::setw(7) << 100 * r.image_ap << std::setw(7) << 100 * r.image_f1
        << std::setw(7) << 100 * r.tpr << std::setw(7) << 100 * r.tnr << std::setw(7) << 100 * r.accuracy
        << std::setw(7) << 100 * r.macc << "\n";
    else
      o << std::setw(11) << 100 * r.image_auroc << std::setw(11) << 100 * r.pixel_auroc << std::setw(9)
        << 100 * r.pixel_ap << std::setw(8) << 100 * r.aupro << std::setw(8) << 100 * r.image_f1 << std::setw(8)
        << 100 * r.image_ap << "\n";
  }
  bool any = false;
  for (const auto& r : rows) any = any || r.has_decision;
  if (any) {
    o << "\nat the decision threshold (defect when score > threshold; FPR: normal test images called defects)\n";
    o << std::left << std::setw(16) << "category" << std::right << std::setw(11) << "threshold" << std::setw(13)
      << "source" << std::setw(11) << "precision" << std::setw(8) << "recall" << std::setw(7) << "F1" << std::setw(10)
      << "accuracy" << std::setw(7) << "FPR" << "\n";
    for (const auto& r : rows) {
      if (!r.has_decision) continue;
      o << std::left << std::setw(16) << r.category << std::right << std::setw(11) << std::setprecision(4)
        << r.decision_threshold << std::setprecision(1) << std::setw(13) << r.decision_source << std::setw(11)
        << (std::isnan(r.precision) ? std::string("n/a") : str(std::fixed, std::setprecision(1), 100 * r.precision))
        << std::setw(8) << 100 * r.recall << std::setw(7) << 100 * r.f1 << std::setw(10)
        << 100 * r.decision_accuracy << std::setw(7) << 100 * r.fpr << "\n";
    }
  }
  return o.str();
}

std::string metrics_json(const std::vector<CategoryMetrics>& rows) {
  std::ostringstream o;
  o << std::setprecision(6) << "{\"categories\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    o << (i ? ", " : "") << "{\"category\": " << json::quote(r.category) << ", \"layout\": \"" << r.layout
      << "\", \"images\": " << r.images
      << ", \"anomalous\": " << r.anomalous << ", \"image_auroc\": " << r.image_auroc
      << ", \"pixel_auroc\": " << r.pixel_auroc << ", \"pixel_ap\": " << r.pixel_ap << ", \"aupro\": " << r.aupro
      << ", \"image_f1_max\": " << r.image_f1 << ", \"image_ap\": " << r.image_ap << ", \"tpr\": " << r.tpr
      << ", \"tnr\": " << r.tnr << ", \"accuracy\": " << r.accuracy << ", \"macc\": " << r.macc
      << ", \"thresholds\": {\"best_f1_on_test_labels\": " << r.threshold;
    if (r.has_decision) o << ", " << json::quote(r.decision_source == "--threshold" ? "given" : r.decision_source) << ": " << r.decision_threshold;
    o << "}, \"has_pixel_metrics\": " << (r.has_pixel_metrics ? "true" : "false")
      << ", \"seconds\": " << r.seconds << ", \"images_per_second\": " << r.images_per_second;
    if (r.has_decision)
      o << ", \"decision\": {\"source\": \"" << r.decision_source << "\", \"threshold\": " << r.decision_threshold
        << ", \"flagged\": " << r.flagged << ", \"precision\": "
        << (std::isnan(r.precision) ? std::string("null") : str(std::setprecision(6), r.precision))
        << ", \"recall\": " << r.recall << ", \"f1\": " << r.f1
        << ", \"accuracy\": " << r.decision_accuracy << ", \"fpr_normal\": " << r.fpr << "}";
    o << "}";
  }
  o << "]}";
  return o.str();
}

}  // namespace sg::sgsf
