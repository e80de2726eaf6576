// CUDA kernels against the CPU reference kernels (forward and backward, float32 tolerances
// relative to the output's largest magnitude; bfloat16 with the stated looser ones), and the
// caching allocator. Every test skips (CTest "Skipped", exit 77) where no GPU is present.
#include <doctest/doctest.h>

#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::expect_close;
namespace e = sg::engine;

namespace {

const Device kGpu = Device::cuda(0);
Tensor gpu(const Tensor& t) { return e::to(t, kGpu); }
Tensor rnd(const Shape& s, uint64_t seed) {
  Generator g(seed);
  return normal(s, 0, 1, g);
}
Backend& ref() { return reference_backend(); }

}  // namespace

TEST_CASE("cuda.copy") {
  sg::testing::skip_without_gpu();
  Tensor x = rnd({3, 5, 7}, 1);
  CHECK(sg::testing::max_abs_diff(e::to(gpu(x), Device::cpu()), x) == 0);
  // Strided views (a transpose) and dtype conversions on the device.
  Tensor t = e::transpose(gpu(x), 0, 2);
  expect_close(e::contiguous(t), e::contiguous(e::transpose(x, 0, 2)), 0, "transpose");
  expect_close(e::to(e::to(gpu(x), DType::BFloat16), DType::Float32),
               e::to(e::to(x, DType::BFloat16), DType::Float32), 0, "bf16 round trip");
  Tensor filled = Tensor::full({4, 4}, 2.5, DType::Float32, kGpu);
  CHECK(e::to(filled, Device::cpu()).to_vector() == std::vector<double>(16, 2.5));
}

TEST_CASE("cuda.copy_uploads_are_staged") {
  sg::testing::skip_without_gpu();
  // Uploads return before the GPU has run them: each must have taken its own copy of the host
  // data, through more uploads than the staging ring has buffers, while a kernel queued before
  // them keeps the stream busy.
  Tensor busy = gpu(rnd({512, 512}, 2));
  for (int i = 0; i < 8; ++i) busy = e::matmul(busy, busy);
  std::vector<Tensor> sent;
  Tensor host = Tensor::empty({1000}, DType::Float32);
  for (int i = 0; i < 10; ++i) {
    e::fill_(host, double(i));
    sent.push_back(gpu(host));
  }
  e::fill_(host, -1.0);
  for (int i = 0; i < 10; ++i)
    CHECK(e::to(sent[size_t(i)], Device::cpu()).to_vector() == std::vector<double>(1000, i));
  // Transfers larger than a staging chunk (16 MiB) go through the ring in pieces.
  Tensor big = rnd({5 << 20}, 3);  // 20 MiB of float32: two chunks and a part
  CHECK(sg::testing::max_abs_diff(e::to(gpu(big), Device::cpu()), big) == 0);
}

TEST_CASE("cuda.unary") {
  sg::testing::skip_without_gpu();
  Tensor a = rnd({4, 1, 6}, 2);
  Tensor pos = e::add(e::abs(a), 0.1);
  Tensor signed_zeros = e::where(e::gt(e::abs(a), 0.1), a, Tensor::zeros(a.shape()));
  for (UnaryOp op : {UnaryOp::Neg, UnaryOp::Exp, UnaryOp::Abs, UnaryOp::Sign})
    expect_close(e::unary(op, gpu(signed_zeros)), ref().unary(op, signed_zeros), 1e-6, "unary");
  for (UnaryOp op : {UnaryOp::Log, UnaryOp::Sqrt})
    expect_close(e::unary(op, gpu(pos)), ref().unary(op, pos), 1e-6, "unary");
}

TEST_CASE("cuda.binary") {
  sg::testing::skip_without_gpu();
  Tensor a = rnd({4, 1, 6}, 2), b = rnd({5, 1}, 3);  // broadcast to [4, 5, 6]
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum,
                      BinaryOp::Minimum, BinaryOp::Greater, BinaryOp::Less, BinaryOp::GreaterEqual,
                      BinaryOp::LessEqual, BinaryOp::Equal})
    expect_close(e::binary(op, gpu(a), gpu(b)), ref().binary(op, a, b), 1e-6, "binary");
  Tensor pos = e::add(e::abs(a), 0.1);
  expect_close(e::binary(BinaryOp::Pow, gpu(pos), gpu(b)), ref().binary(BinaryOp::Pow, pos, b),
               1e-5, "pow");
  Tensor self = rnd({4, 5, 6}, 4), self_gpu = gpu(self);
  e::binary_(BinaryOp::Mul, self_gpu, gpu(b));
  ref().binary_inplace(BinaryOp::Mul, self, b);
  expect_close(self_gpu, self, 1e-6, "binary_inplace");
}

