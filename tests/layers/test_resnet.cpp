#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "layers/resnet.h"
#include "tests/helpers.h"

using namespace sg;
namespace e = sg::engine;

TEST_CASE("resnet.parameter_counts_match_torchvision") {
  CHECK(make_resnet("resnet18", {})->parameter_count() == 11689512);
  CHECK(make_resnet("resnet34", {})->parameter_count() == 21797672);
  CHECK(make_resnet("resnet50", {})->parameter_count() == 25557032);
  CHECK_THROWS_WITH_AS(make_resnet("resnet19", {}),
                       doctest::Contains("expected resnet18, resnet34 or resnet50"), Error);
}

TEST_CASE("resnet.torchvision_names_and_shapes") {
  auto net = make_resnet("resnet18", {});
  NamedTensors sd = net->state_dict();
  CHECK(sd.size() == 122);  // torchvision's resnet18 state_dict: 62 parameters, 60 BN buffers
  auto find = [&](const std::string& n) {
    for (auto& [k, t] : sd)
      if (k == n) return t;
    FAIL("missing ", n);
    return Tensor();
  };
  CHECK(sd.front().first == "conv1.weight");
  CHECK(find("conv1.weight").shape() == Shape{64, 3, 7, 7});
  CHECK(find("bn1.num_batches_tracked").dtype() == DType::Int64);
  CHECK(find("layer1.0.conv1.weight").shape() == Shape{64, 64, 3, 3});
  CHECK(find("layer2.0.downsample.0.weight").shape() == Shape{128, 64, 1, 1});
  CHECK(find("layer4.1.bn2.running_var").shape() == Shape{512});
  CHECK(find("fc.weight").shape() == Shape{1000, 512});
  CHECK(sd.back().first == "fc.bias");
  auto r50 = make_resnet("resnet50", {});
  bool has_conv3 = false;
  for (auto& [k, t] : r50->named_parameters()) has_conv3 |= k == "layer3.5.conv3.weight";
  CHECK(has_conv3);
}

TEST_CASE("resnet.cifar_stem_width_and_features") {
  ResNetOptions o;
  o.stem = Stem::Cifar;
  o.width = 16;
  o.num_classes = 0;
  auto net = make_resnet("resnet18", o);
  CHECK(net->feature_dim() == 128);
  Generator g(0);
  Tensor x = normal({2, 3, 32, 32}, 0, 1, g);
  Tensor f = (*net)(x);
  CHECK(f.shape() == Shape{2, 128});
  CHECK(net->state_dict().front().second.shape() == Shape{16, 3, 3, 3});
}

TEST_CASE("resnet.zero_init_residual") {
  ResNetOptions o;
  o.zero_init_residual = true;
  auto net = make_resnet("resnet18", o);
  for (auto& [k, t] : net->named_parameters())
    if (k.find("bn2.weight") != std::string::npos) CHECK(e::amax(e::abs(t), {0}).item() == 0);
}

TEST_CASE("resnet.train_eval_modes") {
  ResNetOptions o;
  o.stem = Stem::Cifar;
  o.width = 4;
  o.num_classes = 3;
  auto net = make_resnet("resnet18", o);
  Generator g(0);
  Tensor x = normal({4, 3, 8, 8}, 0, 1, g);
  (*net)(x);
  Tensor rm;
  for (auto& [k, t] : net->named_buffers())
    if (k == "bn1.running_mean") rm = t;
  auto before = rm.to_vector();
  net->eval();
  {
    NoGradGuard no_grad;
    (*net)(x);
  }
  CHECK(rm.to_vector() == before);  // evaluation reads running statistics, never writes them
}

// A whole tiny ResNet in float64 on the reference kernels: input gradient by gradcheck, and a
// sample of parameter gradients against central differences.
TEST_CASE("resnet.tiny_gradcheck_end_to_end") {
  ReferenceKernelsGuard reference;
  ResNetOptions o;
  o.stem = Stem::Cifar;
  o.width = 2;
  o.num_classes = 3;
  auto net = make_resnet("resnet18", o);
  net->to(DType::Float64);
  Generator g(1);
  Tensor x = normal({2, 3, 6, 6}, 0, 1, g, DType::Float64);
  Tensor targets = Tensor::from_vector({0, 2}, {2}, DType::Int64);
  GradcheckResult r = gradcheck([&](const std::vector<Tensor>& in) { return (*net)(in[0]); }, {x});
  CHECK_MESSAGE(r.ok, r.worst);

  auto loss = [&] { return cross_entropy((*net)(x), targets); };
  net->zero_grad();
  backward(loss());
  int checked = 0;
  double worst = 0;
  for (auto& named : net->named_parameters()) {
    const std::string name = named.first;  // a copy: clang 14 lambdas cannot capture bindings
    Tensor& p = named.second;
    // The first element of every parameter: conv, BN scale/shift, fc, in every block.
    std::vector<int64_t> idx(p.dim(), 0);
    double analytic = p.grad().at(idx), original = p.at(idx), eps = 1e-6;
    NoGradGuard no_grad;
    p.set(idx, original + eps);
    double plus = loss().item();
    p.set(idx, original - eps);
    double minus = loss().item();
    p.set(idx, original);
    double numeric = (plus - minus) / (2 * eps);
    double err = std::abs(analytic - numeric) / (1e-6 + 1e-3 * std::abs(numeric));
    CHECK_MESSAGE(err <= 1, name, ": analytic ", analytic, " numeric ", numeric);
    worst = std::max(worst, err);
    ++checked;
  }
  CHECK(checked == 62);
}

// With gamma = 0 on each block's last BatchNorm the residual branch outputs exactly 0, so a
// block without downsampling passes its (non-negative, post-ReLU) input through unchanged.
TEST_CASE("resnet.zero_init_residual_blocks_start_as_identity") {
  Generator gen(4);
  Tensor x = relu(normal({4, 16, 6, 6}, 0, 1, gen));
  for (bool zero_init : {true, false}) {
    CAPTURE(zero_init);
    Generator wgen(5);
    BasicBlock basic(16, 16, 1, wgen, zero_init);
    Bottleneck bottleneck(16, 4, 1, wgen, zero_init);  // 4 planes x expansion 4 = 16 channels
    for (Module* block : std::initializer_list<Module*>{&basic, &bottleneck}) {
      for (bool training : {true, false}) {
        block->train(training);
        double diff = sg::testing::max_abs_diff(block->forward(x), x);
        if (zero_init)
          CHECK(diff == 0);
        else
          CHECK(diff > 0.1);  // the check can fail: a normal block changes its input
      }
    }
  }
}
