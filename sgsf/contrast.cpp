// contrast.cpp — cosine top-n neighbours over pooled features (see contrast.h).
#include "sgsf/contrast.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/common.h"

namespace sg::sgsf {

void normalize_rows(std::vector<float>& f, int rows, int dim) {
  SG_CHECK((int64_t)f.size() == (int64_t)rows * dim, "normalize_rows: ", f.size(), " values for ",
           rows, " x ", dim);
  for (int r = 0; r < rows; ++r) {
    float* row = f.data() + (size_t)r * dim;
    double ss = 0;
    for (int k = 0; k < dim; ++k) ss += (double)row[k] * row[k];
    if (ss <= 0) continue;
    float inv = (float)(1.0 / std::sqrt(ss));
    for (int k = 0; k < dim; ++k) row[k] *= inv;
  }
}

static double cosine(const float* a, const float* b, int dim) {
  double dot = 0, na = 0, nb = 0;
  for (int k = 0; k < dim; ++k) {
    dot += (double)a[k] * b[k];
    na += (double)a[k] * a[k];
    nb += (double)b[k] * b[k];
  }
  if (na <= 0 || nb <= 0) return 0;
  return dot / std::sqrt(na * nb);
}

std::vector<std::vector<int>> build_contrast_sets(const std::vector<float>& f, int m, int dim, int n) {
  SG_CHECK(m >= 2, "contrast sets: need at least 2 training images, got ", m);
  SG_CHECK(n >= 1, "contrast sets: n must be at least 1, got ", n);
  SG_CHECK((int64_t)f.size() == (int64_t)m * dim, "contrast sets: ", f.size(), " feature values for ",
           m, " images of dimension ", dim);
  n = std::min(n, m - 1);
  std::vector<std::vector<int>> sets((size_t)m);
  std::vector<double> sim((size_t)m);
  std::vector<int> order((size_t)m);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < m; ++j) sim[(size_t)j] = cosine(&f[(size_t)i * dim], &f[(size_t)j * dim], dim);
    order.resize((size_t)m);
    std::iota(order.begin(), order.end(), 0);
    order.erase(order.begin() + i);  // never the image itself
    std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](int a, int b) {
      return sim[(size_t)a] != sim[(size_t)b] ? sim[(size_t)a] > sim[(size_t)b] : a < b;
    });
    sets[(size_t)i].assign(order.begin(), order.begin() + n);
  }
  return sets;
}

int most_similar(const std::vector<float>& f, int m, int dim, const float* query) {
  SG_CHECK(m >= 1, "most_similar: no training features");
  int best = 0;
  double best_sim = -2;
  for (int j = 0; j < m; ++j) {
    double s = cosine(&f[(size_t)j * dim], query, dim);
    if (s > best_sim) {
      best_sim = s;
      best = j;
    }
  }
  return best;
}

}  // namespace sg::sgsf
