// Self-supervised pretraining on CIFAR-10: SimSiam, BYOL, and each with guided stop-gradient
// (GSG).
// Prints a line per epoch (loss, z_std, kNN, lr, images/s) and keeps the run in its directory
// (examples/run_directory.h): config.json, metrics.jsonl, report.html and a checkpoint after
// every epoch. The method's step is ssl/ssl_step.h; this file holds the options and the epoch
// loop, `train`, which reads top to bottom.
//
// Under `mpirun -np N` it trains data-parallel (docs/distributed.md): the global batch
// --batch-size split evenly over the ranks, SyncBatchNorm unless --no-sync-bn, gradients
// averaged (layers/data_parallel.h); rank 0 alone writes the run directory.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/device_views.h"
#include "data/loader.h"
#include "data/view_grid.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/parallel.h"
#include "engine/storage.h"
#include "engine/version.h"
#include "examples/cli_checks.h"
#include "examples/features.h"
#include "examples/progress.h"
#include "examples/run_directory.h"
#include "layers/data_parallel.h"
#include "layers/optim.h"
#include "ssl/knn.h"
#include "ssl/spectrum.h"
#include "ssl/ssl_step.h"

using namespace sg;
using json = nlohmann::json;

namespace {

struct Config {
  MethodOptions method;
  SiameseOptions net;
  std::string data = "data/cifar10-sample", out, precision = "fp32", device = "cpu", dump_views;
  std::string tau_schedule = "constant";
  int64_t epochs = 20, batch_size = 512, image_size = 32;
  double blur = 0, lr = -1, wd = 5e-4, momentum = 0.9;
  bool fix_pred_lr = true, no_zero_init_residual = false, resume = false, no_sync_bn = false;
  int threads = 2, knn_every = 1, knn_k = 200, workers = 1;
  double knn_t = 0.2;
  int64_t stop_after = 0;  // 0: run every epoch
  int64_t repeat_train = 1;
};

// Parses the command line into c; returns false with the exit code in `code` when the program
// should stop (--help, a bad option).
bool parse_options(int argc, char** argv, Config& c, int& code) {
  CLI::App app{"Self-supervised pretraining on CIFAR-10 (SimSiam, BYOL, and their GSG variants)"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  MethodOptions& m = c.method;
  SiameseOptions& n = c.net;
  n.width = 64;
  app.add_option("--method", m.method, "simsiam | simsiam-gsg | byol | byol-gsg")
      ->check(CLI::IsMember({"simsiam", "simsiam-gsg", "byol", "byol-gsg"}));
  app.add_option("--gsg-views", m.gsg_views,
                 "GSG: 4 = four independent crops per image, the partner's crops 3-4 (the "
                 "paper's code); 2 = the partner's own two views (stopgrad's cheaper variant)")
      ->check(CLI::IsMember({2, 4}));
  app.add_option("--tau", m.tau, "BYOL: EMA rate (constant), or its start (cosine)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--tau-schedule", c.tau_schedule,
                 "BYOL: constant (the GSG paper's code) or cosine to 1 (BYOL's paper)")
      ->check(CLI::IsMember({"constant", "cosine"}));
  app.add_option("--arch", n.arch, "backbone: resnet18 | resnet34 | resnet50")
      ->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}));
  app.add_option("--width", n.width, "channels of the first ResNet stage")->check(cli::positive);
  app.add_option("--dim", n.dim, "projection dimension d")->check(cli::positive);
  app.add_option("--pred-dim", n.pred_dim, "predictor bottleneck")->check(cli::positive);
  app.add_option("--proj-hidden", n.proj_hidden,
                 "projector hidden width (0: the backbone's feature width, as the official code)")
      ->check(cli::non_negative);
  app.add_option("--proj-layers", n.proj_layers, "projector layers: 3 (official) or 2")
      ->check(CLI::IsMember({2, 3}));
  app.add_flag("--no-zero-init-residual", c.no_zero_init_residual,
               "start each residual block's last BatchNorm at gamma = 1 instead of 0");
  app.add_option("--epochs", c.epochs, "epochs of the cosine schedule")->check(cli::positive);
  app.add_option("--batch-size", c.batch_size, "images per step")->check(CLI::Range(4, 1 << 16));
  app.add_option("--lr", c.lr, "base learning rate")
      ->check(cli::positive)
      ->default_str("0.03 x batch-size / 256");
  app.add_option("--wd", c.wd, "weight decay (every parameter, as the official code)")
      ->check(cli::non_negative);
  app.add_option("--momentum", c.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  app.add_flag("--fix-pred-lr,!--no-fix-pred-lr", c.fix_pred_lr,
               "the predictor keeps the base learning rate (the official pretraining command's "
               "--fix-pred-lr); --no-fix-pred-lr decays it with the encoder's")
      ->default_str("on");
  bool no_predictor = false, no_stop_grad = false;
  app.add_flag("--no-predictor", no_predictor, "ablation: h = identity");
  app.add_flag("--no-stop-grad", no_stop_grad, "ablation: targets are not detached");
  app.add_option("--seed", n.seed, "seed of the weights, the augmentations and GSG's pairing");
  app.add_option("--threads", c.threads, "CPU threads for the kernels")->check(cli::positive);
  app.add_option("--workers", c.workers,
                 "threads augmenting the next batch on the CPU (the views do not depend on it)")
      ->check(cli::positive);
  app.add_option("--data", c.data,
                 "CIFAR-10 binary directory, or an image folder with train/<class>/ and "
                 "test/<class>/")
      ->check(CLI::ExistingDirectory);
  app.add_option("--image-size", c.image_size, "side images are resized to (image folders)")
      ->check(CLI::Range(8, 1024));
  app.add_option("--blur", c.blur, "GaussianBlur probability (sigma 0.1-2; for larger images)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--precision", c.precision,
                 "fp32, or bf16: bfloat16 activations and convolutions, float32 master weights "
                 "and BatchNorm statistics")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--device", c.device, "cpu, or cuda (builds with the CUDA backend)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--dump-views", c.dump_views,
                 "write a PNG grid of the first batch's augmented views to this file and exit");
  app.add_option("--out", c.out, "run directory (default runs/<method>)");
  app.add_option("--knn-every", c.knn_every, "evaluate kNN every N epochs (0: first and last only)")
      ->check(cli::non_negative);
  app.add_option("--knn-k", c.knn_k, "kNN monitor: neighbours (official: 200)")
      ->check(cli::positive);
  app.add_option("--knn-t", c.knn_t, "kNN monitor: temperature of the weights (official: 0.2)")
      ->check(cli::positive);
  app.add_option("--repeat-train", c.repeat_train,
                 "pass over the training images N times per epoch (timing full-size epochs on "
                 "a subset)")
      ->check(cli::positive);
  app.add_option("--stop-after", c.stop_after,
                 "stop after this epoch of the schedule (continue later with --resume)")
      ->check(cli::non_negative);
  app.add_flag("--no-sync-bn", c.no_sync_bn,
               "under mpirun: BatchNorm statistics of each rank's own batch (default: of the "
               "global batch, SyncBatchNorm)");
  app.add_flag("--resume", c.resume,
               "continue the run in --out from its last checkpoint (same options required)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    code = app.exit(e);
    return false;
  }
  m.predictor = !no_predictor;
  m.stop_grad = !no_stop_grad;
  m.tau_schedule = parse_tau_schedule(c.tau_schedule);
  n.zero_init_residual = !c.no_zero_init_residual;
  n.cifar_stem = true;
  if (c.lr < 0) c.lr = 0.03 * double(c.batch_size) / 256.0;
  if (c.out.empty()) c.out = "runs/" + m.method;
  return true;
}

