// Data-parallel training, checked across real processes (`mpirun -np 2`): the collectives,
// SyncBatchNorm against batch normalisation of the whole global batch in one process, gradient
// averaging against one process training on the whole batch, and the loader's shards.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/autograd.h"
#include "data/loader.h"
#include "layers/data_parallel.h"
#include "layers/layers.h"
#include "layers/optim.h"
#include "ssl/ssl_step.h"
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
  // Odd sizes and empty tensors, every reduction, every root.
  for (int64_t size : {int64_t(0), int64_t(1), int64_t(7), int64_t(1001)}) {
    CAPTURE(size);
    std::vector<double> mine(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) mine[size_t(i)] = double((r + 1) * (i % 5) - r);
    auto expected = [&](ReduceOp op, int64_t i) {
      double acc = op == ReduceOp::Max ? -1e300 : op == ReduceOp::Min ? 1e300 : 0.0;
      for (int k = 0; k < n; ++k) {
        double v = double((k + 1) * (i % 5) - k);
        acc = op == ReduceOp::Max   ? std::max(acc, v)
              : op == ReduceOp::Min ? std::min(acc, v)
                                    : acc + v;
      }
      return op == ReduceOp::Mean ? acc / n : acc;
    };
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min}) {
      Tensor t = Tensor::from_vector(mine, {size}, DType::Float64);
      comm.all_reduce(t, op);
      std::vector<double> got = t.to_vector();
      REQUIRE(int64_t(got.size()) == size);
      for (int64_t i = 0; i < size; ++i) CHECK(got[size_t(i)] == doctest::Approx(expected(op, i)));
    }
    for (int root = 0; root < n; ++root) {
      Tensor t = Tensor::full({size}, double(r == root ? 42 : -1), DType::Int64);
      comm.broadcast(t, root);
      CHECK(t.to_vector() == std::vector<double>(size_t(size), 42.0));
    }
    Tensor gathered = comm.all_gather(Tensor::from_vector(mine, {size}, DType::Float32));
    REQUIRE(gathered.shape() == Shape{n, size});
    for (int k = 0; k < n; ++k)
      for (int64_t i = 0; i < size; ++i)
        CHECK(gathered.at({k, i}) == double((k + 1) * (i % 5) - k));
  }
  Tensor bf16 = Tensor::full({2}, 1.0, DType::BFloat16);
  if (n > 1)
    CHECK_THROWS_WITH_AS(comm.all_reduce(bf16, ReduceOp::Sum), doctest::Contains("bfloat16"),
                         Error);
}

