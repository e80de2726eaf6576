#pragma once
#include "engine/tensor.h"

namespace sg {

// Reverse-mode differentiation from `root`. Without `grad`, root must have one element and its
// gradient is 1. Gradients accumulate into the .grad of every leaf that requires grad. Unless
// retain_graph, the graph's saved tensors are freed and a second backward through it is an error.
void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

}  // namespace sg
