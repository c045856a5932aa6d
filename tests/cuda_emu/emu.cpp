// The CUDA emulator's device side (see cuda_emu.h; the runtime API and
// cuBLAS are in emu_runtime.cpp). One launch runs at a time (a
// process-wide lock); its threads are fibers on the launching host thread. A block's threads run until they reach a barrier,
// a warp collective or a spin-wait's load; the fiber that completes a
// barrier releases the others. Blocks of an ordinary launch run one after
// another; a cooperative launch holds every block at once, as the device
// must.
#include <cxxabi.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
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
#include "emu_internal.h"
#if defined(CUEMU_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

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

using namespace internal;

constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kStacksPerChunk = 256;  // one mapping each: 32k fibers stay far below vm.max_map_count
constexpr uint64_t kStackCanary = 0x5ca1ab1edeadbeefull;

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

}  // namespace

namespace internal {

std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

namespace {
cudaError_t g_last_error = cudaSuccess;
std::mutex g_error_mutex;
std::mutex g_attr_mutex;
std::map<const void*, int> g_smem_optin;  // cudaFuncAttributeMaxDynamicSharedMemorySize per kernel
}  // namespace

void set_error(cudaError_t e) {
  std::lock_guard<std::mutex> lock(g_error_mutex);
  if (g_last_error == cudaSuccess) g_last_error = e;
}
cudaError_t last_error(bool clear) {
  std::lock_guard<std::mutex> lock(g_error_mutex);
  const cudaError_t e = g_last_error;
  if (clear) g_last_error = cudaSuccess;
  return e;
}

void set_smem_optin(const void* kernel, int bytes) {
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  g_smem_optin[kernel] = bytes;
}
size_t smem_limit(const void* kernel) {
  std::lock_guard<std::mutex> lock(g_attr_mutex);
  auto it = g_smem_optin.find(kernel);
  return it == g_smem_optin.end() ? kSmemDefault : std::max(kSmemDefault, static_cast<size_t>(it->second));
}

int blocks_per_sm(int threads, size_t smem) {
  if (threads <= 0 || threads > 1024) return 0;
  const int warps = (threads + 31) / 32;
  int n = std::min(kMaxBlocksPerSm, kMaxThreadsPerSm / (warps * 32));
  const size_t per_block = smem + 1024;  // the runtime's reserve per block
  n = std::min<int>(n, static_cast<int>(kSmemPerSm / per_block));
  return n;
}

}  // namespace internal

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

namespace {

std::FILE* trace_file() {
  static std::FILE* f = [] {
    const char* path = std::getenv("CADENZA_CUDA_EMU_TRACE");
    return path && *path ? std::fopen(path, "w") : nullptr;
  }();
  return f;
}

// The kernel's demangled name where the symbol table has it (the kernels
// are internal symbols, which dladdr finds only in the dynamic table), else
// its offset in its object, which nm resolves.
std::string kernel_name(const void* kernel) {
  Dl_info info{};
  if (!dladdr(kernel, &info)) return "?";
  if (info.dli_sname) {
    int status = 0;
    char* d = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    std::string name = status == 0 && d ? d : info.dli_sname;
    std::free(d);
    return name;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "@0x%zx",
                static_cast<size_t>(static_cast<const char*>(kernel) - static_cast<const char*>(info.dli_fbase)));
  return buf;
}

}  // namespace

namespace internal {
bool tracing() { return trace_file() != nullptr; }
void trace(const std::string& line) {
  if (std::FILE* f = trace_file()) {
    std::fputs(line.c_str(), f);
    std::fputc('\n', f);
    std::fflush(f);
  }
}
}  // namespace internal

void run_launch(const LaunchConfig& cfg, const void* kernel, void (*body)(void*), void* closure, bool cooperative) {
  internal::flush_uploads();
  const dim3 g = cfg.grid, bd = cfg.block;
  if (internal::tracing())
    internal::trace(std::string(cooperative ? "cooperative " : "launch ") + kernel_name(kernel) + " " +
                    std::to_string(g.x) + "x" + std::to_string(g.y) + "x" + std::to_string(g.z) + " " +
                    std::to_string(bd.x) + "x" + std::to_string(bd.y) + "x" + std::to_string(bd.z));
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

  L.smem_limit = smem_limit(kernel);  // above 48 KB a kernel must have opted in
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
