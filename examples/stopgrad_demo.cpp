// What detach() does in a Siamese network, in a few seconds.
//
// A tiny SimSiam: an encoder f (MLP with BatchNorm) maps two noisy views of the same point to
// z1, z2; a predictor h maps z to p; the loss is ½D(p1, sg(z2)) + ½D(p2, sg(z1)) with D the
// negative cosine similarity and sg = detach. Part 1 shows where one loss term sends gradient;
// part 2 trains with and without the stop-gradient and prints the collapse metric.
// docs/stop-gradient.md walks through the output.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/grad_flow.h"
#include "autograd/graph_dot.h"
#include "engine/atomic_file.h"
#include "ssl/losses.h"

using namespace sg;

namespace {

struct Param {
  std::string name;
  Tensor value;
};

// Linear -> BatchNorm -> ReLU -> Linear -> BatchNorm(no affine): the SimSiam projector shape.
struct Mlp {
  std::vector<Param> params;
  bool final_bn;

  Mlp(const std::string& name, int64_t in, int64_t hidden, int64_t out, bool final_bn,
      Generator& gen)
      : final_bn(final_bn) {
    auto add = [&](const std::string& n, Tensor t) {
      params.push_back({name + "." + n, t.set_requires_grad(true)});
    };
    add("fc1.weight", kaiming_uniform({hidden, in}, gen));
    add("fc1.bias", Tensor::zeros({hidden}));
    add("bn1.weight", Tensor::ones({hidden}));
    add("bn1.bias", Tensor::zeros({hidden}));
    add("fc2.weight", kaiming_uniform({out, hidden}, gen));
    add("fc2.bias", Tensor::zeros({out}));
  }
  const Tensor& p(size_t i) const { return params[i].value; }
  Tensor operator()(const Tensor& x) const {
    Tensor h = relu(batch_norm(linear(x, p(0), p(1)), p(2), p(3), Tensor(), Tensor(), true));
    Tensor y = linear(h, p(4), p(5));
    return final_bn ? batch_norm(y, Tensor(), Tensor(), Tensor(), Tensor(), true) : y;
  }
};

struct SimSiam {
  Mlp encoder, predictor;
  SimSiam(Generator& gen)
      : encoder("encoder", 16, 64, 32, false, gen),
        predictor("predictor", 32, 16, 32, false, gen) {}
  std::vector<Param> params() const {
    std::vector<Param> all = encoder.params;
    all.insert(all.end(), predictor.params.begin(), predictor.params.end());
    return all;
  }
};

Tensor D(const Tensor& p, const Tensor& z) { return neg(mean(cosine_similarity(p, z, 1))); }

// sg is the stop-gradient under study: detach, or the identity for the ablation.
Tensor simsiam_loss(const SimSiam& m, const Tensor& x1, const Tensor& x2, bool stop_grad,
                    Tensor* z_out = nullptr) {
  auto sg = [stop_grad](const Tensor& t) { return stop_grad ? detach(t) : t; };
  Tensor z1 = m.encoder(x1), z2 = m.encoder(x2);
  Tensor p1 = m.predictor(z1), p2 = m.predictor(z2);
  if (z_out) *z_out = z1;
  return D(p1, sg(z2)) * 0.5 + D(p2, sg(z1)) * 0.5;
}

// The collapse metric z_std is ssl/losses.h's: per-channel std of z/||z|| over the batch,
// averaged, times sqrt(d); about 1 for spread-out outputs, 0 when all map to one direction.

// Points from 8 clusters in 16-d; a view adds noise and rescales, so views of one point agree.
struct Data {
  Tensor centers;
  Generator gen;
  Data() : gen(1) { centers = normal({8, 16}, 0, 1, gen); }
  Tensor points(int64_t n) {
    std::vector<double> v;
    for (int64_t i = 0; i < n; ++i) {
      int64_t c = gen.randint(8);
      for (int64_t j = 0; j < 16; ++j) v.push_back(centers.at({c, j}) + 0.5 * gen.normal());
    }
    return Tensor::from_vector(v, {n, 16});
  }
  Tensor view(const Tensor& x) {
    NoGradGuard no_grad;
    return engine::add(engine::mul(x, 0.8 + 0.4 * gen.uniform()), normal(x.shape(), 0, 0.3, gen));
  }
};

void part1() {
  std::printf("Part 1: where one loss term sends its gradient\n");
  std::printf(
      "  term = D(p1, sg(z2)) on one batch; views x1, x2 are marked requires_grad to watch "
      "them\n\n");
  std::printf("  %-22s %18s %18s\n", "tensor", "with detach", "without detach");
  Generator gen(0);
  SimSiam m(gen);
  Data data;
  Tensor x = data.points(64);
  Tensor x1 = data.view(x).set_requires_grad(true), x2 = data.view(x).set_requires_grad(true);
  // The gradient-flow kit (autograd/grad_flow.h) tells none (never reached) from zero; in
  // float32 a sum that cancels exactly in exact arithmetic leaves residue near 1e-7 of the
  // largest gradient, which counts as zero below 1e-5.
  std::vector<GradFlowReport> reports;
  for (bool stop_grad : {true, false}) {
    NamedTensors watched{{"view x1", x1}, {"view x2", x2}};
    for (auto& p : m.params()) watched.emplace_back(p.name, p.value);
    Tensor z1 = m.encoder(x1), z2 = m.encoder(x2);
    Tensor target = stop_grad ? detach(z2) : z2;
    reports.push_back(grad_flow(D(m.predictor(z1), target), watched, /*relative_zero=*/1e-5));
  }
  auto cell = [](const GradFlowEntry& e) {
    return e.state == GradState::Nonzero ? std::to_string(e.norm)
                                         : std::string(grad_state_name(e.state));
  };
  const auto& with = reports[0].entries;
  const auto& without = reports[1].entries;
  for (size_t i = 0; i < with.size(); ++i)
    std::printf("  %-22s %18s %18s\n", with[i].name.c_str(), cell(with[i]).c_str(),
                cell(without[i]).c_str());
  std::printf(
      "\n  With detach, x2 gets no gradient: z2 is a constant target and only the branch\n"
      "  x1 -> f -> h -> p1 learns. The encoder's gradient all arrives through that branch.\n\n");
}

void part2(int steps) {
  std::printf("Part 2: training %d steps (batch 128, SGD lr 0.05, momentum 0.9)\n", steps);
  std::printf("  z_std = per-channel std of z/||z|| x sqrt(d): ~1 healthy, -> 0 collapsed\n\n");
  std::printf("  %6s | %10s %10s | %10s %10s\n", "step", "loss sg", "z_std sg", "loss no-sg",
              "z_std no-sg");
  struct Run {
    SimSiam model;
    std::vector<Tensor> velocity;
    Data data;
    double loss = 0, zs = 0;
  };
  Generator g1(0), g2(0);
  std::vector<Run> runs{{SimSiam(g1), {}, Data()}, {SimSiam(g2), {}, Data()}};  // same init
  for (auto& r : runs)
    for (auto& p : r.model.params()) r.velocity.push_back(Tensor::zeros(p.value.shape()));
  for (int step = 0; step <= steps; ++step) {
    for (size_t k = 0; k < runs.size(); ++k) {
      Run& r = runs[k];
      Tensor x = r.data.points(128);
      Tensor z;
      Tensor loss = simsiam_loss(r.model, r.data.view(x), r.data.view(x), /*stop_grad=*/k == 0, &z);
      r.loss = loss.item();
      r.zs = z_std(z);
      auto params = r.model.params();
      for (auto& p : params) p.value.set_grad(Tensor());
      backward(loss);
      NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i) {
        Tensor g = params[i].value.grad();
        if (!g.defined()) continue;
        mul_(r.velocity[i], 0.9);
        add_(r.velocity[i], g);
        sub_(params[i].value, engine::mul(r.velocity[i], 0.05));
      }
    }
    if (step % (steps / 10) == 0)
      std::printf("  %6d | %10.4f %10.4f | %10.4f %10.4f\n", step, runs[0].loss, runs[0].zs,
                  runs[1].loss, runs[1].zs);
  }
  std::printf(
      "\n  Without detach the loss races towards -1 while z_std falls: the encoder maps\n"
      "  inputs into ever fewer directions (collapse). With detach the loss falls more\n"
      "  slowly and z stays spread out.\n");
}