TEST_CASE("cuda.clamp") {
  sg::testing::skip_without_gpu();
  Tensor a = rnd({4, 5, 6}, 2);
  expect_close(e::clamp(gpu(a), -0.5, 0.3), ref().clamp(a, -0.5, 0.3), 0, "clamp");
}

TEST_CASE("cuda.where") {
  sg::testing::skip_without_gpu();
  Tensor a = rnd({4, 1, 6}, 2), b = rnd({5, 1}, 3);
  Tensor cond = e::gt(a, 0.0);
  expect_close(e::where(gpu(cond), gpu(a), gpu(b)), ref().where(cond, a, b), 0, "where");
}

TEST_CASE("cuda.relu") {
  sg::testing::skip_without_gpu();
  Tensor a = rnd({4, 5, 6}, 2);
  Tensor y = ref().relu_forward(a), g = rnd(a.shape(), 5);
  expect_close(e::relu_forward(gpu(a)), y, 0, "relu_forward");
  expect_close(e::relu_backward(gpu(g), gpu(y)), ref().relu_backward(g, y), 0, "relu_backward");
}

TEST_CASE("cuda.add_relu") {
  sg::testing::skip_without_gpu();
  Tensor a = rnd({4, 5, 6}, 2), b = rnd({4, 5, 6}, 3);
  expect_close(e::add_relu_forward(gpu(a), gpu(b)),
               ref().relu_forward(ref().binary(BinaryOp::Add, a, b)), 0, "float32");
  Tensor a16 = e::to(a, DType::BFloat16), b16 = e::to(b, DType::BFloat16);
  expect_close(e::to(e::add_relu_forward(gpu(a16), gpu(b16)), DType::Float32),
               e::to(ref().add_relu_forward(a16, b16), DType::Float32), 0, "bfloat16");
}

TEST_CASE("cuda.reduce") {
  sg::testing::skip_without_gpu();
  Tensor x = rnd({6, 7, 8, 9}, 6);
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min})
    for (std::vector<int64_t> dims : {std::vector<int64_t>{0, 2, 3}, {1}, {3}, {0, 1, 2, 3}})
      expect_close(e::reduce(op, gpu(x), dims, true), ref().reduce(op, x, dims, true), 1e-5,
                   "reduce");
}

TEST_CASE("cuda.arg_reduce") {
  sg::testing::skip_without_gpu();
  Tensor x = rnd({6, 7, 8, 9}, 6);
  expect_close(e::argmin(gpu(x), 2), ref().arg_reduce(ArgReduceOp::Argmin, x, 2, false), 0,
               "argmin");
  expect_close(e::argmax(gpu(x), 0), ref().arg_reduce(ArgReduceOp::Argmax, x, 0, false), 0,
               "argmax");
}

TEST_CASE("cuda.log_softmax") {
  sg::testing::skip_without_gpu();
  Tensor logits = rnd({32, 10}, 7), g = rnd({32, 10}, 8);
  Tensor y = ref().log_softmax_forward(logits, 1);
  expect_close(e::log_softmax_forward(gpu(logits), 1), y, 1e-6, "log_softmax");
  expect_close(e::log_softmax_backward(gpu(g), gpu(y), 1), ref().log_softmax_backward(g, y, 1),
               1e-5, "log_softmax_backward");
}

TEST_CASE("cuda.matmul") {
  sg::testing::skip_without_gpu();
  Tensor a = rnd({33, 65}, 9), b = rnd({65, 17}, 10);
  expect_close(e::matmul(gpu(a), gpu(b)), ref().matmul(a, b), 1e-5, "2-d");
  // Transposed views go to cuBLAS with its transpose flags.
  Tensor at = rnd({65, 33}, 11);
  expect_close(e::matmul(e::transpose(gpu(at), 0, 1), gpu(b)),
               ref().matmul(e::contiguous(e::transpose(at, 0, 1)), b), 1e-5, "transposed a");
  Tensor ba = rnd({3, 8, 16}, 12), bb = rnd({3, 16, 4}, 13);
  expect_close(e::matmul(gpu(ba), gpu(bb)), ref().matmul(ba, bb), 1e-5, "batched");
  // bfloat16 inputs keep 8 bits of mantissa: within 2% of the largest output.
  expect_close(e::matmul(e::to(gpu(a), DType::BFloat16), e::to(gpu(b), DType::BFloat16)),
               ref().matmul(a, b), 2e-2, "bf16");
}

