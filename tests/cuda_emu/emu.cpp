// The CUDA emulator's scheduler, runtime API and cuBLAS subset (see
// cuda_emu.h). Device memory is host memory; every stream runs its work at
// once, in call order, so events are complete when recorded. One launch
// runs at a time (a process-wide lock); its threads are fibers on the
// launching host thread. A block's threads run until they reach a barrier,
// a warp collective or a spin-wait's load; the fiber that completes a
// barrier releases the others. Blocks of an ordinary launch run one after
// another; a cooperative launch holds every block at once, as the device
// must.
#include <cublas_v2.h>
#include <pthread.h>
#include <sys/mman.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUEMU_ASAN 1
#endif

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "cuda_emu.h"

// This file names the fields and functions that the device-side macros
// of cuda_emu.h would rewrite.
#undef warpSize
#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim

namespace cuemu {

namespace detail {
thread_local ThreadCtx* current = nullptr;
}

namespace {

// The emulated device: an H100-like part, so the plans of the persistent
// kernels (blocks per SM, shared memory) come out as on the real one.
constexpr int kSms = 132;
constexpr size_t kSmemPerSm = 228 * 1024;
constexpr size_t kSmemOptin = 227 * 1024;
constexpr size_t kSmemDefault = 48 * 1024;
constexpr int kMaxThreadsPerSm = 2048;
constexpr int kMaxBlocksPerSm = 32;
constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kStacksPerChunk = 256;  // one mapping each: 32k fibers stay far below vm.max_map_count
constexpr uint64_t kStackCanary = 0x5ca1ab1edeadbeefull;
constexpr size_t kRedzone = 64;  // after each buffer: a write past its end shows
constexpr unsigned char kRedzoneByte = 0xa5;

// Under AddressSanitizer a redzone is poisoned instead, and ASan reports
// the first read or write into it, with the kernel's line.
void fill_redzone(unsigned char* end, size_t n = kRedzone) {
#ifdef CUEMU_ASAN
  ASAN_POISON_MEMORY_REGION(end, n);
#else
  std::memset(end, kRedzoneByte, n);
#endif
}
void clear_redzone(unsigned char* end, size_t n) {
#ifdef CUEMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(end, n);
#else
  (void)end;
  (void)n;
#endif
}
bool redzone_intact(const unsigned char* end, size_t n = kRedzone) {
#ifdef CUEMU_ASAN
  (void)end;
  (void)n;
  return true;
#else
  for (size_t i = 0; i < n; ++i)
    if (end[i] != kRedzoneByte) return false;
  return true;
#endif
}

enum class St : uint8_t { run, block_bar, warp_bar, grid_bar, yielded, done };

struct Fiber;
struct Block;

// ---- context switch ----
#if defined(__x86_64__)
extern "C" void cuemu_switch(void** save_sp, void* to_sp);
asm(R"(
.text
.globl cuemu_switch
.type cuemu_switch,@function
cuemu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size cuemu_switch,.-cuemu_switch
)");
#else
#error "the CUDA emulator's fibers need x86-64"
#endif

// Every switch goes through here: under AddressSanitizer it tells ASan
// which stack the code runs on next (its fiber annotations).
#ifdef CUEMU_ASAN
const char* sched_stack_bottom(size_t* size) {
  static thread_local const char* bottom = nullptr;
  static thread_local size_t bytes = 0;
  if (!bottom) {
    pthread_attr_t attr;
    void* addr = nullptr;
    pthread_getattr_np(pthread_self(), &attr);
    pthread_attr_getstack(&attr, &addr, &bytes);
    pthread_attr_destroy(&attr);
    bottom = static_cast<const char*>(addr);
  }
  *size = bytes;
  return bottom;
}
#endif
// to_top: the target fiber's stack top, null for the scheduler's stack;
// leaving: the current fiber has finished and is never resumed.
void switch_to(void** save_sp, void* to_sp, const char* to_top, bool leaving = false) {
#ifdef CUEMU_ASAN
  void* fake = nullptr;
  size_t size = kStackBytes;
  const char* bottom = to_top ? to_top - kStackBytes : sched_stack_bottom(&size);
  __sanitizer_start_switch_fiber(leaving ? nullptr : &fake, bottom, size);
  cuemu_switch(save_sp, to_sp);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  (void)to_top;
  (void)leaving;
  cuemu_switch(save_sp, to_sp);
#endif
}

struct Warp {
  uint64_t slots[2][32];
  unsigned gen = 0;
  unsigned arrived = 0;  // lanes waiting at this generation
  unsigned mask = 0;     // the mask they named
  unsigned alive = 0;    // lanes not exited
};

struct Block {
  uint3 bid;
  unsigned live = 0;
  unsigned at_bar = 0;
  std::vector<Warp> warps;
  std::vector<Fiber*> fibers;
  std::unique_ptr<unsigned char[]> dyn;
  struct Shared {
    std::unique_ptr<unsigned char[]> mem;
    unsigned char* end;  // its redzone
  };
  std::unordered_map<const void*, Shared> shared;
  size_t shared_bytes = 0;
};

struct Fiber {
  void* sp = nullptr;
  char* stack = nullptr;  // top of its stack
  ThreadCtx c;
  St st = St::run;
  bool started = false;
  Block* block = nullptr;
};

struct LaunchState {
  LaunchConfig cfg;
  void (*body)(void*) = nullptr;
  void* closure = nullptr;
  const void* kernel = nullptr;
  bool cooperative = false;
  const std::vector<Block*>* blocks = nullptr;  // the running ones
  size_t smem_limit = kSmemDefault;
  unsigned live = 0;     // over the running blocks
  unsigned at_grid = 0;
  uint64_t progress = 0;  // barrier arrivals, exits: what a spin waits for
  void* sched_sp = nullptr;
  Fiber* running = nullptr;
  std::string error;
};

thread_local LaunchState* g_launch = nullptr;

// CADENZA_CUDA_EMU_ORDER=reverse runs blocks and threads last first. A
// result that changes with the order is a race a GPU may or may not show:
// a missing barrier, or a block reading another's output unordered.
bool reverse_order() {
  static const bool r = [] {
    const char* e = std::getenv("CADENZA_CUDA_EMU_ORDER");
    return e && std::strcmp(e, "reverse") == 0;
  }();
  return r;
}

// ---- stacks ----
std::vector<char*>& stack_pool() {
  static thread_local std::vector<char*> pool;
  return pool;
}
char* take_stack() {
  auto& pool = stack_pool();
  if (!pool.empty()) {
    char* s = pool.back();
    pool.pop_back();
    return s;
  }
  const size_t bytes = kStackBytes * kStacksPerChunk;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cuda emulator: out of memory for thread stacks");
  for (size_t i = 0; i < kStacksPerChunk; ++i) {
    char* base = static_cast<char*>(p) + i * kStackBytes;
    *reinterpret_cast<uint64_t*>(base) = kStackCanary;  // the lowest word: an overflow overwrites it
    pool.push_back(base + kStackBytes);
  }
  char* s = pool.back();
  pool.pop_back();
  return s;
}
bool stack_intact(const char* top) { return *reinterpret_cast<const uint64_t*>(top - kStackBytes) == kStackCanary; }
void give_stack(char* top) { stack_pool().push_back(top); }

void fail(const std::string& why) {
  LaunchState& L = *g_launch;
  if (!L.error.empty()) return;
  const ThreadCtx* c = detail::current;
  char where[160] = "";
  if (c)
    std::snprintf(where, sizeof where, "block (%u,%u,%u) thread (%u,%u,%u): ", c->bid.x, c->bid.y, c->bid.z,
                  c->tid.x, c->tid.y, c->tid.z);
  L.error = std::string(where) + why;
}

// Parks the running fiber. The block's next runnable thread runs directly
// (half the switches of going through the scheduler: lanes reach a warp
// collective one after another); at the block's end, the scheduler picks.
void to_scheduler(bool leaving = false) {
  LaunchState& L = *g_launch;
  Fiber* f = L.running;
  const std::vector<Fiber*>& fibers = f->block->fibers;
  const bool rev = reverse_order();
  const size_t count = fibers.size();
  for (size_t k = 1; k < count; ++k) {
    const size_t i = rev ? f->c.linear - k : f->c.linear + k;
    if (i >= count) break;  // past either end (unsigned wrap below 0)
    Fiber* n = fibers[i];
    if (n->st != St::run || (!n->started && !L.error.empty())) continue;
    n->started = true;
    L.running = n;
    detail::current = &n->c;
    switch_to(&f->sp, n->sp, n->stack, leaving);
    return;  // resumed: whoever switched back set running and current
  }
  switch_to(&f->sp, L.sched_sp, nullptr, leaving);
}

struct Abandon {};  // unwinds a fiber when its launch has failed

void check_abandon() {
  if (!g_launch->error.empty()) throw Abandon{};
}

void release_block_barrier(Block& b) {
  for (Fiber* f : b.fibers)
    if (f->st == St::block_bar) f->st = St::run;
  b.at_bar = 0;
}

void release_grid_barrier(const std::vector<Block*>& blocks) {
  for (Block* b : blocks)
    for (Fiber* f : b->fibers)
      if (f->st == St::grid_bar) f->st = St::run;
  g_launch->at_grid = 0;
}

void warp_maybe_release(Block& b, Warp& w, unsigned warp_index) {
  if (w.arrived == 0) return;
  const unsigned need = w.mask & w.alive;
  if ((w.arrived & need) != need) return;
  for (unsigned lane = 0; lane < 32; ++lane) {
    if (!((w.arrived >> lane) & 1u)) continue;
    const unsigned t = warp_index * 32 + lane;
    if (t < b.fibers.size()) b.fibers[t]->st = St::run;
  }
  ++w.gen;
  w.arrived = 0;
  w.mask = 0;
}

[[noreturn]] void fiber_entry() {
#ifdef CUEMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  LaunchState& L = *g_launch;
  Fiber* f = L.running;
  try {
    L.body(L.closure);
  } catch (const Abandon&) {
  } catch (const std::exception& e) {
    fail(e.what());
  } catch (...) {
    fail("an unknown exception");
  }
  f->st = St::done;
  Block& b = *f->block;
  --b.live;
  --L.live;
  ++L.progress;
  b.warps[f->c.warp].alive &= ~(1u << f->c.lane);
  warp_maybe_release(b, b.warps[f->c.warp], f->c.warp);
  if (b.at_bar > 0 && b.at_bar == b.live) release_block_barrier(b);
  if (L.at_grid > 0 && L.at_grid == L.live) release_grid_barrier(*L.blocks);
  to_scheduler(true);
  std::abort();  // a finished fiber is never resumed
}

void init_fiber(Fiber& f) {
  f.stack = take_stack();
#ifdef CUEMU_ASAN
  // A finished fiber never returns from fiber_entry: its frames stay
  // poisoned in the stack it gives back.
  ASAN_UNPOISON_MEMORY_REGION(f.stack - kStackBytes, kStackBytes);
#endif
  auto* top = reinterpret_cast<uintptr_t*>(f.stack);
  // ret pops fiber_entry with rsp = top - 8: the alignment of a call.
  top[-1] = 0;
  top[-2] = reinterpret_cast<uintptr_t>(&fiber_entry);
  for (int i = 3; i <= 8; ++i) top[-i] = 0;
  f.sp = top - 8;
}

std::string describe_stall(const std::vector<Block*>& blocks) {
  for (Block* b : blocks) {
    unsigned bar = 0, warp = 0, grid = 0;
    for (Fiber* f : b->fibers) {
      bar += f->st == St::block_bar;
      warp += f->st == St::warp_bar;
      grid += f->st == St::grid_bar;
    }
    if (bar + warp + grid == 0) continue;
    if ((bar && (warp || grid)) || (warp && grid) || (bar && bar != b->live) || warp) {
      char msg[256];
      std::snprintf(msg, sizeof msg,
                    "block (%u,%u,%u) cannot go on: %u of its %u live threads wait at __syncthreads, %u at a warp "
                    "collective whose lanes never all arrive, %u at grid.sync()",
                    b->bid.x, b->bid.y, b->bid.z, bar, b->live, warp, grid);
      return msg;
    }
  }
  return "every live thread waits at grid.sync(), but some blocks' threads wait elsewhere";
}

// Runs the blocks' fibers until they finish or the launch fails.
void schedule(const std::vector<Block*>& blocks) {
  LaunchState& L = *g_launch;
  L.blocks = &blocks;
  uint64_t idle_passes = 0, last_progress = L.progress;
  while (L.live > 0 && L.error.empty()) {
    bool ran = false, only_yields = true;
    const bool rev = reverse_order();
    for (Block* b : blocks) {
      const size_t count = b->fibers.size();
      for (size_t k = 0; k < count; ++k) {
        Fiber* f = b->fibers[rev ? count - 1 - k : k];
        if (f->st != St::run && f->st != St::yielded) continue;
        if (f->st == St::run) only_yields = false;
        f->st = St::run;
        f->started = true;
        ran = true;
        L.running = f;
        detail::current = &f->c;
        switch_to(&L.sched_sp, f->sp, f->stack);
        detail::current = nullptr;
        if (!L.error.empty()) break;
      }
      if (!L.error.empty()) break;
    }
    if (!L.error.empty()) break;
    if (!ran) {
      L.error = describe_stall(blocks);
      break;
    }
    if (only_yields && L.progress == last_progress) {
      if (++idle_passes > 200000) {
        L.error = "spin-waits that nothing will satisfy: every running thread polls, and none of them reaches a "
                  "barrier or exits";
        break;
      }
    } else {
      idle_passes = 0;
      last_progress = L.progress;
    }
  }
  // A failed launch leaves fibers parked; unwind them so their frames'
  // destructors run and their stacks come back.
  if (!L.error.empty()) {
    for (Block* b : blocks)
      for (Fiber* f : b->fibers) {
        if (f->st == St::done || !f->started) continue;
        L.running = f;
        detail::current = &f->c;
        f->st = St::run;
        switch_to(&L.sched_sp, f->sp, f->stack);  // its primitive throws Abandon
        detail::current = nullptr;
      }
  }
  L.blocks = nullptr;
}

std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

cudaError_t g_last_error = cudaSuccess;
std::mutex g_error_mutex;
void set_error(cudaError_t e) {
  std::lock_guard<std::mutex> lock(g_error_mutex);
  if (g_last_error == cudaSuccess) g_last_error = e;
}

// Whether every device allocation's redzone holds (emu runtime below).
bool device_redzones_intact(std::string* which);

std::mutex g_attr_mutex;
std::map<const void*, int> g_smem_optin;  // cudaFuncAttributeMaxDynamicSharedMemorySize per kernel

int blocks_per_sm(int threads, size_t smem) {
  if (threads <= 0 || threads > 1024) return 0;
  const int warps = (threads + 31) / 32;
  int n = std::min(kMaxBlocksPerSm, kMaxThreadsPerSm / (warps * 32));
  const size_t per_block = smem + 1024;  // the runtime's reserve per block
  n = std::min<int>(n, static_cast<int>(kSmemPerSm / per_block));
  return n;
}

}  // namespace

// ---- device-side primitives ----

void syncthreads() {
  LaunchState& L = *g_launch;
  check_abandon();
  Fiber* f = L.running;
  Block& b = *f->block;
  ++L.progress;
  f->st = St::block_bar;
  if (++b.at_bar == b.live) {
    release_block_barrier(b);
    return;
  }
  to_scheduler();
  check_abandon();
}

const uint64_t* warp_exchange(unsigned mask, uint64_t v) {
  LaunchState& L = *g_launch;
  check_abandon();
  Fiber* f = L.running;
  Block& b = *f->block;
  const unsigned lane = f->c.lane;
  if (!((mask >> lane) & 1u)) {
    fail("a warp collective whose mask leaves out the calling lane");
    throw Abandon{};
  }
  Warp& w = b.warps[f->c.warp];
  if (w.arrived != 0 && w.mask != mask) {
    fail("lanes of one warp met at warp collectives with different masks");
    throw Abandon{};
  }
  const unsigned gen = w.gen;
  w.slots[gen & 1][lane] = v;
  w.arrived |= 1u << lane;
  w.mask = mask;
  ++L.progress;
  f->st = St::warp_bar;
  warp_maybe_release(b, w, f->c.warp);
  if (f->st != St::run) to_scheduler();
  check_abandon();
  return w.slots[gen & 1];
}

void grid_sync() {
  LaunchState& L = *g_launch;
  check_abandon();
  if (!L.cooperative) {
    fail("grid.sync() in a kernel that was not launched cooperatively");
    throw Abandon{};
  }
  Fiber* f = L.running;
  ++L.progress;
  f->st = St::grid_bar;
  if (++L.at_grid == L.live) {
    release_grid_barrier(*L.blocks);
    return;
  }
  to_scheduler();
  check_abandon();
}

bool in_cooperative_launch() { return g_launch && g_launch->cooperative; }

void yield() {
  LaunchState& L = *g_launch;
  check_abandon();
  L.running->st = St::yielded;
  to_scheduler();
  check_abandon();
}

void* dynamic_shared(size_t* bytes) {
  LaunchState& L = *g_launch;
  if (bytes) *bytes = L.cfg.smem;
  return L.running->block->dyn.get();
}

void* block_shared(const void* key, size_t bytes, size_t align) {
  LaunchState& L = *g_launch;
  Block& b = *L.running->block;
  auto it = b.shared.find(key);
  if (it == b.shared.end()) {
    b.shared_bytes += bytes;
    if (b.shared_bytes + L.cfg.smem > kSmemOptin) {
      fail("static plus dynamic shared memory exceeds the device's " + std::to_string(kSmemOptin) + " bytes");
      throw Abandon{};
    }
    Block::Shared sh;
    sh.mem.reset(new unsigned char[bytes + align + kRedzone]);
    std::memset(sh.mem.get(), 0xff, bytes + align);  // NaN bytes: a read before any write shows
    auto addr = reinterpret_cast<uintptr_t>(sh.mem.get());
    addr = (addr + align - 1) / align * align;
    sh.end = reinterpret_cast<unsigned char*>(addr) + bytes;
    fill_redzone(sh.end);
    it = b.shared.emplace(key, std::move(sh)).first;
  }
  return it->second.end - bytes;
}

void trap(const char* why) {
  fail(why);
  throw Abandon{};
}

long long clock() {
  static thread_local long long ticks = 0;
  return ticks += 64;
}

void run_launch(const LaunchConfig& cfg, const void* kernel, void (*body)(void*), void* closure, bool cooperative) {
  const dim3 g = cfg.grid, bd = cfg.block;
  const unsigned long long nthreads = static_cast<unsigned long long>(bd.x) * bd.y * bd.z;
  const unsigned long long nblocks = static_cast<unsigned long long>(g.x) * g.y * g.z;
  if (nthreads == 0 || nblocks == 0 || nthreads > 1024 || bd.z > 64 || g.y > 65535 || g.z > 65535) {
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  std::lock_guard<std::mutex> lock(launch_mutex());
  LaunchState L;
  L.cfg = cfg;
  L.body = body;
  L.closure = closure;
  L.kernel = kernel;
  L.cooperative = cooperative;
  LaunchState* outer = g_launch;
  g_launch = &L;
  const unsigned nwarps = static_cast<unsigned>((nthreads + 31) / 32);

  auto make_block = [&](unsigned long long index) {
    auto* b = new Block;
    b->bid = uint3{static_cast<unsigned>(index % g.x), static_cast<unsigned>(index / g.x % g.y),
                   static_cast<unsigned>(index / g.x / g.y)};
    b->warps.resize(nwarps);
    for (unsigned w = 0; w < nwarps; ++w) {
      const unsigned lanes = static_cast<unsigned>(std::min<unsigned long long>(32, nthreads - w * 32ull));
      b->warps[w].alive = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
    }
    if (cfg.smem) {
      b->dyn.reset(new unsigned char[cfg.smem + kRedzone]);
      std::memset(b->dyn.get(), 0xff, cfg.smem);
      fill_redzone(b->dyn.get() + cfg.smem);
    }
    b->live = static_cast<unsigned>(nthreads);
    b->fibers.reserve(nthreads);
    for (unsigned t = 0; t < nthreads; ++t) {
      auto* f = new Fiber;
      f->c.tid = uint3{t % bd.x, t / bd.x % bd.y, t / bd.x / bd.y};
      f->c.bid = b->bid;
      f->c.bdim = bd;
      f->c.gdim = g;
      f->c.linear = t;
      f->c.lane = t % 32;
      f->c.warp = t / 32;
      f->block = b;
      init_fiber(*f);
      b->fibers.push_back(f);
    }
    L.live += static_cast<unsigned>(nthreads);
    return b;
  };
  auto free_block = [&](Block* b) {
    char where[96];
    std::snprintf(where, sizeof where, "block (%u,%u,%u) ", b->bid.x, b->bid.y, b->bid.z);
    if (L.error.empty() && b->dyn && !redzone_intact(b->dyn.get() + cfg.smem))
      L.error = std::string(where) + "wrote past the end of its " + std::to_string(cfg.smem) +
                " bytes of dynamic shared memory";
    for (auto& kv : b->shared)
      if (L.error.empty() && !redzone_intact(kv.second.end))
        L.error = std::string(where) + "wrote past the end of a __shared__ array";
    for (Fiber* f : b->fibers) {
      if (L.error.empty() && !stack_intact(f->stack))
        L.error = std::string(where) + "overflowed a thread's " + std::to_string(kStackBytes) + "-byte stack";
      give_stack(f->stack);
      delete f;
    }
    delete b;
  };

  {
    std::lock_guard<std::mutex> alock(g_attr_mutex);
    // Above 48 KB a kernel must have opted in (cudaFuncSetAttribute).
    auto it = g_smem_optin.find(kernel);
    L.smem_limit = it == g_smem_optin.end() ? kSmemDefault : std::max(kSmemDefault, static_cast<size_t>(it->second));
  }
  if (cfg.smem > L.smem_limit) {
    std::fprintf(stderr, "cuda emulator: a launch asks for %zu bytes of dynamic shared memory, over the %zu allowed\n",
                 cfg.smem, L.smem_limit);
    g_launch = outer;
    set_error(cudaErrorInvalidValue);
    return;
  }
  if (cooperative) {
    const int per_sm = blocks_per_sm(static_cast<int>(nthreads), cfg.smem);
    if (nblocks > static_cast<unsigned long long>(per_sm) * kSms) {
      std::fprintf(stderr, "cuda emulator: a cooperative launch of %llu blocks, but only %d per SM x %d SMs fit\n",
                   nblocks, per_sm, kSms);
      g_launch = outer;
      set_error(cudaErrorCooperativeLaunchTooLarge);
      return;
    }
    std::vector<Block*> blocks;
    for (unsigned long long i = 0; i < nblocks; ++i) blocks.push_back(make_block(reverse_order() ? nblocks - 1 - i : i));
    schedule(blocks);
    for (Block* b : blocks) free_block(b);
  } else {
    for (unsigned long long i = 0; i < nblocks && L.error.empty(); ++i) {
      std::vector<Block*> one{make_block(reverse_order() ? nblocks - 1 - i : i)};
      schedule(one);
      free_block(one[0]);
      L.live = 0;
    }
  }
  g_launch = outer;
  std::string which;
  if (L.error.empty() && !device_redzones_intact(&which))
    L.error = "wrote past the end of the device allocation " + which;
  if (!L.error.empty()) {
    std::fprintf(stderr, "cuda emulator: kernel failed: %s\n", L.error.c_str());
    set_error(cudaErrorLaunchFailure);
  }
}

}  // namespace cuemu

// ---- the runtime API ----
using namespace cuemu;

namespace {

struct Allocation {
  size_t bytes;
};

std::mutex g_mem_mutex;
std::map<const void*, Allocation> g_device_mem;
std::map<const void*, size_t> g_host_mem;
std::map<const void*, std::pair<size_t, size_t>> g_blocks_noted;  // bytes asked for, guarded slack
thread_local int t_device = 0;

struct EmuEvent {
  std::chrono::steady_clock::time_point at;
  bool recorded = false;
};
struct EmuStream {
  unsigned flags;
};
struct EmuHandle {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

}  // namespace

namespace cuemu {
void note_block(void* p, size_t bytes, size_t rounded) {
  if (!p || rounded <= bytes) return;
  const size_t slack = std::min(rounded - bytes, size_t{256});
  fill_redzone(static_cast<unsigned char*>(p) + bytes, slack);
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  g_blocks_noted[p] = {bytes, slack};
}
void forget_block(void* p) {
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  auto it = g_blocks_noted.find(p);
  if (it == g_blocks_noted.end()) return;
  clear_redzone(static_cast<unsigned char*>(p) + it->second.first, it->second.second);  // the next tensor may be larger
  g_blocks_noted.erase(it);
}
namespace {
bool device_redzones_intact(std::string* which) {
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  for (auto& kv : g_blocks_noted) {
    const auto* end = static_cast<const unsigned char*>(kv.first) + kv.second.first;
    if (!redzone_intact(end, kv.second.second)) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%p (a cached block, %zu bytes asked for)", kv.first, kv.second.first);
      *which = buf;
      return false;
    }
  }
  for (auto& kv : g_device_mem)
    if (!redzone_intact(static_cast<const unsigned char*>(kv.first) + kv.second.bytes)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%p (%zu bytes)", kv.first, kv.second.bytes);
      *which = buf;
      return false;
    }
  return true;
}
}  // namespace
}  // namespace cuemu

namespace {

int device_count() {
  const char* env = std::getenv("CADENZA_CUDA_EMU_DEVICES");
  return env ? std::atoi(env) : 1;
}

cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) set_error(e);
  return e;
}

}  // namespace

