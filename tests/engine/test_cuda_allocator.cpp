// The CUDA backend's caching allocator (kernels/cuda/caching_allocator.h),
// whose logic is plain C++: here over a fake device of counted host blocks
// with a capacity, so its bins, per-stream reuse, statistics, out-of-memory
// retry and empty_cache are checked without a GPU.
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
  CachingAllocator make() {
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
        });
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
