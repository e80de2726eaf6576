#pragma once
// The recorded autograd graph of a tensor as Graphviz DOT, with the stop-gradients drawn: the
// picture of where detach() cuts the graph (what PyTorch users draw with torchviz, plus the
// cuts torchviz cannot show).
//
//   - every op node by its name (mul, conv2d, batch_norm_relu, ...), boxes;
//   - parameters and other leaves that take gradient by their names (module names when given),
//     ellipses; tensor shapes label the edges;
//   - every cut: a tensor that detach() made from a node's output feeds a later op without
//     gradient; it is drawn as a dashed red edge labelled "stop-gradient" from the node it was
//     cut from to the op that consumed it, and the graph behind the cut is drawn too, so both
//     sides of the cut are visible.
//
// Edges point the way the forward pass went (inputs to ops). Build the loss under a
// GraphCaptureGuard (autograd/grad_mode.h) to see cut nodes that nothing else keeps alive.
#include <string>

#include "engine/tensor.h"

namespace sg {

struct DotOptions {
  std::string title;  // drawn above the graph when not empty
};

// `names` names leaves (e.g. a module's named_parameters(), or {"x1", view}).
std::string graph_to_dot(const Tensor& root, const NamedTensors& names, const DotOptions& o = {});

// How many stop-gradient cuts the graph of `root` has (each (cut node, consumer) pair once).
int count_stop_gradient_cuts(const Tensor& root);

}  // namespace sg