// What runs each op on this machine and the switches that chose it (kernel_choice.h): results
// depend on it, so every run records it.
json kernels_record() {
  json table = json::object(), switches = json::object();
  for (const auto& [op, kernel] : onednn::kernel_table(onednn::kernel_choice())) table[op] = kernel;
  for (const auto& [name, value] : onednn::kernel_switches()) switches[name] = value;
  return {{"cpu", table}, {"environment", switches}};
}

// Every setting that changes results, as config.json records it (and --resume compares).
json config_record(const Config& c, const SiameseNet& net, const Communicator& comm) {
  const MethodOptions& m = c.method;
  const SiameseOptions& n = c.net;
  json j = {{"method", m.method},
            {"arch", n.arch},
            {"width", n.width},
            {"dim", n.dim},
            {"pred_dim", n.pred_dim},
            {"proj_hidden", net.proj_hidden()},
            {"proj_layers", n.proj_layers},
            {"zero_init_residual", n.zero_init_residual},
            {"epochs", c.epochs},
            {"batch_size", c.batch_size},
            {"lr", c.lr},
            {"lr_schedule", "cosine"},
            {"wd", c.wd},
            {"momentum", c.momentum},
            {"fix_pred_lr", c.fix_pred_lr},
            {"no_predictor", !m.predictor},
            {"no_stop_grad", !m.stop_grad},
            {"seed", n.seed},
            {"threads", c.threads},
            {"workers", c.workers},
            {"data", c.data},
            {"image_size", c.image_size},
            {"blur", c.blur},
            {"precision", c.precision},
            {"device", c.device},
            {"repeat_train", c.repeat_train},
            {"knn", {{"k", c.knn_k}, {"t", c.knn_t}, {"every", c.knn_every}}},
            {"world_size", comm.size()},
            {"sync_bn", comm.size() > 1 && !c.no_sync_bn},
            {"kernels", kernels_record()},
            {"version", std::string(stopgrad_version())}};
  if (is_gsg(m)) j["gsg_views"] = m.gsg_views;
  if (is_byol(m)) {
    j["tau"] = m.tau;
    j["tau_schedule"] = tau_schedule_name(m.tau_schedule);
  }
  return j;
}

