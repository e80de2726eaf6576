#pragma once
// The standard layers. Parameter and buffer names follow PyTorch's, so checkpoints map 1:1.
#include <memory>

#include "layers/module.h"

namespace sg {

class Linear : public Module {
 public:
  // PyTorch's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
  Linear(int64_t in, int64_t out, Generator& gen, bool bias = true);
  Tensor forward(const Tensor& x) override;
  // With its products in `products` (bf16: as PyTorch's autocast; autograd/ops.h, linear).
  Tensor forward(const Tensor& x, DType products);
  Tensor weight, bias;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, Generator& gen, int64_t stride = 1,
         int64_t padding = 0, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  Conv2dOptions options;
};

// BatchNorm1d ([N,C]) and BatchNorm2d ([N,C,H,W]) share one implementation: batch_norm
// normalises over every dimension but 1.
class BatchNorm : public Module {
 public:
  BatchNorm(int64_t channels, int expected_rank, double momentum = 0.1, double eps = 1e-5,
            bool affine = true);
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)) in one fused kernel.
  Tensor forward_relu(const Tensor& x);
  // relu(forward(x) + residual): a residual block's join, fused where the backend can.
  Tensor forward_add_relu(const Tensor& x, const Tensor& residual);
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double momentum, eps;
  // Set (convert_sync_batchnorm): in training the statistics are those of every rank's batch
  // together (sync_batch_norm) when the group has more than one rank.
  std::shared_ptr<Communicator> sync_group;

 private:
  Tensor run(const Tensor& x, bool relu, const Tensor& residual = Tensor());
  int expected_rank_;
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t channels, double momentum = 0.1, double eps = 1e-5,
                       bool affine = true)
      : BatchNorm(channels, 2, momentum, eps, affine) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t channels, double momentum = 0.1, double eps = 1e-5,
                       bool affine = true)
      : BatchNorm(channels, 4, momentum, eps, affine) {}
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0)
      : options{kernel, stride, padding} {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, options); }
  Pool2dOptions options;
};

// Output size 1x1 only: global average pooling, as ResNet uses it.
class AdaptiveAvgPool2d : public Module {
 public:
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x); }
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return flatten(x, 1); }
};

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
};

// Children named "0", "1", ... run in order.
class Sequential : public Module {
 public:
  Sequential() = default;
  void push_back(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children()[i].second; }
};

}  // namespace sg
