// OverlappedReducer (engine/distributed.h): the gradients' all-reduce
// started bucket by bucket from post-accumulate-grad hooks while backward
// still runs, finished before the optimizer step.
#include <algorithm>
#include <chrono>
#include <cstring>

#include "engine/autograd.h"
#include "engine/distributed.h"
#include "engine/ops.h"

namespace cadenza::dist {

struct OverlappedReducer::Bucket {
  size_t index = 0;  // buckets start in this order on every rank
  DType dtype = DType::f32;
  Device device;
  std::vector<size_t> members;  // parameter indices, in reverse registration order
  int64_t values = 0;
  size_t ready = 0;        // members whose gradient is final in this pass
  bool done = false;       // its collective has completed
  bool on_device = false;  // reduced by the DeviceCommunicator (else through the host)
  Tensor host;             // the packed values on the host
  Tensor flat;             // the packed values on the device
  std::unique_ptr<PendingCollective> pending;
};

OverlappedReducer::OverlappedReducer(std::shared_ptr<Communicator> comm, std::vector<Tensor> params,
                                     int64_t bucket_bytes)
    : comm_(std::move(comm)), params_(std::move(params)), bucket_bytes_(bucket_bytes) {
  if (!comm_) throw CommError("OverlappedReducer: no communicator");
  if (bucket_bytes_ < 8) throw CommError("OverlappedReducer: bucket_bytes must be at least 8");
  check_reducible(*comm_, params_);
  // Reverse order: backward makes the last layers' gradients final first.
  // One open bucket per dtype and device; a parameter that would overflow
  // its bucket starts the next (one larger than a bucket goes alone).
  std::vector<std::pair<std::pair<DType, Device>, size_t>> open;
  bucket_of_.resize(params_.size());
  for (size_t i = params_.size(); i-- > 0;) {
    const Tensor& p = params_[i];
    const auto key = std::make_pair(p.dtype(), p.device());
    const int64_t cap =
        std::max<int64_t>(1, bucket_bytes_ / static_cast<int64_t>(dtype_size(p.dtype())));
    auto it = std::find_if(open.begin(), open.end(), [&](const auto& o) { return o.first == key; });
    if (it != open.end() && buckets_[it->second]->values + p.numel() > cap) {
      open.erase(it);
      it = open.end();
    }
    if (it == open.end()) {
      auto b = std::make_unique<Bucket>();
      b->index = buckets_.size();
      b->dtype = p.dtype();
      b->device = p.device();
      buckets_.push_back(std::move(b));
      open.push_back({key, buckets_.size() - 1});
      it = open.end() - 1;
    }
    Bucket& b = *buckets_[it->second];
    b.members.push_back(i);
    b.values += p.numel();
    bucket_of_[i] = it->second;
  }
  ready_.assign(params_.size(), 0);
  // A parameter that does not require grad now gets no hook: its bucket
  // starts in finish().
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].requires_grad() && !params_[i].grad_fn())
      hooks_.push_back(register_post_accumulate_grad_hook(
          params_[i], [this, i](const Tensor&) { on_ready(i); }));
}

OverlappedReducer::~OverlappedReducer() {
  for (HookHandle& h : hooks_) h.remove();
  for (auto& b : buckets_)
    if (b->pending && !b->done) {
      // Left in flight by an error: MPI or NCCL may still write the buffer,
      // and a nonblocking collective's request may not be freed. Keep both;
      // the process is on its way out.
      (void)b->pending.release();
      (void)new Tensor(b->host);
      (void)new Tensor(b->flat);
    }
}

