#include "engine/distributed.h"

#include "engine/autograd.h"
#include "engine/ops.h"

#include <cadenza/config.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <thread>

#if CADENZA_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API alone: no C++ bindings to link
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace cadenza::dist {

namespace {

class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "one process"; }
  void allreduce_sum(float*, int64_t, const std::string&) override {}
  void allreduce_sum(double*, int64_t, const std::string&) override {}
  void broadcast(void*, int64_t, int root, const std::string& what) override { check_root(root, what); }
  std::vector<std::string> gather(const std::string& mine, int root, const std::string& what) override {
    check_root(root, what);
    return {mine};
  }
  [[noreturn]] void abort(int code) override { std::exit(code); }

 private:
  static void check_root(int root, const std::string& what) {
    if (root != 0) throw CommError(what + ": root rank " + std::to_string(root) + " is outside a group of 1");
  }
};

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v;
}

}  // namespace

namespace {

// A collective that completed before its handle was made.
class Completed : public PendingCollective {
 public:
  bool test() override { return true; }
  void wait() override {}
};

}  // namespace

std::unique_ptr<PendingCollective> Communicator::start_allreduce_sum(float* data, int64_t n,
                                                                     const std::string& what) {
  allreduce_sum(data, n, what);
  return std::make_unique<Completed>();
}

std::unique_ptr<PendingCollective> Communicator::start_allreduce_sum(double* data, int64_t n,
                                                                     const std::string& what) {
  allreduce_sum(data, n, what);
  return std::make_unique<Completed>();
}

std::unique_ptr<PendingCollective> DeviceCommunicator::start_allreduce_sum(
    Tensor& t, const std::string& what) {
  allreduce_sum(t, what);
  return std::make_unique<Completed>();
}

bool overlap_enabled() {
  const char* v = std::getenv("CADENZA_DIST_OVERLAP");
  if (!v || !*v) return true;
  const std::string s = v;
  if (s == "1" || s == "on" || s == "true") return true;
  if (s == "0" || s == "off" || s == "false") return false;
  throw CommError(
      "CADENZA_DIST_OVERLAP must be 1 (overlap the all-reduce with backward) or 0 (after it), got "
      "'" +
      s + "'");
}

std::shared_ptr<Communicator> single_process() { return std::make_shared<SingleProcess>(); }

bool mpi_built() { return CADENZA_HAVE_MPI != 0; }

bool mpi_launched() {
  for (const char* size_var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    const char* v = std::getenv(size_var);
    if (v && std::atoi(v) > 1) return true;
  }
  return env_set("PMIX_RANK") && env_set("OMPI_COMM_WORLD_RANK") && std::atoi(std::getenv("OMPI_COMM_WORLD_SIZE")) > 1;
}

double collective_timeout() {
  const char* v = std::getenv("CADENZA_DIST_TIMEOUT");
  if (!v || !*v) return 300;
  char* end = nullptr;
  double s = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(s > 0))
    throw CommError(std::string("CADENZA_DIST_TIMEOUT must be a positive number of seconds, got '") + v + "'");
  return s;
}

int local_rank(int rank) {
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID", "PMI_LOCAL_RANK"}) {
    const char* v = std::getenv(var);
    if (v && *v && std::strspn(v, "0123456789") == std::strlen(v)) return std::atoi(v);
  }
  return rank;
}

uint64_t rank_seed(uint64_t seed, int rank) {
  if (rank == 0) return seed;
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank);  // splitmix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

#if CADENZA_HAVE_MPI

namespace {

std::string mpi_error_text(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, buf, &len);
  return std::string(buf, static_cast<size_t>(len));
}

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// Ends this rank when a collective has waited longer than the timeout: a
// peer has died or stopped taking part, and the collective would never
// return. The message names the collective; the launcher then stops the
// other ranks (as PyTorch's NCCL watchdog ends a process whose collective
// timed out). A thread of its own, since a blocked MPI call cannot time out.
class Watchdog {
 public:
  Watchdog(int rank, int size, double timeout) : rank_(rank), size_(size), timeout_(timeout) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void enter(const std::string& what) {
    std::lock_guard<std::mutex> lock(m_);
    if (!thread_.joinable()) thread_ = std::thread([this] { watch(); });
    what_ = what;
    since_ = std::chrono::steady_clock::now();
    active_ = true;
    ++epoch_;
    cv_.notify_all();
  }
  void leave() {
    std::lock_guard<std::mutex> lock(m_);
    active_ = false;
  }

