// Self-supervised pretraining on CIFAR-10: SimSiam, BYOL, and each with guided stop-gradient
// (GSG).
// Prints a line per epoch (loss, z_std, kNN, lr, images/s) and writes RUNDIR/config.json,
// RUNDIR/metrics.jsonl (one JSON object per epoch; epoch 0 is the untrained network) and
// RUNDIR/checkpoint.safetensors + RUNDIR/optimizer.safetensors after every epoch. Every file is
// written to a temporary name and renamed, so an interrupted run never leaves a torn file.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>

#include "data/dataset.h"
#include "data/device_views.h"
#include "data/loader.h"
#include "data/view_grid.h"
#include "engine/atomic_file.h"
#include "engine/onednn/kernel_choice.h"
#include "engine/parallel.h"
#include "examples/cli_checks.h"
#include "examples/features.h"
#include "examples/report_html.h"
#include "layers/checkpoint.h"
#include "layers/optim.h"
#include "ssl/byol.h"
#include "ssl/heads.h"
#include "ssl/knn.h"
#include "ssl/losses.h"
#include "ssl/spectrum.h"

using namespace sg;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Config {
  std::string method = "simsiam-gsg", arch = "resnet18", data = "data/cifar10-sample", out;
  std::string precision = "fp32", device = "cpu", dump_views;
  int64_t width = 64, dim = 2048, pred_dim = 512, epochs = 20, batch_size = 512, image_size = 32;
  double blur = 0;
  double lr = -1, wd = 5e-4, momentum = 0.9, tau = 0.99;
  bool fix_pred_lr = false, no_predictor = false, no_stop_grad = false, resume = false;
  uint64_t seed = 0;
  int threads = 2, knn_every = 1, knn_k = 200, workers = 1;
  int64_t stop_after = 0;  // 0: run every epoch
  int64_t repeat_train = 1;
  double knn_t = 0.1;
};