// Batches of views: the CPU loader, or on a GPU the GPU data path (views made on the device;
// GaussianBlur is CPU-only, so --blur keeps the CPU loader and moves its views).
class EpochBatches {
 public:
  // Each rank's share of the global batch (one rank: all of it).
  EpochBatches(const ImageSet& set, const Config& c, int views, const AugmentOptions& aug,
               Device device, const Communicator& comm) {
    int64_t per_rank = c.batch_size / comm.size();
    if (device.is_cuda() && aug.blur_p == 0 && comm.size() == 1)
      gpu_ = std::make_unique<DeviceViewLoader>(set, per_rank, views, aug, c.net.seed, device);
    else
      cpu_ = std::make_unique<ViewLoader>(set, per_rank, views, aug, c.net.seed, true, c.workers,
                                          Shard{comm.rank(), comm.size()});
  }
  void start_epoch(int64_t epoch) { gpu_ ? gpu_->start_epoch(epoch) : cpu_->start_epoch(epoch); }
  int64_t batches_per_epoch() const {
    return gpu_ ? gpu_->batches_per_epoch() : cpu_->batches_per_epoch();
  }
  bool has_next() const { return gpu_ ? gpu_->has_next() : cpu_->has_next(); }
  ViewBatch next() { return gpu_ ? gpu_->next() : cpu_->next(); }

 private:
  std::unique_ptr<ViewLoader> cpu_;
  std::unique_ptr<DeviceViewLoader> gpu_;
};

// The training set n times over (to time full-size epochs on a subset).
ImageSet repeated(const ImageSet& set, int64_t n) {
  ImageSet out = set;
  for (int64_t k = 1; k < n; ++k) {
    out.pixels.insert(out.pixels.end(), set.pixels.begin(), set.pixels.end());
    out.labels.insert(out.labels.end(), set.labels.begin(), set.labels.end());
  }
  return out;
}

// The kNN monitor on backbone features, with its own progress line (the feature pass over the
// training set is most of its time).
double knn(SiameseNet& net, const ImageSet& train, const ImageSet& test, const Config& c,
           Communicator& comm) {
  ProgressLine progress(train.size() + test.size());
  auto show = [&](int64_t offset) {
    return [&, offset](int64_t done) {
      int64_t all = offset + done;
      char text[160];
      std::snprintf(text, sizeof text, "knn: features of %ld/%ld images  %.0f images/s  %s left",
                    long(all), long(train.size() + test.size()),
                    double(all) / std::max(progress.elapsed(), 1e-9),
                    duration_text(progress.left(all)).c_str());
      if (comm.rank() == 0) progress.show(all, text);
    };
  };
  Tensor train_features = backbone_features(net, train, comm, show(0));
  Tensor test_features = backbone_features(net, test, comm, show(train.size()));
  if (comm.rank() == 0) std::printf("%s", progress.line_start());
  double accuracy = knn_accuracy(train_features, train.labels, test_features, test.labels,
                                 train.num_classes(), c.knn_k, c.knn_t);
  return accuracy;
}

