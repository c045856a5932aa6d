#pragma once
// Data-parallel training's process group: who this process is among the
// ranks of a run, and the collectives the training loop needs (sum, mean of
// gradients, broadcast, gather), on MPI when the library was built with it
// (CADENZA_MPI) and the process was started by mpirun, or a group of one.
//
// Every collective takes a `what` that names it in errors. A collective
// that waits longer than CADENZA_DIST_TIMEOUT seconds (300 by default) for
// its peers ends this rank with a message naming it, rather than hanging
// when a peer has died or stopped taking part (the launcher then stops the
// others); a rank that fails otherwise stops the group with abort().
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace cadenza::dist {

// A collective did not complete, or the group cannot be used.
struct CommError : Error {
  using Error::Error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string describe() const = 0;  // "MPI, 4 ranks"
  // Sums over the ranks, in place; every rank ends with the same values.
  virtual void allreduce_sum(float* data, int64_t n, const std::string& what) = 0;
  virtual void allreduce_sum(double* data, int64_t n, const std::string& what) = 0;
  // root's bytes into every rank's `data`.
  virtual void broadcast(void* data, int64_t bytes, int root, const std::string& what) = 0;
  // Every rank's bytes, in rank order, at root (the others get nothing).
  virtual std::vector<std::string> gather(const std::string& mine, int root, const std::string& what) = 0;
  // Stops every rank of the group with this exit code (MPI_Abort).
  [[noreturn]] virtual void abort(int code) = 0;
};

// Collectives on one device's memory (NCCL), for ranks that train on GPUs.
// Errors and timeouts as Communicator's.
class DeviceCommunicator {
 public:
  virtual ~DeviceCommunicator() = default;
  virtual Device device() const = 0;
  virtual std::string describe() const = 0;  // "NCCL 2.28.9 on cuda:0"
  // Sums a contiguous f32 or f64 tensor on device() over the ranks, in place.
  virtual void allreduce_sum(Tensor& t, const std::string& what) = 0;
  // root's contiguous tensor into every rank's, in place.
  virtual void broadcast(Tensor& t, int root, const std::string& what) = 0;
};

// Whether this library was built with NCCL (CADENZA_NCCL: CUDA and MPI too).
bool nccl_built();
// NCCL over the ranks of `host` (which carries rank 0's unique id), each on
// its `device`. Throws CommError when NCCL is not built, the device is not a
// CUDA device, or the set-up fails or times out.
std::shared_ptr<DeviceCommunicator> nccl_group(std::shared_ptr<Communicator> host, Device device);

// A group of one process: collectives copy nothing and never wait.
std::shared_ptr<Communicator> single_process();

// Whether this library was built with MPI.
bool mpi_built();
// Whether this process was started by an MPI launcher (mpirun, srun) as one
// of several ranks.
bool mpi_launched();
// MPI_COMM_WORLD. The first call initialises MPI (it is finalised at exit).
// Throws CommError when the library was built without MPI.
std::shared_ptr<Communicator> mpi_world();
// Seconds a collective waits for its peers: CADENZA_DIST_TIMEOUT, else 300.
double collective_timeout();

// This rank's index among the ranks on its machine, from the launcher
// (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID or
// PMI_LOCAL_RANK), else `rank`: which GPU a rank takes.
int local_rank(int rank);

// A per-rank seed derived from the run's seed; rank 0 keeps the run's, so a
// one-process run draws what it drew before data parallelism existed.
uint64_t rank_seed(uint64_t seed, int rank);

// Replaces each parameter's gradient by its mean over the ranks. Gradients
// are packed into fused buckets of at most bucket_bytes per dtype (f32 or
// f64) and all-reduced bucket by bucket; a parameter without a gradient on
// this rank counts as zeros. Every rank must pass the same parameters in the
// same order. Device gradients are packed on their device; with a
// DeviceCommunicator on that device (use_device) they are reduced there,
// else through the host over the Communicator.
class GradientReducer {
 public:
  explicit GradientReducer(std::shared_ptr<Communicator> comm, int64_t bucket_bytes = 25 << 20);
  void operator()(const std::vector<Tensor>& params);
  void use_device(std::shared_ptr<DeviceCommunicator> device) { device_ = std::move(device); }

  int64_t bucket_bytes() const { return bucket_bytes_; }
  // Of the last call: how many buckets and bytes went through the all-reduce.
  int64_t last_buckets() const { return last_buckets_; }
  int64_t last_bytes() const { return last_bytes_; }
  double seconds() const { return seconds_; }  // total time inside all-reduces

 private:
  std::shared_ptr<Communicator> comm_;
  std::shared_ptr<DeviceCommunicator> device_;
  int64_t bucket_bytes_;
  int64_t last_buckets_ = 0, last_bytes_ = 0;
  double seconds_ = 0;
  int64_t calls_ = 0;
};

// Overwrites the tensors of every rank with root's, in place (contiguous
// tensors of one shape on every rank; the error names the mismatch). Device
// tensors go over `device` when it is given and on their device, else
// through the host.
void broadcast_tensors(Communicator& comm, const std::vector<std::pair<std::string, Tensor>>& tensors, int root,
                       const std::string& what, DeviceCommunicator* device = nullptr);

// A 64-bit digest of the tensors' names, shapes, dtypes and bytes, for
// checking that ranks hold bit-identical state.
uint64_t digest(const std::vector<std::pair<std::string, Tensor>>& tensors);

}  // namespace cadenza::dist
