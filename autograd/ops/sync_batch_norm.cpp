// SyncBatchNorm: batch normalisation whose batch is the union of every rank's batch.
//
// Forward. Each rank computes, per channel, its count n_r, mean m_r and sum of squared
// deviations M2_r (two passes over its own x, in double), and the ranks exchange these three
// numbers. Merging (Chan et al.'s parallel variance) gives the global
//   N = sum n_r,  mean = sum n_r m_r / N,  M2 = sum (M2_r + n_r (m_r - mean)^2),
// without the cancellation of sum(x^2) - N mean^2. y = (x - mean) / sqrt(M2/N + eps) * gamma +
// beta, as batch_norm with the global statistics; the running variance takes M2/(N-1).
//
// Backward. With xhat = (x - mean) * invstd and g = dL/dy, where L is the sum of all ranks'
// losses,
//   dx = gamma * invstd * (g - mean_N(g) - xhat * mean_N(g * xhat)),
// where mean_N averages over the global batch: each rank sums g and g * xhat over its rows and
// one all-reduce adds the ranks' sums. dgamma = sum(g * xhat) and dbeta = sum(g) over this
// rank's rows only; data-parallel gradient averaging combines them as every other parameter.
#include <cmath>

#include "autograd/ops.h"
#include "autograd/ops/per_channel.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;
using detail::non_channel_dims;
using detail::per_channel;

namespace {

struct GlobalStats {
  Tensor mean, invstd;  // [C] float64 on x's device
  double count = 0;
};

GlobalStats global_statistics(const Tensor& x, const Tensor& running_mean,
                              const Tensor& running_var, Communicator& comm, double momentum,
                              double eps) {
  int64_t c = x.shape()[1];
  Tensor xd = e::to(x, DType::Float64);
  auto dims = non_channel_dims(x);
  double n = double(x.numel() / c);
  Tensor m = e::mean(xd, dims);
  Tensor d = e::sub(xd, per_channel(m, xd));
  Tensor m2 = e::sum(e::mul(d, d), dims);
  // One row per rank: [n, m_1..m_C, M2_1..M2_C], gathered on the host.
  Tensor mine =
      e::to(e::cat({Tensor::full({1}, n, DType::Float64, x.device()), m, m2}, 0), Device::cpu());
  std::vector<double> rows = comm.all_gather(e::contiguous(mine)).to_vector();
  size_t width = size_t(2 * c + 1);
  int ranks = comm.size();
  double total = 0;
  for (int r = 0; r < ranks; ++r) total += rows[size_t(r) * width];
  SG_CHECK(total > 1, "sync_batch_norm: ", total, " value(s) per channel over ", ranks,
           " rank(s); training needs more than one");
  std::vector<double> mean(static_cast<size_t>(c), 0.0), sq(static_cast<size_t>(c), 0.0);
  for (int r = 0; r < ranks; ++r)
    for (int64_t k = 0; k < c; ++k)
      mean[size_t(k)] += rows[size_t(r) * width] * rows[size_t(r) * width + 1 + size_t(k)] / total;
  for (int r = 0; r < ranks; ++r) {
    double nr = rows[size_t(r) * width];
    for (int64_t k = 0; k < c; ++k) {
      double dm = rows[size_t(r) * width + 1 + size_t(k)] - mean[size_t(k)];
      sq[size_t(k)] += rows[size_t(r) * width + 1 + size_t(c + k)] + nr * dm * dm;
    }
  }
  std::vector<double> invstd(static_cast<size_t>(c)), unbiased(static_cast<size_t>(c));
  for (int64_t k = 0; k < c; ++k) {
    invstd[size_t(k)] = 1.0 / std::sqrt(sq[size_t(k)] / total + eps);
    unbiased[size_t(k)] = sq[size_t(k)] / (total - 1);
  }
  GlobalStats g;
  g.mean = e::to(Tensor::from_vector(mean, {c}, DType::Float64), x.device());
  g.invstd = e::to(Tensor::from_vector(invstd, {c}, DType::Float64), x.device());
  g.count = total;
  // running = (1 - momentum) running + momentum batch, in the running statistics' dtype.
  auto update = [&](const Tensor& running, const Tensor& batch) {
    if (!running.defined()) return;
    Tensor b = e::to(e::to(batch, running.dtype()), running.device());
    e::copy_(running, e::add(e::mul(running, 1 - momentum), e::mul(b, momentum)));
  };
  update(running_mean, g.mean);
  update(running_var, e::to(Tensor::from_vector(unbiased, {c}, DType::Float64), x.device()));
  return g;
}

}  // namespace

Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, Communicator& comm,
                       double momentum, double eps, bool relu) {
  SG_CHECK(x.dim() >= 2, "sync_batch_norm: input of shape ", shape_str(x.shape()),
           ", expected [N, C, ...]");
  GlobalStats s = [&] {
    NoGradGuard no_grad;
    return global_statistics(x, running_mean, running_var, comm, momentum, eps);
  }();
  Tensor y;
  Tensor mean = e::to(s.mean, x.dtype()), invstd = e::to(s.invstd, x.dtype());
  {
    NoGradGuard no_grad;
    Tensor scale = weight.defined() ? e::mul(invstd, e::to(weight, x.dtype())) : invstd;
    y = e::mul(e::sub(x, per_channel(mean, x)), per_channel(scale, x));
    if (bias.defined()) y = e::add(y, per_channel(e::to(bias, x.dtype()), x));
    if (relu) y = e::relu_forward(y);
  }
  const char* name = relu ? "sync_batch_norm_relu" : "sync_batch_norm";
  return record(name, y, {x, weight, bias},
                [sx = SavedTensor(x), sw = SavedTensor(weight),
                 sy = relu ? SavedTensor(y) : SavedTensor(), mean, invstd, count = s.count, relu,
                 name, bias_dtype = bias.defined() ? bias.dtype() : x.dtype(),
                 &comm](const Tensor& g_in, const std::vector<bool>& needs) {
                  Tensor x = sx.get(name), w = sw.get(name);
                  Tensor g = relu ? e::relu_backward(g_in, sy.get(name)) : g_in;
                  auto dims = non_channel_dims(x);
                  Tensor xhat = e::mul(e::sub(x, per_channel(mean, x)), per_channel(invstd, x));
                  Tensor sum_g = e::sum(g, dims), sum_gx = e::sum(e::mul(g, xhat), dims);
                  Tensor gx, gw, gb;
                  if (needs[0]) {
                    int64_t c = x.shape()[1];
                    // The two sums over the global batch: one all-reduce, in double, on the host.
                    Tensor both = e::contiguous(
                        e::to(e::to(e::cat({sum_g, sum_gx}, 0), DType::Float64), Device::cpu()));
                    comm.all_reduce(both, ReduceOp::Sum);
                    both = e::to(e::to(e::mul(both, 1.0 / count), x.dtype()), x.device());
                    Tensor mean_g = e::narrow(both, 0, 0, c), mean_gx = e::narrow(both, 0, c, c);
                    Tensor scale = w.defined() ? e::mul(invstd, e::to(w, x.dtype())) : invstd;
                    Tensor centred = e::sub(e::sub(g, per_channel(mean_g, x)),
                                            e::mul(xhat, per_channel(mean_gx, x)));
                    gx = e::mul(centred, per_channel(scale, x));
                  }
                  if (needs[1]) gw = e::to(sum_gx, w.dtype());
                  if (needs[2]) gb = e::to(sum_g, bias_dtype);
                  return Grads{gx, gw, gb};
                });
}

}  // namespace sg
