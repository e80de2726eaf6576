#pragma once
// Data-parallel training over the ranks of a communicator (engine/communicator.h). Every rank
// holds the same model and trains on its own shard of the global batch:
//   - at the start the parameters and buffers are broadcast from rank 0;
//   - backward runs with the gradients grouped in buckets of about 25 MB, in reverse
//     registration order (about the order backward finishes them); each bucket's all-reduce
//     (mean) starts as soon as its last gradient is final, while the rest of backward runs;
//   - after backward every rank holds the same averaged gradients, so the optimizer step runs
//     identically everywhere. They are views of the bucket buffers (no copy out), valid until
//     the next backward writes the buckets again.
// A parameter no gradient reached on this rank takes part with zeros and then holds the average.
#include <memory>
#include <unordered_map>

#include "engine/communicator.h"
#include "layers/module.h"

namespace sg {

// Gives every BatchNorm of `module` (at any depth) the group it synchronises its statistics
// over (sync_batch_norm); with one rank nothing changes.
void convert_sync_batchnorm(Module& module, std::shared_ptr<Communicator> group);

class DataParallel {
 public:
  DataParallel(Module& model, std::shared_ptr<Communicator> comm,
               size_t bucket_bytes = size_t(25) << 20);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Rank 0's parameters and buffers to every rank.
  void broadcast_state();
  // backward(loss), then the gradients averaged over the ranks.
  void backward(const Tensor& loss);
  size_t bucket_count() const;
  // Bytes every rank all-reduces per backward (all gradients, once).
  size_t gradient_bytes() const;
  // Seconds the last backward waited for gradient all-reduces after its own work was done: the
  // communication that did not overlap it.
  double last_wait_seconds() const { return last_wait_seconds_; }
  Communicator& communicator() { return *comm_; }

 private:
  struct Bucket;
  void launch_ready_buckets();
  void move_transfers_on();
  Module& model_;
  std::shared_ptr<Communicator> comm_;
  std::vector<std::unique_ptr<Bucket>> buckets_;
  std::vector<std::pair<size_t, size_t>> slot_of_;    // parameter index -> (bucket, position)
  std::unordered_map<const void*, size_t> index_of_;  // parameter (Tensor::id) -> index
  NamedTensors params_;
  size_t next_launch_ = 0;     // buckets [0, next_launch_) have started their all-reduce
  size_t oldest_running_ = 0;  // buckets [0, oldest_running_) have finished it
  double last_wait_seconds_ = 0;
};

}  // namespace sg
