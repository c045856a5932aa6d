// The CUDA backend's caching allocator (kernels/cuda/caching_allocator.h),
// whose logic is plain C++: here over a fake device of counted host blocks
// with a capacity and fake events, so its bins, per-stream reuse,
// record_stream, retired streams, statistics, out-of-memory retry and
// empty_cache are checked without a GPU.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <set>
#include <unordered_map>

#include "kernels/cuda/caching_allocator.h"

using cadenza::cuda::CachingAllocator;

namespace {

struct FakeDevice {
  size_t capacity = size_t{64} << 20, used = 0;
  int mallocs = 0, frees = 0;
  std::set<void*> live;
  CachingAllocator make(cadenza::cuda::StreamEvents events = {}) {
    return CachingAllocator(
        [this](size_t n) -> void* {
          if (used + n > capacity) return nullptr;
          void* p = std::malloc(n);
          used += n;
          ++mallocs;
          live.insert(p);
          sizes[p] = n;
          return p;
        },
        [this](void* p) {
          REQUIRE(live.erase(p) == 1);
          used -= sizes[p];
          ++frees;
          std::free(p);
        },
        std::move(events));
  }
  std::unordered_map<void*, size_t> sizes;
};

}  // namespace

TEST_CASE("cuda allocator: size classes of 512 B below 1 MiB and 2 MiB above", "[cuda_allocator]") {
  REQUIRE(CachingAllocator::round(0) == 512);
  REQUIRE(CachingAllocator::round(1) == 512);
  REQUIRE(CachingAllocator::round(513) == 1024);
  REQUIRE(CachingAllocator::round((size_t{1} << 20) - 1) == (size_t{1} << 20));
  REQUIRE(CachingAllocator::round(size_t{1} << 20) == (size_t{2} << 20));
  REQUIRE(CachingAllocator::round((size_t{2} << 20) + 1) == (size_t{4} << 20));
}

TEST_CASE("cuda allocator: a freed block is reused by its own stream only, and counted", "[cuda_allocator]") {
  FakeDevice dev;
  int s1 = 0, s2 = 0;  // two streams' handles
  {
    CachingAllocator a = dev.make();
    void* p = a.allocate(1000, &s1);
    REQUIRE(dev.mallocs == 1);
    a.release(p);
    void* q = a.allocate(900, &s1);  // same class (1024): the cached block
    REQUIRE(q == p);
    REQUIRE(dev.mallocs == 1);
    void* r = a.allocate(900, &s2);  // another stream: a new block
    REQUIRE(r != p);
    REQUIRE(dev.mallocs == 2);
    auto st = a.stats();
    REQUIRE(st.allocations == 3);
    REQUIRE(st.cache_hits == 1);
    REQUIRE(st.allocated_bytes == 2048);
    REQUIRE(st.reserved_bytes == 2048);
    a.release(q);
    a.release(r);
    st = a.stats();
    REQUIRE(st.allocated_bytes == 0);
    REQUIRE(st.reserved_bytes == 2048);
    REQUIRE(st.peak_allocated_bytes == 2048);
    a.empty_cache();
    REQUIRE(a.stats().reserved_bytes == 0);
    REQUIRE(dev.frees == 2);
    REQUIRE_THROWS_WITH(a.release(&s1), Catch::Contains("did not allocate"));
  }
  REQUIRE(dev.live.empty());
}

TEST_CASE("cuda allocator: a request the device cannot meet empties the cache and retries", "[cuda_allocator]") {
  FakeDevice dev;
  dev.capacity = size_t{8} << 20;
  int s = 0;
  CachingAllocator a = dev.make();
  void* big = a.allocate(size_t{5} << 20, &s);  // 6 MiB reserved
  REQUIRE(big);
  a.release(big);                                   // cached, still reserved
  void* other = a.allocate(size_t{3} << 20, &s);    // 4 MiB: 6 + 4 > 8, so the cache goes first
  REQUIRE(other);
  REQUIRE(a.stats().oom_retries == 1);
  REQUIRE(a.stats().reserved_bytes == (int64_t{4} << 20));
  REQUIRE(a.allocate(size_t{6} << 20, &s) == nullptr);  // out of memory: null, nothing cached to free
  a.release(other);
}

namespace {

// Events on a fake device: each record makes one, done when the test says
// so (or when the host waits for it); every one must be freed.
struct FakeEvents {
  std::unordered_map<void*, bool> done;
  std::vector<const void*> recorded_on;
  int waits = 0, freed = 0;
  std::vector<int> storage = std::vector<int>(64);
  cadenza::cuda::StreamEvents make() {
    cadenza::cuda::StreamEvents e;
    e.record = [this](const void* stream) -> void* {
      void* ev = &storage[recorded_on.size()];
      recorded_on.push_back(stream);
      done[ev] = false;
      return ev;
    };
    e.done = [this](void* ev) { return done.at(ev); };
    e.wait = [this](void* ev) {
      ++waits;
      done.at(ev) = true;
    };
    e.free = [this](void* ev) {
      REQUIRE(done.erase(ev) == 1);
      ++freed;
    };
    return e;
  }
  void complete_all() {
    for (auto& kv : done) kv.second = true;
  }
};

}  // namespace