// Batches of two views: the CPU loader, or on a GPU the GPU data path (views made on the device;
// GaussianBlur is CPU-only, so --blur keeps the CPU loader and moves its views).
class EpochBatches {
 public:
  EpochBatches(const ImageSet& set, const Config& c, const AugmentOptions& aug, Device device) {
    if (device.is_cuda() && aug.blur_p == 0)
      gpu_ = std::make_unique<DeviceViewLoader>(set, c.batch_size, 2, aug, c.seed, device);
    else
      cpu_ = std::make_unique<ViewLoader>(set, c.batch_size, 2, aug, c.seed, true, c.workers);
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

double knn(SiameseNet& net, const ImageSet& train, const ImageSet& test, const Config& c) {
  return knn_accuracy(backbone_features(net, train), train.labels, backbone_features(net, test),
                      test.labels, train.num_classes(), c.knn_k, c.knn_t);
}

// "1h02m", "3m05s", "12s": times left in progress lines.
std::string duration(double seconds) {
  auto s = int64_t(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", long(s / 3600), long(s / 60 % 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", long(s / 60), long(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lds", long(s));
  return buf;
}

// The embedding spectra (ssl/spectrum.h) of the backbone features and of the projections z
// over a fixed evaluation batch: the first 512 test images, eval-mode BatchNorm. metrics.jsonl
// keeps each effective rank and the largest 256 eigenvalues.
void add_spectra(SiameseNet& net, const ImageSet& test, json& m) {
  Evaluating eval(net);
  Tensor features =
      net.backbone->features(eval_images(net, test, 0, std::min<int64_t>(512, test.size())));
  Tensor z = (*net.projector)(features);
  for (auto [name, t] : {std::pair{"z", z}, std::pair{"feature", features}}) {
    Spectrum s = embedding_spectrum(t);
    s.eigenvalues.resize(std::min<size_t>(s.eigenvalues.size(), 256));
    m[std::string(name) + "_effective_rank"] = s.effective_rank;
    m[std::string(name) + "_spectrum"] = s.eigenvalues;
  }
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  SG_CHECK(in.good(), "--resume: cannot open '", path, "'");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    SG_CHECK(false, "--resume: '", path, "' is not valid JSON: ", e.what());
  }
}

// What runs each op on this machine and the switches that chose it (kernel_choice.h): results
// depend on it, so every run records it.
json kernels_record() {
  json table = json::object(), switches = json::object();
  for (const auto& [op, kernel] : onednn::kernel_table(onednn::kernel_choice())) table[op] = kernel;
  for (const auto& [name, value] : onednn::kernel_switches()) switches[name] = value;
  return {{"cpu", table}, {"environment", switches}};
}

// A resumed run must use the options it was started with (thread and worker counts, and the
// machine's kernels, may differ).
void check_same_config(const json& saved, const json& now) {
  for (auto& [key, value] : now.items())
    if (key != "threads" && key != "workers" && key != "kernels")
      SG_CHECK(saved.contains(key) && saved[key] == value, "--resume: option '", key, "' is ",
               value.dump(), " but the run was started with ",
               saved.contains(key) ? saved[key].dump() : std::string("nothing"));
}

// Restores model, optimizer, target network and metrics; returns the last finished epoch.
int64_t resume_run(const Config& c, SiameseNet& net, SGD& sgd, TargetNetwork* target,
                   std::vector<json>& metrics) {
  fs::path dir(c.out);
  auto meta = load_module(net, (dir / "checkpoint.safetensors").string());
  SG_CHECK(meta.count("epoch"), "--resume: ", (dir / "checkpoint.safetensors").string(),
           " has no epoch in its metadata");
  const std::string& text = meta.at("epoch");
  int64_t epoch = -1;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), epoch);
  SG_CHECK(err == std::errc() && end == text.data() + text.size() && epoch >= 0,
           "--resume: ", (dir / "checkpoint.safetensors").string(), "'s epoch '", meta.at("epoch"),
           "' is not an epoch number");
  sgd.load_state_dict(load_safetensors((dir / "optimizer.safetensors").string()).tensors);
  if (target) load_module(target->net(), (dir / "target.safetensors").string());
  std::string path = (dir / "metrics.jsonl").string();
  std::ifstream in(path);
  SG_CHECK(in.good(), "--resume: cannot open ", path);
  int64_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty()) continue;
    json m = json::parse(line, nullptr, /*allow_exceptions=*/false);
    SG_CHECK(m.is_object() && m.contains("epoch") && m["epoch"].is_number_integer(),
             "--resume: ", path, " line ", number,
             " is not a metrics record with an integer epoch: ", line);
    if (m["epoch"].get<int64_t>() <= epoch) metrics.push_back(m);
  }
  SG_CHECK(!metrics.empty() && metrics.back()["epoch"].get<int64_t>() == epoch,
           "--resume: metrics.jsonl does not reach epoch ", epoch, " of the checkpoint");
  SG_CHECK(epoch < c.epochs, "--resume: the run already finished its ", c.epochs, " epochs");
  return epoch;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"Self-supervised pretraining on CIFAR-10 (SimSiam, BYOL, and their GSG variants)"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.add_option("--method", c.method, "simsiam | simsiam-gsg | byol | byol-gsg")
      ->check(CLI::IsMember({"simsiam", "simsiam-gsg", "byol", "byol-gsg"}));
  app.add_option("--tau", c.tau, "BYOL: EMA rate at the start; rises to 1 along a cosine")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--arch", c.arch, "backbone: resnet18 | resnet34 | resnet50")
      ->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}));
  app.add_option("--width", c.width, "channels of the first ResNet stage")->check(cli::positive);
  app.add_option("--dim", c.dim, "projection dimension d")->check(cli::positive);
  app.add_option("--pred-dim", c.pred_dim, "predictor bottleneck")->check(cli::positive);
  app.add_option("--epochs", c.epochs, "epochs of the cosine schedule")->check(cli::positive);
  app.add_option("--batch-size", c.batch_size, "images per step (each seen as two views)")
      ->check(CLI::Range(4, 1 << 16));
  app.add_option("--lr", c.lr, "base learning rate")
      ->check(cli::positive)
      ->default_str("0.03 x batch-size / 256");
  app.add_option("--wd", c.wd, "weight decay (not on BatchNorm parameters and biases)")
      ->check(cli::non_negative);
  app.add_option("--momentum", c.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  app.add_flag("--fix-pred-lr", c.fix_pred_lr, "keep the predictor's learning rate constant");
  app.add_flag("--no-predictor", c.no_predictor, "ablation: h = identity");
  app.add_flag("--no-stop-grad", c.no_stop_grad, "ablation: targets are not detached");
  app.add_option("--seed", c.seed, "seed of the weights, the augmentations and GSG's pairing");
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
  app.add_option("--knn-k", c.knn_k, "kNN monitor: neighbours")->check(cli::positive);
  app.add_option("--knn-t", c.knn_t, "kNN monitor: temperature of the similarity weights")
      ->check(cli::positive);
  app.add_option("--repeat-train", c.repeat_train,
                 "pass over the training images N times per epoch (timing full-size epochs on "
                 "a subset)")
      ->check(cli::positive);
  app.add_option("--stop-after", c.stop_after,
                 "stop after this epoch of the schedule (continue later with --resume)")
      ->check(cli::non_negative);
  app.add_flag("--resume", c.resume,
               "continue the run in --out from its last checkpoint (same options required)");
  CLI11_PARSE(app, argc, argv);
  if (c.lr < 0) c.lr = 0.03 * double(c.batch_size) / 256.0;
  bool byol = c.method.starts_with("byol"), gsg = c.method.ends_with("-gsg");
  if (byol && c.no_stop_grad) {
    std::fprintf(stderr,
                 "train_cifar10: --no-stop-grad does not apply to BYOL: its targets come "
                 "from the EMA network, which never receives gradient\n");
    return 2;
  }
  if (c.out.empty()) c.out = "runs/" + c.method;

  try {
    set_num_threads(c.threads);
    SG_CHECK(c.device == "cpu" || cuda_device_count() > 0,
             "--device cuda: no CUDA device here (or stopgrad was built without CUDA)");
    Device device = c.device == "cuda" ? Device::cuda(0) : Device::cpu();
    Splits data = load_splits(c.data, c.image_size);
    const ImageSet &train = data.train, &test = data.test;
    AugmentOptions aug;
    aug.size = c.image_size;
    aug.blur_p = c.blur;
    if (!c.dump_views.empty()) {
      ViewLoader loader(train, std::min<int64_t>(c.batch_size, train.size()), 2, aug, c.seed);
      loader.start_epoch(1);
      ViewBatch batch = loader.next();
      write_view_grid(c.dump_views, batch.views, aug);
      std::printf("wrote the two augmented views of %ld images (a row each) to %s\n",
                  long(std::min<int64_t>(16, batch.views[0].shape()[0])), c.dump_views.c_str());
      return 0;
    }
    // Every check that can fail on the options runs before anything is written or computed.
    int64_t train_images = train.size() * c.repeat_train;
    SG_CHECK(c.batch_size <= train_images, "--batch-size ", c.batch_size, " is larger than the ",
             train_images, " training images of ", c.data,
             " (the loader drops the last incomplete batch, so an epoch would have no step)");
    fs::create_directories(c.out);
    json config = {{"method", c.method},
                   {"arch", c.arch},
                   {"width", c.width},
                   {"dim", c.dim},
                   {"pred_dim", c.pred_dim},
                   {"epochs", c.epochs},
                   {"batch_size", c.batch_size},
                   {"lr", c.lr},
                   {"wd", c.wd},
                   {"momentum", c.momentum},
                   {"fix_pred_lr", c.fix_pred_lr},
                   {"no_predictor", c.no_predictor},
                   {"no_stop_grad", c.no_stop_grad},
                   {"tau", c.tau},
                   {"seed", c.seed},
                   {"threads", c.threads},
                   {"workers", c.workers},
                   {"data", c.data},
                   {"image_size", c.image_size},
                   {"blur", c.blur},
                   {"precision", c.precision},
                   {"device", c.device},
                   {"repeat_train", c.repeat_train},
                   {"kernels", kernels_record()}};
    if (c.device == "cpu" && c.precision == "bf16") {
      std::string warning = onednn::bf16_emulation_warning(onednn::kernel_choice());
      if (!warning.empty()) std::fprintf(stderr, "train_cifar10: %s\n", warning.c_str());
    }
    json saved_config;
    if (c.resume) {
      saved_config = read_json((fs::path(c.out) / "config.json").string());
    } else {
      write_text_atomically((fs::path(c.out) / "config.json").string(), config.dump(2) + "\n");
    }
    if (c.resume) check_same_config(saved_config, config);

    SiameseNet net(c.arch, c.width, c.dim, c.pred_dim, /*cifar_stem=*/true, c.seed);
    net.to(device);  // before the optimizer, whose momentum buffers follow the parameters
    // Parameter groups: encoder, and the predictor (which may keep a fixed learning rate).
    NamedTensors encoder_params, predictor_params;
    for (auto& np : net.named_parameters())
      (np.first.starts_with("predictor.") ? predictor_params : encoder_params).push_back(np);
    std::vector<ParamGroup> groups{{encoder_params, c.lr, c.wd, false, false}};
    if (!c.no_predictor) groups.push_back({predictor_params, c.lr, c.wd, c.fix_pred_lr, false});
    SGD sgd(groups, c.momentum);
    Head h = c.no_predictor ? Head([](const Tensor& z) { return z; })
                            : Head([&](const Tensor& z) { return (*net.predictor)(z); });
    SslOptions ssl{!c.no_stop_grad};
    std::unique_ptr<TargetNetwork> target;
    if (byol)
      target = std::make_unique<TargetNetwork>(net, c.arch, c.width, c.dim, c.pred_dim, true);

    std::printf(
        "%s on %ld images (%s), %s width %ld, d=%ld, batch %ld, lr %.4g, %s %s, %d threads\n",
        c.method.c_str(), long(train.size()), c.data.c_str(), c.arch.c_str(), long(c.width),
        long(c.dim), long(c.batch_size), c.lr, c.device.c_str(), c.precision.c_str(), c.threads);
    std::vector<json> metrics;
    int64_t first_epoch = 1;
    double knn0;
    if (c.resume) {
      first_epoch = resume_run(c, net, sgd, target.get(), metrics) + 1;
      knn0 = metrics.front()["knn_top1"].get<double>();
      std::printf("resumed from the end of epoch %ld\n", long(first_epoch - 1));
    } else {
      knn0 = knn(net, train, test, c);
      metrics.push_back({{"epoch", 0}, {"knn_top1", knn0}});
      add_spectra(net, test, metrics.back());
      write_text_atomically((fs::path(c.out) / "metrics.jsonl").string(),
                            metrics.back().dump() + "\n");
      std::printf("epoch %3d  knn %.2f%% (untrained)\n", 0, 100 * knn0);
    }

    ImageSet train_views = c.repeat_train > 1 ? repeated(train, c.repeat_train) : ImageSet();
    EpochBatches loader(c.repeat_train > 1 ? train_views : train, c, aug, device);

    bool tty = ::isatty(::fileno(stdout));
    int64_t last_epoch = c.stop_after > 0 ? std::min(c.stop_after, c.epochs) : c.epochs;
    for (int64_t epoch = first_epoch; epoch <= last_epoch; ++epoch) {
      // Every random choice of an epoch derives from (seed, epoch), so a resumed run repeats it.
      Generator pair_gen(c.seed * 1000003 + 17 + uint64_t(epoch));
      double lr =
          c.lr * 0.5 * (1 + std::cos(std::numbers::pi * double(epoch - 1) / double(c.epochs)));
      sgd.set_lr(lr);
      auto t0 = std::chrono::steady_clock::now();
      loader.start_epoch(epoch);
      double loss_sum = 0, zstd_sum = 0;
      std::array<int64_t, 4> pairs{};
      int64_t steps = 0, images = 0;
      while (loader.has_next()) {
        ViewBatch batch = loader.next();
        for (Tensor& v : batch.views) {
          v = engine::to(v, device);
          if (c.precision == "bf16") v = engine::to(v, DType::BFloat16);
        }
        Tensor z1 = net.encode(batch.views[0]), z2 = net.encode(batch.views[1]);
        // Targets: the online projections themselves (SimSiam) or the EMA network's (BYOL).
        Tensor t1 = byol ? target->encode(batch.views[0]) : z1;
        Tensor t2 = byol ? target->encode(batch.views[1]) : z2;
        Tensor loss;
        if (!gsg) {
          loss = byol ? byol_loss(z1, z2, t1, t2, h) : simsiam_loss(z1, z2, h, ssl);
        } else {
          Tensor perm = engine::to(randperm(z1.shape()[0], pair_gen), device);  // moved once
          GsgChoice choice = gsg_select(t1, t2, perm);  // distances on the (detached) targets
          for (int k = 0; k < 4; ++k) pairs[k] += choice.counts[k];
          loss = gsg_loss(z1, z2, t1, t2, perm, choice, h, ssl);
        }
        sgd.zero_grad();
        backward(loss);
        sgd.step();
        if (byol) {
          int64_t step = (epoch - 1) * loader.batches_per_epoch() + steps;
          target->update(byol_tau(c.tau, step, c.epochs * loader.batches_per_epoch()));
        }
        double l = loss.item();
        SG_CHECK(std::isfinite(l), "loss became ", l, " at epoch ", epoch, " step ", steps);
        loss_sum += l;
        zstd_sum += z_std(z1);
        ++steps;
        images += z1.shape()[0];
        // Progress: images/s and the time left for the epoch and the run (epochs to come at
        // this epoch's pace). On a terminal one line redrawn; otherwise (a log, `tail -f`) a
        // plain line at every 10% of the epoch.
        int64_t batches = loader.batches_per_epoch();
        double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double epoch_s = elapsed / double(steps) * double(batches);
        double epoch_left = epoch_s - elapsed,
               run_left = epoch_left + epoch_s * double(last_epoch - epoch);
        bool tenth = steps * 10 / batches != (steps - 1) * 10 / batches;
        if (tty || tenth) {
          int done = int(30 * steps / batches);
          std::printf(
              "%sepoch %3ld [%-30s] %ld/%ld loss %.4f  %.0f images/s  epoch %s left, run %s "
              "left%s",
              tty ? "\r" : "", long(epoch), std::string(done, '#').c_str(), long(steps),
              long(batches), l, double(images) / elapsed, duration(epoch_left).c_str(),
              duration(run_left).c_str(), tty ? "   " : "\n");
          std::fflush(stdout);
        }
      }
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      json m = {{"epoch", epoch},
                {"loss", loss_sum / steps},
                {"z_std", zstd_sum / steps},
                {"lr", lr},
                {"images_per_s", double(images) / seconds},
                {"seconds", seconds}};
      if (gsg) {
        double total = double(pairs[0] + pairs[1] + pairs[2] + pairs[3]);
        m["gsg_pair_share"] = {pairs[0] / total, pairs[1] / total, pairs[2] / total,
                               pairs[3] / total};
      }
      bool eval_now = epoch == last_epoch || (c.knn_every > 0 && epoch % c.knn_every == 0);
      if (eval_now) {
        auto k0 = std::chrono::steady_clock::now();
        m["knn_top1"] = knn(net, train, test, c);
        add_spectra(net, test, m);
        m["seconds"] =
            seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - k0).count();
      }
      metrics.push_back(m);
      std::string all;
      for (auto& line : metrics) all += line.dump() + "\n";
      write_text_atomically((fs::path(c.out) / "metrics.jsonl").string(), all);
      write_text_atomically(
          (fs::path(c.out) / "report.html").string(),
          report_html({RunRecord{fs::path(c.out).filename().string(), config, metrics}}));
      save_module(net, (fs::path(c.out) / "checkpoint.safetensors").string(),
                  {{"epoch", std::to_string(epoch)}, {"config", config.dump()}});
      save_safetensors((fs::path(c.out) / "optimizer.safetensors").string(), sgd.state_dict());
      if (byol) save_module(target->net(), (fs::path(c.out) / "target.safetensors").string());
      std::printf(
          "%sepoch %3ld  loss %.4f  z_std %.3f  %s  lr %.4f  %.0f images/s  %.1f s\n",
          tty ? "\r" : "", long(epoch), loss_sum / steps, zstd_sum / steps,
          eval_now ? ("knn " + std::to_string(100 * m["knn_top1"].get<double>()).substr(0, 5) + "%")
                         .c_str()
                   : "          ",
          lr, double(images) / seconds, m["seconds"].get<double>());
      std::fflush(stdout);
    }
    const json& last = metrics.back();
    std::printf(
        "summary: kNN top-1 %.2f%% untrained -> %.2f%% after %ld of %ld epochs; z_std %.3f (1 = "
        "spread, 0 = collapsed)\n",
        100 * knn0, 100 * last["knn_top1"].get<double>(), long(last["epoch"].get<int64_t>()),
        long(c.epochs), last["z_std"].get<double>());
    std::printf("run directory: %s\n", c.out.c_str());
  } catch (const std::exception& e) {  // sg::Error, and what the libraries throw (bad_alloc...)
    std::fprintf(stderr, "train_cifar10: %s\n", e.what());
    return 1;
  }
  return 0;
}
