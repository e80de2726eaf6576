// SyncBatchNorm: batch normalisation whose batch is the union of every rank's batch, built from
// the batch_norm kernels (oneDNN's on the CPU, in whatever layout the convolution left x in),
// so that it costs about what batch_norm costs plus two small exchanges.
//
// Forward. Each rank's batch_norm_forward_train kernel gives its count n_r, mean m_r and biased
// variance v_r per channel (M2_r = n_r v_r); the ranks exchange these, and merging them in double
// (Chan et al.'s parallel variance) gives the global
//   N = sum n_r,  mean = sum n_r m_r / N,  M2 = sum (M2_r + n_r (m_r - mean)^2),
// without the cancellation of sum(x^2) - N mean^2. y is batch_norm_forward_infer with the global
// mean and variance M2/N; the running variance takes M2/(N-1).
//
// Backward. With xhat = (x - mean) * invstd, scale = gamma * invstd and g = dL/dy, where L is the
// sum of all ranks' losses,
//   dx = scale * (g - G/N - xhat * GX/N),   G = sum g,  GX = sum g * xhat  over the global batch.
// batch_norm_backward, given the global mean and variance, returns this rank's sums
// (dbeta = sum g, dgamma = sum g xhat over its n rows) and dx_local, the same formula with the
// local means G_r/n and GX_r/n. One all-reduce of [G_r, GX_r] gives G and GX, and
//   dx = dx_local + scale * (G_r/n - G/N) + scale * xhat * (GX_r/n - GX/N),
// a per-channel affine correction a + b * x. dgamma and dbeta stay this rank's own sums;
// data-parallel gradient averaging combines them as every other parameter.
#include <cmath>

#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

