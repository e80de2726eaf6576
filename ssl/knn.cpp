#include "ssl/knn.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/autograd.h"

namespace sg {

double knn_accuracy(const Tensor& train_features, const std::vector<int64_t>& train_labels,
                    const Tensor& test_features, const std::vector<int64_t>& test_labels,
                    int64_t num_classes, int64_t k, double temperature) {
  NoGradGuard no_grad;
  int64_t n_train = train_features.shape()[0], n_test = test_features.shape()[0];
  SG_CHECK(int64_t(train_labels.size()) == n_train && int64_t(test_labels.size()) == n_test,
           "knn: ", train_labels.size(), "/", test_labels.size(), " labels for ", n_train, "/",
           n_test, " features");
  k = std::min(k, n_train);
  Tensor a = l2_normalize(engine::to(test_features, DType::Float32), 1);
  Tensor b = l2_normalize(engine::to(train_features, DType::Float32), 1);
  Tensor sim = engine::contiguous(engine::matmul(a, engine::transpose(b, 0, 1)));  // [test, train]
  const float* s = sim.data<float>();
  int64_t correct = 0;
  std::vector<int64_t> order(n_train);
  for (int64_t i = 0; i < n_test; ++i) {
    const float* row = s + i * n_train;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t x, int64_t y) {
      return row[x] > row[y] || (row[x] == row[y] && x < y);
    });
    std::vector<double> votes(num_classes, 0.0);
    for (int64_t r = 0; r < k; ++r)
      votes[train_labels[order[r]]] += std::exp(row[order[r]] / temperature);
    correct += std::max_element(votes.begin(), votes.end()) - votes.begin() == test_labels[i];
  }
  return double(correct) / double(n_test);
}

}  // namespace sg
