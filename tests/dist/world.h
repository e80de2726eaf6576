#pragma once
#include <memory>

#include "engine/communicator.h"

namespace sg::testing {
// The job's communicator: MPI under mpirun, one process otherwise.
std::shared_ptr<Communicator> world();
}  // namespace sg::testing