TEST_CASE("dist.sync_batch_norm_equals_batch_norm_of_the_global_batch") {
  Communicator& comm = *world();
  // float32 as trained (oneDNN's kernels); float64 (the reference kernels) to 1e-10; and float64
  // at an offset of 1e8, where sum(x^2) - N mean^2 would lose every digit of the variance
  // (x^2 ~ 1e16) and the per-rank deviations merged by Chan's formula lose none. There x itself
  // carries 1e8 * 2^-53 ~ 1e-8 of rounding into x - mean, so 1e-6 is what both sides can agree
  // to.
  for (auto [dtype, offset] : {std::pair{DType::Float32, 0.0}, std::pair{DType::Float64, 0.0},
                               std::pair{DType::Float64, 1e8}}) {
    // Four images a rank; and one row a rank through a 1-D BatchNorm (one value per channel
    // on each rank, the global batch's variance all from the other ranks).
    for (auto [relu, per_rank] :
         {std::pair{false, 4}, std::pair{true, 4}, std::pair{false, 1}, std::pair{true, 1}}) {
      CAPTURE(offset);
      CAPTURE(relu);
      CAPTURE(per_rank);
      if (per_rank * comm.size() < 2) continue;  // no variance in a batch of one
      Generator gen(3);                          // the same draws on every rank
      int64_t rows = per_rank * comm.size();
      Shape shape = per_rank == 1 ? Shape{rows, 3} : Shape{rows, 3, 2, 2};
      Tensor full = e::add(normal(shape, 0, 1, gen, dtype), offset);
      Tensor weights = normal(shape, 0, 1, gen, dtype);  // the loss: sum(y * weights)
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
      double tol = dtype == DType::Float32 ? 1e-5 : offset == 0 ? 1e-10 : 1e-6;
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

namespace {
// The pairing GSG draws on rank r for its own rows (each rank its own generator).
Tensor rank_pairing(int64_t rows, int r, int step) {
  Generator gen(uint64_t(1000 * step + r));
  return randperm(rows, gen);
}
}  // namespace

// SimSiam, BYOL and SimSiam-GSG (four views) with SyncBatchNorm: N ranks on their shards train
// exactly as one process on the global batch. For GSG the one process is given the block-wise
// pairing the ranks draw (rank r pairs its rows among themselves, as the official code under
// DDP). float64 runs the reference kernels, float32 oneDNN's.
TEST_CASE("dist.ssl_methods_match_one_process_on_the_global_batch") {
  std::shared_ptr<Communicator> comm = world();
  const int n = comm->size();
  const int64_t per_rank = 4, rows = per_rank * n;
  for (std::string method : {"simsiam", "byol", "simsiam-gsg"}) {
    for (DType dtype : {DType::Float64, DType::Float32}) {
      CAPTURE(method);
      CAPTURE(dtype_name(dtype));
      MethodOptions m;
      m.method = method;
      m.gsg_views = 4;
      SiameseOptions shape;
      shape.width = 4;
      shape.dim = 16;
      shape.pred_dim = 8;
      shape.seed = 3;
      Generator gen(21);  // the same views on every rank
      std::vector<std::vector<Tensor>> views(3);
      for (auto& step_views : views)
        for (int v = 0; v < views_per_image(m); ++v)
          step_views.push_back(normal({rows, 3, 8, 8}, 0, 1, gen, dtype));
      auto block_pairing = [&](int step) {
        std::vector<double> all;
        for (int r = 0; r < n; ++r)
          for (double p : rank_pairing(per_rank, r, step).to_vector())
            all.push_back(p + double(r * per_rank));
        return Tensor::from_vector(all, {rows}, DType::Int64);
      };
      // One process, the whole batch.
      SiameseNet single(shape);
      single.to(dtype);
      SslStep step1(single, m);
      SGD sgd1(weight_and_norm_groups(single.named_parameters(), 0.05, 1e-4), 0.9);
      std::vector<double> losses1;
      for (int s = 0; s < 3; ++s) {
        sgd1.zero_grad();
        Tensor loss = step1.loss(views[size_t(s)], block_pairing(s)).loss;
        losses1.push_back(loss.item());
        backward(loss);
        sgd1.step();
        step1.after_optimizer_step(s, 3);
      }
      // N ranks, each from other weights until broadcast_state.
      SiameseOptions other = shape;
      other.seed = 3 + uint64_t(comm->rank()) * 7;
      SiameseNet net(other);
      net.to(dtype);
      convert_sync_batchnorm(net, comm);
      DataParallel ddp(net, comm);
      ddp.broadcast_state();
      SslStep step2(net, m);  // BYOL's target copies the broadcast weights
      if (step2.target()) convert_sync_batchnorm(step2.target()->net(), comm);
      SGD sgd2(weight_and_norm_groups(net.named_parameters(), 0.05, 1e-4), 0.9);
      double tol = dtype == DType::Float64 ? 1e-10 : 1e-5;  // measured: 2e-15 and 6e-7
      for (int s = 0; s < 3; ++s) {
        sgd2.zero_grad();
        std::vector<Tensor> mine;
        for (const Tensor& v : views[size_t(s)]) mine.push_back(my_rows(v, *comm));
        Tensor loss = step2.loss(mine, rank_pairing(per_rank, comm->rank(), s)).loss;
        Tensor mean_loss = Tensor::full({1}, loss.item(), DType::Float64);
        comm->all_reduce(mean_loss, ReduceOp::Mean);
        CHECK(std::abs(mean_loss.item() - losses1[size_t(s)]) < tol);
        ddp.backward(loss);
        sgd2.step();
        step2.after_optimizer_step(s, 3);
      }
      auto a = single.state_dict(), b = net.state_dict();
      REQUIRE(a.size() == b.size());
      double worst = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].second.dtype() == DType::Int64) continue;  // num_batches_tracked
        worst = std::max(worst, max_abs_diff(a[i].second, b[i].second));
      }
      CAPTURE(worst);
      CHECK(worst < tol);
      if (step1.target()) {
        auto ta = step1.target()->net().state_dict(), tb = step2.target()->net().state_dict();
        for (size_t i = 0; i < ta.size(); ++i)
          if (ta[i].second.dtype() != DType::Int64)
            CHECK(max_abs_diff(ta[i].second, tb[i].second) < tol);
      }
    }
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
