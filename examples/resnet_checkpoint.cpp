// ResNet checkpoints on the command line, for interoperability checks and quick inspection:
//   resnet_checkpoint init   --arch resnet18 --out W.safetensors [--seed S] [--cifar] [--width W]
//   [--classes K] resnet_checkpoint logits --arch resnet18 --weights W.safetensors --input
//   X.safetensors --out Y.safetensors
// `logits` runs the network in evaluation mode on the tensor named "input" and writes "logits".
#include <CLI/CLI.hpp>

#include <cstdio>

#include "examples/cli_checks.h"
#include "layers/checkpoint.h"
#include "layers/resnet.h"

using namespace sg;

int main(int argc, char** argv) {
  CLI::App app{"ResNet checkpoint tool"};
  app.require_subcommand(1);
  std::string arch = "resnet18", weights, input, out;
  ResNetOptions o;
  bool cifar = false;
  for (CLI::App* sub : {app.add_subcommand("init", "write a freshly initialised network"),
                        app.add_subcommand("logits", "run a saved network on a saved input")}) {
    sub->add_option("--arch", arch)->check(CLI::IsMember({"resnet18", "resnet34", "resnet50"}));
    sub->add_option("--width", o.width)->check(cli::positive);
    sub->add_option("--classes", o.num_classes)->check(cli::non_negative);
    sub->add_flag("--cifar", cifar, "3x3 stride-1 stem, no max-pool");
    sub->add_option("--out", out)->required();
  }
  app.get_subcommand("init")->add_option("--seed", o.seed);
  app.get_subcommand("logits")
      ->add_option("--weights", weights)
      ->required()
      ->check(CLI::ExistingFile);
  app.get_subcommand("logits")->add_option("--input", input)->required()->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  o.stem = cifar ? Stem::Cifar : Stem::ImageNet;
  try {
    auto net = make_resnet(arch, o);
    if (app.got_subcommand("init")) {
      save_module(*net, out, {{"arch", arch}, {"width", std::to_string(o.width)}});
      return 0;
    }
    load_module(*net, weights);
    SafetensorsContents in = load_safetensors(input);
    Tensor x;
    for (auto& [name, t] : in.tensors)
      if (name == "input") x = t;
    SG_CHECK(x.defined(), input, ": no tensor named 'input'");
    net->eval();
    NoGradGuard no_grad;
    save_safetensors(out, {{"logits", (*net)(x)}});
  } catch (const std::exception& e) {  // sg::Error, and what the libraries throw (bad_alloc...)
    std::fprintf(stderr, "resnet_checkpoint: %s\n", e.what());
    return 1;
  }
  return 0;
}
