// SyncBatchNorm: batch normalisation whose batch is the union of every rank's batch, built from
// the batch_norm kernels (oneDNN's on the CPU, in whatever layout the convolution left x in),
// so that it costs about what batch_norm costs plus two small exchanges.
//
// Forward. Each rank's batch_norm_forward_train kernel gives its count n_r, mean m_r and biased
// variance v_r per channel (M2_r = n_r v_r); the ranks exchange these, and merging them in double
// (Chan et al.'s parallel variance, with tensor ops on x's device: nothing is read back to the
// host, so on a GPU the step never waits for it) gives the global
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
#include "autograd/ops.h"
#include "engine/ops.h"

namespace sg {

namespace e = engine;

namespace {

// a_k + b_k x per channel k, in x's own (possibly blocked) layout: the inference batch-norm
// kernel with mean 0, variance 1 and eps 0 computes exactly gamma x + beta, so gamma = b and
// beta = a, without a layout change or a generic element-wise pass.
Tensor per_channel_affine(const Tensor& x, const Tensor& a, const Tensor& b) {
  Tensor zeros = Tensor::zeros(a.shape(), a.dtype(), x.device()),
         ones = Tensor::ones(a.shape(), a.dtype(), x.device());
  return e::batch_norm_forward_infer(x, b, a, zeros, ones, 0.0, false);
}

// The global statistics per channel. All of it stays on x's device as tensors: with NCCL a read
// back to the host would wait for the GPU at every BatchNorm of every step.
struct GlobalStats {
  Tensor mean, var;  // in the dtype of the kernel's statistics; var biased, what y is built with
  Tensor invstd64, count64;  // float64 [C] and [1], for the gradient's correction
};

GlobalStats global_statistics(const Tensor& x, const Tensor& running_mean,
                              const Tensor& running_var, Communicator& comm, double momentum,
                              double eps) {
  int64_t c = x.shape()[1];
  double n = double(x.numel() / c);
  // With at least one value on every rank the global batch has more than one value unless a
  // single rank holds a single value; so this local check is exact and needs no exchange.
  SG_CHECK(n >= 1 && (n > 1 || comm.size() > 1), "sync_batch_norm: ", n,
           " value(s) per channel on this rank of ", comm.size(),
           "; training needs at least one per rank and more than one in all");
  // A rank holding one value per channel (a batch of one row per rank through a 1-D BatchNorm)
  // hands the kernel that row twice: mean the row, variance 0, in the dtype the kernel keeps its
  // statistics in; the kernel itself refuses a single value, as batch_norm must.
  Tensor rows_in = n == 1 ? e::cat({e::to_strided(x), e::to_strided(x)}, 0) : x;
  BatchNormForward local =
      e::batch_norm_forward_train(rows_in, Tensor(), Tensor(), Tensor(), Tensor(), 0.0, eps, false);
  const DType f64 = DType::Float64;
  // One row per rank, [n, m_1..m_C, M2_1..M2_C], exchanged in float64.
  Tensor row = e::cat({Tensor::full({1}, n, f64, x.device()), e::to(local.save_mean, f64),
                       e::mul(e::to(local.save_var, f64), n)},
                      0);
  Tensor rows = e::reshape(comm.all_gather(row), {comm.size(), 1 + 2 * c});
  Tensor counts = e::narrow(rows, 1, 0, 1), means = e::narrow(rows, 1, 1, c),
         m2 = e::narrow(rows, 1, 1 + c, c);
  Tensor total = e::sum(counts, {0});  // [1]
  Tensor mean = e::div(e::sum(e::mul(counts, means), {0}), total);
  Tensor dm = e::sub(means, mean);
  Tensor sq = e::sum(e::add(m2, e::mul(counts, e::mul(dm, dm))), {0});
  Tensor var = e::div(sq, total);
  GlobalStats g;
  DType stats = local.save_mean.dtype();
  g.mean = e::to(mean, stats);
  g.var = e::to(var, stats);
  g.invstd64 = e::pow(e::add(var, eps), -0.5);
  g.count64 = total;
  // running = (1 - momentum) running + momentum batch, in the running statistics' dtype; the
  // running variance is the unbiased M2 / (N - 1).
  auto update = [&](const Tensor& running, const Tensor& batch) {
    if (!running.defined()) return;
    Tensor b = e::to(e::to(batch, running.dtype()), running.device());
    e::copy_(running, e::add(e::mul(running, 1 - momentum), e::mul(b, momentum)));
  };
  update(running_mean, mean);
  update(running_var, e::div(sq, e::add(total, -1.0)));
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
          gx = local.dx;  // one rank: the local means are the global ones, no correction
          if (comm.size() > 1) {
            const DType f64 = DType::Float64;
            double n = double(x.numel() / c);
            Tensor mine = e::cat({e::to(local.dbeta, f64), e::to(local.dgamma, f64)}, 0);
            Tensor all = e::clone(mine);
            comm.all_reduce(all, ReduceOp::Sum);  // [G, GX]: the sums over the global batch
            // The local minus the global means of g and g * xhat, per channel.
            Tensor shift = e::sub(e::mul(mine, 1.0 / n), e::div(all, s.count64));
            Tensor shift_g = e::narrow(shift, 0, 0, c), shift_gx = e::narrow(shift, 0, c, c);
            Tensor scale = e::mul(e::to(gamma, f64), s.invstd64);
            // scale * shift_g + scale * shift_gx * xhat, xhat = (x - mean) * invstd: a + b x.
            Tensor b = e::mul(e::mul(scale, shift_gx), s.invstd64);
            // The mean y was normalised with (in the statistics' dtype), as the kernel's xhat.
            Tensor a = e::sub(e::mul(scale, shift_g), e::mul(b, e::to(s.mean, f64)));
            DType dt = s.mean.dtype();
            gx = e::add(local.dx, per_channel_affine(x, e::to(a, dt), e::to(b, dt)));
          }
        }
        Tensor gw = needs[1] ? e::to(local.dgamma, w.dtype()) : Tensor();
        Tensor gb = needs[2] ? e::to(local.dbeta, bias_dtype) : Tensor();
        return Grads{gx, gw, gb};
      });
}

}  // namespace sg
