#pragma once
// The kNN monitor: cosine similarity between l2-normalised features; each test image takes the
// k most similar training images, each voting for its label with weight exp(similarity / T).
#include <vector>

#include "engine/tensor.h"

namespace sg {

// Top-1 accuracy in [0, 1] of kNN classification of test features by train features.
double knn_accuracy(const Tensor& train_features, const std::vector<int64_t>& train_labels,
                    const Tensor& test_features, const std::vector<int64_t>& test_labels,
                    int64_t num_classes, int64_t k = 200, double temperature = 0.1);

}  // namespace sg
