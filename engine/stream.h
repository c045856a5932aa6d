#pragma once
// Streams and events, after torch.cuda.Stream / Event.
//
// A stream is a queue of work on one device: what is queued on one stream
// runs in order, and work on two streams may overlap. Every op, copy and
// allocation of a device runs on this thread's current stream of that
// device: its default stream, unless a StreamGuard makes another current
// for its scope (`with torch.cuda.stream(s)`). Streams made here do not wait
// for the default stream, nor it for them; an Event orders them:
//
//   Stream side = Stream::create(gpu);
//   Event ready;
//   ready.record(current_stream(gpu));   // after the work that makes x
//   { StreamGuard g(side);
//     ready.wait(side);                  // side waits; the host does not
//     y = f(x);
//     record_stream(x, side); }          // x's memory is not reused before f is done
//
// Memory belongs to the stream it was allocated on: a freed block is handed
// out again only on that stream, unless record_stream says another stream
// used it too, in which case it waits for that stream's work first (as
// PyTorch's caching allocator does). Reading a device tensor's values waits
// for the current stream only: work of another stream must be ordered by
// an event or synchronize(Stream) first. Autograd does not follow streams
// (PyTorch's backward runs each node on its forward's stream; this one runs
// on the current stream): call backward() under the forward's StreamGuard,
// or order the two with an event.
//
// On the CPU, and the emulated CUDA device, work is done when the call
// returns: streams are trivially in order, events complete at record and
// their elapsed time comes from a host clock.
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace cadenza {

// A device's stream: a device and an opaque handle (a cudaStream_t on CUDA;
// null for the default stream). Copies share the stream; one made by
// create() lives until its last copy goes, which waits for its work.
class Stream {
 public:
  Stream() = default;  // the CPU's default stream
  // A new stream on `device`; Error when the device is not available.
  static Stream create(Device device);
  Device device() const { return device_; }
  void* handle() const { return handle_; }
  bool is_default() const { return handle_ == nullptr; }
  bool query() const;        // whether all work queued on it is done
  void synchronize() const;  // the host waits for its queued work
  std::string str() const;   // "cuda:0 default stream", "cuda:0 stream 0x..."
  bool operator==(const Stream& o) const { return device_ == o.device_ && handle_ == o.handle_; }
  bool operator!=(const Stream& o) const { return !(*this == o); }

 private:
  friend Stream default_stream(Device device);
  friend Stream current_stream(Device device);
  Stream(Device device, void* handle, std::shared_ptr<void> owner)
      : device_(device), handle_(handle), owner_(std::move(owner)) {}
  Device device_;
  void* handle_ = nullptr;
  std::shared_ptr<void> owner_;  // destroys a created stream with its last copy
};

Stream default_stream(Device device);
// This thread's current stream of `device` (its default stream unless a
// StreamGuard is active).
Stream current_stream(Device device);
void synchronize(const Stream& stream);

// Makes `stream` current for its device on this thread for its scope, and
// restores the previous one at its end; guards nest. Other devices' current
// streams and other threads are unaffected.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream prev_;
};

// A marker in a stream's work. Copies share the event. Made lazily on its
// first record, on that stream's device; Event(true) also records times.
class Event {
 public:
  explicit Event(bool timing = false);
  // Marks the work queued on `stream` so far; a later record moves the
  // mark. Error when the event already belongs to another device.
  void record(const Stream& stream);
  // `stream` waits (on the device, not the host) for the work marked by the
  // last record; nothing for an event never recorded.
  void wait(const Stream& stream) const;
  void synchronize() const;  // the host waits for the marked work
  bool query() const;        // whether the marked work is done (true if never recorded)
  bool recorded() const;
  bool timing() const;
  Device device() const;  // where it was recorded (the CPU before that)
  // Milliseconds between two recorded timing events of one device; waits
  // for both. Error naming what is missing otherwise.
  static double elapsed_ms(const Event& start, const Event& end);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Tells the allocator that `tensor`'s memory is used by work on `stream` as
// well as on the stream it was allocated on (Tensor.record_stream): when it
// is freed, the block is not handed out again before the work queued on
// `stream` by then is done. Error when they are on different devices.
void record_stream(const Tensor& tensor, const Stream& stream);

}  // namespace cadenza
