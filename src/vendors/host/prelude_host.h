// Prelude for the host target: the generated kernel runs as plain C++ on the CPU.
// A launch runs the blocks in turn, and a block's threads one after another on the
// launching thread's own stack, until one of them calls rg_barrier(). From there the rest
// of that block runs cooperatively: every thread still to run becomes a fiber (ucontext)
// with its own stack, rg_barrier() passes control to the next live thread in thread order,
// and a barrier completes once every thread of the block has reached it or returned. A
// thread that returned counts as arrived at every later barrier (as on GPUs); the threads
// that finished before the first barrier are such threads. Kernels that never call
// rg_barrier() map no stacks and switch nothing: they run exactly as a plain loop would.
// RG_SHARED storage is a function-local static thread_local: the threads of a block (all
// on one OS thread) share it; launches on other OS threads have their own.
#include <sys/mman.h>
#include <ucontext.h>

#include <cstring>

#define RG_DEVICE static inline
#define RG_KERNEL(threads) extern "C" void
#define RG_CONST_ARRAY static const
#define RG_SHARED static thread_local

struct rg_host_index {
  unsigned thread_x, block_x, block_y, block_z, grid_y;
};
// The running thread's indices. Fibers share the OS thread, so a fiber sets thread_x
// again whenever it gets control back (see rg_barrier).
static thread_local rg_host_index rg_index;

RG_DEVICE int rg_thread_x() { return static_cast<int>(rg_index.thread_x); }
RG_DEVICE int rg_block_x() { return static_cast<int>(rg_index.block_x); }
RG_DEVICE int rg_block_y() { return static_cast<int>(rg_index.block_y); }
RG_DEVICE int rg_block_z() { return static_cast<int>(rg_index.block_z); }
RG_DEVICE int rg_grid_y() { return static_cast<int>(rg_index.grid_y); }

RG_DEVICE float rg_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
RG_DEVICE unsigned rg_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

RG_DEVICE double rg_rint(double x) { return __builtin_rint(x); }
RG_DEVICE float rg_sqrt(float x) { return __builtin_sqrtf(x); }
RG_DEVICE float rg_rintf(float x) { return __builtin_rintf(x); }  // to nearest, ties to even
RG_DEVICE float rg_floorf(float x) { return __builtin_floorf(x); }
RG_DEVICE float rg_fmaf(float a, float b, float c) { return __builtin_fmaf(a, b, c); }  // one rounding
RG_DEVICE float rg_logf(float x) { return __builtin_logf(x); }
// No exchange within a warp: block-cooperative code uses block-shared memory here.
#define RG_HAS_SHUFFLE 0
RG_DEVICE float rg_shuffle_xor(float v, int, int) { return v; }

// One launch on this OS thread. The fiber part (stacks, contexts) is mapped at the first
// barrier of the launch and reused by every later block.
struct rg_host_launch {
  // Per fiber: 64 KiB of stack above a 64 KiB guard (PROT_NONE), both whole pages for any
  // page size up to 64 KiB.
  static constexpr unsigned long guard_bytes = 64 << 10, stack_bytes = 64 << 10;
  unsigned block_threads = 0;
  void* kernel = nullptr;                               // the launcher's callable
  void (*invoke)(void* kernel) = nullptr;               // calls it
  void (*finish)(rg_host_launch&, unsigned) = nullptr;  // rg_host_finish_block, set at the first barrier
  void (*release)(rg_host_launch&) = nullptr;           // rg_host_release, likewise
  bool cooperative = false;                             // the current block has reached a barrier
  unsigned prev = 0;                                    // live thread before the running one in the cycle
  unsigned* next = nullptr;                             // the block's live threads, a cycle in thread order
  ucontext_t* context = nullptr;                        // per thread: where it resumes
  ucontext_t launcher;                                  // the launching stack, waiting for its block
  char* map = nullptr;                                  // stacks, then contexts, then next
  unsigned long map_bytes = 0;
};
static thread_local rg_host_launch* rg_launch;

// The fiber machinery below is templates, reached from the launcher only through pointers
// that the first barrier sets: a kernel that never calls rg_barrier() does not compile it
// or link against it.

// A kernel has no way to report an error: a launch that cannot map its fibers' stacks (or
// whose context calls fail) aborts the process.
template <int = 0>
RG_DEVICE void rg_host_check(bool ok) {
  if (!ok) __builtin_abort();
}

// Out of line: getcontext returns twice, and nothing of the caller's may live across it.
template <int = 0>
__attribute__((noinline)) static void rg_host_init_context(ucontext_t* c) {
  rg_host_check(getcontext(c) == 0);
}

// A fiber's thread has returned: unlink it and run the next live thread, or wake the
// launching stack when it was the last.
template <int = 0>
[[noreturn]] RG_DEVICE void rg_host_fiber_exit(rg_host_launch& s, unsigned me) {
  const unsigned to = s.next[me];
  s.next[s.prev] = to;
  if (to == me) {
    setcontext(&s.launcher);
  } else {
    rg_index.thread_x = to;
    setcontext(&s.context[to]);
  }
  __builtin_abort();  // setcontext returns only on failure
}