TEST_CASE(
    "cuda allocator: a block another stream used waits for that stream's work (record_stream)",
    "[cuda_allocator]") {
  FakeDevice dev;
  FakeEvents ev;
  int s1 = 0, s2 = 0, s3 = 0;
  {
    CachingAllocator a = dev.make(ev.make());
    void* p = a.allocate(1000, &s1);
    a.record_stream(p, &s1);  // its own stream: nothing to wait for
    a.record_stream(p, &s2);
    a.record_stream(p, &s3);
    a.record_stream(p, &s2);  // once per stream
    a.release(p);
    REQUIRE(ev.recorded_on ==
            std::vector<const void*>{&s2, &s3});  // at release, on each other stream
    auto st = a.stats();
    REQUIRE(st.deferred_frees == 1);
    REQUIRE(st.pending_blocks == 1);
    REQUIRE(st.allocated_bytes == 0);
    REQUIRE(st.reserved_bytes == 1024);
    void* q = a.allocate(1000, &s1);  // s2's and s3's work may still use p: a new block
    REQUIRE(q != p);
    REQUIRE(dev.mallocs == 2);
    a.release(q);
    ev.done.at(&ev.storage[0]) = true;  // s2 is done, s3 is not
    void* r = a.allocate(1000, &s1);
    REQUIRE(r == q);  // q came back at once (no other stream); p is still held
    REQUIRE(a.stats().pending_blocks == 1);
    ev.complete_all();
    void* t = a.allocate(1000, &s1);  // both done: p is back in s1's cache
    REQUIRE(t == p);
    REQUIRE(a.stats().pending_blocks == 0);
    REQUIRE(ev.freed == 2);
    REQUIRE(ev.waits == 0);  // never waited on the host for it
    REQUIRE(dev.mallocs == 2);
    a.release(r);
    a.release(t);
    REQUIRE_THROWS_WITH(a.record_stream(t, &s2), Catch::Contains("did not allocate"));
  }
  REQUIRE(dev.live.empty());
}

TEST_CASE("cuda allocator: a block used by its own stream only is never held back",
          "[cuda_allocator]") {
  FakeDevice dev;
  FakeEvents ev;
  int s1 = 0;
  CachingAllocator a = dev.make(ev.make());
  void* p = a.allocate(4096, &s1);
  a.record_stream(p, &s1);
  a.release(p);
  REQUIRE(ev.recorded_on.empty());
  REQUIRE(a.stats().deferred_frees == 0);
  REQUIRE(a.allocate(4096, &s1) == p);
  a.release(p);
}

TEST_CASE("cuda allocator: without the device's events record_stream is refused",
          "[cuda_allocator]") {
  FakeDevice dev;
  int s1 = 0, s2 = 0;
  CachingAllocator a = dev.make();
  void* p = a.allocate(100, &s1);
  REQUIRE_THROWS_WITH(a.record_stream(p, &s2), Catch::Contains("events"));
  a.release(p);
}

TEST_CASE("cuda allocator: empty_cache and the out-of-memory retry wait for held-back blocks",
          "[cuda_allocator]") {
  int s1 = 0, s2 = 0;
  SECTION("empty_cache") {
    FakeDevice dev;
    FakeEvents ev;
    CachingAllocator a = dev.make(ev.make());
    void* p = a.allocate(size_t{3} << 20, &s1);
    a.record_stream(p, &s2);
    a.release(p);
    a.empty_cache();
    REQUIRE(ev.waits == 1);
    REQUIRE(ev.freed == 1);
    REQUIRE(dev.frees == 1);
    REQUIRE(a.stats().reserved_bytes == 0);
    REQUIRE(a.stats().pending_blocks == 0);
  }
  SECTION("out of memory") {
    FakeDevice dev;
    FakeEvents ev;
    dev.capacity = size_t{8} << 20;
    CachingAllocator a = dev.make(ev.make());
    void* p = a.allocate(size_t{5} << 20, &s1);  // 6 MiB
    a.record_stream(p, &s2);
    a.release(p);                                // held back for s2
    void* q = a.allocate(size_t{5} << 20, &s2);  // another 6 MiB does not fit: wait, free p, retry
    REQUIRE(q);
    REQUIRE(ev.waits == 1);
    REQUIRE(a.stats().oom_retries == 1);
    REQUIRE(dev.frees == 1);
    a.release(q);
  }
}

TEST_CASE("cuda allocator: a retired stream's blocks pass to the default stream",
          "[cuda_allocator]") {
  FakeDevice dev;
  FakeEvents ev;
  int s1 = 0, s2 = 0;
  CachingAllocator a = dev.make(ev.make());
  void* cached = a.allocate(1000, &s1);
  void* live = a.allocate(5000, &s1);
  void* held = a.allocate(9000, &s1);
  void* used = a.allocate(3000, nullptr);
  a.record_stream(used, &s1);  // a default-stream block that s1 used
  a.record_stream(held, &s2);
  a.release(cached);
  a.release(held);
  a.retire_stream(&s1);  // s1's work is done (the runtime waited for it)
  void* fresh = a.allocate(1000, &s1);
  REQUIRE(fresh != cached);  // a new s1 (the same handle) gets nothing of the old one
  REQUIRE(a.allocate(1000, nullptr) == cached);
  a.release(live);
  REQUIRE(a.allocate(5000, nullptr) == live);
  a.release(used);  // s1 is gone from its users: straight back
  REQUIRE(a.stats().deferred_frees == 1);
  REQUIRE(a.allocate(3000, nullptr) == used);
  ev.complete_all();
  REQUIRE(a.allocate(9000, nullptr) == held);  // held for s2, then the default stream's
  for (void* p : {fresh, cached, live, used, held}) a.release(p);
  a.empty_cache();
  REQUIRE(dev.live.empty());
}