void OverlappedReducer::prepare(const std::vector<Tensor>& outputs) {
  for (auto& b : buckets_)
    if (b->pending && !b->done)
      throw Error(
          "OverlappedReducer: prepare() before the previous pass's finish() (its all-reduces are "
          "in flight)");
  auto t0 = std::chrono::steady_clock::now();
  ++calls_;
  std::fill(ready_.begin(), ready_.end(), 0);
  for (auto& b : buckets_) {
    b->ready = 0;
    b->done = false;
    b->pending.reset();
  }
  next_start_ = 0;
  armed_ = true;
  if (!outputs.empty()) {
    // Unreached parameters keep the .grad they have (none, after
    // zero_grad): final now, so they hold back no bucket.
    const std::vector<bool> reached = reaches(outputs, params_);
    for (size_t i = 0; i < params_.size(); ++i)
      if (!reached[i]) {
        ready_[i] = 1;
        ++buckets_[bucket_of_[i]]->ready;
      }
    start_ready_buckets();
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void OverlappedReducer::on_ready(size_t param) {
  if (!armed_) return;  // a backward pass this reducer was not prepared for
  auto t0 = std::chrono::steady_clock::now();
  if (ready_[param])
    throw Error(
        "OverlappedReducer: the gradient of parameter " + std::to_string(param) +
        " became final twice between prepare() and finish(): one backward pass per prepare()");
  ready_[param] = 1;
  ++buckets_[bucket_of_[param]]->ready;
  start_ready_buckets();
  progress();
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void OverlappedReducer::start_ready_buckets() {
  // In index order only: the collectives of all ranks pair up by order,
  // and a rank whose gradients arrive in another order (or not at all)
  // must not start a different bucket first.
  while (next_start_ < buckets_.size() &&
         buckets_[next_start_]->ready == buckets_[next_start_]->members.size())
    start(*buckets_[next_start_++]);
}

void OverlappedReducer::progress() {
  for (size_t k = 0; k < next_start_; ++k) {
    Bucket& b = *buckets_[k];
    if (b.pending && !b.done) b.done = b.pending->test();
  }
}

namespace {

template <class T>
void pack_host(const std::vector<Tensor>& params, const std::vector<size_t>& members,
               Tensor& host) {
  T* buf = host.data<T>();
  int64_t off = 0;
  for (size_t i : members) {
    const Tensor& p = params[i];
    Tensor g = p.grad();
    const int64_t n = p.numel();
    if (g.defined()) {
      if (g.shape() != p.shape())
        throw CommError("gradient reduction: a gradient of shape " + shape_str(g.shape()) +
                        " belongs to a parameter of shape " + shape_str(p.shape()));
      Tensor c = g.to(host.dtype()).contiguous();
      std::memcpy(buf + off, c.data<T>(), static_cast<size_t>(n) * sizeof(T));
    } else {
      std::fill(buf + off, buf + off + n, T(0));
    }
    off += n;
  }
}

template <class T>
void unpack_host(const std::vector<Tensor>& params, const std::vector<size_t>& members,
                 const Tensor& host, T scale) {
  const T* buf = host.data<T>();
  int64_t off = 0;
  for (size_t i : members) {
    const Tensor& p = params[i];
    Tensor g = Tensor::empty(p.shape(), host.dtype());
    T* dst = g.data<T>();
    const int64_t n = p.numel();
    for (int64_t k = 0; k < n; ++k) dst[k] = buf[off + k] * scale;
    off += n;
    p.set_grad(g);
  }
}

template <class T>
void scale_host(Tensor& host, T scale) {
  T* buf = host.data<T>();
  const int64_t n = host.numel();
  for (int64_t i = 0; i < n; ++i) buf[i] *= scale;
}

std::unique_ptr<PendingCollective> start_host(Communicator& comm, Tensor& host,
                                              const std::string& what) {
  if (host.dtype() == DType::f32)
    return comm.start_allreduce_sum(host.data<float>(), host.numel(), what);
  return comm.start_allreduce_sum(host.data<double>(), host.numel(), what);
}

}  // namespace

void OverlappedReducer::start(Bucket& b) {
  NoGradGuard no_grad;
  const std::string name = "all-reduce of gradient bucket " + std::to_string(b.index) +
                           " (update " + std::to_string(calls_) + ")";
  if (b.device == Device{}) {
    if (!b.host.defined()) b.host = Tensor::empty({b.values}, b.dtype);  // kept for the next passes
    if (b.dtype == DType::f32)
      pack_host<float>(params_, b.members, b.host);
    else
      pack_host<double>(params_, b.members, b.host);
    b.pending = start_host(*comm_, b.host, name);
  } else {
    // As GradientReducer packs a device bucket: on its device.
    std::vector<Tensor> parts;
    for (size_t i : b.members) {
      const Tensor& p = params_[i];
      Tensor g = p.grad();
      if (g.defined() && g.shape() != p.shape())
        throw CommError("gradient reduction: a gradient of shape " + shape_str(g.shape()) +
                        " belongs to a parameter of shape " + shape_str(p.shape()));
      if (g.defined() && g.device() != b.device)
        throw CommError("gradient reduction: a gradient on " + g.device().str() +
                        " belongs to a parameter on " + b.device.str());
      if (p.device() != b.device)
        throw CommError("gradient reduction: a parameter moved to " + p.device().str() +
                        " after its reducer was made on " + b.device.str());
      parts.push_back(g.defined() ? reshape(to_dtype(g.detach(), b.dtype), {p.numel()})
                                  : Tensor::zeros({p.numel()}, b.dtype, b.device));
    }
    b.on_device = device_ && device_->device() == b.device;
    if (b.on_device) {
      b.flat = parts.size() == 1 ? parts[0].clone() : concat(parts, 0);
      b.pending = device_->start_allreduce_sum(b.flat, name);
    } else {
      b.host = (parts.size() == 1 ? parts[0] : concat(parts, 0)).to(Device{}).contiguous();
      b.pending = start_host(*comm_, b.host, name);
    }
  }
  b.done = false;
}

void OverlappedReducer::complete(Bucket& b) {
  NoGradGuard no_grad;
  if (!b.done) b.pending->wait();
  b.done = true;
  b.pending.reset();
  const double scale = 1.0 / comm_->size();
  if (b.device == Device{}) {
    if (b.dtype == DType::f32)
      unpack_host<float>(params_, b.members, b.host, static_cast<float>(scale));
    else
      unpack_host<double>(params_, b.members, b.host, scale);
    return;
  }
  Tensor back;
  if (b.on_device) {
    // The scalar as GradientReducer makes it: 1/N rounded to the dtype.
    const double s = b.dtype == DType::f32 ? static_cast<double>(static_cast<float>(scale)) : scale;
    back = mul(b.flat, Tensor::scalar(s, b.dtype));
    b.flat = Tensor();
  } else {
    if (b.dtype == DType::f32)
      scale_host<float>(b.host, static_cast<float>(scale));
    else
      scale_host<double>(b.host, scale);
    back = b.host.to(b.device);
    b.host = Tensor();
  }
  int64_t off = 0;
  for (size_t i : b.members) {
    const Tensor& p = params_[i];
    p.set_grad(reshape(narrow(back, 0, off, p.numel()), p.shape()));
    off += p.numel();
  }
}

void OverlappedReducer::finish() {
  if (!armed_) prepare();  // a backward the reducer was not told of: all of it here
  auto t0 = std::chrono::steady_clock::now();
  armed_ = false;
  last_started_in_backward_ = static_cast<int64_t>(next_start_);
  while (next_start_ < buckets_.size()) start(*buckets_[next_start_++]);
  last_buckets_ = last_bytes_ = 0;
  for (auto& b : buckets_) {
    complete(*b);
    ++last_buckets_;
    last_bytes_ += b->values * static_cast<int64_t>(dtype_size(b->dtype));
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace cadenza::dist
