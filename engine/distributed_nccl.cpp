// NCCL collectives for ranks that train on GPUs (CADENZA_NCCL). The ranks
// find each other through the host communicator (MPI carries rank 0's
// unique id), then reduce and broadcast device memory directly.
//
// The communicator is nonblocking (NCCL's config.blocking = 0): set-up and
// every collective return at once, and wait() polls NCCL's asynchronous
// error and the stream. start_allreduce_sum (a gradient bucket that
// backward has made final, overlapped with the rest of backward) runs the
// collective on a communication stream of its own, after an event recorded
// on the compute stream once the bucket is packed; its handle polls an
// event recorded after it. A peer that died or stopped taking part leaves the
// operation pending; after collective_timeout() this rank aborts the
// communicator and throws a CommError naming the collective, as PyTorch's
// NCCL watchdog does, instead of hanging.
#include <cadenza/config.h>

#include <chrono>
#include <thread>

#include "engine/distributed.h"

#if CADENZA_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include "kernels/cuda/runtime.h"
#endif

namespace cadenza::dist {

bool nccl_built() { return CADENZA_HAVE_NCCL != 0; }

#if CADENZA_HAVE_NCCL

namespace {

class NcclGroup : public DeviceCommunicator {
 public:
  NcclGroup(std::shared_ptr<Communicator> host, Device device) : host_(std::move(host)), device_(device) {
    cuda_check(cudaSetDevice(device.index), "cudaSetDevice");
    ncclUniqueId id{};
    if (host_->rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    host_->broadcast(&id, sizeof id, 0, "broadcast of NCCL's unique id");
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&comm_, host_->size(), id, host_->rank(), &config);
    wait("NCCL's set-up on " + device.str(), r, false);
    int v = 0;
    ncclGetVersion(&v);
    version_ = std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  }
  ~NcclGroup() override {
    if (comm_) ncclCommDestroy(comm_);
    if (comm_stream_) cudaStreamDestroy(comm_stream_);
  }

  Device device() const override { return device_; }
  // The stream the engine's kernels run on for this thread (engine/stream.h's
  // current stream of the device; null, the default stream, unless a
  // StreamGuard says otherwise): the collectives are ordered after it.
  cudaStream_t compute() const { return static_cast<cudaStream_t>(cadenza::cuda::current_stream(device_.index)); }
  std::string describe() const override { return "NCCL " + version_ + " on " + device_.str(); }

  void allreduce_sum(Tensor& t, const std::string& what) override {
    check_tensor(t, what);
    if (t.dtype() != DType::f32 && t.dtype() != DType::f64)
      throw CommError(what + ": NCCL all-reduces f32 or f64 here, got " + dtype_name(t.dtype()));
    ncclDataType_t type = t.dtype() == DType::f32 ? ncclFloat32 : ncclFloat64;
    // On the stream the engine's kernels run on.
    ncclResult_t r = ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), type, ncclSum, comm_,
                                   compute());
    wait(what, r, true);
  }

  std::unique_ptr<PendingCollective> start_allreduce_sum(Tensor& t,
                                                         const std::string& what) override;

  void broadcast(Tensor& t, int root, const std::string& what) override {
    check_tensor(t, what);
    const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
    ncclResult_t r = ncclBroadcast(t.raw_data(), t.raw_data(), bytes, ncclUint8, root, comm_, compute());
    wait(what, r, true);
  }

 private:
  void check_tensor(const Tensor& t, const std::string& what) const {
    if (!comm_) throw CommError(what + ": the NCCL communicator was aborted after an earlier failure");
    if (t.device() != device_)
      throw CommError(what + ": a tensor on " + t.device().str() + " given to NCCL's group on " + device_.str());
    if (!t.is_contiguous()) throw CommError(what + ": NCCL needs a contiguous tensor");
  }

  std::string last_error() const {
    const char* e = comm_ ? ncclGetLastError(comm_) : nullptr;
    return e && *e ? e : "no detail";
  }
  static void cuda_check(cudaError_t e, const char* call) {
    if (e != cudaSuccess) throw CommError(std::string(call) + " failed: " + cudaGetErrorString(e));
  }
  static void nccl_check(ncclResult_t r, const char* call) {
    if (r != ncclSuccess) throw CommError(std::string(call) + " failed: " + ncclGetErrorString(r));
  }

  friend class NcclPending;

  // Aborts the communicator (a collective a dead peer left would never
  // end) and names this rank and the collective.
  [[noreturn]] void fail(const std::string& what, const std::string& why) {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    throw CommError("rank " + std::to_string(host_->rank()) + " of " +
                    std::to_string(host_->size()) + ": " + what + " failed: " + why);
  }
  [[noreturn]] void fail_timeout(const std::string& what, double timeout) {
    fail(what, "it did not complete within " + std::to_string(static_cast<int>(timeout)) +
                   " s (CADENZA_DIST_TIMEOUT): a peer died or stopped taking part");
  }
  // Whether NCCL has taken every call issued so far (its asynchronous state
  // is ncclSuccess); an error fails.
  bool issued(const std::string& what) {
    if (!comm_)
      throw CommError(what + ": the NCCL communicator was aborted after an earlier failure");
    ncclResult_t state = ncclSuccess;
    ncclResult_t q = ncclCommGetAsyncError(comm_, &state);
    if (q != ncclSuccess)
      fail(what, std::string("ncclCommGetAsyncError: ") + ncclGetErrorString(q));
    if (state != ncclSuccess && state != ncclInProgress)
      fail(what, std::string(ncclGetErrorString(state)) + " (" + last_error() + ")");
    return state == ncclSuccess;
  }

