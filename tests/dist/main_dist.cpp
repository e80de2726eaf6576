// The data-parallel suite's main: run by `mpirun -np N` (every rank runs every test case, so the
// collectives line up), one kernel thread per rank. A failure on any rank fails every rank's
// exit code, so CTest sees it whichever rank mpirun reports.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "engine/parallel.h"
#include "tests/dist/world.h"

namespace sg::testing {
std::shared_ptr<Communicator> world() {
  static std::shared_ptr<Communicator> comm = communicator_from_environment();
  return comm;
}
}  // namespace sg::testing

int main(int argc, char** argv) {
  auto comm = sg::testing::world();
  sg::set_num_threads(1);
  doctest::Context context(argc, argv);
  int failed = context.run();
  if (context.shouldExit()) return failed;
  sg::Tensor any = sg::Tensor::full({1}, failed != 0 ? 1.0 : 0.0, sg::DType::Float64);
  comm->all_reduce(any, sg::ReduceOp::Sum);
  if (comm->rank() == 0)
    std::printf("data-parallel suite on %s: %s\n", comm->name().c_str(),
                any.item() == 0 ? "every rank passed" : "a rank failed");
  return any.item() == 0 ? 0 : 1;
}
