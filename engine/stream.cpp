#include "engine/stream.h"

#include <cstdio>
#include <vector>

#include "engine/backend.h"

namespace cadenza {

namespace {

const backend::Memory& memory_of(Device device, const char* what) {
  const backend::Memory& m = backend::backend_for(device).memory;
  if (!m.stream_create || !m.current_stream || !m.event_create)
    throw Error(std::string(what) + ": " + device.str() + "'s backend has no streams");
  return m;
}

// The streams this thread made current, one per device: they keep a created
// stream alive while it is current (the backend only holds its handle).
struct Held {
  Device device;
  Stream stream;
};
std::vector<Held>& held() {
  thread_local std::vector<Held> h;
  return h;
}

void make_current(const Stream& s) {
  memory_of(s.device(), "StreamGuard").set_current_stream(s.handle(), s.device().index);
  for (Held& h : held())
    if (h.device == s.device()) {
      h.stream = s;
      return;
    }
  held().push_back({s.device(), s});
}

}  // namespace

// ---- Stream ----

Stream Stream::create(Device device) {
  const backend::Memory& m = memory_of(device, "Stream::create");
  void* handle = m.stream_create(device.index);
  // The last copy waits for the stream's work and destroys it; an error
  // there (a kernel that failed) cannot be thrown from a destructor.
  std::shared_ptr<void> owner(handle, [device](void* h) {
    try {
      backend::backend_for(device).memory.stream_destroy(h, device.index);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cadenza: destroying a stream of %s: %s\n", device.str().c_str(),
                   e.what());
    }
  });
  return Stream(device, handle, std::move(owner));
}

bool Stream::query() const {
  return memory_of(device_, "Stream::query").stream_query(handle_, device_.index);
}

void Stream::synchronize() const {
  memory_of(device_, "Stream::synchronize").stream_synchronize(handle_, device_.index);
}

std::string Stream::str() const {
  if (!handle_) return device_.str() + " default stream";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", handle_);
  return device_.str() + " stream " + buf;
}

Stream default_stream(Device device) {
  memory_of(device, "default_stream");  // the device must exist
  return Stream(device, nullptr, nullptr);
}

Stream current_stream(Device device) {
  void* handle = memory_of(device, "current_stream").current_stream(device.index);
  for (const Held& h : held())
    if (h.device == device && h.stream.handle() == handle) return h.stream;
  return Stream(device, handle, nullptr);  // set below the engine: borrowed
}

void synchronize(const Stream& stream) {
  stream.synchronize();
}

// ---- StreamGuard ----

StreamGuard::StreamGuard(const Stream& stream) : prev_(current_stream(stream.device())) {
  make_current(stream);
}

// The device was available when the guard began, so restoring should not
// fail; a destructor cannot throw if it does.
StreamGuard::~StreamGuard() {
  try {
    make_current(prev_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cadenza: restoring the current stream of %s: %s\n",
                 prev_.device().str().c_str(), e.what());
  }
}

// ---- Event ----

struct Event::Impl {
  bool timing = false;
  Device device;
  void* handle = nullptr;  // made on the first record
  ~Impl() {
    if (!handle) return;
    try {
      backend::backend_for(device).memory.event_destroy(handle, device.index);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cadenza: destroying an event of %s: %s\n", device.str().c_str(),
                   e.what());
    }
  }
};

Event::Event(bool timing) : impl_(std::make_shared<Impl>()) {
  impl_->timing = timing;
}

void Event::record(const Stream& stream) {
  Impl& e = *impl_;
  const backend::Memory& m = memory_of(stream.device(), "Event::record");
  if (e.handle && e.device != stream.device())
    throw Error("Event::record: this event belongs to " + e.device.str() +
                " and cannot mark work of " + stream.str() + "; use an Event per device");
  if (!e.handle) {
    e.handle = m.event_create(e.timing, stream.device().index);
    e.device = stream.device();
  }
  m.event_record(e.handle, stream.handle(), stream.device().index);
}

void Event::wait(const Stream& stream) const {
  const Impl& e = *impl_;
  if (!e.handle) return;
  if (e.device.kind != stream.device().kind)
    throw Error("Event::wait: the event was recorded on " + e.device.str() + "; " + stream.str() +
                " cannot wait for it");
  memory_of(stream.device(), "Event::wait")
      .stream_wait_event(stream.handle(), e.handle, stream.device().index);
}

void Event::synchronize() const {
  if (impl_->handle)
    memory_of(impl_->device, "Event::synchronize")
        .event_synchronize(impl_->handle, impl_->device.index);
}

bool Event::query() const {
  return !impl_->handle ||
         memory_of(impl_->device, "Event::query").event_query(impl_->handle, impl_->device.index);
}

bool Event::recorded() const {
  return impl_->handle != nullptr;
}
bool Event::timing() const {
  return impl_->timing;
}
Device Event::device() const {
  return impl_->device;
}

double Event::elapsed_ms(const Event& start, const Event& end) {
  auto check = [](const Event& e, const std::string& name) {
    if (!e.timing())
      throw Error("Event::elapsed_ms: the " + name +
                  " event was made without timing; make it with Event(true)");
    if (!e.recorded()) throw Error("Event::elapsed_ms: the " + name + " event was never recorded");
  };
  check(start, "start");
  check(end, "end");
  if (start.device() != end.device())
    throw Error("Event::elapsed_ms: the start event was recorded on " + start.device().str() +
                ", the end event on " + end.device().str());
  start.synchronize();
  end.synchronize();
  const Device d = start.device();
  return memory_of(d, "Event::elapsed_ms")
      .event_elapsed_ms(start.impl_->handle, end.impl_->handle, d.index);
}

// ---- allocator ----

void record_stream(const Tensor& tensor, const Stream& stream) {
  if (!tensor.defined()) throw Error("record_stream: the tensor is undefined");
  if (tensor.device() != stream.device())
    throw Error("record_stream: the tensor " + tensor.str() + " is on " + tensor.device().str() +
                ", but " + stream.str() + " is on another device");
  memory_of(stream.device(), "record_stream")
      .record_stream(tensor.storage()->data, stream.handle(), stream.device().index);
}

}  // namespace cadenza
