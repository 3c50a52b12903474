// Prelude for the host target: the generated kernel runs as plain C++ on the CPU.
// A launch runs every block and thread in turn; the kernels use no shared memory and no
// barriers, so this order gives exactly the results of a parallel launch.
#include <cstring>

#define RG_DEVICE static inline
#define RG_KERNEL(threads) extern "C" void
#define RG_CONST_ARRAY static const

struct rg_host_index {
  unsigned thread_x, block_x, block_y, grid_y;
};
static thread_local rg_host_index rg_index;

RG_DEVICE int rg_thread_x() { return static_cast<int>(rg_index.thread_x); }
RG_DEVICE int rg_block_x() { return static_cast<int>(rg_index.block_x); }
RG_DEVICE int rg_block_y() { return static_cast<int>(rg_index.block_y); }
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

template <class Kernel>
static void rg_host_run(unsigned grid_x, unsigned grid_y, unsigned block_x, Kernel&& kernel) {
  rg_index.grid_y = grid_y;
  for (unsigned by = 0; by < grid_y; ++by)
    for (unsigned bx = 0; bx < grid_x; ++bx)
      for (unsigned tx = 0; tx < block_x; ++tx) {
        rg_index.block_x = bx;
        rg_index.block_y = by;
        rg_index.thread_x = tx;
        kernel();
      }
}
template <class T> RG_DEVICE T rg_load(const T* p) { return *p; }
template <class T> RG_DEVICE void rg_store(T* p, const T& v) { *p = v; }
