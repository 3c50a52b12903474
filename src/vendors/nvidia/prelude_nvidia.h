// Prelude for NVIDIA targets (NVRTC): CUDA's built-in indices and math, no includes.
#define RG_DEVICE __device__ __forceinline__
#define RG_KERNEL(threads) extern "C" __global__ void __launch_bounds__(threads)
#define RG_CONST_ARRAY __device__ const
// Block-shared storage, declared inside a kernel body: `RG_SHARED float partial[256];`.
#define RG_SHARED __shared__

RG_DEVICE int rg_thread_x() { return static_cast<int>(threadIdx.x); }
RG_DEVICE int rg_block_x() { return static_cast<int>(blockIdx.x); }
RG_DEVICE int rg_block_y() { return static_cast<int>(blockIdx.y); }
RG_DEVICE int rg_block_z() { return static_cast<int>(blockIdx.z); }
RG_DEVICE int rg_grid_y() { return static_cast<int>(gridDim.y); }
// Block-wide barrier; shared and global writes before it are visible to the block after it.
RG_DEVICE void rg_barrier() { __syncthreads(); }
// Programmatic dependent launch (sm_90+): wait until the previous kernel in the stream has
// finished and its writes are visible; let the next kernel start launching. Without a PDL
// launch both return at once; before sm_90 they are empty.
RG_DEVICE void rg_wait_prior_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
RG_DEVICE void rg_allow_next_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}
// Compare-and-swap of a 64-bit word in global memory; returns the old value (checks = bounds).
RG_DEVICE unsigned long long rg_atomic_cas_u64(unsigned long long* p, unsigned long long expected,
                                               unsigned long long desired) {
  return atomicCAS(p, expected, desired);
}

RG_DEVICE float rg_as_float(unsigned u) { return __uint_as_float(u); }
RG_DEVICE unsigned rg_as_uint(float f) { return __float_as_uint(f); }

// Raw types of 16, 8, 4 and 2 bytes: whole-vector loads and stores (ld/st.global.v4.u32).
template <int Bytes> struct rg_raw;
template <> struct rg_raw<16> { using type = uint4; };
template <> struct rg_raw<8> { using type = uint2; };
template <> struct rg_raw<4> { using type = unsigned int; };
template <> struct rg_raw<2> { using type = unsigned short; };
// Word i of a raw vector (i is a constant once loops are unrolled).
RG_DEVICE unsigned rg_word(const uint4& r, int i) { return i == 0 ? r.x : i == 1 ? r.y : i == 2 ? r.z : r.w; }
RG_DEVICE unsigned rg_word(const uint2& r, int i) { return i == 0 ? r.x : r.y; }
RG_DEVICE unsigned rg_word(unsigned r, int) { return r; }
RG_DEVICE unsigned rg_word(unsigned short r, int) { return r; }
RG_DEVICE void rg_set_word(uint4& r, int i, unsigned v) {
  if (i == 0) r.x = v; else if (i == 1) r.y = v; else if (i == 2) r.z = v; else r.w = v;
}
RG_DEVICE void rg_set_word(uint2& r, int i, unsigned v) {
  if (i == 0) r.x = v; else r.y = v;
}
RG_DEVICE void rg_set_word(unsigned& r, int, unsigned v) { r = v; }
RG_DEVICE void rg_set_word(unsigned short& r, int, unsigned v) { r = static_cast<unsigned short>(v); }
RG_DEVICE double rg_rint(double x) { return rint(x); }
RG_DEVICE float rg_sqrt(float x) { return __fsqrt_rn(x); }  // IEEE, rounded to nearest
RG_DEVICE float rg_rintf(float x) { return rintf(x); }  // to nearest, ties to even
RG_DEVICE float rg_floorf(float x) { return floorf(x); }
RG_DEVICE float rg_fmaf(float a, float b, float c) { return __fmaf_rn(a, b, c); }  // one rounding
RG_DEVICE float rg_logf(float x) { return logf(x); }  // CUDA's logf: within 1 ulp
// Exchange within a warp: lane ^ m's value, m < width. The lanes that take part are the
// aligned `width` lanes (a power of two, at most 32) around this one, named in the mask, so the
// call never waits for or reads a lane of another row (a row's lanes run or leave together).
#define RG_HAS_SHUFFLE 1
RG_DEVICE float rg_shuffle_xor(float v, int m, int width) {
  const unsigned lane = threadIdx.x % 32u;
  const unsigned mask = width >= 32 ? 0xffffffffu : ((1u << width) - 1u) << (lane & ~(width - 1u));
  return __shfl_xor_sync(mask, v, m, width);
}
template <class T> RG_DEVICE T rg_load(const T* p) { return *p; }
template <class T> RG_DEVICE void rg_store(T* p, const T& v) { *p = v; }
