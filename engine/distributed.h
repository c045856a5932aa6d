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

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace cadenza::dist {

// A collective did not complete, or the group cannot be used.
struct CommError : Error {
  using Error::Error;
};

// A collective that was started and has not been waited for: MPI's
// nonblocking all-reduce (MPI_Iallreduce), or NCCL's on a stream of its own.
// Its buffer must stay alive and untouched until test() or wait() says it
// is done.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Whether it is done; never waits. Each call also moves it on: MPI
  // progresses a nonblocking collective only inside MPI calls.
  virtual bool test() = 0;
  // Until it is done, polled; after collective_timeout() a CommError naming
  // the collective and this rank.
  virtual void wait() = 0;
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
  // The same sum, started and not waited for. By default the blocking sum,
  // done when this returns (a group of one; stand-ins in tests).
  virtual std::unique_ptr<PendingCollective> start_allreduce_sum(float* data, int64_t n,
                                                                 const std::string& what);
  virtual std::unique_ptr<PendingCollective> start_allreduce_sum(double* data, int64_t n,
                                                                 const std::string& what);
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
  // The same sum, started after the work queued so far on the device (the
  // tensor's packing) and run on a communication stream of its own, so the
  // compute stream goes on with backward; `t` must stay alive and untouched
  // until the handle is done. By default the blocking sum, done on return.
  virtual std::unique_ptr<PendingCollective> start_allreduce_sum(Tensor& t,
                                                                 const std::string& what);
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

// Throws CommError unless every parameter is f32 or f64 and every rank
// passes as many parameters of as many values (a collective): else the
// buckets would silently pair different tensors.
void check_reducible(Communicator& comm, const std::vector<Tensor>& params);

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

// Whether data-parallel training overlaps the gradients' all-reduce with
// backward (OverlappedReducer) or runs it after (GradientReducer):
// CADENZA_DIST_OVERLAP=0 turns it off, 1 or unset leaves it on.
bool overlap_enabled();

// GradientReducer's averaging, overlapped with the backward pass (as
// PyTorch's DistributedDataParallel does it). Made once for a fixed list of
// parameters, it forms buckets of at most bucket_bytes per dtype and device
// from them in reverse order (backward reaches the last layers first) and
// registers a post-accumulate-grad hook on each. Between prepare() and
// finish(), a backward pass that makes every gradient of a bucket final
// starts that bucket's all-reduce at once: MPI_Iallreduce on the host
// (progressed by MPI_Test from later hooks), or the DeviceCommunicator's on
// its communication stream. Buckets start in index order on every rank, as
// the collectives must pair up, whatever order the gradients arrive in; so
// a parameter that gets no gradient would hold back every bucket after its
// own, unless prepare() is given the pass's outputs and finds it unreached.
//
// finish() starts the buckets backward did not complete (a parameter
// without a gradient counts as zeros, as in GradientReducer), waits for all
// of them (each wait polled against CADENZA_DIST_TIMEOUT), and replaces
// each gradient by its mean over the ranks. The results are GradientReducer's
// bit for bit: every value is the same sum of the same per-rank values, then
// the same scaling. finish() without prepare() does the whole reduction
// there, after a backward the reducer was not told of.
//
// Every rank must make it with the same parameters in the same order (the
// constructor checks the sizes over the ranks, a collective). Not copyable;
// the destructor removes the hooks.
class OverlappedReducer {
 public:
  OverlappedReducer(std::shared_ptr<Communicator> comm, std::vector<Tensor> params,
                    int64_t bucket_bytes = 25 << 20);
  ~OverlappedReducer();
  OverlappedReducer(const OverlappedReducer&) = delete;
  OverlappedReducer& operator=(const OverlappedReducer&) = delete;
  void use_device(std::shared_ptr<DeviceCommunicator> device) { device_ = std::move(device); }

  // Before the backward pass whose gradients the next finish() averages,
  // from `outputs` (the loss): the parameters their graph does not reach
  // count as final at once. Without outputs, none do.
  void prepare(const std::vector<Tensor>& outputs = {});
  // After it, before the optimizer step.
  void finish();

  const std::vector<Tensor>& params() const { return params_; }
  int64_t bucket_bytes() const { return bucket_bytes_; }
  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Of the last finish(): buckets and bytes all-reduced, and how many of
  // the buckets started during backward (before finish()).
  int64_t last_buckets() const { return last_buckets_; }
  int64_t last_bytes() const { return last_bytes_; }
  int64_t last_started_in_backward() const { return last_started_in_backward_; }
  // Total time in the reduction's own code: prepare(), the hooks (packing,
  // starting, testing) and finish() (starting the rest, waiting,
  // unpacking). What backward hid is not in it.
  double seconds() const { return seconds_; }

 private:
  struct Bucket;
  void on_ready(size_t param);
  void start_ready_buckets();
  void start(Bucket& b);
  void progress();
  void complete(Bucket& b);

  std::shared_ptr<Communicator> comm_;
  std::shared_ptr<DeviceCommunicator> device_;
  std::vector<Tensor> params_;
  int64_t bucket_bytes_;
  std::vector<std::unique_ptr<Bucket>> buckets_;
  std::vector<size_t> bucket_of_;  // parameter -> bucket
  std::vector<char> ready_;        // parameter -> final in this pass
  std::vector<HookHandle> hooks_;
  size_t next_start_ = 0;  // buckets start in index order
  bool armed_ = false;
  int64_t calls_ = 0;
  int64_t last_buckets_ = 0, last_bytes_ = 0, last_started_in_backward_ = 0;
  double seconds_ = 0;
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
