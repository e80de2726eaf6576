// GPU SSL steps. A whole SimSiam-GSG training step on the GPU against the same step on the CPU:
// same initial weights, same views, same pairing permutation; the losses and the updated weights
// must agree (float32; cuDNN and oneDNN sum in different orders, hence relative tolerances). Skips
// where no GPU is present.
#include <doctest/doctest.h>

#include "autograd/autograd.h"
#include "engine/backend.h"
#include "engine/communicator.h"
#include "engine/random.h"
#include "layers/data_parallel.h"
#include "layers/optim.h"
#include "ssl/heads.h"
#include "ssl/losses.h"
#include "ssl/ssl_step.h"
#include "tests/helpers.h"

using namespace sg;
using sg::testing::expect_close;

TEST_CASE("cuda.simsiam_gsg_step_matches_cpu") {
  sg::testing::skip_without_gpu();
  Generator gen(0);
  Tensor x1 = normal({16, 3, 16, 16}, 0, 1, gen), x2 = normal({16, 3, 16, 16}, 0, 1, gen);
  Tensor perm = randperm(16, gen);
  auto step = [&](Device device, SiameseNet& net) {
    net.to(device);
    SGD sgd({ParamGroup{net.named_parameters(), 0.05, 5e-4}}, 0.9);
    Head h = [&](const Tensor& z) { return (*net.predictor)(z); };
    Tensor z1 = net.encode(engine::to(x1, device)), z2 = net.encode(engine::to(x2, device));
    GsgChoice choice = gsg_select(z1, z2, perm);
    Tensor loss = gsg_loss(z1, z2, z1, z2, perm, choice, h);
    sgd.zero_grad();
    backward(loss);
    sgd.step();
    return std::pair{loss.item(), choice.counts};
  };
  SiameseOptions o;
  o.width = 4;
  o.dim = 32;
  o.pred_dim = 8;
  o.seed = 7;
  SiameseNet cpu_net(o), gpu_net(o);
  auto [cpu_loss, cpu_counts] = step(Device::cpu(), cpu_net);
  auto [gpu_loss, gpu_counts] = step(Device::cuda(0), gpu_net);
  CHECK(gpu_counts == cpu_counts);  // the same pairs chosen
  CHECK(std::abs(gpu_loss - cpu_loss) <= 1e-4 * std::abs(cpu_loss));
  auto cpu_state = cpu_net.state_dict(), gpu_state = gpu_net.state_dict();
  REQUIRE(cpu_state.size() == gpu_state.size());
  for (size_t i = 0; i < cpu_state.size(); ++i) {
    CHECK(gpu_state[i].second.device() == Device::cuda(0));
    expect_close(gpu_state[i].second, cpu_state[i].second, 1e-3, cpu_state[i].first.c_str());
  }
}

// The NCCL communicator with one rank (no mpirun needed): its collectives on CUDA tensors, host
// tensors handed to the bootstrap, and sync_batch_norm through it equal to batch_norm.
TEST_CASE("nccl.one_rank_collectives") {
  sg::testing::skip_without_gpu();
  std::shared_ptr<Communicator> nccl = make_nccl_communicator(make_single_process_communicator());
  CHECK(nccl->size() == 1);
  Device gpu = Device::cuda(0);
  Generator gen(4);
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(1001)}) {
    Tensor x = normal({n}, 0, 1, gen);
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min}) {
      Tensor t = engine::to(x, gpu);
      nccl->all_reduce(t, op);
      expect_close(t, x, 0, "all_reduce");
    }
    Tensor t = engine::to(x, gpu);
    nccl->all_reduce_async(t, ReduceOp::Mean)->wait();
    expect_close(t, x, 0, "all_reduce_async");
    nccl->broadcast(t, 0);
    expect_close(t, x, 0, "broadcast");
    Tensor g = nccl->all_gather(t);
    CHECK(g.device() == gpu);
    CHECK(g.shape() == Shape{1, n});
  }
  Tensor host = Tensor::full({3}, 2.0);
  nccl->all_reduce(host, ReduceOp::Sum);  // through the bootstrap
  CHECK(host.to_vector() == std::vector<double>(3, 2.0));
  nccl->barrier();
  // sync_batch_norm through NCCL (its statistics exchange in float64 on the GPU).
  Tensor x = engine::to(normal({6, 3, 4, 4}, 1, 2, gen), gpu).set_requires_grad(true);
  Tensor x2 = engine::clone(x).detach().set_requires_grad(true);
  Tensor w = engine::to(normal({6, 3, 4, 4}, 0, 1, gen), gpu);
  Tensor rm1 = Tensor::zeros({3}, DType::Float32, gpu),
         rv1 = Tensor::ones({3}, DType::Float32, gpu);
  Tensor rm2 = engine::clone(rm1), rv2 = engine::clone(rv1);
  backward(sum(batch_norm(x, Tensor(), Tensor(), rm1, rv1, true) * w));
  backward(sum(sync_batch_norm(x2, Tensor(), Tensor(), rm2, rv2, *nccl) * w));
  expect_close(x2.grad(), x.grad(), 1e-4, "sync_batch_norm dx");
  expect_close(rv2, rv1, 1e-5, "running_var");
}

// One rank under DataParallel over NCCL trains the GPU SimSiam step as plain training does.
TEST_CASE("nccl.one_rank_simsiam_step_equals_plain") {
  sg::testing::skip_without_gpu();
  std::shared_ptr<Communicator> nccl = make_nccl_communicator(make_single_process_communicator());
  Device gpu = Device::cuda(0);
  Generator gen(1);
  std::vector<Tensor> views{engine::to(normal({16, 3, 16, 16}, 0, 1, gen), gpu),
                            engine::to(normal({16, 3, 16, 16}, 0, 1, gen), gpu)};
  SiameseOptions o;
  o.width = 4;
  o.dim = 32;
  o.pred_dim = 8;
  o.seed = 5;
  MethodOptions m;
  m.method = "simsiam";
  auto train = [&](bool distributed) {
    auto net = std::make_unique<SiameseNet>(o);
    net->to(gpu);
    std::unique_ptr<DataParallel> ddp;
    if (distributed) {
      convert_sync_batchnorm(*net, nccl);
      ddp = std::make_unique<DataParallel>(*net, nccl, 4096);  // several buckets
      ddp->broadcast_state();
    }
    SslStep step(*net, m);
    SGD sgd(weight_and_norm_groups(net->named_parameters(), 0.05, 5e-4), 0.9);
    std::vector<double> losses;
    for (int s = 0; s < 3; ++s) {
      sgd.zero_grad();
      Generator pairs(9);
      Tensor loss = step.loss(views, pairs).loss;
      losses.push_back(loss.item());
      ddp ? ddp->backward(loss) : backward(loss);
      sgd.step();
    }
    return std::pair{losses, net->state_dict()};
  };
  auto [plain_losses, plain] = train(false);
  auto [nccl_losses, distributed] = train(true);
  for (size_t s = 0; s < plain_losses.size(); ++s)
    CHECK(std::abs(nccl_losses[s] - plain_losses[s]) <= 1e-5 * std::abs(plain_losses[s]));
  REQUIRE(plain.size() == distributed.size());
  for (size_t i = 0; i < plain.size(); ++i)
    expect_close(distributed[i].second, plain[i].second, 1e-4, plain[i].first.c_str());
}
