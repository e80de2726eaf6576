#include "engine/communicator.h"

#include <cstdlib>

#include "engine/ops.h"

namespace sg {

namespace {

class DoneCollective : public PendingCollective {
 public:
  void wait() override {}
  bool test() override { return true; }
};

// World size 1: sums and means over one rank are the values themselves.
class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "single process"; }
  void all_reduce(Tensor&, ReduceOp) override {}
  std::unique_ptr<PendingCollective> all_reduce_async(Tensor&, ReduceOp) override {
    return std::make_unique<DoneCollective>();
  }
  void broadcast(Tensor&, int root) override {
    SG_CHECK(root == 0, "broadcast from rank ", root, " in a world of 1");
  }
  Tensor all_gather(const Tensor& t) override { return engine::unsqueeze(engine::clone(t), 0); }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

}  // namespace

std::unique_ptr<Communicator> make_single_process_communicator() {
  return std::make_unique<SingleProcessCommunicator>();
}

std::unique_ptr<Communicator> communicator_from_environment() {
  const char* world = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (world && built_with_mpi()) return make_mpi_communicator();
  return make_single_process_communicator();
}

#ifndef SG_WITH_MPI
bool built_with_mpi() { return false; }
std::unique_ptr<Communicator> make_mpi_communicator() {
  SG_CHECK(false, "this stopgrad was built without MPI (install libopenmpi-dev and reconfigure)");
}
#endif

#ifndef SG_WITH_NCCL
bool built_with_nccl() { return false; }
std::unique_ptr<Communicator> make_nccl_communicator(std::shared_ptr<Communicator>) {
  SG_CHECK(false,
           "this stopgrad was built without NCCL (it needs the CUDA toolkit's nccl.h and "
           "libnccl; reconfigure where they are)");
}
#endif

}  // namespace sg
