// Streams and events (engine/stream.h) on every device this process has:
// the CPU always, and cuda:0 when there is one. Tagged [backend] as well,
// so ctest's backend_table_emulated_cuda runs them again with cuda:0
// emulated on the CPU (CADENZA_EMULATE_CUDA=1), where host-only facts
// (events complete at record) are checked too; on a GPU they check what
// holds for any device.
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "engine/stream.h"

using namespace cadenza;

namespace {

const Device kCpu{};
const Device kCuda{Device::cuda, 0};

// The devices to run on: the CPU, and cuda:0 when a backend serves it.
std::vector<Device> devices() {
  std::vector<Device> out = {kCpu};
  if (backend::available_backends().size() > 1) out.push_back(kCuda);
  return out;
}

// Whether work on `d` is done when the call returns (the CPU, the emulation).
bool runs_on_host(Device d) {
  return d.kind == Device::cpu || backend::is_emulated(d);
}

std::vector<double> values(const Tensor& t) {
  return t.to(kCpu).to_vector<double>();
}

}  // namespace

TEST_CASE("streams: the default stream, new streams and the current stream", "[stream][backend]") {
  for (Device d : devices()) {
    INFO(d.str());
    Stream def = default_stream(d);
    REQUIRE(def.is_default());
    REQUIRE(def.handle() == nullptr);
    REQUIRE(def.device() == d);
    REQUIRE(def.str() == d.str() + " default stream");
    REQUIRE(current_stream(d) == def);
    Stream a = Stream::create(d), b = Stream::create(d);
    REQUIRE(!a.is_default());
    REQUIRE(a.device() == d);
    REQUIRE(a != b);
    REQUIRE(a != def);
    REQUIRE(Stream(a) == a);  // copies share the stream
    REQUIRE(a.str().find(d.str() + " stream 0x") == 0);
    a.synchronize();
    synchronize(b);
    REQUIRE(a.query());                 // nothing queued
    REQUIRE(current_stream(d) == def);  // making a stream does not make it current
  }
  REQUIRE(Stream() == default_stream(kCpu));
}

TEST_CASE("streams: guards nest and restore, per device and per thread", "[stream][backend]") {
  for (Device d : devices()) {
    INFO(d.str());
    Stream a = Stream::create(d), b = Stream::create(d), def = default_stream(d);
    {
      StreamGuard ga(a);
      REQUIRE(current_stream(d) == a);
      {
        StreamGuard gb(b);
        REQUIRE(current_stream(d) == b);
        {
          StreamGuard gd(def);
          REQUIRE(current_stream(d) == def);
        }
        REQUIRE(current_stream(d) == b);
        StreamGuard again(b);  // the same stream twice
        REQUIRE(current_stream(d) == b);
      }
      REQUIRE(current_stream(d) == a);
      // Another thread has its own current stream, and its guards stay there.
      Stream seen, seen_inside;
      std::thread t([&] {
        seen = current_stream(d);
        StreamGuard gt(b);
        seen_inside = current_stream(d);
      });
      t.join();
      REQUIRE(seen == def);
      REQUIRE(seen_inside == b);
      REQUIRE(current_stream(d) == a);
    }
    REQUIRE(current_stream(d) == def);
    // A guard ends with its scope when an exception leaves it.
    try {
      StreamGuard g(a);
      throw std::runtime_error("leave");
    } catch (const std::runtime_error&) {
    }
    REQUIRE(current_stream(d) == def);
    // A stream made only for a guard lives while it is current.
    {
      StreamGuard g(Stream::create(d));
      Stream cur = current_stream(d);
      REQUIRE(!cur.is_default());
      Tensor x = Tensor::full({3}, 2.0, DType::f64, d);
      REQUIRE(values(add(x, x)) == std::vector<double>{4, 4, 4});
      REQUIRE(current_stream(d) == cur);
    }
    REQUIRE(current_stream(d) == def);
  }
  // One device's guard leaves the others' current streams alone.
  if (devices().size() > 1) {
    Stream c = Stream::create(kCuda);
    StreamGuard g(c);
    REQUIRE(current_stream(kCuda) == c);
    REQUIRE(current_stream(kCpu).is_default());
    Stream h = Stream::create(kCpu);
    StreamGuard gh(h);
    REQUIRE(current_stream(kCpu) == h);
    REQUIRE(current_stream(kCuda) == c);
  }
}