 private:
  void watch() {
    std::unique_lock<std::mutex> lock(m_);
    while (!stop_) {
      if (!active_) {
        cv_.wait(lock);
        continue;
      }
      const uint64_t epoch = epoch_;
      const auto deadline = since_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                         std::chrono::duration<double>(timeout_));
      if (cv_.wait_until(lock, deadline, [&] { return stop_ || !active_ || epoch_ != epoch; })) continue;
      std::fprintf(stderr,
                   "cadenza: rank %d of %d: %s did not complete within %g s (CADENZA_DIST_TIMEOUT): another rank "
                   "has died, failed or stopped taking part; stopping\n",
                   rank_, size_, what_.c_str(), timeout_);
      std::fflush(stderr);
      std::_Exit(1);
    }
  }

  int rank_, size_;
  double timeout_;
  std::mutex m_;
  std::condition_variable cv_;
  std::thread thread_;
  std::string what_;
  std::chrono::steady_clock::time_point since_;
  bool active_ = false, stop_ = false;
  uint64_t epoch_ = 0;
};

// MPI_Iallreduce's requests for one buffer (several when it holds more
// than an int's count of values). No watchdog thread here: wait() polls
// MPI_Test against the timeout itself, as the NCCL path polls its stream.
class MpiPending : public PendingCollective {
 public:
  MpiPending(std::vector<MPI_Request> requests, std::string what, int rank, int size)
      : requests_(std::move(requests)), what_(std::move(what)), rank_(rank), size_(size) {}
  bool test() override {
    if (done_) return true;
    int flag = 0;
    int rc = MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag,
                         MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS)
      throw CommError("rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " +
                      what_ + ": " + mpi_error_text(rc));
    done_ = flag != 0;
    return done_;
  }
  void wait() override {
    const double timeout = collective_timeout();
    const auto start = std::chrono::steady_clock::now();
    for (int polls = 0; !test(); ++polls) {
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout) {
        char limit[32];
        std::snprintf(limit, sizeof limit, "%g", timeout);
        throw CommError(
            "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " + what_ +
            " did not complete within " + limit +
            " s (CADENZA_DIST_TIMEOUT): another rank has died, failed or stopped taking part");
      }
      // Spin first, as MPI's blocking collectives do; then leave the core
      // to the other ranks and threads of a shared machine.
      if (polls < 1000)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

 private:
  std::vector<MPI_Request> requests_;
  std::string what_;
  int rank_, size_;
  bool done_ = false;
};

// MPI_COMM_WORLD, with MPI's own (blocking, tuned) collectives, each
// watched by the Watchdog.
class MpiWorld : public Communicator {
 public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      if (rc != MPI_SUCCESS) throw CommError("MPI_Init_thread failed: " + mpi_error_text(rc));
      std::atexit(finalize_mpi);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    watchdog_ = std::make_unique<Watchdog>(rank_, size_, collective_timeout());
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override { return "MPI, " + std::to_string(size_) + " ranks"; }

