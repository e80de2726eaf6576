#include <doctest/doctest.h>

#include "engine/ops.h"
#include "tests/helpers.h"

using namespace sg;
using namespace sg::testing;
namespace e = sg::engine;

TEST_CASE("tensor.factories_and_metadata") {
  Tensor t = Tensor::zeros({2, 3}, DType::Float64);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.strides() == Strides{3, 1});
  CHECK(t.numel() == 6);
  CHECK(t.dtype() == DType::Float64);
  CHECK(t.device() == Device::cpu());
  CHECK(t.is_contiguous());
  Tensor f = Tensor::full({2}, 2.5);
  check_values(f, {2.5, 2.5});
  CHECK(Tensor::scalar(3.0).item() == 3.0);
  check_values(Tensor::arange(4), {0, 1, 2, 3});
  CHECK_THROWS_WITH_AS(Tensor::from_vector({1, 2, 3}, {2, 2}),
                       doctest::Contains("3 values for shape [2, 2]"), Error);
}

TEST_CASE("tensor.views_share_storage") {
  Tensor x = t64({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor tr = e::transpose(x, 0, 1);
  CHECK(tr.shares_storage_with(x));
  CHECK(tr.shape() == Shape{3, 2});
  CHECK(tr.strides() == Strides{1, 3});
  CHECK_FALSE(tr.is_contiguous());
  CHECK(tr.at({2, 1}) == 5);

  Tensor row = e::narrow(x, 0, 1, 1);
  CHECK(row.offset() == 3);
  check_values(row, {3, 4, 5});
  Tensor every_other = e::slice(x, 1, 0, 3, 2);
  check_values(every_other, {0, 2, 3, 5});

  Tensor v = e::view(x, {3, 2});
  CHECK(v.shares_storage_with(x));
  v.set({0, 0}, 42);  // a write through a view is seen by its base
  CHECK(x.at({0, 0}) == 42);

  Tensor col = e::expand(t64({1, 2}, {2, 1}), {2, 4});
  CHECK(col.strides() == Strides{1, 0});
  check_values(col, {1, 1, 1, 1, 2, 2, 2, 2});
  CHECK(e::unsqueeze(x, 0).shape() == Shape{1, 2, 3});
  CHECK(e::squeeze(e::unsqueeze(x, 2), 2).shape() == Shape{2, 3});
  CHECK(e::permute(e::reshape(x, {1, 2, 3}), {2, 0, 1}).shape() == Shape{3, 1, 2});
}

TEST_CASE("tensor.reshape_copies_only_when_it_must") {
  Tensor x = t64({0, 1, 2, 3, 4, 5}, {2, 3});
  CHECK(e::reshape(x, {-1}).shares_storage_with(x));
  Tensor tr = e::transpose(x, 0, 1);
  CHECK_THROWS_WITH_AS(e::view(tr, {6}), doctest::Contains("impossible without a copy"), Error);
  Tensor flat = e::reshape(tr, {6});
  CHECK_FALSE(flat.shares_storage_with(x));
  check_values(flat, {0, 3, 1, 4, 2, 5});
  CHECK_THROWS_WITH_AS(e::reshape(x, {4, -1}), doctest::Contains("does not fit"), Error);
}

TEST_CASE("tensor.contiguous_clone_to_detach") {
  Tensor x = t64({1, 2, 3, 4}, {2, 2});
  Tensor tr = e::transpose(x, 0, 1);
  Tensor c = e::contiguous(tr);
  CHECK(c.is_contiguous());
  check_values(c, {1, 3, 2, 4});
  CHECK(e::contiguous(x).same(x));  // already contiguous: no copy
  Tensor cl = e::clone(x);
  CHECK_FALSE(cl.shares_storage_with(x));
  Tensor f = e::to(x, DType::Float32);
  CHECK(f.dtype() == DType::Float32);
  check_values(f, {1, 2, 3, 4});
  Tensor d = x.detach();
  CHECK(d.shares_storage_with(x));
  CHECK_FALSE(d.requires_grad());
}

TEST_CASE("tensor.printing") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  CHECK(x.str() ==
        "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], shape=[2, 2], dtype=float32)");
  CHECK(Tensor::arange(3).str() == "tensor([0, 1, 2], shape=[3], dtype=int64)");
}

TEST_CASE("tensor.errors_name_the_problem") {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(e::add(a, b), doctest::Contains("shapes [2, 3] and [4] cannot be broadcast"),
                       Error);
  CHECK_THROWS_WITH_AS(e::add(a, Tensor::zeros({2, 3}, DType::Float64)),
                       doctest::Contains("dtypes differ"), Error);
  CHECK_THROWS_WITH_AS(e::matmul(a, a), doctest::Contains("do not multiply"), Error);
  CHECK_THROWS_WITH_AS(a.at({5, 0}), doctest::Contains("out of range"), Error);
  // Without a GPU (or a CUDA build) moving to one is a named error; with one it works.
  if (cuda_device_count() == 0)
    CHECK_THROWS_WITH_AS(e::to(a, Device::cuda(0)), doctest::Contains("cuda"), Error);
  else
    CHECK(e::to(a, Device::cuda(0)).device().is_cuda());
}