  // Until the operation (and with `stream`, the compute stream) is done.
  void wait(const std::string& what, ncclResult_t issued_now, bool stream) {
    if (issued_now != ncclSuccess && issued_now != ncclInProgress)
      fail(what, std::string(ncclGetErrorString(issued_now)) + " (" + last_error() + ")");
    const double timeout = collective_timeout();
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      if (issued(what)) {
        if (!stream) return;
        cudaError_t s = cudaStreamQuery(compute());
        if (s == cudaSuccess) return;
        if (s != cudaErrorNotReady) fail(what, std::string("the stream: ") + cudaGetErrorString(s));
      }
      double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout) fail_timeout(what, timeout);
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  std::shared_ptr<Communicator> host_;
  Device device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;  // the overlapped all-reduces
  std::string version_;
};

// An all-reduce on the communication stream: done when the event recorded
// after it has fired, and NCCL reports no error.
class NcclPending : public PendingCollective {
 public:
  NcclPending(NcclGroup& group, cudaEvent_t done, std::string what)
      : group_(group), done_event_(done), what_(std::move(what)) {}
  ~NcclPending() override {
    // Safe while the event is pending: CUDA releases it once it fires.
    cudaEventDestroy(done_event_);
  }
  bool test() override {
    if (done_) return true;
    group_.issued(what_);  // fails on NCCL's asynchronous error
    cudaError_t s = cudaEventQuery(done_event_);
    if (s == cudaErrorNotReady) return false;
    if (s != cudaSuccess)
      group_.fail(what_, std::string("the communication stream: ") + cudaGetErrorString(s));
    done_ = true;
    return true;
  }
  void wait() override {
    const double timeout = collective_timeout();
    const auto start = std::chrono::steady_clock::now();
    while (!test()) {
      double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout) group_.fail_timeout(what_, timeout);
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

 private:
  NcclGroup& group_;
  cudaEvent_t done_event_;
  std::string what_;
  bool done_ = false;
};

std::unique_ptr<PendingCollective> NcclGroup::start_allreduce_sum(Tensor& t,
                                                                  const std::string& what) {
  check_tensor(t, what);
  if (t.dtype() != DType::f32 && t.dtype() != DType::f64)
    throw CommError(what + ": NCCL all-reduces f32 or f64 here, got " + dtype_name(t.dtype()));
  ncclDataType_t type = t.dtype() == DType::f32 ? ncclFloat32 : ncclFloat64;
  // Non-blocking towards the compute stream (the default one unless a
  // StreamGuard says otherwise): a blocking stream would serialise with the
  // legacy default stream, and nothing would overlap.
  if (!comm_stream_)
    cuda_check(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags");
  // The collective waits for the bucket's packing on the compute stream,
  // and for nothing the compute stream queues after it (the rest of
  // backward).
  cudaEvent_t packed = nullptr;
  cuda_check(cudaEventCreateWithFlags(&packed, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  cudaError_t e = cudaEventRecord(packed, compute());
  if (e == cudaSuccess) e = cudaStreamWaitEvent(comm_stream_, packed, 0);
  cudaEventDestroy(packed);
  cuda_check(e, "cudaEventRecord/cudaStreamWaitEvent");
  ncclResult_t r = ncclAllReduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), type,
                                 ncclSum, comm_, comm_stream_);
  wait(what, r, false);  // until NCCL has queued it (a nonblocking communicator), not until it ran
  cudaEvent_t done = nullptr;
  cuda_check(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  e = cudaEventRecord(done, comm_stream_);
  if (e != cudaSuccess) {
    cudaEventDestroy(done);
    cuda_check(e, "cudaEventRecord");
  }
  return std::make_unique<NcclPending>(*this, done, what);
}

}  // namespace

std::shared_ptr<DeviceCommunicator> nccl_group(std::shared_ptr<Communicator> host, Device device) {
  if (!host) throw CommError("NCCL: no host communicator to find the ranks with");
  if (device.kind != Device::cuda) throw CommError("NCCL: " + device.str() + " is not a CUDA device");
  return std::make_shared<NcclGroup>(std::move(host), device);
}

#else

std::shared_ptr<DeviceCommunicator> nccl_group(std::shared_ptr<Communicator>, Device) {
  throw CommError(
      "this cadenza was built without NCCL (CADENZA_NCCL needs CUDA, MPI and NCCL's nccl.h and libnccl: "
      "configure with them)");
}

#endif

}  // namespace cadenza::dist
