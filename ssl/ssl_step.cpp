#include "ssl/ssl_step.h"

namespace sg {

void check_method(const MethodOptions& m) {
  SG_CHECK(m.method == "simsiam" || m.method == "simsiam-gsg" || m.method == "byol" ||
               m.method == "byol-gsg",
           "method '", m.method, "': expected simsiam, simsiam-gsg, byol or byol-gsg");
  SG_CHECK(m.gsg_views == 2 || m.gsg_views == 4, "gsg-views ", m.gsg_views,
           ": expected 4 (four crops per image, the paper's code) or 2 (stopgrad's variant)");
  SG_CHECK(!is_byol(m) || m.stop_grad,
           "no-stop-grad does not apply to BYOL: its targets come from the EMA network, which "
           "never receives gradient");
}

bool is_byol(const MethodOptions& m) { return m.method.starts_with("byol"); }
bool is_gsg(const MethodOptions& m) { return m.method.ends_with("-gsg"); }
int views_per_image(const MethodOptions& m) { return is_gsg(m) ? m.gsg_views : 2; }

SslStep::SslStep(SiameseNet& net, const MethodOptions& m) : net_(net), m_(m) {
  check_method(m);
  if (is_byol(m)) target_ = std::make_unique<TargetNetwork>(net);
}

StepLoss SslStep::loss(const std::vector<Tensor>& views, Generator& pair_gen) {
  SG_CHECK(!views.empty(), m_.method, ": no views");
  return loss(views, is_gsg(m_) ? randperm(views[0].shape()[0], pair_gen) : Tensor());
}

StepLoss SslStep::loss(const std::vector<Tensor>& views, const Tensor& pair_perm) {
  SG_CHECK(int(views.size()) == views_per_image(m_), m_.method, ": ", views.size(),
           " views per image, expected ", views_per_image(m_));
  DType images = views[0].dtype();
  Head h = m_.predictor ? Head([this, images](const Tensor& z) { return net_.predict(z, images); })
                        : Head([](const Tensor& z) { return z; });
  std::vector<Tensor> z, t;  // online projections; targets (themselves, or the EMA network's)
  for (const Tensor& v : views) {
    z.push_back(net_.encode(v));
    t.push_back(target_ ? target_->encode(v) : z.back());
  }
  StepLoss out;
  out.z1 = z[0];
  if (!is_gsg(m_)) {
    out.loss = target_ ? byol_loss(z[0], z[1], t[0], t[1], h)
                       : simsiam_loss(z[0], z[1], h, SslOptions{m_.stop_grad});
    return out;
  }
  SG_CHECK(pair_perm.defined() && pair_perm.shape() == Shape{z[0].shape()[0]}, m_.method,
           ": the pairing permutation must have one entry per image (", z[0].shape()[0], ")");
  Tensor perm = engine::to(pair_perm, z[0].device());  // moved once
  auto crops = [&](const std::vector<Tensor>& x) {
    return m_.gsg_views == 4 ? four_view_crops(x[0], x[1], x[2], x[3], perm)
                             : two_view_crops(x[0], x[1], perm);
  };
  std::vector<Tensor> p;  // the predictor on each view's whole batch, as the paper's code
  for (const Tensor& zv : z) p.push_back(h(zv));
  GsgCrops tc = crops(t);
  GsgChoice choice = gsg_choose(tc);  // distances on the detached targets
  out.pair_counts = choice.counts;
  out.loss = gsg_crops_loss(crops(p), tc, choice, SslOptions{m_.stop_grad});
  return out;
}

void SslStep::after_optimizer_step(int64_t step, int64_t total_steps) {
  if (target_) target_->update(ema_tau(m_.tau_schedule, m_.tau, step, total_steps));
}

}  // namespace sg
