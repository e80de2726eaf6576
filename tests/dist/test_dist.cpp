// Data-parallel training, checked across real processes (`mpirun -np 2`): the collectives,
// SyncBatchNorm against batch normalisation of the whole global batch in one process, gradient
// averaging against one process training on the whole batch, and the loader's shards.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/autograd.h"
#include "data/loader.h"
#include "layers/data_parallel.h"
#include "layers/layers.h"
#include "layers/optim.h"
#include "tests/dist/world.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::max_abs_diff;
using sg::testing::world;
namespace e = sg::engine;

namespace {
// This rank's rows of a batch every rank builds alike.
Tensor my_rows(const Tensor& full, Communicator& comm) {
  int64_t per = full.shape()[0] / comm.size();
  return e::contiguous(e::narrow(full, 0, comm.rank() * per, per));
}
}  // namespace

TEST_CASE("dist.collectives") {
  Communicator& comm = *world();
  int r = comm.rank(), n = comm.size();
  Tensor t = Tensor::full({3}, double(r + 1), DType::Float64);
  comm.all_reduce(t, ReduceOp::Sum);
  CHECK(t.to_vector() == std::vector<double>(3, n * (n + 1) / 2.0));
  Tensor m = Tensor::full({2, 2}, double(r), DType::Float32);
  comm.all_reduce(m, ReduceOp::Mean);
  CHECK(m.at({1, 1}) == doctest::Approx((n - 1) / 2.0));
  Tensor b = Tensor::full({4}, double(r * 10), DType::Int64);
  comm.broadcast(b, n - 1);
  CHECK(b.to_vector() == std::vector<double>(4, double((n - 1) * 10)));
  Tensor g = comm.all_gather(Tensor::full({2}, double(r), DType::Float32));
  CHECK(g.shape() == Shape{n, 2});
  for (int k = 0; k < n; ++k) CHECK(g.at({k, 1}) == k);
  Tensor a = Tensor::full({5}, 1.0, DType::Float32);
  auto pending = comm.all_reduce_async(a, ReduceOp::Sum);
  pending->wait();
  CHECK(a.at({4}) == n);
  comm.barrier();
  Tensor bf16 = Tensor::full({2}, 1.0, DType::BFloat16);
  if (n > 1)
    CHECK_THROWS_WITH_AS(comm.all_reduce(bf16, ReduceOp::Sum), doctest::Contains("bfloat16"),
                         Error);
}

TEST_CASE("dist.sync_batch_norm_equals_batch_norm_of_the_global_batch") {
  Communicator& comm = *world();
  // float32 as trained; float64 at an offset of 1e8, where sum(x^2) - N mean^2 would lose every
  // digit of the variance (x^2 ~ 1e16) and the per-rank deviations merged by Chan's formula
  // lose none.
  for (auto [dtype, offset] : {std::pair{DType::Float32, 0.0}, std::pair{DType::Float64, 1e8}}) {
    for (bool relu : {false, true}) {
      CAPTURE(offset);
      CAPTURE(relu);
      Generator gen(3);  // the same draws on every rank
      int64_t rows = 4 * comm.size();
      Tensor full = e::add(normal({rows, 3, 2, 2}, 0, 1, gen, dtype), offset);
      Tensor weights = normal({rows, 3, 2, 2}, 0, 1, gen, dtype);  // the loss: sum(y * weights)
      Tensor gamma = e::add(uniform({3}, 0, 1, gen, dtype), 0.5),
             beta = normal({3}, 0, 1, gen, dtype);
      // One process, the whole batch.
      Tensor x1 = e::clone(full).set_requires_grad(true);
      Tensor g1 = e::clone(gamma).set_requires_grad(true),
             b1 = e::clone(beta).set_requires_grad(true);
      Tensor rm1 = Tensor::zeros({3}, dtype), rv1 = Tensor::ones({3}, dtype);
      Tensor y1 = relu ? batch_norm_relu(x1, g1, b1, rm1, rv1, true)
                       : batch_norm(x1, g1, b1, rm1, rv1, true);
      backward(sum(y1 * weights));
      // Each rank its rows, the statistics shared.
      Tensor x2 = my_rows(full, comm).set_requires_grad(true);
      Tensor g2 = e::clone(gamma).set_requires_grad(true),
             b2 = e::clone(beta).set_requires_grad(true);
      Tensor rm2 = Tensor::zeros({3}, dtype), rv2 = Tensor::ones({3}, dtype);
      Tensor y2 = sync_batch_norm(x2, g2, b2, rm2, rv2, comm, 0.1, 1e-5, relu);
      backward(sum(y2 * my_rows(weights, comm)));
      double tol = dtype == DType::Float32 ? 1e-5 : 1e-6;
      CHECK(max_abs_diff(y2, my_rows(y1, comm)) < tol);
      CHECK(max_abs_diff(x2.grad(), my_rows(x1.grad(), comm)) < tol);
      CHECK(max_abs_diff(rm2, rm1) < tol * (1 + offset));
      CHECK(max_abs_diff(rv2, rv1) < tol);
      // gamma's and beta's gradients are this rank's share; their sum is the whole batch's.
      Tensor dg = e::clone(g2.grad()), db = e::clone(b2.grad());
      comm.all_reduce(dg, ReduceOp::Sum);
      comm.all_reduce(db, ReduceOp::Sum);
      CHECK(max_abs_diff(dg, g1.grad()) < 10 * tol);
      CHECK(max_abs_diff(db, b1.grad()) < 10 * tol);
    }
  }
}

