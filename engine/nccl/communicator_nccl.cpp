// The NCCL communicator: the GPUs of the ranks of a bootstrap communicator (MPI under mpirun),
// one GPU per rank, the rank's local rank on its machine. CUDA tensors go through NCCL; CPU
// tensors (the kNN monitor's features, scalars) through the bootstrap. NCCL's unique id is made
// on rank 0 and broadcast over the bootstrap.
//
// Streams. Blocking collectives run on the device's stream (engine/cuda/cuda_context.h), so
// stream order alone puts them after the kernels that wrote their tensor and before those that
// read it, as every other op. An asynchronous all-reduce (DataParallel's gradient buckets) runs
// on a stream of its own that first waits for the device stream, so that backward's kernels go on
// beside it; wait() makes the device stream wait for it in turn, without blocking the host.
#include <nccl.h>

#include <cstdlib>
#include <cstring>

#include "engine/communicator.h"
#include "engine/cuda/cuda_context.h"
#include "engine/profile.h"

namespace sg {

namespace {

void check_nccl(ncclResult_t status, const char* what, int rank) {
  SG_CHECK(status == ncclSuccess, what, " failed on rank ", rank, ": ", ncclGetErrorString(status));
}

ncclDataType_t nccl_type(const Tensor& t, const char* what) {
  switch (t.dtype()) {
    case DType::Float32:
      return ncclFloat32;
    case DType::Float64:
      return ncclFloat64;
    case DType::BFloat16:
      return ncclBfloat16;
    case DType::Int64:
      return ncclInt64;
    default:
      SG_CHECK(false, what, ": NCCL collectives take float32, float64, bfloat16 or int64, got ",
               dtype_name(t.dtype()));
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return ncclSum;
    case ReduceOp::Mean:
      return ncclAvg;
    case ReduceOp::Max:
      return ncclMax;
    case ReduceOp::Min:
      return ncclMin;
  }
  return ncclSum;
}

class NcclPending : public PendingCollective {
 public:
  NcclPending(cudaEvent_t done, cudaStream_t device_stream, Tensor t)
      : done_(done), device_stream_(device_stream), t_(std::move(t)) {}
  ~NcclPending() override {
    if (done_) {
      cudaStreamWaitEvent(device_stream_, done_, 0);
      cudaEventDestroy(done_);
    }
  }
  void wait() override {
    KernelTimer timer(OpKind::Collective);
    SG_CUDA_CHECK(cudaStreamWaitEvent(device_stream_, done_, 0));
  }
  bool test() override { return cudaEventQuery(done_) == cudaSuccess; }

 private:
  cudaEvent_t done_ = nullptr;
  cudaStream_t device_stream_;
  Tensor t_;  // kept alive while NCCL writes it
};

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(std::shared_ptr<Communicator> bootstrap)
      : bootstrap_(std::move(bootstrap)) {
    rank_ = bootstrap_->rank();
    size_ = bootstrap_->size();
    int devices = 0;
    SG_CUDA_CHECK(cudaGetDeviceCount(&devices));
    SG_CHECK(bootstrap_->local_rank() < devices, "NCCL: rank ", rank_, " has local rank ",
             bootstrap_->local_rank(), ", but its machine has ", devices,
             " CUDA device(s); start at most one rank per GPU");
    device_ = bootstrap_->local_rank();
    stream_ = cuda::context(device_).stream;  // makes the device current, too
    SG_CUDA_CHECK(cudaStreamCreateWithFlags(&side_stream_, cudaStreamNonBlocking));
    ncclUniqueId id;
    static_assert(sizeof(id) % sizeof(int64_t) == 0);
    Tensor id_tensor = Tensor::zeros({int64_t(sizeof(id) / sizeof(int64_t))}, DType::Int64);
    if (rank_ == 0) {
      check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId", rank_);
      std::memcpy(id_tensor.raw_data(), &id, sizeof(id));
    }
    bootstrap_->broadcast(id_tensor, 0);
    std::memcpy(&id, id_tensor.raw_data(), sizeof(id));
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank", rank_);
  }
  ~NcclCommunicator() override {
    if (comm_) {
      cudaStreamSynchronize(stream_);
      cudaStreamSynchronize(side_stream_);
      ncclCommDestroy(comm_);
    }
    if (side_stream_) cudaStreamDestroy(side_stream_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return bootstrap_->local_rank(); }
  std::string name() const override {
    return "NCCL, " + std::to_string(size_) + " ranks (GPU = local rank; host tensors over " +
           bootstrap_->name() + ")";
  }

  void all_reduce(Tensor& t, ReduceOp op) override {
    if (on_host(t)) return bootstrap_->all_reduce(t, op);
    KernelTimer timer(OpKind::Collective);
    check_operand(t, "all_reduce");
    count(t);
    check_nccl(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()),
                             nccl_type(t, "all_reduce"), nccl_op(op), comm_, stream_),
               "ncclAllReduce", rank_);
  }

