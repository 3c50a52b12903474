// Prelude for AMD targets. Uses clang's AMDGPU builtins only, so the same text compiles
// with hipRTC (which predefines the HIP keywords) and with clang -nogpuinc -nogpulib
// (which does not, and has no ROCm device library for gfx11 here).
#ifndef __global__
#define __global__ __attribute__((global))
#endif
#ifndef __device__
#define __device__ __attribute__((device))
#endif
#ifndef __shared__
#define __shared__ __attribute__((shared))
#endif
#define RG_DEVICE __device__ inline __attribute__((always_inline))
#define RG_KERNEL(threads) \
  extern "C" __global__ __attribute__((amdgpu_flat_work_group_size(1, threads))) void
#define RG_CONST_ARRAY __device__ const
// Block-shared storage (LDS), declared inside a kernel body: `RG_SHARED float partial[256];`.
#define RG_SHARED __shared__

RG_DEVICE int rg_thread_x() { return static_cast<int>(__builtin_amdgcn_workitem_id_x()); }
RG_DEVICE int rg_block_x() { return static_cast<int>(__builtin_amdgcn_workgroup_id_x()); }
RG_DEVICE int rg_block_y() { return static_cast<int>(__builtin_amdgcn_workgroup_id_y()); }
RG_DEVICE int rg_block_z() { return static_cast<int>(__builtin_amdgcn_workgroup_id_z()); }
// Number of work-groups in y, from the HSA dispatch packet: grid_size_y (work-items, at
// byte 16) over workgroup_size_y (at byte 6).
RG_DEVICE int rg_grid_y() {
  const unsigned short* packet =
      static_cast<const unsigned short*>(__builtin_amdgcn_dispatch_ptr());
  const unsigned group = packet[3];
  const unsigned items = reinterpret_cast<const unsigned*>(packet)[4];
  return static_cast<int>((items + group - 1) / group);
}
// Block-wide barrier with work-group release/acquire fences around it, as HIP's
// __syncthreads(): LDS and global writes before it are visible to the block after it.
RG_DEVICE void rg_barrier() {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
  __builtin_amdgcn_s_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}
// No programmatic dependent launch on AMD: kernels in a stream run in order.
RG_DEVICE void rg_wait_prior_grid() {}
RG_DEVICE void rg_allow_next_grid() {}
// Compare-and-swap of a 64-bit word in global memory; returns the old value (checks = bounds).
RG_DEVICE unsigned long long rg_atomic_cas_u64(unsigned long long* p, unsigned long long expected,
                                               unsigned long long desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;
}

RG_DEVICE float rg_as_float(unsigned u) { return __builtin_bit_cast(float, u); }
RG_DEVICE unsigned rg_as_uint(float f) { return __builtin_bit_cast(unsigned, f); }

RG_DEVICE double rg_rint(double x) { return __builtin_rint(x); }
RG_DEVICE float rg_sqrt(float x) { return __builtin_sqrtf(x); }
RG_DEVICE float rg_rintf(float x) { return __builtin_rintf(x); }  // to nearest, ties to even
RG_DEVICE float rg_floorf(float x) { return __builtin_floorf(x); }
RG_DEVICE float rg_fmaf(float a, float b, float c) { return __builtin_fmaf(a, b, c); }  // one rounding
// templates/quant.h: the IEEE division has no branch here (v_div_scale, v_div_fmas, v_div_fixup)
#define RG_RECIPROCAL_DIV 0
// templates/quant.h: e2m1 codes by compares (gfx942: 70-73 VGPRs, against 74-75 by bits)
#define RG_E2M1_BY_BITS 0
// templates/rows.h: the shared cos/sin kept in registers across the indexer's rows (read again
// each row: gfx942 106 -> 121 VGPRs, gfx1201 95 -> 143)
#define RG_SHARED_CS_EACH_ROW 0
RG_DEVICE float rg_logf(float x) { return __builtin_logf(x); }  // llvm.log.f32: the backend's accurate expansion
// Exchange within a wave: lane ^ m's value (ds_bpermute; the lane id from mbcnt, which in
// wave32 counts the low half only).
#define RG_HAS_SHUFFLE 1
RG_DEVICE float rg_shuffle_xor(float v, int m, int) {  // width: partners are active lanes of one row
  const int lane = static_cast<int>(__builtin_amdgcn_mbcnt_hi(~0u, __builtin_amdgcn_mbcnt_lo(~0u, 0u)));
  return rg_as_float(static_cast<unsigned>(__builtin_amdgcn_ds_bpermute((lane ^ m) << 2, static_cast<int>(rg_as_uint(v)))));
}
// Kernel pointers are global memory; saying so keeps clang from falling back to flat
// instructions where it cannot prove it (e.g. through a select of two pointers).
template <class T> RG_DEVICE T rg_load(const T* p) {
  return *(const __attribute__((address_space(1))) T*)p;  // C cast: may change address space
}
template <class T> RG_DEVICE void rg_store(T* p, const T& v) {
  *(__attribute__((address_space(1))) T*)p = v;
}
