// Times full training steps (forward, backward, optimizer step; for BYOL also the EMA update)
// of the CIFAR ResNet on random data, supervised or with an SSL method (two views per image),
// and breaks the time down by kind of kernel. The last line is "images/s: <number>".
//   build/bench/train_step --method supervised --width 64 --batch 64 --threads 2 --steps 10
//   --warmup 2
// First it prints which kernel runs each op on this CPU (engine/onednn/kernel_choice.h).
// Under mpirun it trains data-parallel (layers/data_parallel.h, SyncBatchNorm on): --batch is the
// global batch, each rank takes batch / ranks, and the breakdown adds the gradient all-reduce.
//   mpirun -np 2 build/bench/train_step --method simsiam --width 32 --batch 128 --threads 1
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "engine/communicator.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/parallel.h"
#include "engine/profile.h"
#include "examples/cli_checks.h"
#include "layers/data_parallel.h"
#include "layers/optim.h"
#include "layers/resnet.h"
#include "ssl/ssl_step.h"

using namespace sg;

namespace {

int run(int argc, char** argv) {
  CLI::App app{"stopgrad training-step benchmark"};
  std::string method = "supervised", arch = "resnet18", precision = "fp32", device_name = "cpu";
  int64_t width = 64, batch = 64, image = 32;
  int threads = 2, steps = 10, warmup = 2;
  int64_t dim = 2048, pred_dim = 512;
  int gsg_views = 4;
  double bucket_mb = 25;
  app.add_option("--method", method, "supervised | simsiam | simsiam-gsg | byol | byol-gsg")
      ->check(CLI::IsMember({"supervised", "simsiam", "simsiam-gsg", "byol", "byol-gsg"}));
  app.add_option("--gsg-views", gsg_views,
                 "GSG: 4 crops per image (the paper's code; 4 encoder passes) or 2 (stopgrad's "
                 "variant)")
      ->check(CLI::IsMember({2, 4}));
  app.add_option("--dim", dim, "SSL projection dimension")->check(cli::positive);
  app.add_option("--pred-dim", pred_dim, "SSL predictor bottleneck")->check(cli::positive);
  app.add_option("--arch", arch, "resnet18|resnet34|resnet50")
      ->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}));
  app.add_option("--width", width, "channels of the first stage")->check(cli::positive);
  app.add_option("--batch", batch, "images per step")->check(CLI::Range(2, 1 << 16));
  app.add_option("--image-size", image, "square image side")->check(CLI::Range(8, 1024));
  app.add_option("--threads", threads, "CPU threads")->check(cli::positive);
  app.add_option("--steps", steps, "timed steps")->check(cli::positive);
  app.add_option("--warmup", warmup, "untimed steps first")->check(cli::non_negative);
  app.add_option("--precision", precision,
                 "fp32, or bf16: bfloat16 activations and convolutions, float32 master weights")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--device", device_name, "cpu, or cuda (device 0)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--bucket-mb", bucket_mb,
                 "under mpirun: gradient bucket size in MB (each bucket's all-reduce starts when "
                 "its gradients are final)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  std::shared_ptr<Communicator> comm = communicator_from_environment();
  const int ranks = comm->size();
  const bool talk = comm->rank() == 0;
  if (batch % ranks != 0 || batch / ranks < 2) {
    if (talk)
      std::fprintf(stderr,
                   "train_step: --batch %ld must split evenly into at least 2 images for each of "
                   "the %d ranks\n",
                   long(batch), ranks);
    return 2;
  }

  const int64_t global_batch = batch;
  batch /= ranks;  // this rank's images
  if (device_name == "cuda" && cuda_device_count() == 0) {
    std::fprintf(stderr,
                 "train_step: --device cuda, but no CUDA device is present (or stopgrad was "
                 "built without CUDA)\n");
    return 2;
  }
  // Several GPUs: NCCL between them, rank r on the GPU of its local rank.
  if (ranks > 1 && device_name == "cuda") comm = make_nccl_communicator(comm);
  Device device = device_name == "cuda" ? Device::cuda(comm->local_rank()) : Device::cpu();

  set_num_threads(threads);
  if (talk &&
      !device.is_cuda()) {  // which kernel runs each op here (engine/onednn/kernel_choice.h)
    const auto& choice = onednn::kernel_choice();
    std::printf("kernels:\n%s", onednn::kernel_table_text(choice).c_str());
    if (std::string rate = onednn::bf16_dot_rate_line(choice); !rate.empty())
      std::printf("%s\n", rate.c_str());
    if (precision == "bf16" && !choice.bf16_native)
      std::printf("%s\n", onednn::bf16_emulation_warning(choice).c_str());
  }
  ResNetOptions o;
  o.stem = Stem::Cifar;
  o.width = width;
  o.num_classes = 10;
  // One step of the chosen method on fixed random data (each SSL method its views).
  Generator gen(uint64_t(comm->rank()));  // each rank its own images
  auto input = [&] {
    Tensor x = engine::to(normal({batch, 3, image, image}, 0, 1, gen), device);
    return precision == "bf16" ? engine::to(x, DType::BFloat16) : x;
  };
  std::shared_ptr<Module> model;
  std::optional<DataParallel> ddp;
  auto distribute = [&](Module& net) {  // rank 0's weights everywhere, BatchNorm synchronised
    if (ranks == 1) return;
    convert_sync_batchnorm(net, comm);
    ddp.emplace(net, comm, size_t(bucket_mb * 1e6));
    ddp->broadcast_state();
  };
  std::function<Tensor()> step_loss;
  std::function<void()> after_step = [] {};
  if (method == "supervised") {
    Tensor x = input();
    auto net = make_resnet(arch, o);
    net->to(device);
    distribute(*net);
    Tensor y = engine::to(engine::to(uniform({batch}, 0, 10, gen), DType::Int64), device);
    step_loss = [net, x, y] { return cross_entropy((*net)(x), y); };
    model = net;
  } else {
    MethodOptions m;
    m.method = method;
    m.gsg_views = gsg_views;
    SiameseOptions shape;
    shape.arch = arch;
    shape.width = width;
    shape.dim = dim;
    shape.pred_dim = pred_dim;
    auto net = std::make_shared<SiameseNet>(shape);
    net->to(device);
    distribute(*net);  // before BYOL's target network copies the weights
    auto step = std::make_shared<SslStep>(*net, m);  // the step train_cifar10 runs
    if (ranks > 1 && step->target()) convert_sync_batchnorm(step->target()->net(), comm);
    std::vector<Tensor> views;
    for (int v = 0; v < views_per_image(m); ++v) views.push_back(input());
    if (talk)
      std::printf(
          "encoder passes per step: %d online%s\n", views_per_image(m),
          is_byol(m) ? (" + " + std::to_string(views_per_image(m)) + " target").c_str() : "");
    auto pair_gen = std::make_shared<Generator>(1);
    step_loss = [step, views, pair_gen] { return step->loss(views, *pair_gen).loss; };
    after_step = [step] { step->after_optimizer_step(0, 1); };  // BYOL's EMA update
    model = net;
  }
  if (ddp && talk)
    std::printf(
        "data-parallel: %d ranks (%s), %ld images each, SyncBatchNorm, %zu gradient "
        "buckets, %.2f MB all-reduced per step\n",
        ranks, comm->name().c_str(), long(batch), ddp->bucket_count(),
        double(ddp->gradient_bytes()) / 1e6);
  SGD sgd(weight_and_norm_groups(model->named_parameters(), 0.1, 5e-4), 0.9);

  Profile profile;
  std::vector<double> times, waits;
  CollectiveTraffic timed_start;
  for (int s = 0; s < warmup + steps; ++s) {
    if (s == warmup) timed_start = comm->traffic();
    std::optional<ProfileScope> scope;
    if (s >= warmup) scope.emplace(profile);
    auto t0 = std::chrono::steady_clock::now();
    sgd.zero_grad();
    Tensor loss = step_loss();
    if (ddp)
      ddp->backward(loss);
    else
      backward(loss);
    sgd.step();
    after_step();
    synchronize(device);  // GPU kernels run asynchronously: time them to completion
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s >= warmup) {
      times.push_back(dt);
      waits.push_back(ddp ? ddp->last_wait_seconds() : 0.0);
    }
    if (talk)
      std::printf("step %3d  %8.1f ms  loss %.4f%s\n", s, dt * 1e3, loss.item(),
                  s < warmup ? "  (warm-up)" : "");
  }
  const CollectiveTraffic timed_end = comm->traffic();
  // The job runs at its slowest rank's pace: each step's time is the maximum over the ranks.
  Tensor slowest = Tensor::from_vector(times, {int64_t(times.size())}, DType::Float64);
  comm->all_reduce(slowest, ReduceOp::Max);
  times = slowest.to_vector();
  if (!talk) return 0;
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  double median = sorted[sorted.size() / 2], total = 0, waited = 0;
  for (double t : times) total += t;
  for (double w : waits) waited += w;
  std::string split =
      ranks > 1 ? " (" + std::to_string(batch) + " per rank x " + std::to_string(ranks) + ")" : "";
  // ResNet forward FLOPs are dominated by convolutions; a training step is about 3x forward.
  std::printf("\n%s width %ld batch %ld%s, %s, %s, %d threads%s: median %.1f ms/step\n",
              arch.c_str(), long(width), long(global_batch), split.c_str(), device.str().c_str(),
              precision.c_str(), threads, ranks > 1 ? " per rank" : "", median * 1e3);
  std::printf("breakdown (share of measured time, ms per step%s)%s:\n", ranks > 1 ? ", rank 0" : "",
              device.is_cuda() ? "; on a GPU this is host time spent launching each kind" : "");
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
  if (ddp) {  // "collective" above is all communicator time: this part, and SyncBatchNorm's
    double calls = double(timed_end.calls - timed_start.calls) / steps,
           bytes = (timed_end.bytes - timed_start.bytes) / steps;
    double gradient = double(ddp->gradient_bytes());
    std::printf(
        "gradient all-reduce: %.2f MB per step in %zu bucket(s); %.1f ms per step waited "
        "for after backward (what did not overlap it)\n",
        gradient / 1e6, ddp->bucket_count(), 1e3 * waited / steps);
    std::printf(
        "payload per step and rank: %.0f collectives, %.3f MB (%.3f MB in the %.0f "
        "SyncBatchNorm and other calls)\n",
        calls, bytes / 1e6, (bytes - gradient) / 1e6, calls - double(ddp->bucket_count()));
  }
  std::printf("images/s: %.2f\n", double(global_batch) / median);
  return 0;
}

}  // namespace

// Bad settings (an unknown SG_BF16_CONV, a shape the backend refuses) end with the message and
// exit status 1.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_step: %s\n", e.what());
    return 1;
  }
}
