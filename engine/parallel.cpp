#include "engine/parallel.h"

#include <omp.h>

#include "engine/error.h"

namespace sg {

void set_num_threads(int n) {
  SG_CHECK(n >= 1, "thread count must be at least 1, got ", n);
  omp_set_num_threads(n);
}
int num_threads() { return omp_get_max_threads(); }

}  // namespace sg
