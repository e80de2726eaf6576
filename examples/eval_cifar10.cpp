// Evaluates a train_cifar10 checkpoint on CIFAR-10 with the backbone frozen:
//   eval_cifar10 knn      --data DIR --weights RUN/checkpoint.safetensors   -> "knn_top1: <x>"
//   eval_cifar10 linear   --data DIR --weights ...                          -> "linear_top1: <x>"
//   eval_cifar10 features --data DIR --weights ... --split train|test --out F.npy
// Features are the global-average-pooled backbone outputs (eval-mode BatchNorm, test-time
// normalisation only), rows in file order. Architecture and width default to the checkpoint's.
// Under mpirun each rank computes the features of a 1/N slice and all-gathers the rest; rank 0
// alone prints and writes, and any rank's error ends the job.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/loader.h"
#include "engine/atomic_file.h"
#include "engine/communicator.h"
#include "engine/parallel.h"
#include "examples/cli_checks.h"
#include "examples/features.h"
#include "layers/checkpoint.h"
#include "layers/optim.h"
#include "ssl/heads.h"
#include "ssl/knn.h"

using namespace sg;
using json = nlohmann::json;

namespace {

// NumPy's .npy v1.0: magic, header dict padded to a multiple of 64 bytes, little-endian float32.
void write_npy(const std::string& path, const Tensor& t) {
  Tensor c = engine::contiguous(t);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(c.shape()[0]) + ", " + std::to_string(c.shape()[1]) + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  write_file_atomically(path, [&](std::FILE* f) {
    const char magic[] = "\x93NUMPY\x01\x00";
    uint16_t len = uint16_t(header.size());
    unsigned char le[2] = {uint8_t(len & 0xff), uint8_t(len >> 8)};
    size_t bytes = size_t(c.numel()) * 4;
    return std::fwrite(magic, 1, 8, f) == 8 && std::fwrite(le, 1, 2, f) == 2 &&
           std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
           std::fwrite(c.raw_data(), 1, bytes, f) == bytes;
  });
}

// A linear classifier on frozen, standardised features: SGD with momentum, cosine schedule,
// mini-batches of 256, cross-entropy. Returns test top-1.
double linear_probe(const Tensor& train_f, const std::vector<int64_t>& train_y, int64_t classes,
                    const Tensor& test_f, const std::vector<int64_t>& test_y, int epochs, double lr,
                    uint64_t seed) {
  Tensor mean = engine::mean(train_f, {0}, true);
  Tensor std = engine::add(
      engine::sqrt(engine::mean(engine::pow(engine::sub(train_f, mean), 2.0), {0}, true)), 1e-6);
  auto standardise = [&](const Tensor& f) { return engine::div(engine::sub(f, mean), std); };
  Tensor xtr = standardise(train_f), xte = standardise(test_f);
  Generator gen(seed);
  Linear fc(xtr.shape()[1], classes, gen);
  SGD sgd({ParamGroup{fc.named_parameters(), lr, 0.0}}, 0.9);
  std::vector<double> labels(train_y.begin(), train_y.end());
  Tensor ytr = Tensor::from_vector(labels, {int64_t(labels.size())}, DType::Int64);
  int64_t n = xtr.shape()[0], batch = 256, steps = (n + batch - 1) / batch;
  for (int e = 0; e < epochs; ++e) {
    Tensor perm = randperm(n, gen);
    for (int64_t s = 0; s < steps; ++s) {
      sgd.set_lr(cosine_lr(lr, e * steps + s, epochs * steps));
      Tensor idx = engine::narrow(perm, 0, s * batch, std::min(batch, n - s * batch));
      sgd.zero_grad();
      backward(
          cross_entropy(fc(engine::index_select(xtr, 0, idx)), engine::index_select(ytr, 0, idx)));
      sgd.step();
    }
  }
  NoGradGuard no_grad;
  Tensor pred = engine::argmax(fc(xte), 1);
  int64_t correct = 0;
  for (size_t i = 0; i < test_y.size(); ++i) correct += int64_t(pred.at({int64_t(i)})) == test_y[i];
  return double(correct) / double(test_y.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Evaluate a stopgrad SSL checkpoint on CIFAR-10"};
  std::string mode, data = "data/cifar10-sample", weights, arch, split = "test", out;
  int64_t width = 0, dim = 0, pred_dim = 0;
  int threads = 2, epochs = 100, k = 200;
  double lr = 0.1, t = 0.2;  // kNN k = 200, t = 0.2: the official GSG monitor
  app.add_option("mode", mode, "knn | linear | features")
      ->required()
      ->check(CLI::IsMember({"knn", "linear", "features"}));
  app.add_option("--data", data, "CIFAR-10 binary directory, or an image folder (train/, test/)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--weights", weights, "train_cifar10 checkpoint")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--arch", arch, "default: the checkpoint's");
  app.add_option("--width", width, "default: the checkpoint's");
  app.add_option("--split", split, "features: train | test")
      ->check(CLI::IsMember({"train", "test"}));
  app.add_option("--out", out, "features: the .npy file to write");
  app.add_option("--threads", threads)->check(cli::positive);
  app.add_option("--epochs", epochs, "linear: training epochs")->check(cli::positive);
  app.add_option("--lr", lr, "linear: learning rate")->check(cli::positive);
  app.add_option("--knn-k", k)->check(cli::positive);
  app.add_option("--knn-t", t)->check(cli::positive);
  CLI11_PARSE(app, argc, argv);
  std::shared_ptr<Communicator> comm = communicator_from_environment();
  const bool writer = comm->rank() == 0;
  if (!writer && !std::freopen("/dev/null", "w", stdout)) return 1;
  try {
    set_num_threads(threads);
    SG_CHECK(mode != "features" || !out.empty(), "features: --out FILE.npy is required");
    SafetensorsContents file = load_safetensors(weights);
    SG_CHECK(file.metadata.count("config"), "'", weights,
             "' has no train_cifar10 config in its metadata");
    json config = json::parse(file.metadata.at("config"), nullptr, /*allow_exceptions=*/false);
    SG_CHECK(config.is_object(), "'", weights,
             "': the train_cifar10 config in its metadata is not a JSON object");
    auto field = [&](const char* key) -> const json& {
      SG_CHECK(config.contains(key), "'", weights,
               "': the train_cifar10 config in its metadata lacks '", key, "'");
      return config[key];
    };
    auto number = [&](const char* key) {
      SG_CHECK(field(key).is_number_integer(), "'", weights, "': config field '", key, "' is ",
               field(key).dump(), ", expected an integer");
      return field(key).get<int64_t>();
    };
    if (arch.empty()) {
      SG_CHECK(field("arch").is_string(), "'", weights, "': config field 'arch' is ",
               field("arch").dump(), ", expected a name");
      arch = field("arch").get<std::string>();
    }
    if (width == 0) width = number("width");
    dim = number("dim");
    pred_dim = number("pred_dim");
    SiameseOptions shape;
    shape.arch = arch;
    shape.width = width;
    shape.dim = dim;
    shape.pred_dim = pred_dim;
    // Runs before the projector's shape was an option recorded it as d x d, 3 layers.
    shape.proj_hidden = config.contains("proj_hidden") ? number("proj_hidden") : dim;
    shape.proj_layers = config.contains("proj_layers") ? int(number("proj_layers")) : 3;
    SiameseNet net(shape);
    load_named(net.state_dict(), file.tensors, "'" + weights + "'");
    Splits splits = load_splits(data, config.contains("image_size") ? number("image_size") : 32);
    const ImageSet &train = splits.train, &test = splits.test;
    auto features = [&](const ImageSet& set) { return backbone_features(net, set, *comm); };
    if (mode == "features") {
      Tensor f = features(split == "train" ? train : test);
      if (writer) write_npy(out, f);
      std::printf("wrote %s\n", out.c_str());
    } else if (mode == "knn") {
      Tensor train_f = features(train), test_f = features(test);
      if (writer)
        std::printf("knn_top1: %.4f\n", knn_accuracy(train_f, train.labels, test_f, test.labels,
                                                     train.num_classes(), k, t));
    } else {
      Tensor train_f = features(train), test_f = features(test);
      if (writer)  // a linear layer on cached features: one rank is enough
        std::printf("linear_top1: %.4f\n", linear_probe(train_f, train.labels, train.num_classes(),
                                                        test_f, test.labels, epochs, lr, 0));
    }
  } catch (const std::exception& e) {
    if (comm->size() == 1) {
      std::fprintf(stderr, "eval_cifar10: %s\n", e.what());
      return 1;
    }
    std::fprintf(stderr, "eval_cifar10: rank %d of %d: %s\n", comm->rank(), comm->size(), e.what());
    comm->abort(1);  // the other ranks may be waiting in a collective
  }
  return 0;
}