  void allreduce_sum(float* data, int64_t n, const std::string& what) override {
    allreduce(data, n, MPI_FLOAT, sizeof(float), what);
  }
  void allreduce_sum(double* data, int64_t n, const std::string& what) override {
    allreduce(data, n, MPI_DOUBLE, sizeof(double), what);
  }
  std::unique_ptr<PendingCollective> start_allreduce_sum(float* data, int64_t n,
                                                         const std::string& what) override {
    return start_allreduce(data, n, MPI_FLOAT, sizeof(float), what);
  }
  std::unique_ptr<PendingCollective> start_allreduce_sum(double* data, int64_t n,
                                                         const std::string& what) override {
    return start_allreduce(data, n, MPI_DOUBLE, sizeof(double), what);
  }
  void broadcast(void* data, int64_t bytes, int root, const std::string& what) override {
    check_root(root, what);
    auto* p = static_cast<char*>(data);
    Watched w(*this, what);
    for (int64_t done = 0; done < bytes;) {
      int chunk = static_cast<int>(std::min<int64_t>(bytes - done, kChunk));
      check(MPI_Bcast(p + done, chunk, MPI_BYTE, root, MPI_COMM_WORLD), what);
      done += chunk;
    }
  }
  std::vector<std::string> gather(const std::string& mine, int root, const std::string& what) override {
    check_root(root, what);
    if (mine.size() > static_cast<size_t>(INT_MAX)) throw CommError(what + ": more than 2 GB from one rank");
    Watched w(*this, what);
    int len = static_cast<int>(mine.size());
    std::vector<int> lens(rank_ == root ? size_ : 0);
    check(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, root, MPI_COMM_WORLD), what);
    std::vector<int> offsets(lens.size());
    int64_t total = 0;
    for (size_t i = 0; i < lens.size(); ++i) {
      offsets[i] = static_cast<int>(total);
      total += lens[i];
    }
    if (total > INT_MAX) throw CommError(what + ": more than 2 GB in all");
    std::string all(static_cast<size_t>(total), '\0');
    check(MPI_Gatherv(mine.data(), len, MPI_BYTE, all.data(), lens.data(), offsets.data(), MPI_BYTE, root,
                      MPI_COMM_WORLD),
          what);
    std::vector<std::string> out;
    for (size_t i = 0; i < lens.size(); ++i) out.push_back(all.substr(offsets[i], lens[i]));
    return out;
  }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  static constexpr int64_t kChunk = int64_t{1} << 28;

  struct Watched {
    Watched(MpiWorld& w, const std::string& what) : w_(w) { w_.watchdog_->enter(what); }
    ~Watched() { w_.watchdog_->leave(); }
    MpiWorld& w_;
  };

  void check_root(int root, const std::string& what) const {
    if (root < 0 || root >= size_)
      throw CommError(what + ": root rank " + std::to_string(root) + " is outside a group of " +
                      std::to_string(size_));
  }
  void check(int rc, const std::string& what) const {
    if (rc != MPI_SUCCESS) throw CommError("rank " + std::to_string(rank_) + ": " + what + ": " + mpi_error_text(rc));
  }
  void allreduce(void* data, int64_t n, MPI_Datatype type, size_t elem, const std::string& what) {
    auto* p = static_cast<char*>(data);
    Watched w(*this, what);
    for (int64_t done = 0; done < n;) {
      int chunk = static_cast<int>(std::min<int64_t>(n - done, kChunk));
      check(MPI_Allreduce(MPI_IN_PLACE, p + done * elem, chunk, type, MPI_SUM, MPI_COMM_WORLD), what);
      done += chunk;
    }
  }

  std::unique_ptr<PendingCollective> start_allreduce(void* data, int64_t n, MPI_Datatype type,
                                                     size_t elem, const std::string& what) {
    auto* p = static_cast<char*>(data);
    std::vector<MPI_Request> requests;
    for (int64_t done = 0; done < n;) {
      int chunk = static_cast<int>(std::min<int64_t>(n - done, kChunk));
      requests.push_back(MPI_REQUEST_NULL);
      check(MPI_Iallreduce(MPI_IN_PLACE, p + done * elem, chunk, type, MPI_SUM, MPI_COMM_WORLD,
                           &requests.back()),
            what);
      done += chunk;
    }
    return std::make_unique<MpiPending>(std::move(requests), what, rank_, size_);
  }

  int rank_ = 0, size_ = 1;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace

std::shared_ptr<Communicator> mpi_world() {
  static std::shared_ptr<Communicator> world = std::make_shared<MpiWorld>();
  return world;
}

#else

std::shared_ptr<Communicator> mpi_world() {
  throw CommError(
      "this cadenza was built without MPI (CADENZA_MPI is off: install openmpi-bin and libopenmpi-dev and "
      "configure again)");
}

#endif

// ---- tensors over a communicator ----------------------------------------

GradientReducer::GradientReducer(std::shared_ptr<Communicator> comm, int64_t bucket_bytes)
    : comm_(std::move(comm)), bucket_bytes_(bucket_bytes) {
  if (!comm_) throw CommError("GradientReducer: no communicator");
  if (bucket_bytes_ < 8) throw CommError("GradientReducer: bucket_bytes must be at least 8");
}