extern "C" {

cudaError_t cudaGetLastError(void) {
  std::lock_guard<std::mutex> lock(g_error_mutex);
  cudaError_t e = g_last_error;
  g_last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) {
  std::lock_guard<std::mutex> lock(g_error_mutex);
  return g_last_error;
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchFailure: return "unspecified launch failure (the emulator printed why)";
    case cudaErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNotReady: return "device not ready";
    default: return "an emulated CUDA error";
  }
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorCooperativeLaunchTooLarge: return "cudaErrorCooperativeLaunchTooLarge";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    default: return "cudaErrorUnknown";
  }
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = device_count();
  if (*count == 0) return ret(cudaErrorNoDevice);
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = t_device;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) { return cudaPeekAtLastError(); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "cadenza CUDA emulator (H100-like: %d SMs)", kSms);
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = size_t{80} << 30;
  p->multiProcessorCount = kSms;
  p->sharedMemPerBlock = kSmemDefault;
  p->sharedMemPerBlockOptin = kSmemOptin;
  p->sharedMemPerMultiprocessor = kSmemPerSm;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsPerMultiProcessor = kMaxThreadsPerSm;
  p->warpSize = 32;
  p->cooperativeLaunch = 1;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device < 0 || device >= device_count()) return ret(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = kSms; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(kSmemOptin); break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(kSmemDefault); break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(kSmemPerSm); break;
    case cudaDevAttrCooperativeLaunch: *value = 1; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    default: return ret(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (bytes == 0) {
    *p = nullptr;
    return cudaSuccess;
  }
  void* q = std::aligned_alloc(256, (bytes + kRedzone + 255) / 256 * 256);
  if (!q) return ret(cudaErrorMemoryAllocation);
  std::memset(q, 0xff, bytes);  // fresh device memory holds no zeros
  fill_redzone(static_cast<unsigned char*>(q) + bytes);
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  g_device_mem[q] = Allocation{bytes};
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  auto it = g_device_mem.find(p);
  if (it == g_device_mem.end()) {
    std::fprintf(stderr, "cuda emulator: cudaFree of %p, which cudaMalloc did not return\n", p);
    return ret(cudaErrorInvalidValue);
  }
  const bool intact = redzone_intact(static_cast<unsigned char*>(p) + it->second.bytes);
  if (!intact)
    std::fprintf(stderr, "cuda emulator: something wrote past the end of the device allocation %p before cudaFree\n", p);
  g_device_mem.erase(it);
  std::free(p);
  if (!intact) return ret(cudaErrorIllegalAddress);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int) {
  *p = std::aligned_alloc(4096, (std::max<size_t>(bytes, 1) + 4095) / 4096 * 4096);
  if (!*p) return ret(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  g_host_mem[*p] = bytes;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaHostAlloc(p, bytes, 0); }
cudaError_t cudaFreeHost(void* p) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mem_mutex);
  if (!g_host_mem.erase(p)) return ret(cudaErrorInvalidValue);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  *free_bytes = size_t{60} << 30;
  *total = size_t{80} << 30;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind) {
  std::lock_guard<std::mutex> lock(launch_mutex());
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, n, kind);
}
cudaError_t cudaMemset(void* dst, int v, size_t n) {
  std::lock_guard<std::mutex> lock(launch_mutex());
  if (n) std::memset(dst, v, n);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int v, size_t n, cudaStream_t) { return cudaMemset(dst, v, n); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  *s = reinterpret_cast<cudaStream_t>(new EmuStream{flags});
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete reinterpret_cast<EmuStream*>(s);
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaPeekAtLastError(); }
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }
cudaError_t cudaLaunchHostFunc(cudaStream_t, cudaHostFn_t fn, void* data) {
  fn(data);
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  *e = reinterpret_cast<cudaEvent_t>(new EmuEvent);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete reinterpret_cast<EmuEvent*>(e);
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  auto* ev = reinterpret_cast<EmuEvent*>(e);
  ev->at = std::chrono::steady_clock::now();
  ev->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  auto* ea = reinterpret_cast<EmuEvent*>(a);
  auto* eb = reinterpret_cast<EmuEvent*>(b);
  if (!ea->recorded || !eb->recorded) return ret(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(eb->at - ea->at).count();
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || static_cast<size_t>(value) > kSmemOptin) return ret(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(g_attr_mutex);
    g_smem_optin[func] = value;
  }
  return cudaSuccess;
}
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, const void*, int threads, size_t smem) {
  *n = blocks_per_sm(threads, smem);
  return cudaSuccess;
}

