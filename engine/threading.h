#pragma once
// The number of CPU threads kernels use (OpenMP, and Eigen's GEMM through it).
// Read once from CADENZA_NUM_THREADS (else OMP_NUM_THREADS, else all cores).
namespace cadenza {

void set_num_threads(int n);  // n >= 1
int get_num_threads();

}  // namespace cadenza