namespace {

// The packed device gradients summed over the ranks through host memory
// and scaled on the host, as the CPU path scales them.
template <class T>
Tensor reduce_through_host(Communicator& comm, const std::vector<Tensor>& parts, T scale, const std::string& what) {
  Tensor host = (parts.size() == 1 ? parts[0] : concat(parts, 0)).to(Device{}).contiguous();
  T* buf = host.data<T>();
  const int64_t n = host.numel();
  comm.allreduce_sum(buf, n, what);
  for (int64_t i = 0; i < n; ++i) buf[i] *= scale;
  return host;
}

// The gradients of `members` on a device, packed into one bucket there,
// reduced over NCCL when `on_device` is on that device, else through the
// host (the CPU path's values: the same sums, the same scaling), and
// scattered back as views of one device tensor.
template <class T>
void reduce_device_bucket(Communicator& comm, DeviceCommunicator* on_device, const std::vector<const Tensor*>& members,
                          DType dt, const std::string& what) {
  const Device dev = members.front()->device();
  std::vector<Tensor> parts;
  for (const Tensor* p : members) {
    Tensor g = p->grad();
    if (g.defined() && g.shape() != p->shape())
      throw CommError("gradient reduction: a gradient of shape " + shape_str(g.shape()) +
                      " belongs to a parameter of shape " + shape_str(p->shape()));
    if (g.defined() && g.device() != dev)
      throw CommError("gradient reduction: a gradient on " + g.device().str() + " belongs to a parameter on " +
                      dev.str());
    parts.push_back(g.defined() ? reshape(to_dtype(g.detach(), dt), {p->numel()})
                                : Tensor::zeros({p->numel()}, dt, dev));
  }
  const T scale = static_cast<T>(1.0 / comm.size());
  Tensor back;
  if (on_device && on_device->device() == dev) {
    // On the device: the packed bucket is a fresh tensor, reduced in place.
    Tensor flat = parts.size() == 1 ? parts[0].clone() : concat(parts, 0);
    on_device->allreduce_sum(flat, what);
    back = mul(flat, Tensor::scalar(static_cast<double>(scale), dt));
  } else {
    back = reduce_through_host<T>(comm, parts, scale, what).to(dev);
  }
  int64_t off = 0;
  for (const Tensor* p : members) {
    Tensor g = reshape(narrow(back, 0, off, p->numel()), p->shape());
    off += p->numel();
    p->set_grad(g);
  }
}

template <class T>
void reduce_dtype(Communicator& comm, DeviceCommunicator* on_device, const std::vector<Tensor>& params, DType dt,
                  int64_t bucket_bytes, int64_t call, int64_t& buckets, int64_t& bytes) {
  const int64_t cap = std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(T)));
  const T scale = static_cast<T>(1.0 / comm.size());
  std::vector<T> buf;
  std::vector<const Tensor*> members;
  int64_t device_values = 0;  // the pending device bucket's size
  auto name = [&] {
    return "all-reduce of gradient bucket " + std::to_string(buckets) + " (update " + std::to_string(call) + ")";
  };
  auto flush = [&]() {
    if (members.empty()) return;
    if (members.front()->device() != Device{}) {
      reduce_device_bucket<T>(comm, on_device, members, dt, name());
      ++buckets;
      bytes += device_values * static_cast<int64_t>(sizeof(T));
      members.clear();
      device_values = 0;
      return;
    }
    comm.allreduce_sum(buf.data(), static_cast<int64_t>(buf.size()), name());
    ++buckets;
    bytes += static_cast<int64_t>(buf.size() * sizeof(T));
    size_t off = 0;
    for (const Tensor* p : members) {
      Tensor g = Tensor::empty(p->shape(), dt);
      T* dst = g.data<T>();
      const int64_t n = p->numel();
      for (int64_t i = 0; i < n; ++i) dst[i] = buf[off + i] * scale;
      off += static_cast<size_t>(n);
      p->set_grad(g);
    }
    buf.clear();
    members.clear();
  };
  for (const Tensor& p : params) {
    if (p.dtype() != dt) continue;
    const int64_t n = p.numel();
    if (p.device() != Device{}) {
      // A bucket holds one device's gradients.
      if (!members.empty() && (members.front()->device() != p.device() || device_values + n > cap)) flush();
      members.push_back(&p);
      device_values += n;
      continue;
    }
    if (!members.empty() && (members.front()->device() != Device{} || static_cast<int64_t>(buf.size()) + n > cap))
      flush();
    Tensor g = p.grad();
    size_t off = buf.size();
    buf.resize(off + static_cast<size_t>(n), T(0));
    if (g.defined()) {
      if (g.shape() != p.shape())
        throw CommError("gradient reduction: a gradient of shape " + shape_str(g.shape()) +
                        " belongs to a parameter of shape " + shape_str(p.shape()));
      Tensor c = g.to(dt).contiguous();
      std::memcpy(buf.data() + off, c.data<T>(), static_cast<size_t>(n) * sizeof(T));
    }
    members.push_back(&p);
  }
  flush();
}

}  // namespace

void check_reducible(Communicator& comm, const std::vector<Tensor>& params) {
  for (const Tensor& p : params)
    if (p.dtype() != DType::f32 && p.dtype() != DType::f64)
      throw CommError("gradient reduction: a parameter has dtype " + std::string(dtype_name(p.dtype())) +
                      "; only f32 and f64 gradients are reduced");
  double shape_sig[2] = {static_cast<double>(params.size()), 0};
  for (const Tensor& p : params) shape_sig[1] += static_cast<double>(p.numel());
  double check[2] = {shape_sig[0], shape_sig[1]};
  comm.allreduce_sum(check, 2, "all-reduce of the gradients' sizes");
  if (check[0] != shape_sig[0] * comm.size() || check[1] != shape_sig[1] * comm.size())
    throw CommError("gradient reduction: rank " + std::to_string(comm.rank()) + " has " +
                    std::to_string(params.size()) + " parameters of " +
                    std::to_string(static_cast<int64_t>(shape_sig[1])) +
                    " values, and the ranks differ (each must build the same model)");
}

