#pragma once
// The kNN monitor: cosine similarity between l2-normalised features; each test image takes the
// k most similar training images, each voting for its label with weight exp(similarity / T).
// Defaults k = 200, T = 0.2 as the official GSG kNN monitor (main_knn.py).
#include <vector>

#include "engine/tensor.h"

namespace sg {

// Top-1 accuracy in [0, 1] of kNN classification of test features by train features. The
// similarities are computed `block_rows` test images at a time and only each row's top k kept,
// so memory is block_rows x train, not test x train (5,000 x 50,000 floats would be 1 GB).
double knn_accuracy(const Tensor& train_features, const std::vector<int64_t>& train_labels,
                    const Tensor& test_features, const std::vector<int64_t>& test_labels,
                    int64_t num_classes, int64_t k = 200, double temperature = 0.2,
                    int64_t block_rows = 256);

}  // namespace sg
