#include "ssl/knn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/autograd.h"

namespace sg {

double knn_accuracy(const Tensor& train_features, const std::vector<int64_t>& train_labels,
                    const Tensor& test_features, const std::vector<int64_t>& test_labels,
                    int64_t num_classes, int64_t k, double temperature, int64_t block_rows) {
  NoGradGuard no_grad;
  int64_t n_train = train_features.shape()[0], n_test = test_features.shape()[0];
  SG_CHECK(int64_t(train_labels.size()) == n_train && int64_t(test_labels.size()) == n_test,
           "knn: ", train_labels.size(), "/", test_labels.size(), " labels for ", n_train, "/",
           n_test, " features");
  SG_CHECK(block_rows >= 1, "knn: block of ", block_rows, " rows");
  k = std::min(k, n_train);
  Tensor a = l2_normalize(engine::to(test_features, DType::Float32), 1);
  Tensor b_t = engine::contiguous(
      engine::transpose(l2_normalize(engine::to(train_features, DType::Float32), 1), 0, 1));
  int64_t correct = 0;
  std::vector<int64_t> order(n_train);
  for (int64_t first = 0; first < n_test; first += block_rows) {
    int64_t rows = std::min(block_rows, n_test - first);
    Tensor sim = engine::contiguous(  // [rows, train]
        engine::matmul(engine::narrow(a, 0, first, rows), b_t));
    const float* s = sim.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = s + r * n_train;
      std::iota(order.begin(), order.end(), 0);
      // Ties go to the lower training index, so the result does not depend on the block size.
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t x, int64_t y) {
        return row[x] > row[y] || (row[x] == row[y] && x < y);
      });
      std::vector<double> votes(num_classes, 0.0);
      for (int64_t j = 0; j < k; ++j)
        votes[train_labels[order[j]]] += std::exp(row[order[j]] / temperature);
      correct +=
          std::max_element(votes.begin(), votes.end()) - votes.begin() == test_labels[first + r];
    }
  }
  return double(correct) / double(n_test);
}

}  // namespace sg