void GradientReducer::operator()(const std::vector<Tensor>& params) {
  auto t0 = std::chrono::steady_clock::now();
  last_buckets_ = last_bytes_ = 0;
  ++calls_;
  check_reducible(*comm_, params);
  reduce_dtype<float>(*comm_, device_.get(), params, DType::f32, bucket_bytes_, calls_, last_buckets_, last_bytes_);
  reduce_dtype<double>(*comm_, device_.get(), params, DType::f64, bucket_bytes_, calls_, last_buckets_, last_bytes_);
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void broadcast_tensors(Communicator& comm, const std::vector<std::pair<std::string, Tensor>>& tensors, int root,
                       const std::string& what, DeviceCommunicator* device) {
  if (comm.size() == 1) return;
  // The layout first: count, and per tensor its element count and dtype.
  std::vector<double> mine;
  for (const auto& [name, t] : tensors) {
    mine.push_back(static_cast<double>(t.numel()));
    mine.push_back(static_cast<double>(static_cast<int>(t.dtype())));
  }
  double n = static_cast<double>(mine.size());
  comm.broadcast(&n, sizeof n, root, what + " (layout)");
  if (n != static_cast<double>(mine.size()))
    throw CommError(what + ": rank " + std::to_string(comm.rank()) + " holds " + std::to_string(tensors.size()) +
                    " tensors, rank " + std::to_string(root) + " " + std::to_string(static_cast<int64_t>(n) / 2));
  std::vector<double> theirs = mine;
  comm.broadcast(theirs.data(), static_cast<int64_t>(theirs.size() * sizeof(double)), root, what + " (layout)");
  // Every rank learns of a mismatch on any rank, so all of them stop here
  // together instead of leaving root alone in the data's broadcast.
  std::string differs;
  for (size_t i = 0; i < tensors.size() && differs.empty(); ++i)
    if (theirs[2 * i] != mine[2 * i] || theirs[2 * i + 1] != mine[2 * i + 1]) differs = tensors[i].first;
  double bad = differs.empty() ? 0 : 1;
  comm.allreduce_sum(&bad, 1, what + " (layout check)");
  if (!differs.empty())
    throw CommError(what + ": tensor '" + differs + "' on rank " + std::to_string(comm.rank()) +
                    " differs in size or dtype from rank " + std::to_string(root) + "'s");
  if (bad > 0)
    throw CommError(what + ": the tensors of " + std::to_string(static_cast<int>(bad)) +
                    " rank(s) differ in size or dtype from rank " + std::to_string(root) + "'s");
  for (const auto& [name, t] : tensors) {
    if (t.numel() == 0) continue;
    if (t.device() != Device{}) {
      // Through the host (MPI reads host memory), then back in place.
      if (!t.is_contiguous()) throw CommError(what + ": tensor '" + name + "' must be contiguous");
      if (device && device->device() == t.device()) {
        Tensor same = t;
        device->broadcast(same, root, what);
        continue;
      }
      Tensor host = t.detach().to(Device{}).contiguous();
      comm.broadcast(host.raw_data(), host.numel() * static_cast<int64_t>(dtype_size(host.dtype())), root, what);
      NoGradGuard no_grad;
      Tensor(t).copy_(host.to(t.device()));
      continue;
    }
    if (!t.is_contiguous())
      throw CommError(what + ": tensor '" + name + "' must be a contiguous CPU tensor or a device tensor");
    comm.broadcast(t.raw_data(), t.numel() * static_cast<int64_t>(dtype_size(t.dtype())), root, what);
  }
}

uint64_t digest(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* p, size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ull;
    }
  };
  for (const auto& [name, t] : tensors) {
    mix(name.data(), name.size());
    for (int64_t d : t.shape()) mix(&d, sizeof d);
    int dt = static_cast<int>(t.dtype());
    mix(&dt, sizeof dt);
    Tensor c = t.detach().to(Device{}).contiguous();  // a device tensor's bytes through the host
    if (c.numel()) mix(c.raw_data(), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
  }
  return h;
}

}  // namespace cadenza::dist