template <int = 0>
static void rg_host_fiber() {
  rg_host_launch& s = *rg_launch;
  const unsigned me = rg_index.thread_x;
  s.invoke(s.kernel);
  rg_host_fiber_exit(s, me);
}

// The thread on the launching stack has returned from a cooperative block: the block's
// other live threads run to their end, then the launcher goes on with the next block.
template <int = 0>
RG_DEVICE void rg_host_finish_block(rg_host_launch& s, unsigned me) {
  const unsigned to = s.next[me];
  if (to != me) {
    s.next[s.prev] = to;
    rg_index.thread_x = to;
    rg_host_check(swapcontext(&s.launcher, &s.context[to]) == 0);
  }
  s.cooperative = false;
}

template <int = 0>
static void rg_host_release(rg_host_launch& s) {
  munmap(s.map, s.map_bytes);
}

// First barrier of a block, called by thread `me` on the launching stack (threads below
// `me` have returned): the threads above it become fibers; the cycle is me, me+1, ..., me.
template <int = 0>
RG_DEVICE void rg_host_go_cooperative(rg_host_launch& s, unsigned me) {
  const unsigned n = s.block_threads;
  const unsigned long slot = rg_host_launch::guard_bytes + rg_host_launch::stack_bytes;
  if (!s.map) {
    s.map_bytes = n * (slot + sizeof(ucontext_t) + sizeof(unsigned));
    void* map = mmap(nullptr, s.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    rg_host_check(map != MAP_FAILED);
    s.map = static_cast<char*>(map);
    s.context = reinterpret_cast<ucontext_t*>(s.map + n * slot);
    s.next = reinterpret_cast<unsigned*>(s.context + n);
    for (unsigned t = 0; t < n; ++t) {
      rg_host_check(mprotect(s.map + t * slot, rg_host_launch::guard_bytes, PROT_NONE) == 0);
      rg_host_init_context(&s.context[t]);
    }
    s.finish = &rg_host_finish_block<>;
    s.release = &rg_host_release<>;
  }
  for (unsigned t = me + 1; t < n; ++t) {
    ucontext_t& c = s.context[t];
    c.uc_stack.ss_sp = s.map + t * slot + rg_host_launch::guard_bytes;
    c.uc_stack.ss_size = rg_host_launch::stack_bytes;
    c.uc_link = nullptr;  // rg_host_fiber never returns
    makecontext(&c, &rg_host_fiber<>, 0);
    s.next[t] = t + 1;
  }
  s.next[n - 1] = me;
  if (me + 1 < n) s.next[me] = me + 1;
  s.prev = n - 1;
  s.cooperative = true;
}

// Block-wide barrier: returns once every thread of the block has called it or returned.
template <int = 0>
RG_DEVICE void rg_barrier() {
  rg_host_launch& s = *rg_launch;
  const unsigned me = rg_index.thread_x;
  if (!s.cooperative) rg_host_go_cooperative(s, me);
  const unsigned to = s.next[me];
  if (to == me) return;  // the only live thread
  s.prev = me;
  rg_index.thread_x = to;
  rg_host_check(swapcontext(&s.context[me], &s.context[to]) == 0);
  rg_index.thread_x = me;
}
// A host launch runs after the previous one has returned: nothing to wait for.
RG_DEVICE void rg_wait_prior_grid() {}
RG_DEVICE void rg_allow_next_grid() {}
// Compare-and-swap of a 64-bit word in global memory; returns the old value (checks = bounds).
RG_DEVICE unsigned long long rg_atomic_cas_u64(unsigned long long* p, unsigned long long expected,
                                               unsigned long long desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}

template <class Callable>
static void rg_host_invoke(void* kernel) {
  (*static_cast<Callable*>(kernel))();
}
template <class T> struct rg_host_unref { using type = T; };
template <class T> struct rg_host_unref<T&> { using type = T; };

template <class Kernel>
static void rg_host_run(unsigned grid_x, unsigned grid_y, unsigned grid_z, unsigned block_x, Kernel&& kernel) {
  rg_host_launch s;
  s.block_threads = block_x;
  s.kernel = const_cast<void*>(static_cast<const void*>(&kernel));
  s.invoke = &rg_host_invoke<typename rg_host_unref<Kernel>::type>;
  rg_host_launch* const outer = rg_launch;
  rg_launch = &s;
  rg_index.grid_y = grid_y;
  for (unsigned bz = 0; bz < grid_z; ++bz)
    for (unsigned by = 0; by < grid_y; ++by)
      for (unsigned bx = 0; bx < grid_x; ++bx)
        for (unsigned tx = 0; tx < block_x; ++tx) {
          rg_index.block_x = bx;
          rg_index.block_y = by;
          rg_index.block_z = bz;
          rg_index.thread_x = tx;
          kernel();
          if (s.cooperative) {
            s.finish(s, tx);
            break;
          }
        }
  rg_launch = outer;
  if (s.release) s.release(s);
}
template <class T> RG_DEVICE T rg_load(const T* p) { return *p; }
template <class T> RG_DEVICE void rg_store(T* p, const T& v) { *p = v; }
