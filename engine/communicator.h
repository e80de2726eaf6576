#pragma once
// The communicator seam of data-parallel training: the collectives a training step needs, on
// tensors, between the ranks of one job. Implementations: one process (world size 1, no
// library; every collective is the identity), MPI between processes started by `mpirun` (CPU
// tensors), and NCCL between their GPUs (CUDA tensors). What the ranks compute with them is in
// autograd/ (sync_batch_norm) and layers/ (data_parallel.h).
#include <memory>
#include <string>

#include "engine/backend.h"  // ReduceOp
#include "engine/tensor.h"

namespace sg {

// A collective started and not yet finished (its tensor must stay alive and untouched).
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual void wait() = 0;
  // Whether it has finished; calling it also lets the library move the transfer on (Open MPI
  // progresses non-blocking collectives only inside MPI calls).
  virtual bool test() = 0;
};

// What this rank has handed to collectives so far: calls, and payload bytes (the size of its own
// tensor; what crosses the wire depends on the algorithm: a ring all-reduce sends about
// 2 (N-1)/N times it, an all-gather (N-1) times).
struct CollectiveTraffic {
  long calls = 0;
  double bytes = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  const CollectiveTraffic& traffic() const { return traffic_; }
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;  // the rank among the processes of this machine
  virtual std::string name() const = 0;

  // In place: every rank ends with the element-wise sum, mean, max or min over the ranks.
  virtual void all_reduce(Tensor& t, ReduceOp op) = 0;
  // Starts an all-reduce that runs while the caller goes on (gradient buckets in backward).
  virtual std::unique_ptr<PendingCollective> all_reduce_async(Tensor& t, ReduceOp op) = 0;
  // In place: every rank ends with root's values.
  virtual void broadcast(Tensor& t, int root) = 0;
  // Every rank's t (same shape on every rank) stacked in rank order along a new first dim:
  // [size, ...t.shape].
  virtual Tensor all_gather(const Tensor& t) = 0;
  virtual void barrier() = 0;
  // Ends the whole job now with `code` (MPI_Abort): what a rank does when it fails, so that the
  // others do not wait for it forever.
  [[noreturn]] virtual void abort(int code) = 0;

 protected:
  void count(const Tensor& t) {
    traffic_.calls += 1;
    traffic_.bytes += double(t.numel()) * double(element_size(t.dtype()));
  }

 private:
  CollectiveTraffic traffic_;
};

// One process: rank 0 of 1.
std::unique_ptr<Communicator> make_single_process_communicator();
// MPI_COMM_WORLD; initialises MPI. Throws when stopgrad was built without MPI.
std::unique_ptr<Communicator> make_mpi_communicator();
// MPI when this process was started by mpirun (OMPI_COMM_WORLD_SIZE is set), else one process.
std::unique_ptr<Communicator> communicator_from_environment();
bool built_with_mpi();
// NCCL between the GPUs of `bootstrap`'s ranks (engine/nccl/communicator_nccl.cpp): rank r drives
// cuda:<its local rank>; CUDA tensors go through NCCL, CPU tensors through `bootstrap` (MPI
// under mpirun; one process works too). Throws when stopgrad was built without NCCL.
std::unique_ptr<Communicator> make_nccl_communicator(std::shared_ptr<Communicator> bootstrap);
bool built_with_nccl();

}  // namespace sg
