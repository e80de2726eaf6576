#pragma once
#include <functional>

#include "engine/tensor.h"

namespace sg {

// Reverse-mode differentiation from `root`. Without `grad`, root must have one element and its
// gradient is 1. Gradients accumulate into the .grad of every leaf that requires grad. Unless
// retain_graph, the graph's saved tensors are freed and a second backward through it is an error.
void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

// The same, calling leaf_ready(leaf) as soon as a leaf's gradient is final: after the last node
// of the graph that uses it (whether or not a gradient reached it). Data-parallel training
// starts each gradient bucket's all-reduce there, while the rest of backward runs.
using LeafReady = std::function<void(const Tensor& leaf)>;
void backward(const Tensor& root, const LeafReady& leaf_ready, const Tensor& grad = Tensor(),
              bool retain_graph = false);

}  // namespace sg
