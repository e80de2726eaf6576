// The MPI communicator: MPI_COMM_WORLD, CPU tensors, errors returned (not fatal) so that each
// failure becomes an sg::Error naming the collective and the rank.
#include <mpi.h>

#include <cstdlib>

#include "engine/communicator.h"
#include "engine/ops.h"
#include "engine/profile.h"

namespace sg {

namespace {

MPI_Datatype mpi_type(const Tensor& t, const char* what) {
  switch (t.dtype()) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Int64:
      return MPI_INT64_T;
    default:
      SG_CHECK(false, what, ": MPI collectives take float32, float64 or int64 tensors, got ",
               dtype_name(t.dtype()));
  }
}

void check_operand(const Tensor& t, const char* what) {
  SG_CHECK(t.defined(), what, ": an undefined tensor");
  SG_CHECK(t.device().is_cpu(), what, ": the MPI communicator takes CPU tensors, got one on ",
           t.device().str(), " (GPU tensors go through NCCL)");
  SG_CHECK(t.is_contiguous(), what, ": a non-contiguous tensor (collectives work in place)");
}

void check_mpi(int status, const char* what, int rank) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  SG_CHECK(false, what, " failed on rank ", rank, ": ", std::string(text, size_t(length)));
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Max:
      return MPI_MAX;
    case ReduceOp::Min:
      return MPI_MIN;
    default:
      return MPI_SUM;  // Mean: the sum, divided by the size after
  }
}

void divide_by(Tensor& t, int size) {
  if (size > 1) engine::copy_(t, engine::mul(t, 1.0 / double(size)));
}

class MpiPending : public PendingCollective {
 public:
  MpiPending(MPI_Request request, Tensor t, ReduceOp op, int size, int rank)
      : request_(request), t_(std::move(t)), op_(op), size_(size), rank_(rank) {}
  ~MpiPending() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  void wait() override {
    KernelTimer timer(OpKind::Collective);  // the part of the transfer nothing overlapped
    check_mpi(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Iallreduce", rank_);
    if (op_ == ReduceOp::Mean) divide_by(t_, size_);
  }
  bool test() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "MPI_Iallreduce", rank_);
    return done != 0;
  }

 private:
  MPI_Request request_;
  Tensor t_;
  ReduceOp op_;
  int size_, rank_;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      // Collectives are called from the training thread only.
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owns_mpi_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    local_rank_ = local ? std::atoi(local) : rank_;
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owns_mpi_ && !finalised) MPI_Finalize();
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "MPI, " + std::to_string(size_) + " ranks"; }

  void all_reduce(Tensor& t, ReduceOp op) override {
    KernelTimer timer(OpKind::Collective);
    check_operand(t, "all_reduce");
    count(t);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), int(t.numel()), mpi_type(t, "all_reduce"),
                            mpi_op(op), MPI_COMM_WORLD),
              "MPI_Allreduce", rank_);
    if (op == ReduceOp::Mean) divide_by(t, size_);
  }

  std::unique_ptr<PendingCollective> all_reduce_async(Tensor& t, ReduceOp op) override {
    KernelTimer timer(OpKind::Collective);
    check_operand(t, "all_reduce_async");
    count(t);
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), int(t.numel()),
                             mpi_type(t, "all_reduce_async"), mpi_op(op), MPI_COMM_WORLD, &request),
              "MPI_Iallreduce", rank_);
    return std::make_unique<MpiPending>(request, t, op, size_, rank_);
  }

  void broadcast(Tensor& t, int root) override {
    KernelTimer timer(OpKind::Collective);
    check_operand(t, "broadcast");
    count(t);
    SG_CHECK(root >= 0 && root < size_, "broadcast from rank ", root, " in a world of ", size_);
    check_mpi(
        MPI_Bcast(t.raw_data(), int(t.numel()), mpi_type(t, "broadcast"), root, MPI_COMM_WORLD),
        "MPI_Bcast", rank_);
  }

  Tensor all_gather(const Tensor& t) override {
    KernelTimer timer(OpKind::Collective);
    check_operand(t, "all_gather");
    count(t);
    Shape shape{int64_t(size_)};
    for (int64_t d : t.shape()) shape.push_back(d);
    Tensor out = Tensor::empty(shape, t.dtype());
    check_mpi(MPI_Allgather(t.raw_data(), int(t.numel()), mpi_type(t, "all_gather"), out.raw_data(),
                            int(t.numel()), mpi_type(t, "all_gather"), MPI_COMM_WORLD),
              "MPI_Allgather", rank_);
    return out;
  }

  void barrier() override {
    KernelTimer timer(OpKind::Collective);
    check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier", rank_);
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);  // MPI_Abort does not return; the compiler does not know
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool owns_mpi_ = false;
};

}  // namespace

bool built_with_mpi() { return true; }

std::unique_ptr<Communicator> make_mpi_communicator() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace sg