TEST_CASE("cuda.conv2d") {
  sg::testing::skip_without_gpu();
  struct Case {
    Shape x, w;
    Conv2dOptions o;
  };
  for (const Case& c : {Case{{4, 16, 32, 32}, {16, 16, 3, 3}, {1, 1}},  // ResNet stage 1
                        Case{{4, 16, 32, 32}, {32, 16, 3, 3}, {2, 1}},  // downsampling
                        Case{{4, 16, 32, 32}, {32, 16, 1, 1}, {2, 0}},  // shortcut
                        Case{{3, 5, 11, 9}, {7, 5, 3, 3}, {2, 2}}}) {   // odd shapes
    Tensor x = rnd(c.x, 14), w = rnd(c.w, 15), bias = rnd({c.w[0]}, 16);
    Tensor y = ref().conv2d_forward(x, w, bias, c.o);
    Tensor g = rnd(y.shape(), 17);
    expect_close(e::conv2d_forward(gpu(x), gpu(w), gpu(bias), c.o), y, 1e-5, "forward");
    expect_close(e::conv2d_backward_data(gpu(g), gpu(w), c.x, c.o),
                 ref().conv2d_backward_data(g, w, c.x, c.o), 1e-5, "backward data");
    expect_close(e::conv2d_backward_weight(gpu(g), gpu(x), c.w, c.o),
                 ref().conv2d_backward_weight(g, x, c.w, c.o), 1e-5, "backward weight");
    // bf16 activations with float32 master weights: within 3% of the largest output.
    Tensor yb = e::conv2d_forward(e::to(gpu(x), DType::BFloat16), gpu(w), gpu(bias), c.o);
    CHECK(yb.dtype() == DType::BFloat16);
    expect_close(e::to(yb, DType::Float32), y, 3e-2, "bf16 forward");
    Tensor dwb = e::conv2d_backward_weight(e::to(gpu(g), DType::BFloat16),
                                           e::to(gpu(x), DType::BFloat16), c.w, c.o);
    CHECK(dwb.dtype() == DType::Float32);
    expect_close(dwb, ref().conv2d_backward_weight(g, x, c.w, c.o), 3e-2, "bf16 backward weight");
  }
}

TEST_CASE("cuda.batch_norm") {
  sg::testing::skip_without_gpu();
  // {64, 8, 16, 16}: 16,384 values per channel, summed by several blocks per channel.
  for (Shape s : {Shape{8, 16, 6, 6}, Shape{64, 32}, Shape{64, 8, 16, 16}}) {
    for (bool relu : {false, true}) {
      int64_t c = s[1];
      Tensor x = e::add(e::mul(rnd(s, 18), 3.0), 1.5), gamma = rnd({c}, 19), beta = rnd({c}, 20);
      Tensor rm = rnd({c}, 21), rv = e::add(e::abs(rnd({c}, 22)), 0.5);
      Tensor rm_gpu = gpu(rm), rv_gpu = gpu(rv);
      BatchNormForward r = ref().batch_norm_forward_train(x, gamma, beta, rm, rv, 0.1, 1e-5, relu);
      BatchNormForward f = e::batch_norm_forward_train(gpu(x), gpu(gamma), gpu(beta), rm_gpu,
                                                       rv_gpu, 0.1, 1e-5, relu);
      expect_close(f.y, r.y, 1e-5, "forward");
      expect_close(f.save_mean, r.save_mean, 1e-5, "batch mean");
      expect_close(f.save_var, r.save_var, 1e-5, "batch variance");
      expect_close(rm_gpu, rm, 1e-6, "running mean");
      expect_close(rv_gpu, rv, 1e-6, "running variance (unbiased, momentum 0.1)");
      Tensor g = rnd(s, 23);
      BatchNormGrads rg =
          ref().batch_norm_backward(g, x, gamma, r.save_mean, r.save_var, 1e-5, r.relu_mask);
      BatchNormGrads fg = e::batch_norm_backward(gpu(g), gpu(x), gpu(gamma), f.save_mean,
                                                 f.save_var, 1e-5, f.relu_mask);
      expect_close(fg.dx, rg.dx, 1e-4, "backward dx");
      expect_close(fg.dgamma, rg.dgamma, 1e-4, "backward dgamma");
      expect_close(fg.dbeta, rg.dbeta, 1e-4, "backward dbeta");
      expect_close(
          e::batch_norm_forward_infer(gpu(x), gpu(gamma), gpu(beta), gpu(rm), gpu(rv), 1e-5, relu),
          ref().batch_norm_forward_infer(x, gamma, beta, rm, rv, 1e-5, relu), 1e-5, "inference");
    }
  }
}

