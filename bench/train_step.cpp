// Times full training steps (forward, backward, optimizer step) of the CIFAR ResNet on random
// data, and breaks the time down by kind of kernel. The last line is "images/s: <number>".
//   build/bench/train_step --method supervised --width 64 --batch 64 --threads 2 --steps 10
//   --warmup 2
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "engine/parallel.h"
#include "engine/profile.h"
#include "layers/optim.h"
#include "layers/resnet.h"

using namespace sg;

int main(int argc, char** argv) {
  CLI::App app{"stopgrad training-step benchmark"};
  std::string method = "supervised", arch = "resnet18", precision = "fp32";
  int64_t width = 64, batch = 64, image = 32;
  int threads = 2, steps = 10, warmup = 2;
  app.add_option("--method", method, "supervised")->check(CLI::IsMember({"supervised"}));
  app.add_option("--arch", arch, "resnet18|resnet34|resnet50")
      ->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}));
  app.add_option("--width", width, "channels of the first stage")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "images per step")->check(CLI::Range(2, 1 << 16));
  app.add_option("--image-size", image, "square image side")->check(CLI::Range(8, 1024));
  app.add_option("--threads", threads, "CPU threads")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first")->check(CLI::NonNegativeNumber);
  app.add_option("--precision", precision,
                 "fp32, or bf16: bfloat16 activations and convolutions, float32 master weights")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  CLI11_PARSE(app, argc, argv);

  set_num_threads(threads);
  ResNetOptions o;
  o.stem = Stem::Cifar;
  o.width = width;
  o.num_classes = 10;
  auto net = make_resnet(arch, o);
  SGD sgd(weight_and_norm_groups(net->named_parameters(), 0.1, 5e-4), 0.9);
  Generator gen(0);
  Tensor x = normal({batch, 3, image, image}, 0, 1, gen);
  if (precision == "bf16") x = engine::to(x, DType::BFloat16);
  Tensor y = engine::to(engine::mul(uniform({batch}, 0, 10, gen), 1.0), DType::Int64);

  Profile profile;
  std::vector<double> times;
  for (int s = 0; s < warmup + steps; ++s) {
    std::optional<ProfileScope> scope;
    if (s >= warmup) scope.emplace(profile);
    auto t0 = std::chrono::steady_clock::now();
    sgd.zero_grad();
    Tensor loss = cross_entropy((*net)(x), y);
    backward(loss);
    sgd.step();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s >= warmup) times.push_back(dt);
    std::printf("step %3d  %8.1f ms  loss %.4f%s\n", s, dt * 1e3, loss.item(),
                s < warmup ? "  (warm-up)" : "");
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  double median = sorted[sorted.size() / 2], total = 0;
  for (double t : times) total += t;
  // ResNet forward FLOPs are dominated by convolutions; a training step is about 3x forward.
  std::printf("\n%s width %ld batch %ld, %s, %d threads: median %.1f ms/step\n", arch.c_str(),
              long(width), long(batch), precision.c_str(), threads, median * 1e3);
  std::printf("breakdown (share of measured time, ms per step):\n");
  double kernels = 0;
  for (size_t k = 0; k < size_t(OpKind::Count); ++k) {
    if (profile.calls[k] == 0) continue;
    kernels += profile.seconds[k];
    std::printf("  %-14s %5.1f%%  %8.1f ms  (%ld calls/step)\n",
                std::string(op_kind_name(OpKind(k))).c_str(), 100 * profile.seconds[k] / total,
                1e3 * profile.seconds[k] / steps, profile.calls[k] / steps);
  }
  std::printf("  %-14s %5.1f%%  %8.1f ms\n", "autograd/rest", 100 * (total - kernels) / total,
              1e3 * (total - kernels) / steps);
  std::printf("images/s: %.2f\n", double(batch) / median);
  return 0;
}