// The recorded graphs of the SimSiam, GSG and BYOL losses on this model, as DOT (and SVG when
// Graphviz's `dot` is installed): FILE.svg -> FILE-simsiam.svg, FILE-gsg.svg, FILE-byol.svg,
// each with its .dot beside it.
int write_graphs(const std::string& file) {
  std::string base = file, ext = ".dot";
  if (auto dot = file.rfind('.'); dot != std::string::npos && dot > file.rfind('/')) {
    base = file.substr(0, dot);
    ext = file.substr(dot);
  }
  if (ext != ".svg" && ext != ".dot") {
    std::fprintf(stderr, "stopgrad_demo: --graph expects FILE.svg or FILE.dot, got '%s'\n",
                 file.c_str());
    return 2;
  }
  bool have_dot = ext == ".svg" && std::system("command -v dot > /dev/null 2>&1") == 0;
  if (ext == ".svg" && !have_dot)
    std::printf(
        "Graphviz's dot is not installed (Debian: apt-get install graphviz): writing "
        ".dot files only\n");
  GraphCaptureGuard capture;  // keep the nodes behind each cut for the picture
  std::filesystem::create_directories(std::filesystem::absolute(base).parent_path());
  Generator gen(0);
  SimSiam m(gen);
  Data data;
  Tensor x = data.points(64);
  Tensor x1 = data.view(x), x2 = data.view(x);
  NamedTensors names;
  for (auto& p : m.params()) names.emplace_back(p.name, p.value);
  Head h = [&](const Tensor& z) { return m.predictor(z); };
  // BYOL's target: a copy of the encoder whose outputs are computed without a graph.
  Mlp target = m.encoder;
  for (auto& p : target.params) {
    p.value = engine::clone(p.value).set_requires_grad(true);
    p.name = "target." + p.name;
  }
  auto target_encode = [&](const Tensor& v) {
    NoGradGuard no_grad;
    return target(v);
  };
  struct Graph {
    const char* name;
    const char* title;
    Tensor loss;
  };
  Tensor z1 = m.encoder(x1), z2 = m.encoder(x2);
  Generator pair_gen(1);
  Tensor perm = randperm(64, pair_gen);
  Tensor t1 = target_encode(x1), t2 = target_encode(x2);
  std::vector<Graph> graphs{
      {"simsiam", "SimSiam: 1/2 D(h(z1), sg(z2)) + 1/2 D(h(z2), sg(z1))", simsiam_loss(z1, z2, h)},
      {"gsg", "SimSiam-GSG: the closest cross-image pair as sources, their other views sg targets",
       gsg_loss(z1, z2, perm, gsg_select(z1, z2, perm), h)},
      {"byol", "BYOL: 1/2 D(h(z1), sg(t2)) + 1/2 D(h(z2), sg(t1)), t from the EMA target",
       byol_loss(z1, z2, t1, t2, h)},
  };
  for (const Graph& g : graphs) {
    std::string dot_path = base + "-" + g.name + ".dot";
    write_text_atomically(dot_path, graph_to_dot(g.loss, names, {g.title}));
    std::printf("%s: %d stop-gradient cut(s), %s\n", g.name, count_stop_gradient_cuts(g.loss),
                dot_path.c_str());
    if (have_dot) {
      std::string svg = base + "-" + g.name + ".svg", tmp = svg + ".tmp";
      std::string cmd = "dot -Tsvg '" + dot_path + "' -o '" + tmp + "'";
      if (std::system(cmd.c_str()) != 0 || std::rename(tmp.c_str(), svg.c_str()) != 0) {
        std::fprintf(stderr, "stopgrad_demo: dot could not render %s\n", dot_path.c_str());
        return 1;
      }
      std::printf("  rendered %s\n", svg.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 300;
  std::string graph;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--steps" && i + 1 < argc) {
      const char* text = argv[++i];
      auto [end, err] = std::from_chars(text, text + std::strlen(text), steps);
      if (err != std::errc() || *end != '\0') {
        std::fprintf(stderr, "stopgrad_demo: --steps expects a whole number, got '%s'\n", text);
        return 2;
      }
    } else if (arg == "--graph" && i + 1 < argc) {
      graph = argv[++i];
    } else {
      std::fprintf(stderr,
                   "stopgrad_demo: unknown argument '%s' (usage: stopgrad_demo [--steps N] "
                   "[--graph FILE.svg|FILE.dot])\n",
                   argv[i]);
      return 2;
    }
  }
  if (!graph.empty()) {
    try {
      return write_graphs(graph);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stopgrad_demo: %s\n", e.what());
      return 1;
    }
  }
  if (steps < 10) {
    std::fprintf(stderr, "stopgrad_demo: --steps must be at least 10, got %d\n", steps);
    return 2;
  }
  part1();
  part2(steps);
  return 0;
}
