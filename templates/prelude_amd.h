// Prelude for AMD targets. Uses clang's AMDGPU builtins only, so the same text compiles
// with hipRTC (which predefines the HIP keywords) and with clang -nogpuinc -nogpulib
// (which does not, and has no ROCm device library for gfx11 here).
#ifndef __global__
#define __global__ __attribute__((global))
#endif
#ifndef __device__
#define __device__ __attribute__((device))
#endif
#define RG_DEVICE __device__ inline __attribute__((always_inline))
#define RG_KERNEL(threads) \
  extern "C" __global__ __attribute__((amdgpu_flat_work_group_size(1, threads))) void
#define RG_CONST_ARRAY __device__ const

RG_DEVICE int rg_thread_x() { return static_cast<int>(__builtin_amdgcn_workitem_id_x()); }
RG_DEVICE int rg_block_x() { return static_cast<int>(__builtin_amdgcn_workgroup_id_x()); }
RG_DEVICE int rg_block_y() { return static_cast<int>(__builtin_amdgcn_workgroup_id_y()); }
// Number of work-groups in y, from the HSA dispatch packet: grid_size_y (work-items, at
// byte 16) over workgroup_size_y (at byte 6).
RG_DEVICE int rg_grid_y() {
  const unsigned short* packet =
      static_cast<const unsigned short*>(__builtin_amdgcn_dispatch_ptr());
  const unsigned group = packet[3];
  const unsigned items = reinterpret_cast<const unsigned*>(packet)[4];
  return static_cast<int>((items + group - 1) / group);
}

RG_DEVICE float rg_as_float(unsigned u) { return __builtin_bit_cast(float, u); }
RG_DEVICE unsigned rg_as_uint(float f) { return __builtin_bit_cast(unsigned, f); }

// Raw types of 16, 8, 4 and 2 bytes: whole-vector loads and stores (global_load_b128 /
// global_load_dwordx4 and the matching stores).
typedef unsigned int rg_u32x4 __attribute__((vector_size(16)));
typedef unsigned int rg_u32x2 __attribute__((vector_size(8)));
template <int Bytes> struct rg_raw;
template <> struct rg_raw<16> { using type = rg_u32x4; };
template <> struct rg_raw<8> { using type = rg_u32x2; };
template <> struct rg_raw<4> { using type = unsigned int; };
template <> struct rg_raw<2> { using type = unsigned short; };
// Word i of a raw vector (i is a constant once loops are unrolled).
RG_DEVICE unsigned rg_word(const rg_u32x4& r, int i) { return r[i]; }
RG_DEVICE unsigned rg_word(const rg_u32x2& r, int i) { return r[i]; }
RG_DEVICE unsigned rg_word(unsigned r, int) { return r; }
RG_DEVICE unsigned rg_word(unsigned short r, int) { return r; }
RG_DEVICE void rg_set_word(rg_u32x4& r, int i, unsigned v) { r[i] = v; }
RG_DEVICE void rg_set_word(rg_u32x2& r, int i, unsigned v) { r[i] = v; }
RG_DEVICE void rg_set_word(unsigned& r, int, unsigned v) { r = v; }
RG_DEVICE void rg_set_word(unsigned short& r, int, unsigned v) { r = static_cast<unsigned short>(v); }
RG_DEVICE double rg_rint(double x) { return __builtin_rint(x); }
// Kernel pointers are global memory; saying so keeps clang from falling back to flat
// instructions where it cannot prove it (e.g. through a select of two pointers).
template <class T> RG_DEVICE T rg_load(const T* p) {
  return *(const __attribute__((address_space(1))) T*)p;  // C cast: may change address space
}
template <class T> RG_DEVICE void rg_store(T* p, const T& v) {
  *(__attribute__((address_space(1))) T*)p = v;
}