namespace {

// Per-channel values merged on the host in double, as a [values.size()] tensor of `dtype` on
// `device`.
Tensor channel_tensor(const std::vector<double>& values, DType dtype, Device device) {
  Tensor t = Tensor::from_vector(values, {int64_t(values.size())}, DType::Float64);
  return e::to(e::to(t, dtype), device);
}

// a_k + b_k x per channel k, in x's own (possibly blocked) layout: the inference batch-norm
// kernel with mean 0, variance 1 and eps 0 computes exactly gamma x + beta, so gamma = b and
// beta = a, without a layout change or a generic element-wise pass.
Tensor per_channel_affine(const Tensor& x, const std::vector<double>& a,
                          const std::vector<double>& b, DType dtype) {
  int64_t c = x.shape()[1];
  Tensor zeros = Tensor::zeros({c}, dtype, x.device()), ones = Tensor::ones({c}, dtype, x.device());
  return e::batch_norm_forward_infer(x, channel_tensor(b, dtype, x.device()),
                                     channel_tensor(a, dtype, x.device()), zeros, ones, 0.0, false);
}

// The global statistics per channel, as [C] tensors in the dtype of the kernel's statistics.
struct GlobalStats {
  Tensor mean, var;  // var biased: what the batch is normalised with
  std::vector<double> invstd;
  double count = 0;
};

GlobalStats global_statistics(const Tensor& x, const Tensor& running_mean,
                              const Tensor& running_var, Communicator& comm, double momentum,
                              double eps) {
  int64_t c = x.shape()[1];
  double n = double(x.numel() / c);
  BatchNormForward local =
      e::batch_norm_forward_train(x, Tensor(), Tensor(), Tensor(), Tensor(), 0.0, eps, false);
  std::vector<double> m = e::to(local.save_mean, Device::cpu()).to_vector(),
                      v = e::to(local.save_var, Device::cpu()).to_vector();
  // One row per rank: [n, m_1..m_C, M2_1..M2_C].
  std::vector<double> row{n};
  row.insert(row.end(), m.begin(), m.end());
  for (double vk : v) row.push_back(vk * n);
  size_t width = row.size();
  // On x's device: the MPI communicator takes host tensors, NCCL's device ones.
  Tensor mine = e::to(Tensor::from_vector(row, {int64_t(width)}, DType::Float64), x.device());
  std::vector<double> rows = e::to(comm.all_gather(mine), Device::cpu()).to_vector();
  int ranks = comm.size();
  double total = 0;
  for (int r = 0; r < ranks; ++r) total += rows[size_t(r) * width];
  SG_CHECK(total > 1, "sync_batch_norm: ", total, " value(s) per channel over ", ranks,
           " rank(s); training needs more than one");
  size_t C = size_t(c);
  std::vector<double> mean(C, 0.0), sq(C, 0.0);
  for (int r = 0; r < ranks; ++r)
    for (size_t k = 0; k < C; ++k)
      mean[k] += rows[size_t(r) * width] * rows[size_t(r) * width + 1 + k] / total;
  for (int r = 0; r < ranks; ++r) {
    double nr = rows[size_t(r) * width];
    for (size_t k = 0; k < C; ++k) {
      double dm = rows[size_t(r) * width + 1 + k] - mean[k];
      sq[k] += rows[size_t(r) * width + 1 + C + k] + nr * dm * dm;
    }
  }
  GlobalStats g;
  std::vector<double> var(C), unbiased(C);
  g.invstd.resize(C);
  for (size_t k = 0; k < C; ++k) {
    var[k] = sq[k] / total;
    g.invstd[k] = 1.0 / std::sqrt(var[k] + eps);
    unbiased[k] = sq[k] / (total - 1);
  }
  g.mean = channel_tensor(mean, local.save_mean.dtype(), x.device());
  g.var = channel_tensor(var, local.save_mean.dtype(), x.device());
  g.count = total;
  // running = (1 - momentum) running + momentum batch, in the running statistics' dtype.
  auto update = [&](const Tensor& running, const std::vector<double>& batch) {
    if (!running.defined()) return;
    Tensor b = channel_tensor(batch, running.dtype(), running.device());
    e::copy_(running, e::add(e::mul(running, 1 - momentum), e::mul(b, momentum)));
  };
  update(running_mean, mean);
  update(running_var, unbiased);
  return g;
}

}  // namespace

Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, Communicator& comm,
                       double momentum, double eps, bool relu) {
  SG_CHECK(x.dim() >= 2, "sync_batch_norm: input of shape ", shape_str(x.shape()),
           ", expected [N, C, ...]");
  GlobalStats s;
  Tensor y;
  {
    NoGradGuard no_grad;
    s = global_statistics(x, running_mean, running_var, comm, momentum, eps);
    y = e::batch_norm_forward_infer(x, weight, bias, s.mean, s.var, eps, relu);
  }
  const char* name = relu ? "sync_batch_norm_relu" : "sync_batch_norm";
  return record(
      name, y, {x, weight, bias},
      [sx = SavedTensor(x), sw = SavedTensor(weight), sy = relu ? SavedTensor(y) : SavedTensor(),
       bias_dtype = bias.defined() ? bias.dtype() : x.dtype(), s, relu, eps, name,
       &comm](const Tensor& g_in, const std::vector<bool>& needs) {
        Tensor x = sx.get(name), w = sw.get(name);
        Tensor g = relu ? e::relu_backward(g_in, sy.get(name)) : g_in;
        int64_t c = x.shape()[1];
        Tensor gamma = w.defined() ? w : Tensor::ones({c}, s.mean.dtype(), x.device());
        BatchNormGrads local = e::batch_norm_backward(g, x, gamma, s.mean, s.var, eps, Tensor());
        Tensor gx;
        if (needs[0]) {
          double n = double(x.numel() / c);
          std::vector<double> mine = e::to(local.dbeta, Device::cpu()).to_vector(),
                              sum_gx = e::to(local.dgamma, Device::cpu()).to_vector();
          mine.insert(mine.end(), sum_gx.begin(), sum_gx.end());
          Tensor both = channel_tensor(mine, DType::Float64, x.device());
          comm.all_reduce(both, ReduceOp::Sum);  // the sums over the global batch
          std::vector<double> global = e::to(both, Device::cpu()).to_vector(),
                              gm = e::to(gamma, Device::cpu()).to_vector(),
                              mean = e::to(s.mean, Device::cpu()).to_vector();
          std::vector<double> a(static_cast<size_t>(c)), b(static_cast<size_t>(c));
          for (size_t k = 0; k < size_t(c); ++k) {
            double scale = gm[k] * s.invstd[k];
            double shift_g = mine[k] / n - global[k] / s.count;
            double shift_gx = mine[size_t(c) + k] / n - global[size_t(c) + k] / s.count;
            b[k] = scale * shift_gx * s.invstd[k];  // xhat = (x - mean) * invstd
            a[k] = scale * shift_g - b[k] * mean[k];
          }
          // One rank: the local means are the global ones and the correction is zero.
          gx = s.count == n ? local.dx
                            : e::add(local.dx, per_channel_affine(x, a, b, s.mean.dtype()));
        }
        Tensor gw = needs[1] ? e::to(local.dgamma, w.dtype()) : Tensor();
        Tensor gb = needs[2] ? e::to(local.dbeta, bias_dtype) : Tensor();
        return Grads{gx, gw, gb};
      });
}

}  // namespace sg
