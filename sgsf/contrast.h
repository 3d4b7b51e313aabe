// contrast.h — contrast sets (sgsf/README.md, 'Contrast sets'): for each training image, the n most
// similar *other* training images by cosine similarity of pooled deepest encoder features; at test
// time, the single most similar training image.
#pragma once
#include <vector>

namespace sg::sgsf {

// L2-normalise each row of a (rows, dim) row-major matrix in place (zero rows stay zero).
void normalize_rows(std::vector<float>& features, int rows, int dim);

// features: (m, dim) row-major, one row per training image. Returns, for every image i, the
// indices of the n images j != i with the highest cosine similarity, most similar first (ties
// broken by the lower index, so the result is deterministic). n is clamped to m - 1.
std::vector<std::vector<int>> build_contrast_sets(const std::vector<float>& features, int m, int dim, int n);

// Index of the training row most similar (cosine) to `query` (dim floats).
int most_similar(const std::vector<float>& train_features, int m, int dim, const float* query);

}  // namespace sg::sgsf
