// A whole SimSiam-GSG training step on the GPU against the same step on the CPU: same initial
// weights, same views, same pairing permutation; the losses and the updated weights must agree
// (float32; cuDNN and oneDNN sum in different orders, hence relative tolerances). Skips where no
// GPU is present.
#include <doctest/doctest.h>

#include "engine/backend.h"
#include "engine/random.h"
#include "layers/optim.h"
#include "ssl/heads.h"
#include "ssl/losses.h"
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