// The embedding spectra (ssl/spectrum.h) of the backbone features and of the projections z
// over a fixed evaluation batch: the first 512 test images, eval-mode BatchNorm. metrics.jsonl
// keeps each effective rank and the largest 256 eigenvalues.
void add_spectra(SiameseNet& net, const ImageSet& test, json& m) {
  Evaluating eval(net);
  Tensor images = eval_images(net, test, 0, std::min<int64_t>(512, test.size()));
  Tensor features = net.backbone->features(images);
  Tensor z = net.projector->forward(features, images.dtype());
  for (auto [name, t] : {std::pair{"z", z}, std::pair{"feature", features}}) {
    Spectrum s = embedding_spectrum(t);
    s.eigenvalues.resize(std::min<size_t>(s.eigenvalues.size(), 256));
    m[std::string(name) + "_effective_rank"] = s.effective_rank;
    m[std::string(name) + "_spectrum"] = s.eigenvalues;
  }
}

// The kNN accuracy and (rank 0) the spectra into m. The evaluation's large blocks (features,
// similarities) are of sizes the training step never asks for, and the step's cached blocks are
// not needed until the next epoch: the step's go back before, the evaluation's after, so that
// the two never add up in the resident memory (engine/storage.h).
void evaluate(SiameseNet& net, const ImageSet& train, const ImageSet& test, const Config& c,
              Communicator& comm, json& m) {
  release_cached_host_memory();
  m["knn_top1"] = knn(net, train, test, c, comm);
  if (comm.rank() == 0) add_spectra(net, test, m);
  release_cached_host_memory();
}

// The SGD parameter groups: encoder, and the predictor (which may keep a fixed learning rate).
SGD make_optimizer(SiameseNet& net, const Config& c) {
  NamedTensors encoder_params, predictor_params;
  for (auto& np : net.named_parameters())
    (np.first.starts_with("predictor.") ? predictor_params : encoder_params).push_back(np);
  std::vector<ParamGroup> groups{{encoder_params, c.lr, c.wd, false, false}};
  if (c.method.predictor) groups.push_back({predictor_params, c.lr, c.wd, c.fix_pred_lr, false});
  return SGD(groups, c.momentum);
}