  std::unique_ptr<PendingCollective> all_reduce_async(Tensor& t, ReduceOp op) override {
    if (on_host(t)) return bootstrap_->all_reduce_async(t, op);
    KernelTimer timer(OpKind::Collective);
    check_operand(t, "all_reduce_async");
    count(t);
    cudaEvent_t ready = nullptr, done = nullptr;
    SG_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    SG_CUDA_CHECK(cudaEventRecord(ready, stream_));  // t's gradients are written
    SG_CUDA_CHECK(cudaStreamWaitEvent(side_stream_, ready, 0));
    SG_CUDA_CHECK(cudaEventDestroy(ready));
    check_nccl(ncclAllReduce(t.raw_data(), t.raw_data(), size_t(t.numel()),
                             nccl_type(t, "all_reduce_async"), nccl_op(op), comm_, side_stream_),
               "ncclAllReduce", rank_);
    SG_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    SG_CUDA_CHECK(cudaEventRecord(done, side_stream_));
    return std::make_unique<NcclPending>(done, stream_, t);
  }

  void broadcast(Tensor& t, int root) override {
    if (on_host(t)) return bootstrap_->broadcast(t, root);
    KernelTimer timer(OpKind::Collective);
    check_operand(t, "broadcast");
    SG_CHECK(root >= 0 && root < size_, "broadcast from rank ", root, " in a world of ", size_);
    count(t);
    check_nccl(ncclBroadcast(t.raw_data(), t.raw_data(), size_t(t.numel()),
                             nccl_type(t, "broadcast"), root, comm_, stream_),
               "ncclBroadcast", rank_);
  }

  Tensor all_gather(const Tensor& t) override {
    if (on_host(t)) return bootstrap_->all_gather(t);
    KernelTimer timer(OpKind::Collective);
    check_operand(t, "all_gather");
    count(t);
    Shape shape{int64_t(size_)};
    for (int64_t d : t.shape()) shape.push_back(d);
    Tensor out = Tensor::empty(shape, t.dtype(), t.device());
    check_nccl(ncclAllGather(t.raw_data(), out.raw_data(), size_t(t.numel()),
                             nccl_type(t, "all_gather"), comm_, stream_),
               "ncclAllGather", rank_);
    return out;
  }

  void barrier() override {
    KernelTimer timer(OpKind::Collective);
    SG_CUDA_CHECK(cudaStreamSynchronize(stream_));
    SG_CUDA_CHECK(cudaStreamSynchronize(side_stream_));
    bootstrap_->barrier();
  }

  [[noreturn]] void abort(int code) override {
    if (comm_) ncclCommAbort(comm_);  // frees the GPUs of the ranks waiting in a collective
    comm_ = nullptr;
    bootstrap_->abort(code);
    std::exit(code);  // abort() does not return; the compiler cannot know the override's
  }

 private:
  static bool on_host(const Tensor& t) { return t.defined() && t.device().is_cpu(); }
  void check_operand(const Tensor& t, const char* what) const {
    SG_CHECK(t.defined(), what, ": an undefined tensor");
    SG_CHECK(t.device() == Device::cuda(device_), what, ": rank ", rank_, " drives cuda:", device_,
             ", got a tensor on ", t.device().str());
    SG_CHECK(t.is_strided() && t.is_contiguous(), what,
             ": a non-contiguous tensor (collectives work in place)");
  }

  std::shared_ptr<Communicator> bootstrap_;
  int rank_ = 0, size_ = 1, device_ = 0;
  cudaStream_t stream_ = nullptr, side_stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool built_with_nccl() { return true; }

std::unique_ptr<Communicator> make_nccl_communicator(std::shared_ptr<Communicator> bootstrap) {
  SG_CHECK(bootstrap, "make_nccl_communicator: no bootstrap communicator");
  return std::make_unique<NcclCommunicator>(std::move(bootstrap));
}

}  // namespace sg