cudaError_t cudaLaunchCooperativeKernel(const void*, dim3, dim3, void**, size_t, cudaStream_t) {
  std::fprintf(stderr,
               "cuda emulator: cudaLaunchCooperativeKernel cannot call a kernel through void* arguments; launch "
               "through kernels/cuda/launch.h's launch_cooperative\n");
  return ret(cudaErrorNotSupported);
}

}  // extern "C"

// ---- cuBLAS: the GEMMs the kernels call, column-major as cuBLAS is ----
// On Eigen, accumulating in the operands' type as cuBLAS does (TF32 off).
namespace {
template <class T>
cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const T* alpha, const T* A,
                    int lda, const T* B, int ldb, const T* beta, T* C, int ldc) {
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  const bool at = ta != CUBLAS_OP_N, bt = tb != CUBLAS_OP_N;
  if (lda < std::max(1, at ? k : m) || ldb < std::max(1, bt ? n : k) || ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  using CMap = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
  std::lock_guard<std::mutex> lock(launch_mutex());
  Eigen::Map<Mat, 0, Eigen::OuterStride<>> c(C, m, n, Eigen::OuterStride<>(ldc));
  // beta == 0 does not read C, as cuBLAS does not (it may hold NaN).
  if (*beta == T(0)) c.setZero();
  else if (*beta != T(1)) c *= *beta;
  if (k == 0 || *alpha == T(0)) return CUBLAS_STATUS_SUCCESS;
  const CMap a(A, at ? k : m, at ? m : k, Eigen::OuterStride<>(lda));
  const CMap b(B, bt ? n : k, bt ? k : n, Eigen::OuterStride<>(ldb));
  if (at && bt) c.noalias() += *alpha * (a.transpose() * b.transpose());
  else if (at) c.noalias() += *alpha * (a.transpose() * b);
  else if (bt) c.noalias() += *alpha * (a * b.transpose());
  else c.noalias() += *alpha * (a * b);
  return CUBLAS_STATUS_SUCCESS;
}
}  // namespace

extern "C" {
cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
  *h = reinterpret_cast<cublasHandle_t>(new EmuHandle);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
  delete reinterpret_cast<EmuHandle*>(h);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
  reinterpret_cast<EmuHandle*>(h)->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
  reinterpret_cast<EmuHandle*>(h)->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}
const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    default: return "CUBLAS_STATUS (emulated)";
  }
}
cublasStatus_t cublasSgemm_v2(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                              float* C, int ldc) {
  return gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t cublasDgemm_v2(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const double* alpha, const double* A, int lda, const double* B, int ldb,
                              const double* beta, double* C, int ldc) {
  return gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float* alpha, const float* A, int lda, long long sa,
                                         const float* B, int ldb, long long sb, const float* beta, float* C, int ldc,
                                         long long sc, int batch) {
  if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  for (int i = 0; i < batch; ++i) {
    const cublasStatus_t st = gemm(ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
  }
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double* alpha, const double* A, int lda, long long sa,
                                         const double* B, int ldb, long long sb, const double* beta, double* C,
                                         int ldc, long long sc, int batch) {
  if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
  for (int i = 0; i < batch; ++i) {
    const cublasStatus_t st = gemm(ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
  }
  return CUBLAS_STATUS_SUCCESS;
}
}  // extern "C"