namespace {
// A small network with BatchNorm, its weights from `seed`.
struct TinyNet : Module {
  explicit TinyNet(uint64_t seed) {
    Generator gen(seed);
    fc1 = register_module("fc1", std::make_shared<Linear>(6, 8, gen));
    bn = register_module("bn", std::make_shared<BatchNorm1d>(8));
    fc2 = register_module("fc2", std::make_shared<Linear>(8, 3, gen));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(bn->forward_relu((*fc1)(x))); }
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<BatchNorm1d> bn;
};
}  // namespace

TEST_CASE("dist.data_parallel_matches_one_process_on_the_global_batch") {
  std::shared_ptr<Communicator> comm = world();
  Generator gen(11);
  int64_t rows = 8 * comm->size();
  std::vector<Tensor> batches, targets;
  for (int s = 0; s < 3; ++s) {
    batches.push_back(normal({rows, 6}, 0, 1, gen));
    targets.push_back(e::to(uniform({rows}, 0, 3, gen), DType::Int64));
  }
  // One process, the whole batch (mean loss over it).
  TinyNet single(5);
  SGD sgd1(weight_and_norm_groups(single.named_parameters(), 0.1, 1e-4), 0.9);
  for (int s = 0; s < 3; ++s) {
    sgd1.zero_grad();
    backward(cross_entropy(single(batches[size_t(s)]), targets[size_t(s)]));
    sgd1.step();
  }
  // Every rank starts from other weights; broadcast_state makes them rank 0's (seed 5).
  TinyNet net(5 + uint64_t(comm->rank()) * 100);
  convert_sync_batchnorm(net, comm);
  DataParallel ddp(net, comm, /*bucket_bytes=*/128);  // small buckets: several all-reduces
  CHECK(ddp.bucket_count() > 1);
  ddp.broadcast_state();
  SGD sgd2(weight_and_norm_groups(net.named_parameters(), 0.1, 1e-4), 0.9);
  for (int s = 0; s < 3; ++s) {
    sgd2.zero_grad();
    Tensor local_targets = my_rows(targets[size_t(s)], *comm);
    ddp.backward(cross_entropy(net(my_rows(batches[size_t(s)], *comm)), local_targets));
    sgd2.step();
  }
  auto a = single.state_dict(), b = net.state_dict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    if (a[i].second.dtype() == DType::Int64) continue;  // num_batches_tracked
    CHECK(max_abs_diff(a[i].second, b[i].second) < 1e-5);
    // And every rank holds exactly the same weights.
    Tensor all = comm->all_gather(e::contiguous(b[i].second));
    for (int r = 1; r < comm->size(); ++r)
      CHECK(max_abs_diff(e::narrow(all, 0, r, 1), e::narrow(all, 0, 0, 1)) == 0);
  }
}

TEST_CASE("dist.loader_shards_make_up_the_global_batch") {
  Communicator& comm = *world();
  ImageSet set = load_cifar10_train(SG_SOURCE_DIR "/data/cifar10-sample");
  AugmentOptions o;
  int64_t per_rank = 32;
  ViewLoader global(set, per_rank * comm.size(), 2, o, 4);
  ViewLoader mine(set, per_rank, 2, o, 4, true, 1, Shard{comm.rank(), comm.size()});
  CHECK(mine.batches_per_epoch() == global.batches_per_epoch());
  global.start_epoch(3);
  mine.start_epoch(3);
  for (int b = 0; b < 2; ++b) {
    ViewBatch g = global.next(), m = mine.next();
    std::vector<int64_t> expected(g.indices.begin() + comm.rank() * per_rank,
                                  g.indices.begin() + (comm.rank() + 1) * per_rank);
    CHECK(m.indices == expected);
    CHECK(max_abs_diff(m.views[1], e::narrow(g.views[1], 0, comm.rank() * per_rank, per_rank)) ==
          0);
  }
}
