#include "layers/data_parallel.h"

#include <chrono>
#include <unordered_map>

#include "autograd/autograd.h"
#include "layers/layers.h"

namespace sg {

namespace e = engine;

void convert_sync_batchnorm(Module& module, std::shared_ptr<Communicator> group) {
  if (auto* bn = dynamic_cast<BatchNorm*>(&module)) bn->sync_group = group;
  for (const auto& [name, child] : module.children()) convert_sync_batchnorm(*child, group);
}

struct DataParallel::Bucket {
  std::vector<Tensor> params;  // one dtype per bucket
  size_t ready = 0;
  int64_t numel = 0;
  // The gradients laid end to end, kept from step to step: backward's gradients are copied in,
  // all-reduced in place, and handed back as views of it (no copy out).
  Tensor flat;
  std::unique_ptr<PendingCollective> pending;
};

DataParallel::DataParallel(Module& model, std::shared_ptr<Communicator> comm, size_t bucket_bytes)
    : model_(model), comm_(std::move(comm)), params_(model.named_parameters()) {
  // Reverse registration order: the last layers' gradients are final first.
  std::vector<size_t> order;
  for (size_t i = params_.size(); i-- > 0;)
    if (params_[i].second.requires_grad()) order.push_back(i);
  slot_of_.assign(params_.size(), {SIZE_MAX, 0});
  for (size_t i = 0; i < params_.size(); ++i) index_of_[params_[i].second.id()] = i;
  size_t bytes = 0;
  for (size_t i : order) {
    const Tensor& p = params_[i].second;
    size_t size = size_t(p.numel()) * element_size(p.dtype());
    if (buckets_.empty() || bytes + size > bucket_bytes ||
        buckets_.back()->params.front().dtype() != p.dtype()) {
      buckets_.push_back(std::make_unique<Bucket>());
      bytes = 0;
    }
    slot_of_[i] = {buckets_.size() - 1, buckets_.back()->params.size()};
    buckets_.back()->params.push_back(p);
    buckets_.back()->numel += p.numel();
    bytes += size;
  }
}

DataParallel::~DataParallel() = default;

size_t DataParallel::bucket_count() const { return buckets_.size(); }

size_t DataParallel::gradient_bytes() const {
  size_t bytes = 0;
  for (const auto& b : buckets_)
    for (const Tensor& p : b->params) bytes += size_t(p.numel()) * element_size(p.dtype());
  return bytes;
}

void DataParallel::broadcast_state() {
  NoGradGuard no_grad;
  for (auto& [name, t] : model_.state_dict()) {
    SG_CHECK(t.is_contiguous(), "broadcast_state: '", name, "' is not contiguous");
    comm_->broadcast(t, 0);
  }
}

// Buckets start strictly in their order, so that every rank issues the same collectives in the
// same sequence (MPI requires it), whatever order backward finishes them in.
void DataParallel::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() &&
         buckets_[next_launch_]->ready == buckets_[next_launch_]->params.size()) {
    Bucket& b = *buckets_[next_launch_++];
    const Tensor& first = b.params.front();
    if (!b.flat.defined()) b.flat = Tensor::empty({b.numel}, first.dtype(), first.device());
    int64_t offset = 0;
    for (const Tensor& p : b.params) {
      Tensor slot = e::reshape(e::narrow(b.flat, 0, offset, p.numel()), p.shape());
      if (p.grad().defined())
        e::copy_(slot, p.grad());
      else
        e::fill_(slot, 0.0);
      offset += p.numel();
    }
    b.pending = comm_->all_reduce_async(b.flat, ReduceOp::Mean);
  }
}

// Open MPI moves a non-blocking collective on only inside MPI calls; testing the oldest running
// bucket as each gradient arrives lets its transfer proceed while backward computes. A bucket
// that has finished is passed once and not tested again.
void DataParallel::move_transfers_on() {
  while (oldest_running_ < next_launch_ && buckets_[oldest_running_]->pending->test())
    ++oldest_running_;
}

void DataParallel::backward(const Tensor& loss) {
  for (auto& b : buckets_) b->ready = 0;
  next_launch_ = oldest_running_ = 0;
  auto leaf_ready = [&](const Tensor& leaf) {
    auto it = index_of_.find(leaf.id());
    if (it == index_of_.end() || slot_of_[it->second].first == SIZE_MAX) return;
    ++buckets_[slot_of_[it->second].first]->ready;
    launch_ready_buckets();
    move_transfers_on();
  };
  sg::backward(loss, leaf_ready);
  // Parameters backward never reached (not in this loss's graph) join with zeros.
  for (auto& b : buckets_) b->ready = b->params.size();
  launch_ready_buckets();
  NoGradGuard no_grad;
  last_wait_seconds_ = 0;
  for (auto& b : buckets_) {
    auto start = std::chrono::steady_clock::now();
    b->pending->wait();
    last_wait_seconds_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int64_t offset = 0;
    for (const Tensor& p : b->params) {
      p.set_grad(e::reshape(e::narrow(b->flat, 0, offset, p.numel()), p.shape()));
      offset += p.numel();
    }
    b->pending.reset();
  }
}

}  // namespace sg
