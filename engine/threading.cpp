#include "engine/threading.h"

#include <omp.h>

#include <Eigen/Core>
#include <cstdlib>
#include <string>

#include "engine/tensor.h"

namespace cadenza {

namespace {
int initial_threads() {
  if (const char* s = std::getenv("CADENZA_NUM_THREADS")) {
    int n = std::atoi(s);
    if (n >= 1) return n;
  }
  return omp_get_max_threads();
}

int& current() {
  static int n = [] {
    int t = initial_threads();
    omp_set_num_threads(t);
    Eigen::setNbThreads(t);
    return t;
  }();
  return n;
}

// Applies CADENZA_NUM_THREADS before the first kernel runs.
[[maybe_unused]] const int kInit = current();
}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: need at least 1 thread, got " + std::to_string(n));
  current() = n;
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int get_num_threads() { return current(); }

}  // namespace cadenza