TEST_CASE("cuda.pool2d") {
  sg::testing::skip_without_gpu();
  for (Pool2dOptions o : {Pool2dOptions{2, 2, 0}, Pool2dOptions{3, 2, 1}}) {
    Tensor x = rnd({2, 3, 9, 8}, 24);
    MaxPool2dForward r = ref().max_pool2d_forward(x, o);
    MaxPool2dForward f = e::max_pool2d_forward(gpu(x), o);
    expect_close(f.y, r.y, 0, "max forward");
    Tensor g = rnd(r.y.shape(), 25);
    expect_close(e::max_pool2d_backward(gpu(g), f.indices, x.shape(), o),
                 ref().max_pool2d_backward(g, r.indices, x.shape(), o), 1e-6, "max backward");
    Tensor ya = ref().avg_pool2d_forward(x, o);
    expect_close(e::avg_pool2d_forward(gpu(x), o), ya, 1e-6, "avg forward");
    expect_close(e::avg_pool2d_backward(gpu(g), x.shape(), o),
                 ref().avg_pool2d_backward(g, x.shape(), o), 1e-6, "avg backward");
  }
}

TEST_CASE("cuda.index_select") {
  sg::testing::skip_without_gpu();
  Tensor x = rnd({6, 5}, 26);
  Generator gen(27);
  Tensor perm = randperm(6, gen);
  expect_close(e::index_select(gpu(x), 0, gpu(perm)), ref().index_select(x, 0, perm), 0,
               "index_select");
}

namespace {
Tensor gather_index() {
  Generator gen(27);
  return e::to(e::mul(uniform({6, 3}, 0, 4.99, gen), 1.0), DType::Int64);
}
}  // namespace

TEST_CASE("cuda.gather") {
  sg::testing::skip_without_gpu();
  Tensor x = rnd({6, 5}, 26), index = gather_index();
  expect_close(e::gather(gpu(x), 1, gpu(index)), ref().gather(x, 1, index), 0, "gather");
}

TEST_CASE("cuda.scatter_add") {
  sg::testing::skip_without_gpu();
  Tensor x = rnd({6, 5}, 26), index = gather_index(), src = rnd({6, 3}, 28);
  expect_close(e::scatter_add(gpu(x), 1, gpu(index), gpu(src)), ref().scatter_add(x, 1, index, src),
               1e-6, "scatter_add");
}

TEST_CASE("cuda.cat") {
  sg::testing::skip_without_gpu();
  Tensor x = rnd({6, 5}, 26), y = rnd({6, 2}, 29);
  expect_close(e::cat({gpu(x), gpu(y)}, 1), ref().cat({x, y}, 1), 0, "cat");
}

TEST_CASE("cuda.sgd_update") {
  sg::testing::skip_without_gpu();
  Tensor p = rnd({100}, 30), g = rnd({100}, 31), buf = rnd({100}, 32);
  Tensor pg = gpu(p), gg = gpu(g), bg = gpu(buf);
  ref().sgd_update(p, g, buf, 0.1, 0.9, 5e-4, true, 0.7);
  e::sgd_update(pg, gg, bg, 0.1, 0.9, 5e-4, true, 0.7);
  expect_close(pg, p, 1e-6, "sgd param");
  expect_close(bg, buf, 1e-6, "sgd momentum");
}

TEST_CASE("cuda.ema_update") {
  sg::testing::skip_without_gpu();
  Tensor t = rnd({100}, 33), online = rnd({100}, 31), tg = gpu(t);
  ref().ema_update(t, online, 0.99);
  e::ema_update(tg, gpu(online), 0.99);
  expect_close(tg, t, 1e-6, "ema");
}

TEST_CASE("cuda.allocator_reuses_memory") {
  sg::testing::skip_without_gpu();
  Tensor w = gpu(rnd({32, 16, 3, 3}, 34)), x = gpu(rnd({8, 16, 16, 16}, 35));
  auto step = [&] {
    Tensor y = e::conv2d_forward(x, w, Tensor(), {1, 1});
    Tensor gy = e::relu_forward(y);
    Tensor dw = e::conv2d_backward_weight(gy, x, w.shape(), {1, 1});
    e::sum(dw).to_vector();  // waits for the device
  };
  step();
  size_t reserved = device_memory_stats(kGpu).reserved;
  for (int i = 0; i < 100; ++i) step();
  CHECK(device_memory_stats(kGpu).reserved == reserved);  // no growth over 100 steps
  size_t in_use = device_memory_stats(kGpu).allocated;
  {
    Tensor big = Tensor::empty({1 << 24}, DType::Float32, kGpu);
    CHECK(device_memory_stats(kGpu).allocated >= in_use + (size_t(1) << 26));
  }
  CHECK(device_memory_stats(kGpu).allocated == in_use);
}