// The epoch loop: per epoch the learning rate, the steps, the metrics, kNN, the checkpoint.
void train(const Config& c, SiameseNet& net, SslStep& step, SGD& sgd, RunDirectory& run,
           EpochBatches& loader, const ImageSet& train_set, const ImageSet& test_set,
           int64_t first_epoch, Device device, DataParallel* ddp, Communicator& comm) {
  bool writer = comm.rank() == 0;  // rank 0 alone prints and writes the run directory
  int64_t last_epoch = c.stop_after > 0 ? std::min(c.stop_after, c.epochs) : c.epochs;
  int64_t batches = loader.batches_per_epoch();
  for (int64_t epoch = first_epoch; epoch <= last_epoch; ++epoch) {
    // Every random choice of an epoch derives from (seed, epoch), so a resumed run repeats it.
    Generator pair_gen(c.net.seed * 1000003 + 17 + uint64_t(epoch));
    double lr = cosine_lr(c.lr, epoch - 1, c.epochs);
    sgd.set_lr(lr);
    ProgressLine progress(batches);
    loader.start_epoch(epoch);
    double loss_sum = 0, zstd_sum = 0, data_wait = 0;
    std::array<int64_t, 4> pairs{};
    int64_t steps = 0, images = 0;
    while (loader.has_next()) {
      auto wait_start = std::chrono::steady_clock::now();
      ViewBatch batch = loader.next();  // waits only when the prefetched batch is not ready
      data_wait +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - wait_start).count();
      for (Tensor& v : batch.views) {
        v = engine::to(v, device);
        if (c.precision == "bf16") v = engine::to(v, DType::BFloat16);
      }
      StepLoss out = step.loss(batch.views, pair_gen);
      sgd.zero_grad();
      ddp ? ddp->backward(out.loss) : backward(out.loss);  // ddp: gradients averaged over ranks
      sgd.step();
      step.after_optimizer_step((epoch - 1) * batches + steps, c.epochs * batches);

      double l = out.loss.item();
      SG_CHECK(std::isfinite(l), "loss became ", l, " at epoch ", epoch, " step ", steps);
      loss_sum += l;
      zstd_sum += z_std(out.z1);
      for (int k = 0; k < 4; ++k) pairs[k] += out.pair_counts[k];
      ++steps;
      images += out.z1.shape()[0] * comm.size();
      // Time left for the epoch, and for the run at this epoch's pace.
      double epoch_left = progress.left(steps),
             run_left = epoch_left + (epoch_left + progress.elapsed()) * double(last_epoch - epoch);
      char text[200];
      std::snprintf(text, sizeof text,
                    "epoch %3ld %ld/%ld loss %.4f  %.0f images/s  epoch %s left, run %s left",
                    long(epoch), long(steps), long(batches), l, double(images) / progress.elapsed(),
                    duration_text(epoch_left).c_str(), duration_text(run_left).c_str());
      if (writer) progress.show(steps, text);
    }
    // Over every rank's steps: the means of loss and z_std, the GSG pair counts.
    Tensor sums = Tensor::from_vector({loss_sum, zstd_sum, double(pairs[0]), double(pairs[1]),
                                       double(pairs[2]), double(pairs[3])},
                                      {6}, DType::Float64);
    comm.all_reduce(sums, ReduceOp::Sum);
    loss_sum = sums.at({0}) / comm.size();
    zstd_sum = sums.at({1}) / comm.size();
    for (int k = 0; k < 4; ++k) pairs[size_t(k)] = int64_t(sums.at({2 + k}));
    double seconds = progress.elapsed();
    json m = {{"epoch", epoch},
              {"loss", loss_sum / double(steps)},
              {"z_std", zstd_sum / double(steps)},
              {"lr", lr},
              {"images_per_s", double(images) / seconds},
              {"data_wait_s", data_wait},
              {"seconds", seconds}};
    if (is_gsg(c.method)) {
      double total = double(pairs[0] + pairs[1] + pairs[2] + pairs[3]);
      m["gsg_pair_share"] = {pairs[0] / total, pairs[1] / total, pairs[2] / total,
                             pairs[3] / total};
    }
    if (writer) std::printf("%s", progress.line_start());
    bool eval_now = epoch == last_epoch || (c.knn_every > 0 && epoch % c.knn_every == 0);
    if (eval_now) {
      Stopwatch eval_time;
      evaluate(net, train_set, test_set, c, comm, m);
      m["knn_seconds"] = eval_time.elapsed();
      m["seconds"] = seconds + eval_time.elapsed();
    }
    if (!writer) continue;
    run.record(m);
    run.save_checkpoint(epoch, net, sgd, step.target());
    std::string knn_text =
        eval_now ? "knn " + std::to_string(100 * m["knn_top1"].get<double>()).substr(0, 5) + "%"
                 : "          ";
    std::printf("epoch %3ld  loss %.4f  z_std %.3f  %s  lr %.4f  %.0f images/s  %.1f s\n",
                long(epoch), loss_sum / double(steps), zstd_sum / double(steps), knn_text.c_str(),
                lr, double(images) / seconds, m["seconds"].get<double>());
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  int code = 0;
  if (!parse_options(argc, argv, c, code)) return code;
  try {
    check_method(c.method);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_cifar10: --%s\n", e.what());
    return 2;
  }

  // MPI when started by mpirun, else one process. Only rank 0 prints; every rank's errors go to
  // stderr, and one rank's error ends the whole job (abort), never a hang.
  std::shared_ptr<Communicator> comm = communicator_from_environment();
  bool writer = comm->rank() == 0;
  if (!writer && !std::freopen("/dev/null", "w", stdout)) return 1;
  try {
    SG_CHECK(c.batch_size % comm->size() == 0, "--batch-size ", c.batch_size,
             " is not divisible by the ", comm->size(),
             " ranks (the global batch is split evenly over them)");
    set_num_threads(c.threads);
    SG_CHECK(c.device == "cpu" || cuda_device_count() > 0,
             "--device cuda: no CUDA device here (or stopgrad was built without CUDA)");
    // Several GPUs: NCCL between them, each rank driving the GPU of its local rank; host tensors
    // (the kNN monitor's features) still go over MPI.
    if (comm->size() > 1 && c.device == "cuda") {
      SG_CHECK(built_with_nccl(),
               "--device cuda under mpirun needs NCCL, and this stopgrad was built without it");
      comm = make_nccl_communicator(comm);
    }
    Device device = c.device == "cuda" ? Device::cuda(comm->local_rank()) : Device::cpu();
    Stopwatch load_time;
    Splits data = load_splits(c.data, c.image_size);
    std::printf("loaded %ld training and %ld test images from %s in %.1f s\n",
                long(data.train.size()), long(data.test.size()), c.data.c_str(),
                load_time.elapsed());
    const ImageSet &train_set = data.train, &test_set = data.test;
    AugmentOptions aug;
    aug.size = c.image_size;
    aug.blur_p = c.blur;
    int views = views_per_image(c.method);
    if (!c.dump_views.empty()) {
      ViewLoader loader(train_set, std::min<int64_t>(c.batch_size, train_set.size()), views, aug,
                        c.net.seed);
      loader.start_epoch(1);
      ViewBatch batch = loader.next();
      write_view_grid(c.dump_views, batch.views, aug);
      std::printf("wrote the %d augmented views of %ld images (a row each) to %s\n", views,
                  long(std::min<int64_t>(16, batch.views[0].shape()[0])), c.dump_views.c_str());
      return 0;
    }
    // Every check that can fail on the options runs before anything is written or computed.
    int64_t train_images = train_set.size() * c.repeat_train;
    SG_CHECK(c.batch_size <= train_images, "--batch-size ", c.batch_size, " is larger than the ",
             train_images, " training images of ", c.data,
             " (the loader drops the last incomplete batch, so an epoch would have no step)");
    if (c.device == "cpu" && c.precision == "bf16") {
      std::string warning = onednn::bf16_emulation_warning(onednn::kernel_choice());
      if (!warning.empty()) std::fprintf(stderr, "train_cifar10: %s\n", warning.c_str());
    }

    SiameseNet net(c.net);
    net.to(device);  // before the optimizer, whose momentum buffers follow the parameters
    std::unique_ptr<DataParallel> ddp;
    if (comm->size() > 1) {
      if (!c.no_sync_bn) convert_sync_batchnorm(net, comm);
      ddp = std::make_unique<DataParallel>(net, comm);
      ddp->broadcast_state();  // every rank starts from rank 0's weights
    }
    SGD sgd = make_optimizer(net, c);
    SslStep step(net, c.method);  // BYOL: its target network copies net here
    if (step.target() && comm->size() > 1 && !c.no_sync_bn)
      convert_sync_batchnorm(step.target()->net(), comm);
    json config = config_record(c, net, *comm);
    RunDirectory run(c.out);
    std::printf(
        "%s on %ld images (%s), %s width %ld, d=%ld, batch %ld, lr %.4g, %s %s, %d threads%s\n",
        c.method.method.c_str(), long(train_set.size()), c.data.c_str(), c.net.arch.c_str(),
        long(c.net.width), long(c.net.dim), long(c.batch_size), c.lr, c.device.c_str(),
        c.precision.c_str(), c.threads,
        comm->size() > 1 ? (", " + comm->name() + " (" +
                            std::to_string(c.batch_size / comm->size()) + " images each)")
                               .c_str()
                         : "");
    int64_t first_epoch = 1;
    if (c.resume) {
      first_epoch = run.resume(config, c.epochs, net, sgd, step.target()) + 1;
      std::printf("resumed from the end of epoch %ld\n", long(first_epoch - 1));
    } else {
      if (writer) run.start(config);
      json untrained = {{"epoch", 0}};
      evaluate(net, train_set, test_set, c, *comm, untrained);  // every rank
      if (writer) run.record(untrained);
      std::printf("epoch %3d  knn %.2f%% (untrained)\n", 0,
                  100 * untrained["knn_top1"].get<double>());
    }

    ImageSet train_views = c.repeat_train > 1 ? repeated(train_set, c.repeat_train) : ImageSet();
    EpochBatches loader(c.repeat_train > 1 ? train_views : train_set, c, views, aug, device, *comm);
    train(c, net, step, sgd, run, loader, train_set, test_set, first_epoch, device, ddp.get(),
          *comm);
    if (!writer) return 0;

    const json &first = run.metrics().front(), &last = run.metrics().back();
    std::printf(
        "summary: kNN top-1 %.2f%% untrained -> %.2f%% after %ld of %ld epochs; z_std %.3f (1 = "
        "spread, 0 = collapsed)\n",
        100 * first["knn_top1"].get<double>(), 100 * last["knn_top1"].get<double>(),
        long(last["epoch"].get<int64_t>()), long(c.epochs), last["z_std"].get<double>());
    std::printf("run directory: %s\n", c.out.c_str());
  } catch (const std::exception& e) {  // sg::Error, and what the libraries throw (bad_alloc...)
    if (comm->size() == 1) {
      std::fprintf(stderr, "train_cifar10: %s\n", e.what());
      return 1;
    }
    std::fprintf(stderr, "train_cifar10: rank %d of %d: %s\n", comm->rank(), comm->size(),
                 e.what());
    std::fflush(stderr);
    comm->abort(1);  // the other ranks would wait for this one forever
  }
  return 0;
}