TEST_CASE("events: record, wait, query, synchronize and elapsed time", "[stream][backend]") {
  for (Device d : devices()) {
    INFO(d.str());
    Stream s = Stream::create(d);
    Event e;
    REQUIRE(!e.recorded());
    REQUIRE(!e.timing());
    REQUIRE(e.query());  // never recorded: nothing to wait for
    e.synchronize();
    e.wait(s);
    Tensor x = Tensor::full({64, 64}, 0.5, DType::f64, d);  // on the default stream
    Event filled;
    filled.record(current_stream(d));
    Tensor y;
    {
      StreamGuard g(s);
      filled.wait(s);
      record_stream(x, s);
      y = matmul(x, x);
      e.record(s);
    }
    REQUIRE(e.recorded());
    REQUIRE(e.device() == d);
    if (runs_on_host(d)) REQUIRE(e.query());  // complete at record
    e.synchronize();
    REQUIRE(e.query());
    Event shared = e;  // copies are the same event
    REQUIRE(shared.recorded());
    // The default stream waits for s's work, then reads it.
    e.wait(current_stream(d));
    record_stream(y, current_stream(d));
    REQUIRE(values(y)[0] == 16.0);
    e.record(current_stream(d));  // a second record moves the mark

    Event t0(true), t1(true);
    REQUIRE(t0.timing());
    t0.record(s);
    {
      StreamGuard g(s);
      for (int i = 0; i < 4; ++i) y = matmul(y, x);
    }
    t1.record(s);
    const double ms = Event::elapsed_ms(t0, t1);
    REQUIRE(std::isfinite(ms));
    REQUIRE(ms >= 0);
    REQUIRE(t1.query());  // elapsed_ms waited for it

    REQUIRE_THROWS_WITH(Event::elapsed_ms(e, t1),
                        Catch::Contains("start event was made without timing"));
    REQUIRE_THROWS_WITH(Event::elapsed_ms(t0, Event(true)),
                        Catch::Contains("end event was never recorded"));
  }
}

TEST_CASE("streams: errors name the devices", "[stream][backend]") {
  REQUIRE_THROWS_WITH(Stream::create(Device{Device::cuda, 7}),
                      Catch::Contains("cuda:7 is not available"));
  REQUIRE_THROWS_WITH(current_stream(Device{Device::cuda, 7}),
                      Catch::Contains("cuda:7 is not available"));
  REQUIRE_THROWS_WITH(default_stream(Device{Device::cuda, 7}),
                      Catch::Contains("cuda:7 is not available"));
  REQUIRE_THROWS_WITH(record_stream(Tensor(), Stream()), Catch::Contains("undefined"));
  if (devices().size() < 2) return;
  Stream c = Stream::create(kCuda), h = Stream::create(kCpu);
  Tensor on_cpu = Tensor::zeros({4});
  REQUIRE_THROWS_WITH(record_stream(on_cpu, c),
                      Catch::Contains("is on cpu") && Catch::Contains("cuda:0 stream"));
  Event e;
  e.record(h);
  REQUIRE_THROWS_WITH(e.record(c),
                      Catch::Contains("belongs to cpu") && Catch::Contains("cuda:0 stream"));
  REQUIRE_THROWS_WITH(e.wait(c),
                      Catch::Contains("recorded on cpu") && Catch::Contains("cuda:0 stream"));
  Event t0(true), t1(true);
  t0.record(h);
  t1.record(c);
  REQUIRE_THROWS_WITH(Event::elapsed_ms(t0, t1),
                      Catch::Contains("start event was recorded on cpu, the end event on cuda:0"));
}

TEST_CASE("streams: ops under a StreamGuard give the default stream's values",
          "[stream][backend]") {
  for (Device d : devices()) {
    INFO(d.str());
    Generator gen(7);
    Tensor x = randn({4, 6, 33}, DType::f32, &gen).to(d),
           w = randn({5, 6, 3}, DType::f32, &gen).to(d);
    Tensor bias = randn({5}, DType::f32, &gen).to(d),
           target = Tensor::from_vector<int64_t>({0, 4, 2, 1}).to(d);
    auto run = [&] {
      Tensor c = conv1d(x, w, bias, 2, 4, 0);
      Tensor m = matmul(c.reshape({4 * 5, 33}), c.reshape({4 * 5, 33}).transpose(0, 1));
      Tensor logits = c.sum({2});
      Tensor loss = cross_entropy(logits, target);
      return std::vector<std::vector<double>>{values(softmax(m, 1)), values(loss),
                                              values(relu(c).sum())};
    };
    const auto want = run();
    Stream s = Stream::create(d);
    Event made;
    made.record(current_stream(d));  // x, w, ... were made on the default stream
    std::vector<std::vector<double>> got;
    {
      StreamGuard g(s);
      made.wait(s);
      got = run();
    }
    REQUIRE(got == want);
  }
}

TEST_CASE("streams: every backend fills every stream and event entry", "[stream][backend]") {
  for (const backend::Backend* b : backend::available_backends()) {
    INFO(b->name);
    const backend::Memory& m = b->memory;
    REQUIRE(m.stream_create);
    REQUIRE(m.stream_destroy);
    REQUIRE(m.current_stream);
    REQUIRE(m.set_current_stream);
    REQUIRE(m.stream_synchronize);
    REQUIRE(m.stream_query);
    REQUIRE(m.event_create);
    REQUIRE(m.event_destroy);
    REQUIRE(m.event_record);
    REQUIRE(m.stream_wait_event);
    REQUIRE(m.event_synchronize);
    REQUIRE(m.event_query);
    REQUIRE(m.event_elapsed_ms);
    REQUIRE(m.record_stream);
  }
}

TEST_CASE("events: on the host the elapsed time follows the host clock", "[stream][backend]") {
  for (Device d : devices()) {
    if (!runs_on_host(d)) continue;
    INFO(d.str());
    Event t0(true), t1(true);
    t0.record(current_stream(d));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    t1.record(current_stream(d));
    const double ms = Event::elapsed_ms(t0, t1);
    REQUIRE(ms >= 19.0);
    REQUIRE(ms < 5000.0);
    REQUIRE(Event::elapsed_ms(t1, t0) == Approx(-ms));
  }
}
